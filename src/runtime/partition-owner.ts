/**
 * One input partition owned by a stage worker, and the fencing that makes its exactly-once hold
 * against zombies.
 *
 * A worker can lose a partition without noticing: frozen past its session timeout (a long GC
 * pause, a starved node, a live-migrated VM), its group moves the partition to another member,
 * and when it wakes it still holds finished results it believes are its to commit. kafkajs speaks
 * only TxnOffsetCommit v0/v1, which carry no generation or member id, so the broker cannot refuse
 * such a stale commit by group generation (KIP-447). We use the scheme Kafka Streams used before
 * KIP-447 instead, which needs nothing but transactions: one transactional producer per input
 * partition, with transactional id `<group>:<topic>:<partition>`, the same whichever pod owns it.
 * Taking ownership calls InitProducerId for that id, which bumps the producer epoch (every earlier
 * producer of the partition is fenced: its next send, offset commit or EndTxn fails) and aborts any
 * transaction an earlier owner left open (so a replaced or frozen owner holds read_committed
 * readers back for no longer than that call, not for the transaction timeout). Only after that does
 * the owner read the committed offset and its metadata, so it starts from exactly what the last
 * owner committed, and nobody else can commit for the partition until the next InitProducerId.
 *
 * Outputs of finished records wait here, with their size counted, until a transaction commits
 * them together with the partition's offset (the Confluent Parallel Consumer scheme of
 * `offset-tracker.ts`).
 */
import type { Admin, Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { WebscaleError } from '../core/errors.js';
import { createProducer } from '../kafka/client.js';
import { kafkaError } from '../kafka/errors.js';
import { PartitionTracker, type CommitPlan } from './offset-tracker.js';

export interface OutMessage {
  topic: string;
  message: Message;
}

/** Bookkeeping a held record costs beyond its output bytes (map entries, offsets, objects). */
export const HELD_RECORD_OVERHEAD_BYTES = 256;

export interface PartitionOwnerOptions {
  kafka: Kafka;
  admin: Admin;
  groupId: string;
  topic: string;
  partition: number;
  transactionTimeout: number;
  /** Room for the finished-offsets list in the commit metadata (broker's offset.metadata.max.bytes). */
  metadataBudget: number;
  /** Where the owner says how a commit in doubt or a replaced producer was settled. */
  log?: Logger;
}

export type CommitOutcome =
  | { outcome: 'nothing' }
  | { outcome: 'ok'; seconds: number; produced: Map<string, number> }
  | { outcome: 'fenced'; seconds: number; error: WebscaleError };

function messageBytes(messages: readonly OutMessage[]): number {
  let n = HELD_RECORD_OVERHEAD_BYTES;
  for (const { message } of messages) {
    n += (message.value as Buffer | null)?.length ?? 0;
    n += typeof message.key === 'string' ? Buffer.byteLength(message.key) : (message.key?.length ?? 0);
  }
  return n;
}

/**
 * Most message bytes one produce request of a commit carries. The broker refuses a partition's
 * record batch above the topic's max.message.bytes (8 MiB on ours), and kafkajs puts all of a
 * request's messages for one partition into one batch: a commit holding a backlog's worth of
 * outputs bound for one partition would be refused, and retried, forever. Several requests in
 * one transaction commit together all the same.
 */
export const COMMIT_REQUEST_BYTES = 1024 * 1024;

/** Splits messages into produce requests of at most `maxBytes` (a larger message goes alone). */
export function produceRequests(byTopic: ReadonlyMap<string, Message[]>, maxBytes = COMMIT_REQUEST_BYTES): { topic: string; messages: Message[] }[][] {
  const requests: { topic: string; messages: Message[] }[][] = [];
  let current = new Map<string, Message[]>();
  let bytes = 0;
  for (const [topic, messages] of byTopic) {
    for (const m of messages) {
      const size = messageBytes([{ topic, message: m }]);
      if (bytes > 0 && bytes + size > maxBytes) {
        requests.push([...current].map(([t, ms]) => ({ topic: t, messages: ms })));
        current = new Map();
        bytes = 0;
      }
      let list = current.get(topic);
      if (!list) current.set(topic, (list = []));
      list.push(m);
      bytes += size;
    }
  }
  if (bytes > 0) requests.push([...current].map(([t, ms]) => ({ topic: t, messages: ms })));
  return requests;
}

/** A partition's committed offset (null: none) and its metadata ('' when absent). */
export interface CommitMark {
  offset: bigint | null;
  metadata: string;
}

/** A commit mark for a log line: the offset and the start of its metadata (up to 4 KB of bitset). */
function markText(m: CommitMark): string {
  const metadata = m.metadata.length > 80 ? `${m.metadata.slice(0, 80)}...` : m.metadata;
  return `${m.offset === null ? 'none' : String(m.offset)}${metadata === '' ? '' : ` ${metadata}`}`;
}

function sameMark(a: CommitMark, b: CommitMark): boolean {
  return a.offset === b.offset && a.metadata === b.metadata;
}

/**
 * What the partition's committed offset, read right after this owner's own InitProducerId (a
 * replaced producer, or one adopted from a fresh take), says about the work it holds:
 * - `landed`: it is the plan whose EndTxn went unanswered: that transaction committed.
 * - `ours`: it is still what this owner last committed: nobody else committed since, and the plan
 *   in doubt (if any) was aborted; held outputs are still this owner's to send.
 * - `superseded`: anything else. Another owner took the partition and committed meanwhile (a newer
 *   join of this worker, or another pod, while this owner's producer was away); its fetch started
 *   from that owner's commit, so sending what this owner holds would repeat outputs. The InitProducerId
 *   just done stops further commits of the other owner until it takes the partition again.
 * Nobody else can commit between that InitProducerId and the read, so the answer holds until the
 * next InitProducerId for the partition.
 */
export function judgeCommitted(found: CommitMark, lastCommitted: CommitMark, inDoubt: CommitMark | null): 'landed' | 'ours' | 'superseded' {
  if (inDoubt !== null && sameMark(found, inDoubt)) return 'landed';
  if (sameMark(found, lastCommitted)) return 'ours';
  return 'superseded';
}

export function transactionalIdFor(groupId: string, topic: string, partition: number): string {
  return `${groupId}:${topic}:${partition}`;
}

export class PartitionOwner {
  readonly partition: number;
  /** Records in flight: offset -> when it was taken (for the oldest-in-flight metric and maxRecordAge). */
  readonly startedAt = new Map<bigint, number>();
  /** Bytes of finished outputs held until their commit (plus per-record bookkeeping). */
  heldBytes = 0;
  /** A newer owner took the partition: nothing more may be committed through this one. */
  private fenced = false;
  private closed = false;
  private readonly opts: PartitionOwnerOptions;
  private producer: Producer;
  private tracker: PartitionTracker | null = null;
  /** What the partition's last owner had committed when this one took it ('' metadata: none). */
  private readonly committedAtOpen: CommitMark;
  /** What this owner last committed (or found at open): compared when the partition is taken again. */
  private lastCommitted: CommitMark;
  private readonly held = new Map<bigint, { messages: OutMessage[]; bytes: number }>();
  private chain: Promise<CommitOutcome> = Promise.resolve({ outcome: 'nothing' });
  /** A plan whose EndTxn was sent but not answered: committed or not, found out before the next send. */
  private inDoubt: CommitPlan | null = null;
  /** The producer is stuck in a transaction it could not end: replace it before the next commit. */
  private producerBroken = false;
  /**
   * This owner ran InitProducerId again (a replaced producer): whoever else committed for the
   * partition meanwhile is fenced now, and the committed offset must be checked before anything
   * held is sent (`judgeCommitted`).
   */
  private recheck = false;

  private constructor(opts: PartitionOwnerOptions, producer: Producer, committed: CommitMark) {
    this.opts = opts;
    this.partition = opts.partition;
    this.producer = producer;
    this.committedAtOpen = committed;
    this.lastCommitted = committed;
  }

  /**
   * Whether `fresh` (this partition just taken again) found exactly what this owner last
   * committed: then nobody else committed for the partition meanwhile, and this owner's records in
   * flight and held outputs are still valid.
   */
  sameCommitAs(fresh: PartitionOwner): boolean {
    return sameMark(fresh.committedAtOpen, this.lastCommitted);
  }

  /** Carry on with `fresh`'s producer (the newest epoch; ours is fenced by it). `fresh` is spent. */
  adoptProducerOf(fresh: PartitionOwner): void {
    const old = this.producer;
    this.producer = fresh.producer;
    this.producerBroken = false;
    fresh.closed = true;
    void old.disconnect().catch(() => undefined);
  }

  get active(): boolean {
    return !this.closed && !this.fenced;
  }

  /** The committed offset as this owner knows it (for lag), or null before anything is known. */
  get committedOffset(): bigint | null {
    return this.tracker?.committed ?? this.committedAtOpen.offset;
  }

  /**
   * Take ownership of the partition: fence every earlier producer of it (aborting a transaction
   * one left open), then read the committed offset and metadata. Throws KAFKA (retry later) or
   * KAFKA_FENCED (someone took it meanwhile).
   */
  static async open(opts: PartitionOwnerOptions): Promise<PartitionOwner> {
    const producer = PartitionOwner.newProducer(opts);
    try {
      await PartitionOwner.fence(producer);
      return new PartitionOwner(opts, producer, await PartitionOwner.readCommitted(opts));
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw kafkaError(err, { operation: 'take partition', topic: opts.topic, partition: opts.partition });
    }
  }

  /** The partition's committed offset and metadata, as the group coordinator has them now. */
  private static async readCommitted(opts: PartitionOwnerOptions): Promise<CommitMark> {
    const [entry] = await opts.admin.fetchOffsets({ groupId: opts.groupId, topics: [opts.topic] });
    const p = entry?.partitions.find((x) => x.partition === opts.partition);
    const offset = p && /^\d+$/.test(p.offset) ? BigInt(p.offset) : null;
    return { offset, metadata: p?.metadata ?? '' };
  }

  private static newProducer(opts: PartitionOwnerOptions): Producer {
    return createProducer(opts.kafka, {
      transactionalId: transactionalIdFor(opts.groupId, opts.topic, opts.partition),
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: opts.transactionTimeout,
      allowAutoTopicCreation: false,
    });
  }

  /** InitProducerId for the transactional id (kafkajs does it on the first transaction); nothing is sent. */
  private static async fence(producer: Producer): Promise<void> {
    await producer.connect();
    const tx = await producer.transaction();
    await tx.abort();
  }

  private trackerFor(offset: bigint): PartitionTracker {
    // Nothing committed yet: the first record fetched is where this partition starts.
    this.tracker ??= new PartitionTracker(this.committedAtOpen.offset ?? offset, this.committedAtOpen.metadata);
    return this.tracker;
  }

  /**
   * Where this owner's records begin when nothing was committed yet: `offset` instead of the first
   * record fetched. A partition taken back outside a join is read again from there, while records
   * fetched before that seek (later offsets) may still arrive first.
   */
  startFrom(offset: bigint): void {
    this.trackerFor(offset);
  }

  /** Whether to process a fetched record (false: committed already, in flight, or finished). */
  accept(offset: bigint, now = Date.now()): boolean {
    if (!this.active) return false;
    if (!this.trackerFor(offset).accept(offset)) return false;
    this.startedAt.set(offset, now);
    return true;
  }

  /** A record's final outputs, held until the commit that carries its offset (dropped if not ours any more). */
  finish(offset: bigint, messages: OutMessage[]): void {
    if (!this.startedAt.delete(offset)) return;
    const bytes = messageBytes(messages);
    this.held.set(offset, { messages, bytes });
    this.heldBytes += bytes;
    this.tracker?.finish(offset);
  }

  /** Leave a record unfinished (shutdown): its offset stays uncommitted for the next owner. */
  abandon(offset: bigint): void {
    this.startedAt.delete(offset);
  }

  /** Commit what is committable: outputs and the partition's offset in one transaction. Serialised. */
  commit(): Promise<CommitOutcome> {
    const next = this.chain.then(
      () => this.commitOnce(),
      () => this.commitOnce(),
    );
    this.chain = next.catch(() => ({ outcome: 'nothing' }) as const);
    return next;
  }

  private async commitOnce(): Promise<CommitOutcome> {
    if (!this.active || this.tracker === null) return { outcome: 'nothing' };
    const t0 = performance.now();
    if (this.producerBroken) {
      try {
        // A new producer fences whoever took the partition meanwhile: when the committed offset
        // already shows somebody else's commit, leave that owner alone and let go at once. A commit
        // whose EndTxn was answered but whose offset the group coordinator does not show yet (its
        // markers are written a moment later) is missed here: the new producer then fences that
        // owner, which takes the partition back and redoes its uncommitted records (a cost, never a
        // repeat: the check after InitProducerId below sees the commit and this owner lets go).
        const before = await PartitionOwner.readCommitted(this.opts);
        if (judgeCommitted(before, this.lastCommitted, this.inDoubt) === 'superseded') return await this.superseded(before, t0);
        await this.replaceProducer();
      } catch (err) {
        return this.failed(err, t0, false);
      }
    }
    let settled = new Map<string, number>();
    if (this.recheck || this.inDoubt !== null) {
      // The fresh producer's InitProducerId has finished the in-doubt transaction one way or the
      // other, and fenced whoever took the partition while ours was away; the partition's
      // committed offset says which happened. Sending held outputs after the plan in doubt landed,
      // or after another owner committed the same records, would repeat them.
      let found: CommitMark;
      try {
        found = await PartitionOwner.readCommitted(this.opts);
      } catch (err) {
        return this.failed(err, t0, false);
      }
      const verdict = judgeCommitted(found, this.lastCommitted, this.inDoubt);
      this.opts.log?.warn(
        { partition: this.partition, verdict, found: markText(found), ownLastCommit: markText(this.lastCommitted), inDoubt: this.inDoubt ? markText(this.inDoubt) : null },
        `commit check after a new producer: ${verdict}`,
      );
      if (verdict === 'superseded') return this.superseded(found, t0);
      if (verdict === 'landed' && this.inDoubt !== null) settled = this.settle(this.inDoubt);
      this.inDoubt = null;
      this.recheck = false;
    }
    const plan = this.tracker.plan(this.opts.metadataBudget);
    if (plan === null) return settled.size > 0 ? { outcome: 'ok', seconds: (performance.now() - t0) / 1000, produced: settled } : { outcome: 'nothing' };
    const byTopic = this.messagesOf(plan);
    let tx: Awaited<ReturnType<Producer['transaction']>>;
    try {
      tx = await this.producer.transaction();
    } catch (err) {
      return this.failed(err, t0, false);
    }
    let committing = false;
    try {
      for (const topicMessages of produceRequests(byTopic)) await tx.sendBatch({ topicMessages, acks: -1 });
      await tx.sendOffsets({
        consumerGroupId: this.opts.groupId,
        topics: [{ topic: this.opts.topic, partitions: [{ partition: this.partition, offset: String(plan.offset), metadata: plan.metadata }] }],
      } as unknown as Parameters<typeof tx.sendOffsets>[0]);
      committing = true;
      await tx.commit();
    } catch (err) {
      if (committing && kafkaError(err, { operation: 'commit' }).code !== 'KAFKA_FENCED') {
        // EndTxn may have reached the coordinator even though its answer did not reach us (a
        // timeout, a dropped connection): the outcome is unknown. Resolve it before anything is
        // sent again (next commit: a fresh producer completes it, the committed offset tells).
        this.inDoubt = plan;
        return this.failed(err, t0, true);
      }
      const aborted = await tx.abort().then(
        () => true,
        () => false,
      );
      return this.failed(err, t0, !aborted);
    }
    return { outcome: 'ok', seconds: (performance.now() - t0) / 1000, produced: this.settle(plan) };
  }

  /** Bookkeeping of a commit that landed: its outputs leave memory, its offset is the committed one. */
  private settle(plan: CommitPlan): Map<string, number> {
    const produced = new Map<string, number>();
    for (const o of plan.covered) {
      const entry = this.held.get(o);
      if (!entry) continue;
      for (const m of entry.messages) produced.set(m.topic, (produced.get(m.topic) ?? 0) + 1);
      this.heldBytes -= entry.bytes;
      this.held.delete(o);
    }
    this.tracker?.committedPlan(plan);
    this.lastCommitted = { offset: plan.offset, metadata: plan.metadata };
    return produced;
  }

  private messagesOf(plan: CommitPlan): Map<string, Message[]> {
    const byTopic = new Map<string, Message[]>();
    for (const o of plan.covered) {
      for (const m of this.held.get(o)?.messages ?? []) {
        let list = byTopic.get(m.topic);
        if (!list) byTopic.set(m.topic, (list = []));
        list.push(m.message);
      }
    }
    return byTopic;
  }

  /**
   * A failed commit. Fenced: this owner lost the partition and must hold nothing more for it.
   * Otherwise the held outputs stay for the next try; a producer whose transaction could not even
   * be aborted (the broker went away mid-commit) is replaced by a fresh one with the same
   * transactional id, whose InitProducerId aborts the dangling transaction.
   */
  private async failed(err: unknown, t0: number, stuck: boolean): Promise<CommitOutcome> {
    const e = kafkaError(err, { operation: 'commit', topic: this.opts.topic, partition: this.partition });
    const seconds = (performance.now() - t0) / 1000;
    if (e.code === 'KAFKA_FENCED') {
      this.fenced = true;
      this.dropHeld();
      await this.producer.disconnect().catch(() => undefined);
      return { outcome: 'fenced', seconds, error: e };
    }
    if (stuck) this.producerBroken = true;
    throw e;
  }

  /**
   * Another owner committed for the partition since this owner's last commit: like being fenced,
   * this owner lets go of the partition and drops what it holds (the other owner's fetch started
   * from its own commit, so those records are done or will be).
   */
  private async superseded(found: CommitMark, t0: number): Promise<CommitOutcome> {
    const error = new WebscaleError(
      'KAFKA_FENCED',
      `partition ${this.partition} of ${this.opts.topic} was committed by another owner (offset ${String(found.offset)}) while this one could not reach the broker; dropping its uncommitted work`,
      { context: { topic: this.opts.topic, partition: this.partition, committedOffset: String(found.offset), ownLastCommit: String(this.lastCommitted.offset) } },
    );
    return this.failed(error, t0, false);
  }

  /** A fresh producer with the same transactional id; its InitProducerId aborts the dangling transaction. */
  private async replaceProducer(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
    const fresh = PartitionOwner.newProducer(this.opts);
    try {
      await PartitionOwner.fence(fresh);
    } catch (err) {
      await fresh.disconnect().catch(() => undefined);
      throw err;
    }
    this.producer = fresh;
    this.producerBroken = false;
    this.recheck = true;
  }

  private dropHeld(): void {
    this.held.clear();
    this.heldBytes = 0;
    this.startedAt.clear();
  }

  /** Release the partition (lost in a rebalance, or shutdown): held results are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.chain.catch(() => undefined);
    this.dropHeld();
    await this.producer.disconnect().catch(() => undefined);
  }
}
