/**
 * The batch state of the Kafka stage workers (`stage <generate|check> --batch`): the same events
 * as the file of `run --batch` (`state.ts`), kept in a compacted topic, `<prefix>llm.batches`
 * (created when missing: one partition, `cleanup.policy` compact,delete, kept 7 days, longer than
 * any batch lives). A worker reads it to the end before it joins its group, so a worker started
 * again after kill -9, or the worker that takes over its partitions, finds the batches submitted
 * for the records it re-reads and collects them instead of submitting them again.
 *
 * Each event is its own record (key: event, file and chunk), written with acks=all by an
 * idempotent producer before the step it records goes further. A `submitting` event's custom_ids
 * are split into chunks of 10,000 (about 550 kB), under the broker's default 1 MB message limit.
 * All stage workers that run in batch mode share the topic; an event of another stage's
 * endpoint is indexed too and simply never asked for.
 */
import type { Admin, Kafka, Producer } from 'kafkajs';
import { WebscaleError } from '../../core/errors.js';
import { createProducer, readToEnd } from '../../kafka/index.js';
import { BatchStateStore, parseEvent, type StateEvent } from './state.js';

/** custom_ids per `submitting` record. */
const IDS_PER_RECORD = 10_000;
const RETENTION_MS = 7 * 24 * 3600 * 1000;

export async function ensureBatchStateTopic(admin: Admin, topic: string): Promise<void> {
  const existing = await admin.listTopics();
  if (existing.includes(topic)) return;
  const brokers = (await admin.describeCluster()).brokers.length;
  const replicationFactor = Math.max(1, Math.min(3, brokers));
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact,delete' },
            { name: 'retention.ms', value: String(RETENTION_MS) },
            { name: 'min.insync.replicas', value: String(Math.min(2, replicationFactor)) },
          ],
        },
      ],
    });
  } catch (err) {
    // Another worker may have created it first.
    if ((await admin.listTopics()).includes(topic)) return;
    throw new WebscaleError('KAFKA', `cannot create batch state topic ${topic}: ${(err as Error).message}`, { retryable: true, cause: err });
  }
}

export class KafkaBatchState extends BatchStateStore {
  readonly path: string;

  private constructor(
    private readonly topic: string,
    private readonly producer: Producer,
  ) {
    super();
    this.path = `topic ${topic}`;
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
    const state = new KafkaBatchState(topic, producer);
    await readToEnd(
      kafka,
      topic,
      (m) => {
        const event = m.value === null ? undefined : parseEvent(m.value.toString('utf8'));
        if (event !== undefined) state.replay(event);
      },
      { groupPrefix },
    );
    return state;
  }

  protected async append(event: StateEvent): Promise<void> {
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
    await this.producer.disconnect().catch(() => undefined);
  }
}
