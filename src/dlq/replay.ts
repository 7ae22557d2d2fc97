/**
 * `dlq replay` and `dlq stats`: reading the DLQ up to its end at start (read_committed), and
 * putting dead letters back into their source topics exactly once.
 *
 * Exactly once, across crashes and reruns: one transactional producer with a fixed id
 * (`dlq.transactionalId`, default `<prefix>dlq-replay`). Starting it fences any other replay of
 * the same pipeline and aborts a transaction a crashed one left open; only then is the replay log
 * (`replay-log.ts`) read. Each transaction carries up to `dlq.batchRecords` re-published records
 * (key, value and headers as the stage received them, on their original partition) together with
 * one replay-log entry per dead letter. A kill -9 at any point leaves either both (committed) or
 * neither (aborted by the next replay's start, invisible to read_committed readers meanwhile),
 * so a rerun re-publishes exactly what is not yet in the log.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, IHeaders, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { DeadLetter } from '../core/records.js';
import type { TopicCodecs } from '../codec/index.js';
import { createProducer, kafkaError, readToEnd, topicName } from '../kafka/index.js';
import { produceRequests } from '../runtime/partition-owner.js';
import { OffsetSet } from './offset-set.js';
import { ensureReplayedTopic, entryKey, loadReplayed, replayHeaders, replaysOf, retentionWarning, type ReplayEntry } from './replay-log.js';
import { decide, type ReplaySelection } from './select.js';
import { ReplayTally, StatsTally, type ReplayGroup, type StatsGroup } from './tally.js';

export interface DlqContext {
  config: Config;
  kafka: Kafka;
  codecs: TopicCodecs;
  logger: Logger;
}

/**
 * `dlq replay --since` reads each DLQ partition from its first record whose Kafka timestamp is
 * this much before the time (a dead letter is produced after it is created; the margin covers
 * clocks that disagree); `created_at` decides.
 */
const SINCE_CLOCK_MARGIN_MS = 15 * 60_000;

export function dlqTopicsOf(config: Config): { dlq: string; replayed: string; transactionalId: string } {
  const prefix = config.kafka.topicPrefix;
  return {
    dlq: topicName(prefix, 'dlq'),
    replayed: config.dlq.replayedTopic ?? topicName(prefix, 'dlq.replayed'),
    transactionalId: config.dlq.transactionalId ?? `${prefix}dlq-replay`,
  };
}

async function lowWatermarks(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.low)]));
}

async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** What the replay log holds for the DLQ now (empty when no replay ever ran). */
async function replayedNow(ctx: DlqContext, admin: Admin, topics: ReturnType<typeof dlqTopicsOf>): Promise<OffsetSet> {
  if (!(await admin.listTopics()).includes(topics.replayed)) return new OffsetSet();
  return loadReplayed(ctx.kafka, topics.replayed, topics.dlq, await lowWatermarks(admin, topics.dlq), `${ctx.config.kafka.topicPrefix}dlq-`);
}

async function decodeLetter(ctx: DlqContext, topic: string, m: KafkaMessage): Promise<DeadLetter | null> {
  if (!m.value) return null;
  try {
    return (await ctx.codecs.for('DeadLetter', topic).decode(m.value)) as DeadLetter;
  } catch {
    return null;
  }
}

export interface StatsReport {
  topic: string;
  replayed_topic: string;
  generated_at: number;
  max_replays: number;
  groups: StatsGroup[];
  total: number;
  pending: number;
  /** DLQ records that are not dead letters this version can read. */
  unreadable: number;
}

/** Counts the DLQ's dead letters by stage and reason, with how many are replayed, pending, held. */
export async function dlqStats(ctx: DlqContext, now = Date.now()): Promise<StatsReport> {
  const topics = dlqTopicsOf(ctx.config);
  const maxReplays = ctx.config.dlq.maxReplays;
  const replayed = await withAdmin(ctx.kafka, (admin) => replayedNow(ctx, admin, topics));
  const tally = new StatsTally(now);
  await readToEnd(
    ctx.kafka,
    topics.dlq,
    async (m, partition) => {
      const letter = await decodeLetter(ctx, topics.dlq, m);
      if (!letter) {
        tally.unreadable++;
        return;
      }
      const replays = replaysOf(m.headers);
      tally.add(letter, replays, replayed.has(partition, BigInt(m.offset)), replays >= maxReplays);
    },
    { groupPrefix: `${ctx.config.kafka.topicPrefix}dlq-`, fetchMaxBytes: ctx.config.dlq.fetchMaxBytes },
  );
  const groups = tally.list();
  return {
    topic: topics.dlq,
    replayed_topic: topics.replayed,
    generated_at: now,
    max_replays: maxReplays,
    groups,
    total: groups.reduce((n, g) => n + g.dead_letters, 0),
    pending: groups.reduce((n, g) => n + g.pending, 0),
    unreadable: tally.unreadable,
  };
}

export interface ReplayReport {
  topic: string;
  replayed_topic: string;
  dry_run: boolean;
  /** Stopped by SIGINT/SIGTERM after its last committed transaction. */
  interrupted: boolean;
  replay_id: string;
  groups: ReplayGroup[];
  /** Records re-published (with --dry-run: to be) per source topic. */
  targets: Record<string, number>;
  replayed: number;
  transactions: number;
  unreadable: number;
  warnings: string[];
}

interface Pending {
  target: Message & { topic: string };
  entry: Message;
  stage: string;
  reason: string;
  bytes: number;
}

/** Re-publishes the selected dead letters, a transaction per batch (none with `dryRun`). */
export async function replayDeadLetters(ctx: DlqContext, sel: ReplaySelection, opts: { dryRun: boolean; signal?: AbortSignal }): Promise<ReplayReport> {
  const { config, logger } = ctx;
  const topics = dlqTopicsOf(config);
  const log = logger.child({ component: 'dlq-replay' });
  const replayId = randomUUID();
  const tally = new ReplayTally();
  const warnings: string[] = [];
  const admin = ctx.kafka.admin();
  await admin.connect();
  let producer: Producer | null = null;
  let transactions = 0;
  let interrupted = false;
  try {
    const existing = new Set(await admin.listTopics());
    if (!opts.dryRun) {
      await ensureReplayedTopic(admin, topics.replayed, topics.dlq);
      existing.add(topics.replayed);
      producer = await takeReplayId(ctx, topics.transactionalId);
    }
    const warning = existing.has(topics.replayed) ? await retentionWarning(admin, topics.replayed, topics.dlq) : null;
    if (warning) warnings.push(warning);
    // After fencing: what an earlier, crashed replay left open is aborted, the log is final.
    const replayed = await replayedNow(ctx, admin, topics);
    const partitionCounts = new Map<string, number>();
    const partitionsOf = async (topic: string): Promise<number> => {
      let n = partitionCounts.get(topic);
      if (n === undefined) {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        n = meta.topics[0]?.partitions.length ?? 0;
        partitionCounts.set(topic, n);
      }
      return n;
    };

    let batch: Pending[] = [];
    let batchBytes = 0;
    const commit = async (): Promise<void> => {
      if (batch.length === 0 || !producer) return;
      const byTopic = new Map<string, Message[]>();
      for (const p of batch) {
        const { topic, ...message } = p.target;
        let list = byTopic.get(topic);
        if (!list) byTopic.set(topic, (list = []));
        list.push(message);
      }
      byTopic.set(topics.replayed, batch.map((p) => p.entry));
      const tx = await producer.transaction();
      try {
        const requests = produceRequests(byTopic);
        for (const [i, topicMessages] of requests.entries()) {
          await tx.sendBatch({ topicMessages, acks: -1 });
          log.debug({ transaction: transactions + 1, request: i + 1, of: requests.length }, 'dlq replay: produce request sent');
        }
        await tx.commit();
      } catch (err) {
        // Never retried here: a commit whose answer was lost may have landed, and sending its
        // records again in a new transaction would repeat them. The run stops; a rerun takes the
        // id (settling that transaction either way) and reads the log before sending anything.
        batch = [];
        await tx.abort().catch(() => undefined);
        const e = kafkaError(err, { operation: 'dlq replay commit' });
        if (e.code === 'KAFKA_FENCED') {
          throw new WebscaleError('KAFKA_FENCED', `another \`dlq replay\` (transactional id ${topics.transactionalId}) took over; this one stopped after ${tally.total('replay')} re-published records, which stay committed; run it again once the other has finished`, { cause: err });
        }
        throw e;
      }
      transactions++;
      for (const p of batch) tally.add(p.stage, p.reason, 'replay', p.target.topic);
      log.info({ transaction: transactions, records: batch.length, replayed: tally.total('replay') }, 'dlq replay: transaction committed');
      batch = [];
      batchBytes = 0;
    };

    const since = sel.since;
    // The first failure ends the run: the rest of the DLQ is passed over (an error thrown into
    // the consumer would have kafkajs call us again with the same records, for minutes).
    let failure: unknown = null;
    const onDeadLetter = async (m: KafkaMessage, partition: number): Promise<void> => {
      const letter = await decodeLetter(ctx, topics.dlq, m);
      if (!letter) {
        tally.unreadable++;
        return;
      }
      const offset = BigInt(m.offset);
      const replays = replaysOf(m.headers);
      const verdict = decide(
        { stage: letter.stage, error_code: letter.error_code, created_at: letter.created_at, replays, alreadyReplayed: replayed.has(partition, offset), sourceExists: existing.has(letter.source_topic) },
        sel,
      );
      if (verdict !== 'replay' || opts.dryRun) {
        tally.add(letter.stage, letter.error_code, verdict, letter.source_topic);
        return;
      }
      const pending = pendingReplay(letter, m.headers, replays + 1, { topic: topics.dlq, partition, offset }, replayId, await partitionsOf(letter.source_topic));
      batch.push(pending);
      batchBytes += pending.bytes;
      if (batch.length >= config.dlq.batchRecords || batchBytes >= config.dlq.batchBytes) await commit();
    };
    await readToEnd(
      ctx.kafka,
      topics.dlq,
      async (m, partition) => {
        if (failure !== null) return;
        if (opts.signal?.aborted) {
          interrupted = true;
          return;
        }
        try {
          await onDeadLetter(m, partition);
        } catch (err) {
          failure = err;
        }
      },
      {
        groupPrefix: `${config.kafka.topicPrefix}dlq-`,
        fetchMaxBytes: config.dlq.fetchMaxBytes,
        ...(since === null ? {} : { startAt: since - SINCE_CLOCK_MARGIN_MS }),
      },
    );
    if (failure !== null) throw failure;
    // Interrupted: what is not committed yet is left for the next replay.
    if (!interrupted) await commit();
  } finally {
    await producer?.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  const report: ReplayReport = {
    topic: topics.dlq,
    replayed_topic: topics.replayed,
    dry_run: opts.dryRun,
    interrupted,
    replay_id: replayId,
    groups: tally.list(),
    targets: Object.fromEntries([...tally.targets].sort(([a], [b]) => a.localeCompare(b))),
    replayed: tally.total('replay'),
    transactions,
    unreadable: tally.unreadable,
    warnings,
  };
  log.info({ replayed: report.replayed, transactions, dryRun: opts.dryRun, interrupted }, 'dlq replay finished');
  return report;
}

/**
 * Takes the replay's transactional id: InitProducerId fences every earlier producer of that id
 * (a replay still running elsewhere fails on its next commit) and aborts its open transaction.
 */
async function takeReplayId(ctx: DlqContext, transactionalId: string): Promise<Producer> {
  const producer = createProducer(ctx.kafka, {
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: ctx.config.kafka.transactionTimeout,
    allowAutoTopicCreation: false,
  });
  try {
    await producer.connect();
    const tx = await producer.transaction();
    await tx.abort();
  } catch (err) {
    await producer.disconnect().catch(() => undefined);
    throw kafkaError(err, { operation: 'take the dlq replay transactional id' });
  }
  return producer;
}

/** The re-published record and its replay-log entry for one dead letter. */
function pendingReplay(
  letter: DeadLetter,
  headers: IHeaders | undefined,
  replays: number,
  from: { topic: string; partition: number; offset: bigint },
  replayId: string,
  sourcePartitions: number,
): Pending {
  const entry: ReplayEntry = {
    dlq_topic: from.topic,
    dlq_partition: from.partition,
    dlq_offset: String(from.offset),
    source_topic: letter.source_topic,
    source_partition: letter.partition,
    source_offset: letter.offset,
    stage: letter.stage,
    error_code: letter.error_code,
    replays,
    replayed_at: Date.now(),
    replay_id: replayId,
  };
  const target: Message & { topic: string } = {
    topic: letter.source_topic,
    key: letter.key,
    value: letter.value,
    headers: replayHeaders(headers, replays, `${from.topic}/${from.partition}@${from.offset}`),
    // Back where it was read from; a partition the topic no longer has (it cannot shrink, but a
    // topic deleted and made again can) goes by its key.
    ...(letter.partition >= 0 && letter.partition < sourcePartitions ? { partition: letter.partition } : {}),
  };
  const value = JSON.stringify(entry);
  return {
    target,
    entry: { key: entryKey(from.partition, from.offset), value },
    stage: letter.stage,
    reason: letter.error_code,
    bytes: (letter.value?.length ?? 0) + (letter.key?.length ?? 0) + value.length,
  };
}
