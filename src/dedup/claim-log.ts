/**
 * How the workers of the dedup consumer group agree: a claims log. For each input document a
 * worker appends a claim (the document's exact key and LSH band keys, and where it was read) to
 * `dedup.claims`, a topic of ONE partition, and waits until its own reading of that log reaches
 * the claim. Every worker replays the same log in the same order with the same rule (a claim
 * matching no earlier kept claim is kept; otherwise it is a duplicate of the first kept one it
 * matches), so every worker reaches the same decision for every claim: the log is the single
 * owner of every key at once (Kafka's partition leader orders the claims), and the index in each
 * worker is a replica of it (a replicated state machine).
 *
 * What this gives:
 * - Two near-duplicates arriving at the same moment on different partitions, on different
 *   workers: exactly one is kept, the one whose claim the broker appended first; the other is a
 *   `dedup.near` rejection naming it.
 * - Exactly-once: decisions are a function of the log, not of who asks or when. A worker killed
 *   after its claim and before its commit leaves the claim behind; the record's next owner
 *   claims it again, and the second claim of a record (same partition and offset of docs.raw)
 *   gets the first claim's decision. So the document the log keeps is the one that reaches
 *   docs.unique, exactly once, whoever commits it; nothing the log decided is lost on a restart,
 *   since claims are written (acks=all) before any output is committed.
 * - Memory: each worker holds at most `maxEntries` kept documents and `maxEntries` decisions;
 *   past that the oldest are forgotten (a copy of a forgotten document is kept again). The topic's
 *   retention is the time window a restarted worker replays.
 *
 * Claims are sent in batches: while one send is in flight the next claims queue, so a worker with
 * many records in flight pays one round trip per batch, not per document.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { DedupConfig } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { DedupClaim } from '../core/records.js';
import type { TopicCodecs } from '../codec/index.js';
import { createProducer } from '../kafka/client.js';
import { kafkaError } from '../kafka/errors.js';
import { followFetchWait, followTopic } from '../kafka/follow-topic.js';
import { decideSchemaWait, SCHEMA_BACKOFF } from '../runtime/record-policy.js';
import { decideAgainst, dedupParams, fromClaim, schemeOf, toClaim, type DedupView, type RecordSource } from './fingerprint.js';
import { DedupIndex, type DedupMatch, type IndexEntry } from './index-store.js';
import type { MinHashParams } from './minhash.js';

export interface ClaimLogOptions {
  kafka: Kafka;
  config: DedupConfig;
  /** Full name of the claims topic. */
  topic: string;
  /** Prefix of the reader's throwaway consumer group (the topic prefix, so tests clean it up). */
  groupPrefix: string;
  codecs: TopicCodecs;
  log: Logger;
  /** kafka.fetchMaxWait: the reader's idle fetch wait is at least 500 ms (followFetchWait). */
  fetchMaxWait: number;
}

/** Claims per produce request at most. */
const MAX_BATCH = 500;
/** Every claim goes to this partition: one order for all workers, whatever partitions the topic has. */
const CLAIMS_PARTITION = 0;

type Decision = DedupMatch | null;

interface Queued {
  message: Message;
  resolve(): void;
  reject(err: WebscaleError): void;
}

function sourceKey(partition: number, offset: bigint | number): string {
  return `${partition}:${offset}`;
}

export class ClaimLog implements DedupView {
  readonly params: MinHashParams;
  readonly scheme: string;
  readonly index: DedupIndex;
  /** Decision per input record (`partition:offset`), oldest first; bounded like the index. */
  private readonly decisions = new Map<string, Decision>();
  private readonly waiters = new Map<string, ((d: Decision) => void)[]>();
  private readonly groupId: string;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private queue: Queued[] = [];
  private sending = false;
  /** True once the log was replayed up to its end offset at start. */
  loaded = false;
  readonly counts = { replayed: 0, claimed: 0, otherScheme: 0 };

  constructor(private readonly o: ClaimLogOptions) {
    this.params = dedupParams(o.config);
    this.scheme = schemeOf(this.params);
    this.index = new DedupIndex(o.config.maxEntries);
    this.groupId = `${o.groupPrefix}dedup.claims-reader-${randomUUID()}`;
  }

  async decide(entry: IndexEntry, source?: RecordSource, signal?: AbortSignal): Promise<Decision> {
    if (!source) throw new WebscaleError('INTERNAL', 'a dedup claim needs the input record it is for');
    const key = sourceKey(source.partition, source.offset);
    const known = this.decisions.get(key);
    if (known !== undefined) return known;
    const decided = this.waitFor(key, signal);
    // When the send below fails, nobody awaits this wait: it must not become an unhandled rejection.
    decided.catch(() => undefined);
    const value = await this.o.codecs.for('DedupClaim', this.o.topic).encode(toClaim(entry, source, this.scheme));
    await this.send({ partition: CLAIMS_PARTITION, key: entry.docId, value });
    this.counts.claimed++;
    return decided;
  }

  private waitFor(key: string, signal?: AbortSignal): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      const list = this.waiters.get(key) ?? [];
      const onAbort = (): void => {
        const rest = (this.waiters.get(key) ?? []).filter((w) => w !== done);
        if (rest.length > 0) this.waiters.set(key, rest);
        else this.waiters.delete(key);
        reject(new WebscaleError('KAFKA', 'gave up waiting for the dedup claims log to reach this claim', { retryable: true }));
      };
      const done = (d: Decision): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(d);
      };
      list.push(done);
      this.waiters.set(key, list);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private send(message: Message): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (!this.sending) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          if (!this.producer) throw new WebscaleError('KAFKA', 'dedup claims log is not started');
          await this.producer.send({ topic: this.o.topic, acks: -1, messages: batch.map((q) => q.message) });
          for (const q of batch) q.resolve();
        } catch (err) {
          const e = kafkaError(err, { operation: 'send dedup claims', topic: this.o.topic });
          for (const q of batch) q.reject(e);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** One claim of the log, in log order: the same decision on every worker. */
  private apply(claim: DedupClaim): void {
    this.counts.replayed++;
    const key = sourceKey(claim.source_partition, claim.source_offset);
    let decision = this.decisions.get(key);
    if (decision === undefined) {
      if (claim.scheme !== this.scheme) this.counts.otherScheme++;
      decision = decideAgainst(this.index, fromClaim(claim, this.scheme));
      this.remember(key, decision);
    }
    const waiting = this.waiters.get(key);
    if (!waiting) return;
    this.waiters.delete(key);
    for (const w of waiting) w(decision);
  }

  private remember(key: string, decision: Decision): void {
    this.decisions.set(key, decision);
    if (this.decisions.size <= this.o.config.maxEntries) return;
    const oldest = this.decisions.keys().next();
    if (oldest.done !== true) this.decisions.delete(oldest.value);
  }

  /** Connects the producer, replays the log to its end (resolves then) and follows it afterwards. */
  async start(signal: AbortSignal): Promise<void> {
    const { kafka, topic } = this.o;
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      if (offsets.length > 1) this.o.log.warn({ topic, partitions: offsets.length }, `dedup claims go to partition ${CLAIMS_PARTITION} only; the others stay empty`);
      ends = new Map(offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]));
    } catch (err) {
      throw kafkaError(err, { operation: 'read dedup claims offsets', topic });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await this.producer.connect();
    const consumer = kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxWaitTimeInMs: followFetchWait(this.o.fetchMaxWait),
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    this.consumer = consumer;
    const replayed = new Promise<void>((resolve) => {
      const reached = (partition: number, next: bigint): void => {
        const end = ends.get(partition);
        if (end === undefined || next < end) return;
        ends.delete(partition);
        if (ends.size === 0) resolve();
      };
      if (ends.size === 0) resolve();
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (e.payload.lastOffset !== null) reached(e.payload.partition, BigInt(e.payload.lastOffset) + 1n);
      });
      void followTopic(consumer, {
        topic,
        signal,
        log: this.o.log,
        what: 'dedup claims reader',
        run: {
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) await this.onMessage(m);
            reached(batch.partition, BigInt(batch.lastOffset()) + 1n);
          },
        },
      });
    });
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([replayed, aborted]);
    if (signal.aborted) return;
    this.loaded = true;
    this.o.log.info({ kept: this.index.size, replayed: this.counts.replayed, otherScheme: this.counts.otherScheme, scheme: this.scheme }, 'dedup claims log replayed');
    if (this.counts.otherScheme > 0) {
      this.o.log.warn(
        { otherScheme: this.counts.otherScheme, scheme: this.scheme },
        'claims of another dedup scheme found: their exact copies are still caught, their near copies are not (pipeline.dedup.hashing k-permutation matches indexes made before one-permutation hashing was the default)',
      );
    }
  }

  private async onMessage(m: KafkaMessage): Promise<void> {
    if (m.value === null) return;
    let claim: DedupClaim | undefined;
    for (let attempt = 1; claim === undefined; attempt++) {
      try {
        claim = (await this.o.codecs.for('DedupClaim', this.o.topic).decode(m.value)) as DedupClaim;
      } catch (err) {
        const e = WebscaleError.from(err, 'CODEC');
        // A registry or schemas topic that is away, or a claim written by a newer release a moment
        // before its schema can be found: every worker must apply it, so wait (a skipped claim
        // would make this worker disagree with the others).
        const d = decideSchemaWait({ code: e.code, retryable: e.retryable, attempts: attempt, ageMs: 0, shuttingDown: this.consumer === null }, { unknownSchemaWaitMs: Infinity, backoff: SCHEMA_BACKOFF });
        if (d.action !== 'retry') {
          // Every worker skips the same record, so they still agree; nobody owns the log to dead-letter it.
          this.o.log.warn({ err, offset: m.offset }, 'undecodable dedup claim skipped');
          return;
        }
        if (attempt === 1) this.o.log.warn({ code: e.code, offset: m.offset }, `dedup claim waits for its schema: ${e.message}`);
        await new Promise((r) => setTimeout(r, d.delayMs));
      }
    }
    this.apply(claim);
  }

  async stop(): Promise<void> {
    const { consumer, producer } = this;
    this.consumer = null;
    this.producer = null;
    await producer?.disconnect().catch(() => undefined);
    if (!consumer) return;
    await consumer.disconnect().catch(() => undefined);
    // The reader's group commits nothing and is never joined again: leave no empty group behind.
    const admin = this.o.kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([this.groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect().catch(() => undefined));
  }
}
