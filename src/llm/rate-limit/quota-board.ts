/**
 * How the workers of all stages share rate limits and a budget with no infrastructure but Kafka:
 * a small compacted topic (`<prefix>llm.quota`, one partition, created when missing) where every
 * worker publishes, keyed by its member id, one JSON record per `kafka.quotaHeartbeat`: the
 * endpoints it calls (and whether it was held back by its share lately), its spend so far under
 * the budget's name, and the verified QA pairs it produced. Every worker reads the whole topic.
 *
 * Shares: for each endpoint, a member's share of the endpoint's limits is its weight over the sum
 * of the weights of the live members using that endpoint (live = heard from within
 * `kafka.quotaMemberTtl`, not left). A member held back by its share in the last five heartbeats
 * weighs 1, an idle one 0.1, so a stage with little work (filter) leaves most of the limit to the
 * stages with a backlog (generate) while keeping enough to notice new work. Shares are recomputed
 * on every record read and every heartbeat: a member that joins or leaves cleanly (SIGTERM) is
 * counted by the others within one fetch (a fetch returns on the first new record); one that
 * dies without a word holds its share until its TTL runs out.
 *
 * Budget: a member's record carries its cumulative spend, and compaction keeps each member's
 * last one, so the total spend is the sum over every member that ever published under this
 * budget name, restarts included (a restarted worker is a new member; its earlier life still
 * counts). Spend of the others is as fresh as their last heartbeat.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { createProducer, ensureTopic, followFetchWait, followTopic } from '../../kafka/index.js';
import { addSpend, NO_SPEND, type Budget, type Spend } from '../budget.js';
import type { RateLimitRegistry } from './registry.js';

export interface QuotaBoardOptions {
  kafka: Kafka;
  topic: string;
  /** Unique per process. */
  memberId: string;
  stage: string;
  registry: RateLimitRegistry;
  budget: Budget;
  budgetName: string;
  heartbeatMs: number;
  ttlMs: number;
  log: Logger;
  /** Prefix of the reader's throwaway consumer group. */
  groupPrefix: string;
  fetchMaxWait: number;
  /** Verified QA pairs this member produced so far (check workers), for the cost per pair. */
  verifiedPairs?: () => number;
}

export interface MemberRecord {
  v: 1;
  member: string;
  stage: string;
  /** Epoch ms when published. */
  at: number;
  left: boolean;
  endpoints: { key: string; busy: boolean }[];
  budget: string;
  spend: Spend;
  pairs: number;
}

const IDLE_WEIGHT = 0.1;
/** Heartbeats a member counts as busy after it was last held back by its share. */
const BUSY_HEARTBEATS = 5;

export function parseMemberRecord(value: Buffer | null): MemberRecord | null {
  if (value === null) return null;
  try {
    const r = JSON.parse(value.toString('utf8')) as Partial<MemberRecord>;
    if (r.v !== 1 || typeof r.member !== 'string' || typeof r.at !== 'number' || !Array.isArray(r.endpoints) || typeof r.spend !== 'object' || r.spend === null) return null;
    return r as MemberRecord;
  } catch {
    return null;
  }
}

/** Weighted share of `self` among live members using `endpoint` (pure; unit-tested). */
export function shareOf(endpoint: string, self: { member: string; busy: boolean }, members: Iterable<MemberRecord>, now: number, ttlMs: number): { share: number; members: number } {
  let total = self.busy ? 1 : IDLE_WEIGHT;
  const mine = total;
  let count = 1;
  for (const m of members) {
    if (m.member === self.member || m.left || now - m.at > ttlMs) continue;
    const use = m.endpoints.find((e) => e.key === endpoint);
    if (use === undefined) continue;
    total += use.busy ? 1 : IDLE_WEIGHT;
    count++;
  }
  return { share: mine / total, members: count };
}

/** Creates the compacted quota topic when it does not exist (one partition: it is small). */
export async function ensureQuotaTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopic(admin, {
      topic,
      partitions: 1,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        // Heartbeats are many and only each member's last one matters: roll segments often
        // so compaction keeps what a starting worker replays to minutes of heartbeats.
        { name: 'segment.ms', value: String(10 * 60_000) },
        { name: 'min.cleanable.dirty.ratio', value: '0.1' },
      ],
      what: 'the LLM quota topic',
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export class QuotaBoard {
  private readonly members = new Map<string, MemberRecord>();
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly groupId: string;
  /** Heartbeats left during which each endpoint counts as busy. */
  private readonly busyFor = new Map<string, number>();
  private readonly memberCounts = new Map<string, number>();
  private publishing: Promise<void> = Promise.resolve();
  private sending = false;
  private othersPairs = 0;

  constructor(private readonly o: QuotaBoardOptions) {
    this.groupId = `${o.groupPrefix}llm.quota-reader-${randomUUID()}`;
  }

  /** Live members per endpoint as last computed (this one included). */
  membersOf(endpoint: string): number {
    return this.memberCounts.get(endpoint) ?? 1;
  }

  /** Verified QA pairs of every member under this budget name (this one included). */
  totalPairs(): number {
    return this.othersPairs + (this.o.verifiedPairs?.() ?? 0);
  }

  /** Replays the topic to its end (so the budget knows what was spent), publishes, then follows it. */
  async start(signal: AbortSignal): Promise<void> {
    const { kafka, topic } = this.o;
    await ensureQuotaTopic(kafka, topic);
    const admin = kafka.admin();
    await admin.connect();
    let end: bigint;
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      end = offsets.reduce((n, p) => (BigInt(p.high) > n ? BigInt(p.high) : n), 0n);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await this.producer.connect();
    const consumer = kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: followFetchWait(this.o.fetchMaxWait),
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    this.consumer = consumer;
    const replayed = new Promise<void>((resolve) => {
      if (end === 0n) resolve();
      const reached = (next: bigint): void => {
        if (next >= end) resolve();
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (e.payload.lastOffset !== null) reached(BigInt(e.payload.lastOffset) + 1n);
      });
      void followTopic(consumer, {
        topic,
        signal,
        log: this.o.log,
        what: 'LLM quota reader',
        run: {
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) this.onMessage(m);
            this.recompute();
            reached(BigInt(batch.lastOffset()) + 1n);
            await Promise.resolve();
          },
        },
      });
    });
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([replayed, aborted]);
    if (signal.aborted) return;
    this.recompute();
    await this.publish(false);
    this.timer = setInterval(() => this.beat(), this.o.heartbeatMs);
    this.timer.unref?.();
    const shares = Object.fromEntries(this.o.registry.limiters().map((l) => [l.key, { share: l.share, members: this.membersOf(l.key) }]));
    this.o.log.info({ member: this.o.memberId, topic, shares, spent: this.o.budget.total() }, 'LLM quota board joined');
  }

  private onMessage(m: KafkaMessage): void {
    const key = m.key?.toString('utf8');
    if (key === undefined || key === this.o.memberId) return;
    const record = parseMemberRecord(m.value);
    if (record === null) {
      this.members.delete(key);
      return;
    }
    this.members.set(key, record);
  }

  private beat(): void {
    for (const limiter of this.o.registry.limiters()) {
      const left = limiter.takeHeldBack() ? BUSY_HEARTBEATS : Math.max(0, (this.busyFor.get(limiter.key) ?? 0) - 1);
      this.busyFor.set(limiter.key, left);
    }
    this.recompute();
    void this.publish(false);
  }

  /** Shares of every endpoint, and the others' spend, from what was read. */
  private recompute(): void {
    const now = Date.now();
    for (const limiter of this.o.registry.limiters()) {
      const busy = (this.busyFor.get(limiter.key) ?? 0) > 0;
      const { share, members } = shareOf(limiter.key, { member: this.o.memberId, busy }, this.members.values(), now, this.o.ttlMs);
      limiter.setShare(share);
      this.memberCounts.set(limiter.key, members);
    }
    let others: Spend = { ...NO_SPEND };
    let pairs = 0;
    for (const m of this.members.values()) {
      if (m.budget !== this.o.budgetName) continue;
      others = addSpend(others, m.spend);
      pairs += m.pairs;
    }
    this.othersPairs = pairs;
    this.o.budget.setOthers(others);
  }

  private publish(left: boolean): Promise<void> {
    const producer = this.producer;
    if (producer === null) return Promise.resolve();
    // A heartbeat still on its way (a slow broker): skip this one rather than queue a record that
    // would arrive already old; the next carries fresher figures. The last record always goes.
    if (!left && this.sending) return this.publishing;
    this.sending = true;
    const record = (): MemberRecord => ({
      v: 1,
      member: this.o.memberId,
      stage: this.o.stage,
      at: Date.now(),
      left,
      endpoints: this.o.registry.limiters().map((l) => ({ key: l.key, busy: (this.busyFor.get(l.key) ?? 0) > 0 })),
      budget: this.o.budgetName,
      spend: this.o.budget.ownSpend(),
      pairs: this.o.verifiedPairs?.() ?? 0,
    });
    // One send at a time, in order: a late heartbeat must never overwrite the final record. The
    // record is made when its turn comes, so its time and figures are those of the send.
    this.publishing = this.publishing
      .then(() => producer.send({ topic: this.o.topic, acks: -1, messages: [{ key: this.o.memberId, value: JSON.stringify(record()) }] }))
      .then(
        () => undefined,
        (err: unknown) => this.o.log.warn({ err }, 'LLM quota heartbeat not published; retrying at the next one'),
      )
      .finally(() => {
        this.sending = false;
      });
    return this.publishing;
  }

  /** Publishes a last record (left, with the final spend) so the others take over its share at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.publish(true);
    const { consumer, producer } = this;
    this.consumer = null;
    this.producer = null;
    await producer?.disconnect().catch(() => undefined);
    if (!consumer) return;
    await consumer.disconnect().catch(() => undefined);
    const admin = this.o.kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([this.groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}
