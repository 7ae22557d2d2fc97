/**
 * The Kafka commands: `stage` (one stage as a consumer group), `ingest` (documents into the raw
 * topic), `export` (a topic up to the end offsets seen at start: the sink in any export format
 * of `src/export/`, filtered, other topics as JSON lines) and `tail`
 * (follow a topic, decoded). Records are Avro on the wire; JSON lines here, with bytes fields
 * (dead-letter keys and values) as base64.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kafka, Message } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { WebscaleError } from '../core/errors.js';
import { redactString } from '../core/redact.js';
import { WORKER_STAGES, type QaRecord, type WorkerStage } from '../core/records.js';
import { createLogger } from '../core/logger.js';
import { TopicCodecs } from '../codec/index.js';
import type { RecordTypeName } from '../codec/record-types.js';
import { EXPORT_FORMATS, compileFilter, defaultFormat, hasFilters, openExportSink, parseSince, resolveContainer, type ExportFormat, type RecordSink } from '../export/index.js';
import { inputOptionsFrom, openInput } from '../input/index.js';
import type { ExtractionPath } from '../input/extractors.js';
import { createKafka, createProducer, explainKafkaError, readToEnd, topicName } from '../kafka/index.js';
import { ensureBrokersReachable } from '../kafka/reachable.js';
import { createLlmRouter, resolveStageSettings } from '../llm/router.js';
import { budgetFromConfig } from '../llm/budget.js';
import { QuotaBoard } from '../llm/rate-limit/quota-board.js';
import { RateLimitRegistry } from '../llm/rate-limit/registry.js';
import { registerQuotaMetrics } from '../metrics/quota-metrics.js';
import type { KafkaResponseStore } from '../llm/response-log/kafka-store.js';
import { logRouter } from '../llm/response-log/logged-router.js';
import { probeStages } from '../llm/probe.js';
import { openWorkerBatchMode, type WorkerBatchMode } from '../llm/batch/index.js';
import { createMetrics, startHealthServer } from '../metrics/index.js';
import { STAGE_BINDINGS, inputSuffixOf } from '../runtime/stage-bindings.js';
import { StageWorker } from '../runtime/stage-worker.js';
import { loadDecontaminator, loadFewshotLibrary } from '../stages/index.js';
import { AVRO_SCHEMA_VALUE, loadTopicSpecs } from '../topics/index.js';
import { JsonlWriter } from './jsonl-writer.js';
import { overridesFrom, type CommonFlags } from './options.js';
import { extractionCounts } from './summary.js';

/** JSON for records: Buffers as base64 (dead letters carry raw bytes). */
export function recordToJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return Buffer.from((v as { data: number[] }).data).toString('base64');
    }
    return v;
  });
}

/** The record type a topic carries, from its spec in topics/. */
function recordTypeOf(suffix: string): RecordTypeName {
  const specs = loadTopicSpecs();
  const spec = specs.find((s) => s.suffix === suffix);
  if (!spec) throw new WebscaleError('USAGE', `unknown topic "${suffix}": expected one of ${specs.map((s) => s.suffix).join(', ')}`);
  if (spec.valueSchema === AVRO_SCHEMA_VALUE) {
    throw new WebscaleError('USAGE', `topic "${suffix}" holds Avro schemas as plain JSON (key: fingerprint), not records: read it with kafka-console-consumer.sh --property print.key=true`);
  }
  return spec.valueSchema;
}

/**
 * Config, logger, Kafka client and codecs of a Kafka command, once a broker answers and the
 * topics it needs exist (`topics`: their suffixes, or a function of the config giving them).
 */
export async function setup(
  flags: CommonFlags,
  topics: readonly string[] | ((config: Config) => readonly string[]),
): Promise<{ config: Config; logger: Logger; kafka: Kafka; codecs: TopicCodecs }> {
  const config = await loadConfig({ file: flags.config, overrides: overridesFrom(flags) });
  const logger = createLogger(config.logLevel);
  // A stopped broker, a wrong address, a forgotten `topics apply` or a wrong prefix: one line
  // within kafka.connectTimeout that says what to do, not minutes of retries and a stack trace.
  // So do a refused login, an untrusted certificate and an ACL that hides a needed topic.
  await ensureBrokersReachable(config, { topics: typeof topics === 'function' ? topics(config) : topics });
  const kafka = createKafka(config, {
    logger,
    // Ride out a broker restart or a leader move (about two minutes of retries) before giving up.
    overrides: { retry: { initialRetryTime: 300, maxRetryTime: 30_000, retries: 10 } },
  });
  return { config, logger, kafka, codecs: TopicCodecs.fromConfig(config, { kafka, log: logger }) };
}

const RESPONSES_SUFFIX = 'llm.responses';

/** Stages that call an LLM keep its answers in `llm.responses` unless the log is turned off. */
function usesResponseLog(stage: WorkerStage, config: Config): boolean {
  if (!config.llm.responseLog.enabled || stage === 'dedup') return false;
  return stage !== 'filter' || config.pipeline.llmFilter;
}

export interface StageFlags extends CommonFlags {
  metricsPort?: number;
  instanceId?: string;
  /** generate and check: call the LLM through the OpenAI Batch API. */
  batch?: boolean;
}

export async function stageCommand(stageName: string, flags: StageFlags): Promise<number> {
  if (!(WORKER_STAGES as readonly string[]).includes(stageName)) {
    throw new WebscaleError('USAGE', `unknown stage "${stageName}": expected one of ${WORKER_STAGES.join(', ')}`);
  }
  const stage = stageName as WorkerStage;
  const binding = STAGE_BINDINGS[stage];
  const { config, logger, kafka } = await setup(flags, (c) => [
    inputSuffixOf(binding, c),
    binding.outputSuffix,
    'rejections',
    'dlq',
    ...(stage === 'dedup' ? ['dedup.claims'] : []),
    ...(usesResponseLog(stage, c) ? [RESPONSES_SUFFIX] : []),
  ]);
  if (stage === 'dedup' && !config.pipeline.dedup.enabled) {
    throw new WebscaleError('USAGE', 'pipeline.dedup.enabled is false: the filter reads docs.raw itself, so there is no dedup stage to run');
  }
  const metrics = createMetrics({ stage });
  const recorder = metrics.forStage();
  let onRateLimited: (endpoint: string) => void = () => undefined;
  const rateLimits = new RateLimitRegistry(config, { onRateLimited: (endpoint) => onRateLimited(endpoint) });
  const router = createLlmRouter(config, { logger, rateLimits, events: { onRetry: (_s, code) => recorder.llmRetry(code) } });
  const batch: WorkerBatchMode | undefined = flags.batch === true ? await openWorkerBatchMode(config, stage, kafka, logger) : undefined;
  // The filter stage with the LLM filter off makes no LLM call: nothing to prove.
  // Dedup makes no LLM call either.
  const needsLlm = stage !== 'dedup' && (stage !== 'filter' || config.pipeline.llmFilter);
  const instanceId = flags.instanceId ?? process.env['WEBSCALE_INSTANCE_ID'] ?? `${hostname()}-${process.pid}`;
  const llmClient = needsLlm ? router.forStage(stage as Exclude<WorkerStage, 'dedup'>) : undefined;
  const budget = budgetFromConfig(config, llmClient === undefined ? [] : [{ model: llmClient.model, free: llmClient.backend === 'local' }]);
  // Workers that call a rate-limited backend, or spend under a budget, meet on the quota topic.
  const coordinated = llmClient !== undefined && (resolveStageSettings(config, stage as Exclude<WorkerStage, 'dedup'>).backend === 'openai' || budget.limited);
  let verifiedPairs = (): number => 0;
  const board = coordinated
    ? new QuotaBoard({
        kafka,
        topic: config.kafka.quotaTopic ?? topicName(config.kafka.topicPrefix, 'llm.quota'),
        memberId: `${instanceId}-${randomUUID().slice(0, 8)}`,
        stage,
        registry: rateLimits,
        budget,
        budgetName: config.budget.name,
        heartbeatMs: config.kafka.quotaHeartbeat,
        ttlMs: config.kafka.quotaMemberTtl,
        log: logger.child({ stage }),
        groupPrefix: config.kafka.topicPrefix,
        fetchMaxWait: config.kafka.fetchMaxWait,
        verifiedPairs: () => verifiedPairs(),
      })
    : null;
  const quotaMetrics = registerQuotaMetrics(metrics.registry, {
    limits: rateLimits,
    budget,
    ...(board === null ? {} : { membersOf: (e: string) => board.membersOf(e), verifiedPairs: () => board.totalPairs() }),
  });
  onRateLimited = (endpoint) => quotaMetrics.rateLimited(endpoint);
  // Loaded only when used (a native module: start-up time).
  const responses: KafkaResponseStore | null = usesResponseLog(stage, config)
    ? new (await import('../llm/response-log/kafka-store.js')).KafkaResponseStore({
        kafka,
        topic: topicName(config.kafka.topicPrefix, RESPONSES_SUFFIX),
        codecs: TopicCodecs.fromConfig(config, { kafka, log: logger }),
        groupPrefix: config.kafka.topicPrefix,
        log: logger,
        stages: [stage as Exclude<WorkerStage, 'dedup'>],
        ...(config.llm.responseLog.cacheDir === undefined ? {} : { cacheDir: config.llm.responseLog.cacheDir }),
      })
    : null;
  const worker = new StageWorker({
    stage,
    config,
    kafka,
    llm: responses === null ? router : logRouter(router, responses, config, logger),
    fewshot: await loadFewshotLibrary(config.pipeline.fewshotDir),
    decontaminator: await loadDecontaminator(config.decontamination),
    logger,
    metrics: recorder,
    instanceId,
    budget,
    // A worker whose LLM cannot serve stays out of its group (unready, consuming nothing) until a
    // real request with the stage's schema succeeds: a wrong URL, key or model never empties the
    // input into the DLQ.
    ...(needsLlm
      ? {
          probeLlm: async (signal: AbortSignal) => {
            await probeStages(router, [stage], { signal, config, logger });
            await batch?.probe(signal);
          },
        }
      : {}),
    ...(batch === undefined ? {} : { batch: batch.worker }),
  });
  const health =
    flags.metricsPort === undefined
      ? null
      : await startHealthServer({
          port: flags.metricsPort,
          metrics,
          isAlive: () => worker.state !== 'failed',
          isReady: () => Promise.resolve(worker.readiness()),
        });
  if (health) logger.info({ port: health.port }, 'metrics and health endpoints listening');

  // Settles when a signal's graceful stop is done, or rejects when the worker fails on its own.
  let onStopped: (stop: Promise<void>) => void = () => undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    onStopped = (stop) => stop.then(resolve, reject);
  });
  let stopping: Promise<void> | null = null;
  const boardAbort = new AbortController();
  const stop = (): void => {
    boardAbort.abort();
    if (stopping) return;
    stopping = worker.stop();
    onStopped(stopping);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Check workers produce the verified pairs: their count feeds the cost per pair of every worker.
  if (stage === 'check') verifiedPairs = () => worker.producedTo(topicName(config.kafka.topicPrefix, binding.outputSuffix));
  let code = 0;
  let explained: WebscaleError | null = null;
  try {
    // Before joining the group: the budget must know what was spent already, and the shares who is here.
    await board?.start(boardAbort.signal);
    // Every answer logged so far is known before the first record is taken.
    await responses?.start();
    await worker.start();
    await Promise.race([stopped, worker.failed()]);
  } catch (err) {
    logger.error({ err }, 'stage worker failed');
    // An ACL refusal met after start (an input topic it may see but not read, a transactional
    // id it may not use) also gets the one line that says what to ask for, after the log.
    explained = explainKafkaError(err);
    code = 1;
    await worker.stop(0).catch(() => undefined);
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await board?.stop().catch((err: unknown) => logger.warn({ err }, 'LLM quota board did not stop cleanly'));
    rateLimits.close();
    await health?.close();
    await batch?.close();
    await responses?.close();
    await router.close();
    logger.flush();
    if (explained) process.stderr.write(`webscale-rl: ${redactString(explained.message)}\n`);
  }
  return code;
}

export async function ingestCommand(files: string[], flags: CommonFlags): Promise<number> {
  const { config, logger, kafka, codecs } = await setup(flags, ['docs.raw', 'rejections']);
  const producer = createProducer(kafka, { allowAutoTopicCreation: false });
  await producer.connect();
  const rawTopic = topicName(config.kafka.topicPrefix, 'docs.raw');
  const rejTopic = topicName(config.kafka.topicPrefix, 'rejections');
  const docCodec = codecs.for('Document', rawTopic);
  const rejCodec = codecs.for('Rejection', rejTopic);
  let batch: { topic: string; message: Message }[] = [];
  let batchBytes = 0;
  const counts = { documents: 0, rejected: 0, skipped: 0 };
  const extraction = new Map<ExtractionPath, number>();
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of batch) {
      const list = byTopic.get(topic) ?? [];
      list.push(message);
      byTopic.set(topic, list);
    }
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: -1 });
    batch = [];
    batchBytes = 0;
  };
  try {
    for (const file of files.length === 0 ? ['-'] : files) {
      const input = await openInput(file, inputOptionsFrom(config.input));
      for await (const item of input.items) {
        if (item.kind === 'document') {
          const value = await docCodec.encode(item.doc);
          batch.push({ topic: rawTopic, message: { key: item.doc.id, value } });
          batchBytes += value.length;
          counts.documents++;
          if (item.extraction !== undefined) extraction.set(item.extraction, (extraction.get(item.extraction) ?? 0) + 1);
        } else if (item.kind === 'skip') {
          counts.skipped++;
          continue;
        } else {
          batch.push({ topic: rejTopic, message: { key: item.rejection.doc_id, value: await rejCodec.encode(item.rejection) } });
          counts.rejected++;
        }
        if (batch.length >= 500 || batchBytes >= 4 * 1024 * 1024) await flush();
      }
    }
    await flush();
  } finally {
    await producer.disconnect();
    await codecs.close();
  }
  logger.info({ ...counts, extraction: Object.fromEntries(extraction) }, 'ingest finished');
  process.stderr.write(`ingested ${counts.documents} documents into ${rawTopic}; ${counts.rejected} input rejections into ${rejTopic}; ${counts.skipped} records skipped (not content)\n`);
  if (extraction.size > 0) process.stderr.write(`HTML pages by extraction path: ${extractionCounts(extraction)}\n`);
  return 0;
}

export interface ExportFlags extends CommonFlags {
  topic?: string;
  output: string;
  format?: string;
  domain?: string[];
  language?: string[];
  since?: string;
  rowGroupRows?: number;
}

/**
 * `--since` skips the sink's older records by their Kafka timestamps: a record is produced after
 * it is created, so its timestamp is at or after its `created_at`. The margin covers clocks that
 * disagree (a broker's LogAppendTime against a worker's clock); `created_at` still decides.
 */
const SINCE_CLOCK_MARGIN_MS = 15 * 60_000;

/** The format asked for, checked before anything connects. */
function exportFormatOf(flags: ExportFlags): ExportFormat {
  if (flags.format === undefined) return defaultFormat(flags.output);
  if (!(EXPORT_FORMATS as readonly string[]).includes(flags.format)) {
    throw new WebscaleError('USAGE', `--format "${flags.format}": expected one of ${EXPORT_FORMATS.join(', ')}`);
  }
  return flags.format as ExportFormat;
}

/**
 * Reads a topic read_committed from the beginning up to the end offsets seen at start. The sink
 * topic can be filtered and written in any export format; other topics are written as JSON lines.
 */
export async function exportCommand(flags: ExportFlags): Promise<number> {
  const suffix = flags.topic ?? 'qa.verified';
  const format = exportFormatOf(flags);
  const filters = { domain: flags.domain ?? [], language: flags.language ?? [], ...(flags.since === undefined ? {} : { since: flags.since }) };
  if (suffix !== 'qa.verified') {
    if (format !== 'jsonl' || hasFilters(filters)) {
      throw new WebscaleError('USAGE', `--format, --domain, --language and --since apply to the qa.verified sink, not to ${suffix}`);
    }
    return exportTopicJsonl(suffix, flags);
  }
  const keep = compileFilter(filters);
  const since = flags.since === undefined ? undefined : parseSince(flags.since);
  resolveContainer(format, flags.output);
  const { config, kafka, codecs } = await setup(flags, [suffix]);
  const topic = topicName(config.kafka.topicPrefix, suffix);
  const codec = codecs.for('QaRecord', topic);
  const limits = { ...config.export, ...(flags.rowGroupRows === undefined ? {} : { rowGroupRows: flags.rowGroupRows }) };
  const fetchMaxBytes = config.export.fetchMaxBytes;
  let read = 0;
  const sink = await withExportSink(
    () => openExportSink(format, flags.output, limits),
    (out) =>
      readToEnd(
        kafka,
        topic,
        async (m) => {
          if (!m.value) return;
          read++;
          const record = (await codec.decode(m.value)) as QaRecord;
          if (keep(record)) await out.write(record);
        },
        { groupPrefix: `${config.kafka.topicPrefix}export-`, fetchMaxBytes, ...(since === undefined ? {} : { startAt: since - SINCE_CLOCK_MARGIN_MS }) },
      ),
  );
  const where = flags.output === '-' ? 'stdout' : flags.output;
  process.stderr.write(`exported ${sink.count} of ${read} records from ${topic} as ${format} (${sink.container}) to ${where}\n`);
  return 0;
}

/**
 * Opens an export's sink and runs `work` on it: success closes the sink, an error aborts it. A
 * SIGINT or SIGTERM, from before the file exists until the end, aborts it and exits 130, so no
 * half-written parquet file is left behind (JSON lines keep what was written).
 */
async function withExportSink(open: () => Promise<RecordSink>, work: (sink: RecordSink) => Promise<void>): Promise<RecordSink> {
  let opened: RecordSink | undefined;
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    // Not open yet: the check after open() sees the flag.
    if (opened) void opened.abort().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const sink = await open();
    opened = sink;
    if (interrupted) {
      await sink.abort();
      process.exit(130);
    }
    try {
      await work(sink);
    } catch (err) {
      await sink.abort().catch(() => undefined);
      throw err;
    }
    await sink.close();
    return sink;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Any topic, decoded, as JSON lines (dead letters' bytes as base64). */
async function exportTopicJsonl(suffix: string, flags: ExportFlags): Promise<number> {
  const { config, kafka, codecs } = await setup(flags, [suffix]);
  const topic = topicName(config.kafka.topicPrefix, suffix);
  const codec = codecs.for(recordTypeOf(suffix), topic);
  const out = await JsonlWriter.open(flags.output);
  try {
    await readToEnd(
      kafka,
      topic,
      async (m) => {
        if (m.value) await out.write(JSON.parse(recordToJson(await codec.decode(m.value))));
      },
      { groupPrefix: `${config.kafka.topicPrefix}export-` },
    );
  } finally {
    await out.close();
  }
  process.stderr.write(`exported ${out.count} records from ${topic}\n`);
  return 0;
}

export interface TailFlags extends CommonFlags {
  fromBeginning?: boolean;
}

/** Follows a topic and prints its records as JSON lines until interrupted. */
export async function tailCommand(suffix: string, flags: TailFlags): Promise<number> {
  const { config, kafka, codecs } = await setup(flags, [suffix]);
  const topic = topicName(config.kafka.topicPrefix, suffix);
  const codec = codecs.for(recordTypeOf(suffix), topic);
  const consumer = kafka.consumer({ groupId: `${config.kafka.topicPrefix}tail-${randomUUID()}`, readUncommitted: false });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: flags.fromBeginning ?? false });
  const out = await JsonlWriter.open('-');
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      if (!message.value) return;
      try {
        await out.write(JSON.parse(recordToJson(await codec.decode(message.value))));
      } catch (err) {
        process.stderr.write(`partition ${partition} offset ${message.offset}: ${redactString((err as Error).message)}\n`);
      }
    },
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await consumer.disconnect();
  return 0;
}
