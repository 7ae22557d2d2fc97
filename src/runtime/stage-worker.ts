/**
 * The Kafka stage worker: one stage as one member of consumer group `<prefix><stage>`.
 *
 * The consume loop never waits for the LLM (kafkajs heartbeats run from that loop): each fetched
 * record is handed to a per-partition `PartitionTracker` and processed in the background, with
 * the LLM calls of the whole worker capped by a limiter. Above a high-water mark of records in
 * flight the input topic is paused, below a low-water mark resumed.
 *
 * Exactly-once: outputs are held until their record's offset can be committed; every
 * `commitInterval` one Kafka transaction carries the outputs of the finished records together
 * with the new consumer offsets, and finished offsets beyond the committed one travel in the
 * commit metadata (the Confluent Parallel Consumer scheme), so after a crash a restarted worker
 * neither repeats committed work nor loses uncommitted work. Downstream reads read_committed.
 *
 * Failure policy: an undecodable record, a stage bug, or a record-specific LLM refusal (400/422)
 * goes to the DLQ with its raw bytes and the error. A broad LLM outage (retryable failures with no
 * success in between) pauses consumption and retries the affected records until the LLM answers
 * again, instead of dead-lettering the backlog; a record that keeps failing while other records
 * succeed is dead-lettered after `maxRecordAttempts`.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Admin, Consumer, EachMessagePayload, Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { DeadLetter, LlmStage, Rejection } from '../core/records.js';
import { TopicCodecs, type Codec } from '../codec/index.js';
import type { RecordTypeName } from '../codec/record-types.js';
import { createProducer, groupName, topicName } from '../kafka/index.js';
import { ConcurrencyLimiter, limitRouter } from '../llm/limiter.js';
import type { LlmRouter } from '../llm/types.js';
import type { StageRecorder } from '../metrics/index.js';
import type { Decontaminator } from '../stages/decontaminate.js';
import type { FewshotLibrary } from '../stages/fewshot.js';
import type { StageContext } from '../stages/types.js';
import { observeRouter } from './metered.js';
import { PartitionTracker } from './offset-tracker.js';
import { STAGE_BINDINGS, type StageBinding } from './stage-bindings.js';

export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface StageWorkerOptions {
  stage: LlmStage;
  config: Config;
  kafka: Kafka;
  /** The LLM router, not yet limited: the worker applies `config.concurrency`. */
  llm: LlmRouter;
  fewshot: FewshotLibrary;
  decontaminator: Decontaminator;
  logger: Logger;
  metrics?: StageRecorder;
  /** Stable per worker instance (pod name): the transactional id, so a restart fences its zombie. */
  instanceId?: string;
  /** Records in flight above which intake pauses (resumed at two thirds); default 3 x concurrency. */
  highWater?: number;
  /** Attempts for a record whose LLM calls keep failing while others succeed; default 3. */
  maxRecordAttempts?: number;
  /** Consecutive retry-exhausted LLM failures that count as an outage; default 3. */
  outageThreshold?: number;
}

interface PartitionState {
  partition: number;
  tracker: PartitionTracker;
  /** Encoded output messages of finished records, by offset, until committed. */
  outputs: Map<bigint, OutMessage[]>;
  /** Start times of records in flight (for the oldest-in-flight metric). */
  startedAt: Map<bigint, number>;
}

interface OutMessage {
  topic: string;
  message: Message;
}

const OUTAGE_CODES = new Set(['LLM_TIMEOUT', 'LLM_NETWORK', 'LLM_RATE_LIMITED', 'LLM_SERVER', 'LLM_UNREACHABLE', 'LLM_BAD_RESPONSE', 'LLM_AUTH', 'LLM_QUOTA']);

/** Another producer with our transactional id took over (kafkajs may wrap the protocol error). */
function isFenced(err: unknown): boolean {
  for (let e = err as { type?: string; cause?: unknown; originalError?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED') return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

export class StageWorker {
  state: WorkerState = 'starting';
  readonly binding: StageBinding;
  readonly groupId: string;
  readonly inputTopic: string;
  private readonly opts: StageWorkerOptions;
  private readonly log: Logger;
  private readonly consumer: Consumer;
  private producer: Producer;
  private readonly transactionalId: string;
  private readonly admin: Admin;
  private readonly limiter: ConcurrencyLimiter;
  private readonly ctx: StageContext;
  private readonly codecs: TopicCodecs;
  private readonly partitions = new Map<number, PartitionState>();
  private readonly loading = new Map<number, Promise<PartitionState>>();
  private readonly abort = new AbortController();
  private readonly highWater: number;
  private readonly lowWater: number;
  private inFlight = 0;
  private paused = false;
  private outage = false;
  private consecutiveLlmFailures = 0;
  private llmSuccesses = 0;
  private rebalancing = false;
  private joined = false;
  private commitChain: Promise<void> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private fatal: Error | null = null;
  private lastCommitOk = true;
  /** Totals, for tests and the shutdown log line. */
  readonly counts = { consumed: 0, skipped: 0, produced: 0, rejected: 0, deadLettered: 0, commits: 0 };

  constructor(opts: StageWorkerOptions) {
    this.opts = opts;
    const { config, stage } = opts;
    this.binding = STAGE_BINDINGS[stage];
    this.groupId = groupName(config.kafka.topicPrefix, stage);
    this.inputTopic = topicName(config.kafka.topicPrefix, this.binding.inputSuffix);
    this.log = opts.logger.child({ stage });
    this.codecs = new TopicCodecs(config.kafka.schemaRegistryUrl);
    // Every LLM request in flight listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    // Records in flight count both those in an LLM call and those queued for a slot; resuming
    // while a full slot's worth is still queued keeps the LLM busy across the next fetch.
    this.highWater = opts.highWater ?? Math.max(3, config.concurrency * 3);
    this.lowWater = Math.max(1, Math.floor((this.highWater * 2) / 3));
    this.limiter = new ConcurrencyLimiter(config.concurrency);
    const metrics = opts.metrics;
    // Observed inside the limiter, so latency metrics measure the call, not the wait for a slot.
    const llm = limitRouter(observeRouter(opts.llm, {
      onSuccess: (_stage, completion, ms, client) => {
        this.llmSuccesses++;
        this.consecutiveLlmFailures = 0;
        if (this.outage) this.endOutage();
        metrics?.llmRequest({
          model: client.model,
          outcome: 'ok',
          seconds: ms / 1000,
          promptTokens: completion.usage.prompt_tokens,
          completionTokens: completion.usage.completion_tokens,
        });
      },
      onError: (_s, err, ms, client) => metrics?.llmRequest({ model: client.model, outcome: err.code, seconds: ms / 1000 }),
    }), this.limiter);
    this.ctx = {
      llm,
      logger: this.log,
      signal: this.abort.signal,
      config,
      fewshot: opts.fewshot,
      decontaminator: opts.decontaminator,
    };
    const instance = opts.instanceId ?? `${hostname()}-${process.pid}`;
    this.consumer = opts.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: config.kafka.sessionTimeout,
      heartbeatInterval: Math.max(1000, Math.floor(config.kafka.sessionTimeout / 10)),
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxWaitTimeInMs: config.kafka.fetchMaxWait,
      // A broker restart or a coordinator move must not end the worker: kafkajs restarts the
      // consumer after any crash, and the committed offsets make the restart lossless.
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    this.transactionalId = `${this.groupId}-${instance}`;
    this.producer = this.newProducer();
    this.admin = opts.kafka.admin();
    metrics?.onInFlight(() => this.inFlight);
    metrics?.onOldestInFlightAge(() => this.oldestInFlightAgeSeconds());
  }

  private newProducer(): Producer {
    return createProducer(this.opts.kafka, {
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 30_000,
      allowAutoTopicCreation: false,
    });
  }

  /**
   * After a transaction that could not even be aborted (broker gone mid-commit) the producer is
   * stuck in its transaction; a fresh producer with the same transactional id fences the old
   * epoch, and the coordinator aborts the dangling transaction.
   */
  private async resetProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    await old.disconnect().catch(() => undefined);
    await this.producer.connect();
  }

  private codec(type: RecordTypeName, topic: string): Codec<unknown> {
    return this.codecs.for(type, topic);
  }

  private topic(suffix: string): string {
    return topicName(this.opts.config.kafka.topicPrefix, suffix);
  }

  async start(): Promise<void> {
    const { consumer } = this;
    consumer.on(consumer.events.REBALANCING, () => {
      this.rebalancing = true;
      this.joined = false;
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onGroupJoin(event.payload.memberAssignment[this.inputTopic] ?? []));
    consumer.on(consumer.events.CRASH, (event) => {
      const err = event.payload.error;
      this.log.error({ err, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.fail(err);
    });
    await this.admin.connect();
    await this.producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: this.inputTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachMessage: (payload) => this.onMessage(payload),
    });
    this.commitTimer = setInterval(() => void this.commit(), this.opts.config.kafka.commitInterval);
    this.state = 'running';
    this.log.info({ group: this.groupId, topic: this.inputTopic, concurrency: this.opts.config.concurrency }, 'stage worker running');
  }

  /** Group membership settled: forget partitions we lost (their in-flight results are dropped). */
  private onGroupJoin(assigned: number[]): void {
    const keep = new Set(assigned);
    for (const p of [...this.partitions.keys()]) {
      if (keep.has(p)) continue;
      const st = this.partitions.get(p);
      this.partitions.delete(p);
      this.loading.delete(p);
      if (st) this.inFlight -= st.startedAt.size;
      this.opts.metrics?.clearCommittedLag(this.inputTopic, p);
    }
    this.rebalancing = false;
    this.joined = true;
    this.log.info({ partitions: assigned }, 'joined group');
    // A consumer restarted by kafkajs forgets its paused partitions, one that merely rejoined
    // keeps them: decide afresh and tell kafkajs either way.
    this.updatePause(true);
  }

  /** The partition's tracker, created from the committed offset and its metadata on first use. */
  private partitionState(partition: number, firstOffset: bigint): Promise<PartitionState> | PartitionState {
    const existing = this.partitions.get(partition);
    if (existing) return existing;
    let loading = this.loading.get(partition);
    if (!loading) {
      loading = (async () => {
        const [entry] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.inputTopic] }).catch((err: unknown) => {
          // Not cached: the next record of this partition asks again (kafkajs redelivers it).
          this.loading.delete(partition);
          throw err;
        });
        const committed = entry?.partitions.find((p) => p.partition === partition);
        const offset = committed && Number(committed.offset) >= 0 ? BigInt(committed.offset) : firstOffset;
        const st: PartitionState = {
          partition,
          tracker: new PartitionTracker(offset, committed?.metadata ?? null),
          outputs: new Map(),
          startedAt: new Map(),
        };
        this.partitions.set(partition, st);
        this.loading.delete(partition);
        return st;
      })();
      this.loading.set(partition, loading);
    }
    return loading;
  }

  private async onMessage({ partition, message }: EachMessagePayload): Promise<void> {
    if (this.state !== 'running' && this.state !== 'starting') return;
    const offset = BigInt(message.offset);
    const st = await this.partitionState(partition, offset);
    if (!st.tracker.accept(offset)) {
      this.counts.skipped++;
      return;
    }
    this.counts.consumed++;
    this.opts.metrics?.consumed(this.inputTopic);
    this.inFlight++;
    st.startedAt.set(offset, Date.now());
    void this.process(st, offset, message.key, message.value);
    this.updatePause();
  }

  private updatePause(force = false): void {
    const shouldPause = this.state === 'draining' || this.outage || this.inFlight >= this.highWater;
    if (shouldPause && (force || !this.paused)) {
      this.consumer.pause([{ topic: this.inputTopic }]);
      this.paused = true;
    } else if (!shouldPause && (force || (this.paused && this.inFlight <= this.lowWater))) {
      this.consumer.resume([{ topic: this.inputTopic }]);
      this.paused = false;
    }
  }

  private endOutage(): void {
    this.outage = false;
    this.log.warn('LLM answers again: resuming consumption');
    this.updatePause();
  }

  /** Runs the stage on one record until it has a final result: outputs, rejections or a dead letter. */
  private async process(st: PartitionState, offset: bigint, key: Buffer | null, value: Buffer | null): Promise<void> {
    const out: OutMessage[] = [];
    const b = this.binding;
    try {
      let input: unknown;
      try {
        if (value === null) throw new WebscaleError('CODEC', 'record has no value (tombstone)');
        input = await this.codec(b.inputType, this.inputTopic).decode(value);
      } catch (err) {
        out.push(await this.deadLetter(st.partition, offset, key, value, WebscaleError.from(err, 'CODEC')));
        return this.finish(st, offset, out);
      }
      let attempts = 0;
      let successesAtFirstFailure = -1;
      for (;;) {
        try {
          const result = await b.fn(input as never, this.ctx);
          const outTopic = this.topic(b.outputSuffix);
          for (const o of result.outputs) {
            out.push({ topic: outTopic, message: { key: b.keyOf(o as never), value: await this.codec(b.outputType, outTopic).encode(o) } });
          }
          const rejTopic = this.topic('rejections');
          for (const r of result.rejections) {
            out.push({ topic: rejTopic, message: { key: r.doc_id, value: await this.codec('Rejection', rejTopic).encode(r satisfies Rejection) } });
            this.opts.metrics?.rejected(r.reason);
            this.counts.rejected++;
          }
          return this.finish(st, offset, out);
        } catch (err) {
          const e = WebscaleError.from(err);
          if (e.code === 'LLM_ABORTED' || this.abort.signal.aborted) return this.abandon(st, offset);
          if (!OUTAGE_CODES.has(e.code)) {
            // Record-specific: a refused request, invalid record content or a bug. Dead-letter it.
            out.push(await this.deadLetter(st.partition, offset, key, value, e));
            return this.finish(st, offset, out);
          }
          attempts++;
          if (successesAtFirstFailure < 0) successesAtFirstFailure = this.llmSuccesses;
          this.consecutiveLlmFailures++;
          const othersSucceed = this.llmSuccesses > successesAtFirstFailure;
          const maxAttempts = this.opts.maxRecordAttempts ?? 3;
          if (attempts >= maxAttempts && othersSucceed) {
            out.push(await this.deadLetter(st.partition, offset, key, value, e));
            return this.finish(st, offset, out);
          }
          if (!this.outage && this.consecutiveLlmFailures >= (this.opts.outageThreshold ?? 3)) {
            this.outage = true;
            this.log.error({ err: e }, 'LLM outage: pausing consumption until it answers again');
            this.updatePause();
          }
          const delay = Math.min(60_000, 1000 * 2 ** Math.min(attempts - 1, 6)) * (0.5 + Math.random() / 2);
          this.log.warn({ offset: String(offset), partition: st.partition, code: e.code, attempts, delay }, 'LLM failed for record; will retry');
          await sleep(delay, this.abort.signal);
          if (this.abort.signal.aborted) return this.abandon(st, offset);
        }
      }
    } catch (err) {
      // Encoding outputs or building the dead letter failed: nothing sane to commit for it.
      this.log.error({ err, offset: String(offset), partition: st.partition }, 'record failed unexpectedly; left uncommitted');
      this.fail(err as Error);
    }
  }

  private async deadLetter(partition: number, offset: bigint, key: Buffer | null, value: Buffer | null, err: WebscaleError): Promise<OutMessage> {
    const topic = this.topic('dlq');
    const letter: DeadLetter = {
      source_topic: this.inputTopic,
      partition,
      offset: String(offset),
      key,
      value,
      error_code: err.code,
      error: err.message.slice(0, 4000),
      stage: this.binding.stage,
      created_at: Date.now(),
    };
    this.counts.deadLettered++;
    this.opts.metrics?.deadLettered(err.code);
    this.log.warn({ partition, offset: String(offset), code: err.code, error: err.message }, 'record dead-lettered');
    return { topic, message: { key, value: await this.codec('DeadLetter', topic).encode(letter) } };
  }

  private finish(st: PartitionState, offset: bigint, out: OutMessage[]): void {
    // The partition may have moved to another worker meanwhile: then our result is dropped.
    if (this.partitions.get(st.partition) !== st) return;
    st.outputs.set(offset, out);
    st.tracker.finish(offset);
    st.startedAt.delete(offset);
    this.inFlight--;
    this.updatePause();
    this.notifyIdle();
  }

  /** Leave a record unfinished (shutdown): its offset stays uncommitted and it is processed again. */
  private abandon(st: PartitionState, offset: bigint): void {
    if (this.partitions.get(st.partition) !== st) return;
    st.startedAt.delete(offset);
    this.inFlight--;
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  oldestInFlightAgeSeconds(): number | undefined {
    let oldest = Infinity;
    for (const st of this.partitions.values()) for (const t of st.startedAt.values()) oldest = Math.min(oldest, t);
    return oldest === Infinity ? undefined : (Date.now() - oldest) / 1000;
  }

  /** Commit finished work: outputs and offsets in one transaction. Serialised. */
  commit(): Promise<void> {
    this.commitChain = this.commitChain.then(() => this.commitOnce()).catch((err: unknown) => {
      this.lastCommitOk = false;
      this.log.error({ err }, 'commit failed; will retry');
    });
    return this.commitChain;
  }

  private async commitOnce(): Promise<void> {
    if (this.rebalancing || this.fatal) return;
    const plans: { st: PartitionState; plan: NonNullable<ReturnType<PartitionTracker['plan']>> }[] = [];
    for (const st of this.partitions.values()) {
      const plan = st.tracker.plan();
      if (plan) plans.push({ st, plan });
    }
    if (plans.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const { st, plan } of plans) {
      for (const o of plan.covered) {
        for (const m of st.outputs.get(o) ?? []) {
          let list = byTopic.get(m.topic);
          if (!list) byTopic.set(m.topic, (list = []));
          list.push(m.message);
        }
      }
    }
    const t0 = performance.now();
    let tx;
    try {
      tx = await this.producer.transaction();
    } catch (err) {
      // e.g. a transaction left open by a failure above: start over with a fresh producer.
      await this.resetProducer().catch(() => undefined);
      throw err;
    }
    try {
      if (byTopic.size > 0) {
        await tx.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 });
      }
      await tx.sendOffsets({
        consumerGroupId: this.groupId,
        topics: [
          {
            topic: this.inputTopic,
            partitions: plans.map(({ st, plan }) => ({ partition: st.partition, offset: String(plan.offset), metadata: plan.metadata })),
          },
        ],
      } as Parameters<typeof tx.sendOffsets>[0]);
      await tx.commit();
    } catch (err) {
      const aborted = await tx.abort().then(
        () => true,
        () => false,
      );
      if (isFenced(err)) {
        // Another instance with our transactional id took over: this one must stop.
        this.fail(err as Error);
      } else if (!aborted) {
        await this.resetProducer().catch((e: unknown) => this.log.warn({ err: e }, 'producer reset failed; will retry'));
      }
      throw err;
    }
    this.opts.metrics?.commit((performance.now() - t0) / 1000, 'ok');
    this.lastCommitOk = true;
    this.counts.commits++;
    for (const { st, plan } of plans) {
      for (const o of plan.covered) {
        for (const m of st.outputs.get(o) ?? []) {
          this.counts.produced++;
          this.opts.metrics?.produced(m.topic);
        }
        st.outputs.delete(o);
      }
      st.tracker.committedPlan(plan);
    }
    void this.updateLag();
  }

  private async updateLag(): Promise<void> {
    const metrics = this.opts.metrics;
    if (!metrics) return;
    try {
      const ends = await this.admin.fetchTopicOffsets(this.inputTopic);
      for (const st of this.partitions.values()) {
        const end = ends.find((e) => e.partition === st.partition);
        if (end) metrics.setCommittedLag(this.inputTopic, st.partition, Math.max(0, Number(BigInt(end.high) - st.tracker.committed)));
      }
    } catch {
      // lag is best effort
    }
  }

  private fail(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.state = 'failed';
    this.log.error({ err }, 'stage worker failed');
    this.abort.abort();
    for (const w of this.failWaiters) w(err);
  }

  private failWaiters: ((err: Error) => void)[] = [];
  /** Resolves never; rejects when the worker fails on its own (fenced, consumer crash). */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.fatal) reject(this.fatal);
      else this.failWaiters.push(reject);
    });
  }

  /** Readiness: joined the group, last commit fine, LLM not in an outage. */
  readiness(): { ready: boolean; checks: Record<string, boolean> } {
    const checks = { running: this.state === 'running', joined_group: this.joined, broker: this.lastCommitOk, llm: !this.outage };
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /**
   * Graceful stop: stop intake, let records in flight finish within the grace period, commit,
   * leave the group. Records still unfinished after the grace period are left uncommitted: the
   * next owner of their partition processes them (nothing lost, nothing repeated in the output).
   */
  async stop(graceMs = this.opts.config.kafka.shutdownGrace): Promise<void> {
    if (this.state === 'stopped') return;
    const wasFailed = this.state === 'failed';
    this.state = 'draining';
    this.updatePause();
    if (!wasFailed && this.inFlight > 0) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      const timer = sleep(graceMs);
      await Promise.race([idle, timer]);
    }
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (!wasFailed) await this.commit();
    this.abort.abort();
    const unfinished = this.inFlight;
    await this.consumer.disconnect().catch((err: unknown) => this.log.warn({ err }, 'consumer disconnect failed'));
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
    this.state = wasFailed ? 'failed' : 'stopped';
    this.log.info({ ...this.counts, unfinished }, 'stage worker stopped');
  }
}
