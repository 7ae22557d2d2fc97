/**
 * The batch state of the Kafka stage workers (`stage <generate|check> --batch`): the same events
 * as the file of `run --batch` (`state.ts`), kept in a compacted topic, `<prefix>llm.batches`
 * (created when missing: one partition, `cleanup.policy` compact,delete, kept 7 days, longer than
 * any batch lives). A worker reads it to the end before it joins its group and then keeps
 * following it, so a worker started again after kill -9, or a live worker that takes over
 * partitions after a rebalance, finds the batches submitted for the records it re-reads and
 * collects them instead of submitting them again. Its own events are not indexed: it knows them.
 *
 * Each event is its own record (key: event, file and chunk), written with acks=all by an
 * idempotent producer before the step it records goes further. A `submitting` event's custom_ids
 * are split into chunks of 10,000 (about 550 kB), under the broker's default 1 MB message limit.
 * All stage workers that run in batch mode share the topic; an event of another stage's
 * endpoint is indexed too and simply never asked for.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { WebscaleError } from '../../core/errors.js';
import { createProducer, ensureTopic } from '../../kafka/index.js';
import { BatchStateStore, parseEvent, type StateEvent } from './state.js';

/** custom_ids per `submitting` record. */
const IDS_PER_RECORD = 10_000;
const RETENTION_MS = 7 * 24 * 3600 * 1000;

export async function ensureBatchStateTopic(admin: Admin, topic: string): Promise<void> {
  await ensureTopic(admin, {
    topic,
    partitions: 1,
    configEntries: [
      { name: 'cleanup.policy', value: 'compact,delete' },
      { name: 'retention.ms', value: String(RETENTION_MS) },
    ],
    what: 'batch state topic',
  });
}

export class KafkaBatchState extends BatchStateStore {
  readonly path: string;
  /** Input files this worker uploaded: its own events, not indexed when they come back. */
  private readonly own = new Set<string>();
  private consumer: Consumer | undefined;
  private groupId = '';

  private constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly producer: Producer,
  ) {
    super();
    this.path = `topic ${topic}`;
  }

  private take(value: Buffer | null): void {
    const event = value === null ? undefined : parseEvent(value.toString('utf8'));
    if (event === undefined) return;
    if (event.event !== 'collected' && this.own.has(event.file_id)) return;
    this.replay(event);
  }

  /**
   * Follow the topic with a consumer of its own (a throwaway group, no commits: every start reads
   * from the beginning); resolves once it has read up to the end offsets seen at the start.
   */
  private async follow(groupPrefix: string): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    const remaining = new Map<number, bigint>();
    try {
      for (const o of await admin.fetchTopicOffsets(this.topic)) if (BigInt(o.high) > BigInt(o.low)) remaining.set(o.partition, BigInt(o.high));
    } finally {
      await admin.disconnect();
    }
    this.groupId = `${groupPrefix}batch-state-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const reached = (partition: number, lastOffset: bigint): void => {
        const end = remaining.get(partition);
        if (end === undefined || lastOffset + 1n < end) return;
        remaining.delete(partition);
        if (remaining.size === 0) resolve();
      };
      if (remaining.size === 0) resolve();
      consumer.on(consumer.events.CRASH, (e) => {
        if (!e.payload.restart) reject(e.payload.error);
      });
      // A compacted topic's batch may hold no record at its end offsets (see read-to-end.ts).
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (e.payload.lastOffset !== null) reached(e.payload.partition, BigInt(e.payload.lastOffset));
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) this.take(m.value);
            reached(batch.partition, BigInt(batch.lastOffset()));
            await Promise.resolve();
          },
        })
        .catch(reject);
    });
  }

  /** Create the topic when missing, read it to the end, and connect the producer. */
  static async open(kafka: Kafka, topic: string, groupPrefix: string): Promise<KafkaBatchState> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureBatchStateTopic(admin, topic);
    } finally {
      await admin.disconnect();
    }
    const producer = createProducer(kafka, { allowAutoTopicCreation: false });
    await producer.connect();
    const state = new KafkaBatchState(kafka, topic, producer);
    try {
      await state.follow(groupPrefix);
    } catch (err) {
      await state.close();
      throw new WebscaleError('KAFKA', `cannot read the batch state topic ${topic}: ${(err as Error).message}`, { retryable: true, cause: err });
    }
    return state;
  }

  protected async append(event: StateEvent): Promise<void> {
    if (event.event !== 'collected') this.own.add(event.file_id);
    const records: { key: string; value: string }[] = [];
    if (event.event === 'submitting') {
      for (let i = 0, chunk = 0; i < Math.max(1, event.custom_ids.length); i += IDS_PER_RECORD, chunk++) {
        records.push({ key: `submitting|${event.file_id}|${chunk}`, value: JSON.stringify({ ...event, custom_ids: event.custom_ids.slice(i, i + IDS_PER_RECORD) }) });
      }
    } else {
      records.push({ key: `${event.event}|${event.event === 'submitted' ? event.file_id : event.batch_id}`, value: JSON.stringify(event) });
    }
    try {
      await this.producer.send({ topic: this.topic, acks: -1, messages: records });
    } catch (err) {
      throw new WebscaleError('KAFKA', `cannot write the batch state to ${this.topic}: ${(err as Error).message}`, { retryable: true, cause: err });
    }
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer.disconnect().catch(() => undefined);
    if (this.groupId !== '') {
      const admin = this.kafka.admin();
      await admin
        .connect()
        .then(() => admin.deleteGroups([this.groupId]))
        .catch(() => undefined)
        .finally(() => admin.disconnect().catch(() => undefined));
    }
  }
}
