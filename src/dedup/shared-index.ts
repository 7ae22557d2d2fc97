/**
 * The dedup index shared by every worker of the dedup consumer group, kept in the compacted topic
 * `dedup.index` (key: document id). A worker writes the entry of each document it keeps in the
 * same transaction as the document itself and its input offset, so the topic holds an entry for
 * exactly the documents committed to `docs.unique`: a worker killed before its commit leaves no
 * entry behind, one killed after it loses none. Every worker reads the whole topic
 * (read_committed) before it takes any input, then follows it, so it also learns what the others
 * keep.
 *
 * Until a worker reads its own entry back from the topic, the entry waits in a pending index that
 * only this worker consults, and only while the record's partition is still this worker's: a
 * partition lost before its commit takes its pending entries with it.
 *
 * The guarantee for two near-duplicates decided at the same moment: on the same worker (one
 * process decides one record at a time) exactly one is kept. On different workers, each is
 * checked against what the other had committed and this one had read: within that window
 * (`kafka.commitInterval` plus a fetch, about a second) both may be kept, and the later copies
 * of either are caught. No other worker has to answer before a document goes on, so no worker can
 * stall another.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { DedupConfig } from '../config/schema.js';
import type { DedupEntry } from '../core/records.js';
import type { TopicCodecs } from '../codec/index.js';
import { kafkaError } from '../kafka/errors.js';
import { dedupParams, fromDedupRecord, schemeOf, type DedupView } from './fingerprint.js';
import { DedupIndex, type DedupMatch, type IndexEntry } from './index-store.js';
import type { MinHashParams } from './minhash.js';

export interface SharedDedupIndexOptions {
  kafka: Kafka;
  config: DedupConfig;
  /** Full name of the index topic. */
  topic: string;
  /** Prefix of the reader's throwaway consumer group (the topic prefix, so tests clean it up). */
  groupPrefix: string;
  codecs: TopicCodecs;
  log: Logger;
}

export class SharedDedupIndex implements DedupView {
  readonly params: MinHashParams;
  readonly scheme: string;
  readonly committed: DedupIndex;
  /** Entries kept here and not read back from the topic yet, with the test of their ownership. */
  private readonly pending: DedupIndex;
  private readonly owners = new Map<string, () => boolean>();
  private consumer: Consumer | null = null;
  private readonly groupId: string;
  /** True once the topic was read up to its end offsets at start. */
  loaded = false;
  /** Records read from the topic; entries of another scheme among them. */
  readonly counts = { read: 0, otherScheme: 0 };

  constructor(private readonly o: SharedDedupIndexOptions) {
    this.params = dedupParams(o.config);
    this.scheme = schemeOf(this.params);
    this.committed = new DedupIndex(o.config.maxEntries);
    this.pending = new DedupIndex(o.config.maxEntries);
    this.groupId = `${o.groupPrefix}dedup.index-reader-${randomUUID()}`;
  }

  find(entry: IndexEntry): DedupMatch | null {
    const known = this.committed.find(entry.exact, entry.bands);
    if (known) return known;
    for (;;) {
      const mine = this.pending.find(entry.exact, entry.bands);
      if (mine === null) return null;
      if (this.owners.get(mine.of)?.() ?? false) return mine;
      // Its partition went elsewhere before the commit: the document was never kept.
      this.forgetPending(mine.of);
    }
  }

  keep(entry: IndexEntry, owned: () => boolean = () => true): void {
    this.pending.add(entry);
    this.owners.set(entry.docId, owned);
  }

  /** Entries kept here and not yet read back from the topic. */
  get pendingSize(): number {
    return this.pending.size;
  }

  private forgetPending(docId: string): void {
    this.pending.remove(docId);
    this.owners.delete(docId);
  }

  /** Reads the topic to its end (resolves then), and follows it afterwards. */
  async start(signal: AbortSignal): Promise<void> {
    const { kafka, topic } = this.o;
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      ends = new Map((await admin.fetchTopicOffsets(topic)).filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]));
    } catch (err) {
      throw kafkaError(err, { operation: 'read dedup index offsets', topic });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const consumer = kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    this.consumer = consumer;
    const loaded = new Promise<void>((resolve) => {
      const reached = (partition: number, next: bigint): void => {
        const end = ends.get(partition);
        if (end === undefined || next < end) return;
        ends.delete(partition);
        if (ends.size === 0) resolve();
      };
      if (ends.size === 0) resolve();
      // A batch holding only aborted records and markers never reaches eachBatch (see read-to-end.ts).
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (e.payload.lastOffset !== null) reached(e.payload.partition, BigInt(e.payload.lastOffset) + 1n);
      });
      void consumer
        .connect()
        .then(() => consumer.subscribe({ topic, fromBeginning: true }))
        .then(() =>
          consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              for (const m of batch.messages) await this.onMessage(m);
              reached(batch.partition, BigInt(batch.lastOffset()) + 1n);
            },
          }),
        )
        .catch((err: unknown) => this.o.log.error({ err }, 'dedup index reader failed to start'));
    });
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([loaded, aborted]);
    if (signal.aborted) return;
    this.loaded = true;
    this.o.log.info({ entries: this.committed.size, read: this.counts.read, otherScheme: this.counts.otherScheme, scheme: this.scheme }, 'dedup index loaded');
  }

  private async onMessage(m: KafkaMessage): Promise<void> {
    if (m.value === null) return;
    let record: DedupEntry;
    try {
      record = (await this.o.codecs.for('DedupEntry', this.o.topic).decode(m.value)) as DedupEntry;
    } catch (err) {
      // Not ours to dead-letter (no worker owns the index topic): skip it, loudly.
      this.o.log.warn({ err, offset: m.offset }, 'undecodable dedup index record skipped');
      return;
    }
    this.counts.read++;
    const entry = fromDedupRecord(record, this.scheme);
    if (entry === null) {
      this.counts.otherScheme++;
      return;
    }
    this.committed.add(entry);
    this.forgetPending(entry.docId);
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
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
