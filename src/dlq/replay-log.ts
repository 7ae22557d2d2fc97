/**
 * The record of what `dlq replay` re-published: one entry per dead letter, keyed by its DLQ
 * partition and offset, written to `<prefix>dlq.replayed` in the same Kafka transaction as the
 * re-published record. Read read_committed, the topic says exactly which dead letters are back in
 * their source topics, so a later replay (or a rerun after a crash) skips them. Values are JSON:
 * the topic is the replay's own bookkeeping, not a pipeline record.
 *
 * Also here: the headers a replay puts on the record it re-publishes. A stage that dead-letters
 * such a record again keeps its headers (`record-runner.ts`), so the new dead letter carries the
 * replay count and `dlq replay` can hold back a record that keeps coming back.
 */
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { ensureTopic, headerText, readToEnd } from '../kafka/index.js';
import { OffsetSet } from './offset-set.js';

/** How many times the record has been re-published by `dlq replay` (a decimal string). */
export const REPLAYS_HEADER = 'webscale-rl.replays';
/** The dead letter a re-published record came from: `<dlq topic>/<partition>@<offset>`. */
export const REPLAYED_FROM_HEADER = 'webscale-rl.replayed-from';

/** The replay count a record's headers carry; 0 without the header (or with a garbled one). */
export function replaysOf(headers: IHeaders | undefined): number {
  const text = headerText(headers, REPLAYS_HEADER);
  if (text === undefined) return 0;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/**
 * The headers of a re-published record: the original record's own (a dead letter keeps them),
 * with the replay count raised by one and the dead letter it came from.
 */
export function replayHeaders(original: IHeaders | undefined, replays: number, from: string): IHeaders {
  const out: IHeaders = {};
  for (const [k, v] of Object.entries(original ?? {})) if (v !== undefined && k !== REPLAYS_HEADER && k !== REPLAYED_FROM_HEADER) out[k] = v;
  out[REPLAYS_HEADER] = String(replays);
  out[REPLAYED_FROM_HEADER] = from;
  return out;
}

export interface ReplayEntry {
  dlq_topic: string;
  dlq_partition: number;
  /** Decimal string: offsets are 64-bit. */
  dlq_offset: string;
  source_topic: string;
  source_partition: number;
  source_offset: string;
  stage: string;
  error_code: string;
  /** The replay count of the re-published record (1 on its first replay). */
  replays: number;
  replayed_at: number;
  /** Which run of `dlq replay` re-published it. */
  replay_id: string;
}

export function entryKey(dlqPartition: number, dlqOffset: bigint | string): string {
  return `${dlqPartition}:${String(dlqOffset)}`;
}

export function parseEntry(value: Buffer | null): ReplayEntry | null {
  if (value === null) return null;
  try {
    const e = JSON.parse(value.toString('utf8')) as Partial<ReplayEntry>;
    if (typeof e.dlq_topic !== 'string' || typeof e.dlq_partition !== 'number' || typeof e.dlq_offset !== 'string' || !/^\d+$/.test(e.dlq_offset)) return null;
    return e as ReplayEntry;
  } catch {
    return null;
  }
}

/**
 * Creates the replay log when it does not exist. One partition (an entry is about 300 bytes);
 * kept as long as the DLQ keeps its records, so no dead letter outlives the entry that says it
 * was replayed (the entry is written after the dead letter, so it also expires after it).
 */
export async function ensureReplayedTopic(admin: Admin, topic: string, dlqTopic: string): Promise<void> {
  // Checked here too, so an existing log costs no look at the DLQ's configs.
  if ((await admin.listTopics()).includes(topic)) return;
  const retention = (await retentionOf(admin, dlqTopic)) ?? '-1';
  await ensureTopic(admin, {
    topic,
    partitions: 1,
    configEntries: [
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'retention.ms', value: retention },
    ],
    what: 'the replay log',
  });
}

/** A topic's retention.ms as configured, or undefined when it cannot be read. */
export async function retentionOf(admin: Admin, topic: string): Promise<string | undefined> {
  try {
    const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['retention.ms'] }] });
    return res.resources[0]?.configEntries.find((c) => c.configName === 'retention.ms')?.configValue;
  } catch {
    return undefined;
  }
}

/**
 * A replay log that forgets sooner than the DLQ would let a dead letter be replayed twice: one line
 * saying so, or null when it keeps entries at least as long.
 */
export async function retentionWarning(admin: Admin, replayedTopic: string, dlqTopic: string): Promise<string | null> {
  const [log, dlq] = await Promise.all([retentionOf(admin, replayedTopic), retentionOf(admin, dlqTopic)]);
  if (log === undefined || dlq === undefined) return null;
  const forever = (v: string): boolean => Number(v) < 0;
  if (forever(log) || (!forever(dlq) && Number(log) >= Number(dlq))) return null;
  return `${replayedTopic} keeps entries ${forever(dlq) ? 'for less time than' : `${log} ms, less than`} ${dlqTopic} keeps dead letters (${dlq} ms): a dead letter older than that could be replayed again; raise its retention.ms`;
}

/**
 * The dead letters of `dlqTopic` recorded as replayed, read_committed. Entries for offsets the
 * DLQ no longer holds (below `lowWatermarks`) are left out: nothing can replay them again.
 */
export async function loadReplayed(
  kafka: Kafka,
  topic: string,
  dlqTopic: string,
  lowWatermarks: ReadonlyMap<number, bigint>,
  groupPrefix: string,
): Promise<OffsetSet> {
  const set = new OffsetSet();
  await readToEnd(
    kafka,
    topic,
    (m) => {
      const e = parseEntry(m.value);
      if (!e || e.dlq_topic !== dlqTopic) return;
      const offset = BigInt(e.dlq_offset);
      if (offset < (lowWatermarks.get(e.dlq_partition) ?? 0n)) return;
      set.add(e.dlq_partition, offset);
    },
    { groupPrefix },
  );
  return set;
}
