/**
 * The Prometheus metrics every stage worker exports. One `createMetrics()` call builds a registry
 * holding the pipeline's counters, gauges and the LLM latency histogram (all named
 * `webscale_rl_*`) plus Node's default process metrics, and hands back typed prom-client handles.
 * `forStage()` binds the handles to one stage so call sites stay short and label names cannot be
 * misspelt; the embedded runner, which runs all four stages in one process, binds one recorder
 * per stage on a shared registry.
 *
 * Gauges that describe live state the worker already tracks (records in flight, age of the oldest
 * one) are read through callbacks at scrape time, so a stuck worker still reports a growing age
 * even when no code path runs to update it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { WebscaleError } from '../core/errors.js';
import type { ErrorCode } from '../core/errors.js';
import type { ReasonCode } from '../core/records.js';

export const METRIC_PREFIX = 'webscale_rl_';

/** The port the chart and the CLI use for /metrics, /healthz and /readyz unless told otherwise. */
export const DEFAULT_METRICS_PORT = 9464;

/**
 * Bucket bounds (seconds) for LLM request latency. Calls range from ~50 ms (a cached or tiny
 * completion) to the 120 s default request timeout, roughly log-spaced so that both a fast small
 * model and a slow long generation land in buckets fine enough to read p50/p99 from.
 */
export const LLM_LATENCY_BUCKETS: readonly number[] = [
  0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120,
];

/**
 * Bucket bounds (seconds) for one commit transaction (outputs + offsets): a few ms on a local
 * broker, tens of ms across zones, seconds when a coordinator moves.
 */
export const COMMIT_LATENCY_BUCKETS: readonly number[] = [
  0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
];

/** Outcome label of one LLM request: `ok`, or the error code it failed with. */
export type LlmOutcome = 'ok' | ErrorCode;

/** A callback read at scrape time; `undefined` means "nothing to report" and exports 0. */
export type ScrapeCallback = () => number | undefined;

export interface CreateMetricsOptions {
  /** Default stage for `forStage()` without an argument (a stage worker runs one stage). */
  stage?: string;
  /** Registry to register into; default: a fresh one (so tests and embedded runs never clash). */
  registry?: Registry;
  /** Also collect Node's default process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  /** Age in seconds of the oldest record still being processed, for the default stage. */
  oldestInFlightAgeSeconds?: ScrapeCallback;
  /** Records currently in flight, for the default stage (else set the gauge from the worker). */
  inFlightCount?: ScrapeCallback;
}

/** Raw prom-client handles, typed by their label names. */
export interface MetricHandles {
  readonly recordsConsumed: Counter<'stage' | 'topic'>;
  readonly recordsProduced: Counter<'stage' | 'topic'>;
  readonly recordsRejected: Counter<'stage' | 'reason'>;
  readonly recordsDeadLettered: Counter<'stage' | 'error_code'>;
  readonly llmRequestDuration: Histogram<'stage' | 'model' | 'outcome'>;
  readonly llmPromptTokens: Counter<'stage' | 'model'>;
  readonly llmCompletionTokens: Counter<'stage' | 'model'>;
  readonly llmRetries: Counter<'stage' | 'code'>;
  readonly llmFromLog: Counter<'stage'>;
  readonly llmTokensFromLog: Counter<'stage' | 'kind'>;
  readonly inFlight: Gauge<'stage'>;
  readonly oldestInFlightAge: Gauge<'stage'>;
  readonly committedLag: Gauge<'stage' | 'topic' | 'partition'>;
  readonly commitDuration: Histogram<'stage' | 'outcome'>;
  readonly partitionsFenced: Counter<'stage'>;
  readonly uncommittedBytes: Gauge<'stage'>;
}

export interface LlmRequestObservation {
  model: string;
  outcome: LlmOutcome;
  seconds: number;
  promptTokens?: number;
  completionTokens?: number;
}

/** The handles bound to one stage. */
export interface StageRecorder {
  readonly stage: string;
  consumed(topic: string, count?: number): void;
  produced(topic: string, count?: number): void;
  rejected(reason: ReasonCode | string, count?: number): void;
  deadLettered(errorCode: ErrorCode | string, count?: number): void;
  /** One finished LLM request (success or failure) with its latency and token usage. */
  llmRequest(observation: LlmRequestObservation): void;
  /** One retry of an LLM request, labelled with the error code that caused it. */
  llmRetry(code: ErrorCode | string): void;
  /** One request answered from the response log (no call), with the tokens its original call took. */
  llmFromLog?(promptTokens: number, completionTokens: number): void;
  setInFlight(count: number): void;
  /** Committed-offset lag of one partition: log end offset minus committed offset. */
  setCommittedLag(topic: string, partition: number, lag: number): void;
  /** Forget a partition's lag series (after a rebalance took the partition away). */
  clearCommittedLag(topic: string, partition: number): void;
  /** Read the oldest in-flight record's age (seconds) from this callback on every scrape. */
  onOldestInFlightAge(callback: ScrapeCallback): void;
  /** Read the in-flight count from this callback on every scrape instead of `setInFlight`. */
  onInFlight(callback: ScrapeCallback): void;
  /** One commit transaction (outputs + offsets of one partition): its latency and outcome. */
  commit(seconds: number, outcome: 'ok' | 'fenced' | 'failed'): void;
  /** A partition whose producer was fenced by a newer owner (this worker had lost it). */
  fenced(): void;
  /** Read the bytes of finished, uncommitted outputs held in memory from this callback. */
  onUncommittedBytes(callback: ScrapeCallback): void;
}

export interface WebscaleMetrics extends MetricHandles {
  readonly registry: Registry;
  /** The Content-Type of `metricsText()`. */
  readonly contentType: string;
  /** The Prometheus text exposition of everything in the registry. */
  metricsText(): Promise<string>;
  /** A recorder bound to `stage`, or to the default stage given to `createMetrics`. */
  forStage(stage?: string): StageRecorder;
}

function finiteOrZero(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}

/** Build the metric set on a (fresh by default) registry. */
export function createMetrics(opts: CreateMetricsOptions = {}): WebscaleMetrics {
  const registry = opts.registry ?? new Registry();
  const registers = [registry];
  const p = METRIC_PREFIX;

  // Scrape-time sources, per stage. Gauges with a collect() hook are refreshed before each scrape.
  const ageSources = new Map<string, ScrapeCallback>();
  const inFlightSources = new Map<string, ScrapeCallback>();
  const uncommittedSources = new Map<string, ScrapeCallback>();

  const handles: MetricHandles = {
    recordsConsumed: new Counter({
      name: `${p}records_consumed_total`,
      help: 'Records read from an input topic, by stage and topic.',
      labelNames: ['stage', 'topic'] as const,
      registers,
    }),
    recordsProduced: new Counter({
      name: `${p}records_produced_total`,
      help: 'Records written to an output topic (next stage, sink, rejections, dlq), by stage and topic.',
      labelNames: ['stage', 'topic'] as const,
      registers,
    }),
    recordsRejected: new Counter({
      name: `${p}records_rejected_total`,
      help: 'Records turned away with a reason code, by stage and reason.',
      labelNames: ['stage', 'reason'] as const,
      registers,
    }),
    recordsDeadLettered: new Counter({
      name: `${p}records_dead_lettered_total`,
      help: 'Records sent to the dead-letter topic, by stage and error code.',
      labelNames: ['stage', 'error_code'] as const,
      registers,
    }),
    llmRequestDuration: new Histogram({
      name: `${p}llm_request_duration_seconds`,
      help: 'Latency of LLM requests in seconds, by stage, model and outcome (ok or the error code).',
      labelNames: ['stage', 'model', 'outcome'] as const,
      buckets: [...LLM_LATENCY_BUCKETS],
      registers,
    }),
    llmPromptTokens: new Counter({
      name: `${p}llm_prompt_tokens_total`,
      help: 'Prompt tokens reported by the LLM server, by stage and model.',
      labelNames: ['stage', 'model'] as const,
      registers,
    }),
    llmCompletionTokens: new Counter({
      name: `${p}llm_completion_tokens_total`,
      help: 'Completion tokens reported by the LLM server, by stage and model.',
      labelNames: ['stage', 'model'] as const,
      registers,
    }),
    llmRetries: new Counter({
      name: `${p}llm_retries_total`,
      help: 'LLM requests retried, by stage and the error code that caused the retry.',
      labelNames: ['stage', 'code'] as const,
      registers,
    }),
    llmFromLog: new Counter({
      name: `${p}llm_responses_from_log_total`,
      help: 'LLM requests answered from the response log instead of a call (not in llm_request_duration_seconds), by stage.',
      labelNames: ['stage'] as const,
      registers,
    }),
    llmTokensFromLog: new Counter({
      name: `${p}llm_tokens_from_log_total`,
      help: 'Tokens (kind: prompt or completion) of the calls whose answers the response log gave again: tokens not paid twice.',
      labelNames: ['stage', 'kind'] as const,
      registers,
    }),
    inFlight: new Gauge({
      name: `${p}in_flight_records`,
      help: 'Records taken from the input topic and not yet finished, by stage.',
      labelNames: ['stage'] as const,
      registers,
      collect() {
        for (const [stage, source] of inFlightSources) this.set({ stage }, finiteOrZero(source()));
      },
    }),
    oldestInFlightAge: new Gauge({
      name: `${p}oldest_in_flight_age_seconds`,
      help: 'Age in seconds of the oldest record still in flight (0 when idle), by stage.',
      labelNames: ['stage'] as const,
      registers,
      collect() {
        for (const [stage, source] of ageSources) this.set({ stage }, finiteOrZero(source()));
      },
    }),
    committedLag: new Gauge({
      name: `${p}committed_offset_lag`,
      help: 'Log end offset minus committed offset, per input partition, as last seen by the worker.',
      labelNames: ['stage', 'topic', 'partition'] as const,
      registers,
    }),
    commitDuration: new Histogram({
      name: `${p}commit_duration_seconds`,
      help: 'Latency of one commit transaction (outputs and offsets of one input partition), by stage and outcome (ok, fenced, failed).',
      labelNames: ['stage', 'outcome'] as const,
      buckets: [...COMMIT_LATENCY_BUCKETS],
      registers,
    }),
    partitionsFenced: new Counter({
      name: `${p}partitions_fenced_total`,
      help: 'Partitions this worker gave up because a newer owner fenced its producer (it had lost them while frozen or partitioned).',
      labelNames: ['stage'] as const,
      registers,
    }),
    uncommittedBytes: new Gauge({
      name: `${p}uncommitted_output_bytes`,
      help: 'Bytes of finished outputs held in memory until their commit, by stage (bounded by kafka.maxUncommittedBytes).',
      labelNames: ['stage'] as const,
      registers,
      collect() {
        for (const [stage, source] of uncommittedSources) this.set({ stage }, finiteOrZero(source()));
      },
    }),
  };

  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const forStage = (stageArg?: string): StageRecorder => {
    const stage = stageArg ?? opts.stage;
    if (stage === undefined || stage === '') {
      throw new WebscaleError('USAGE', 'forStage() needs a stage name when createMetrics() was given none');
    }
    return {
      stage,
      consumed: (topic, count = 1) => handles.recordsConsumed.inc({ stage, topic }, count),
      produced: (topic, count = 1) => handles.recordsProduced.inc({ stage, topic }, count),
      rejected: (reason, count = 1) => handles.recordsRejected.inc({ stage, reason }, count),
      deadLettered: (errorCode, count = 1) =>
        handles.recordsDeadLettered.inc({ stage, error_code: errorCode }, count),
      llmRequest: ({ model, outcome, seconds, promptTokens, completionTokens }) => {
        handles.llmRequestDuration.observe({ stage, model, outcome }, Math.max(0, seconds));
        if (promptTokens !== undefined && promptTokens > 0) {
          handles.llmPromptTokens.inc({ stage, model }, promptTokens);
        }
        if (completionTokens !== undefined && completionTokens > 0) {
          handles.llmCompletionTokens.inc({ stage, model }, completionTokens);
        }
      },
      llmRetry: (code) => handles.llmRetries.inc({ stage, code }),
      llmFromLog: (promptTokens, completionTokens) => {
        handles.llmFromLog.inc({ stage });
        handles.llmTokensFromLog.inc({ stage, kind: 'prompt' }, Math.max(0, promptTokens));
        handles.llmTokensFromLog.inc({ stage, kind: 'completion' }, Math.max(0, completionTokens));
      },
      setInFlight: (count) => handles.inFlight.set({ stage }, count),
      setCommittedLag: (topic, partition, lag) =>
        handles.committedLag.set({ stage, topic, partition: String(partition) }, Math.max(0, lag)),
      clearCommittedLag: (topic, partition) =>
        handles.committedLag.remove({ stage, topic, partition: String(partition) }),
      onOldestInFlightAge: (callback) => {
        ageSources.set(stage, callback);
      },
      onInFlight: (callback) => {
        inFlightSources.set(stage, callback);
      },
      commit: (seconds, outcome) => handles.commitDuration.observe({ stage, outcome }, Math.max(0, seconds)),
      fenced: () => handles.partitionsFenced.inc({ stage }),
      onUncommittedBytes: (callback) => {
        uncommittedSources.set(stage, callback);
      },
    };
  };

  if (opts.stage !== undefined) {
    const recorder = forStage(opts.stage);
    if (opts.oldestInFlightAgeSeconds) recorder.onOldestInFlightAge(opts.oldestInFlightAgeSeconds);
    if (opts.inFlightCount) recorder.onInFlight(opts.inFlightCount);
    // Export 0 rather than nothing before the first record, so alerts on age see a series.
    else recorder.setInFlight(0);
    if (!opts.oldestInFlightAgeSeconds) handles.oldestInFlightAge.set({ stage: opts.stage }, 0);
  } else if (opts.oldestInFlightAgeSeconds || opts.inFlightCount) {
    throw new WebscaleError('USAGE', 'in-flight callbacks given to createMetrics() need a stage');
  }

  return {
    ...handles,
    registry,
    contentType: registry.contentType,
    metricsText: () => registry.metrics(),
    forStage,
  };
}
