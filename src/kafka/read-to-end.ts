/**
 * Reads a topic from the beginning (or, with `startAt`, from a time by record timestamps) up to
 * the end offsets it has when the call starts, with isolation read_committed, and then stops:
 * what `export` does, and what the tests use to look at a topic. A throwaway consumer group is
 * used and deleted afterwards. Each record is handed over once, even when kafkajs restarts its
 * consumer mid-read (after a retriable crash it starts again where it first started, since this
 * group commits nothing while it reads).
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export async function readToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void,
  opts: {
    groupPrefix?: string;
    /**
     * Epoch ms: start each partition at its first record whose Kafka timestamp is at or after
     * this, instead of at the beginning (`export --since` on a sink kept forever reads the tail).
     */
    startAt?: number;
    /**
     * Most bytes of records one fetch brings (kafkajs `maxBytes`; per partition at most 1 MiB,
     * kafkajs' default). kafkajs holds a fetch's records as objects until they are handed over,
     * so this bounds the reader's memory. Default: kafkajs' 10 MiB.
     */
    fetchMaxBytes?: number;
  } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${opts.groupPrefix ?? ''}read-${randomUUID()}`;
  const fetchLimits = opts.fetchMaxBytes === undefined ? {} : { maxBytes: opts.fetchMaxBytes, maxBytesPerPartition: Math.min(opts.fetchMaxBytes, 1024 * 1024) };
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, ...fetchLimits });
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const start = new Map<number, bigint>(offsets.map((o) => [o.partition, BigInt(o.low)]));
    if (opts.startAt !== undefined) {
      for (const o of await admin.fetchTopicOffsetsByTimestamp(topic, opts.startAt)) {
        if (BigInt(o.offset) > (start.get(o.partition) ?? 0n)) start.set(o.partition, BigInt(o.offset));
      }
    }
    const remaining = new Map<number, bigint>();
    for (const o of offsets) if (BigInt(o.high) > (start.get(o.partition) ?? 0n)) remaining.set(o.partition, BigInt(o.high));
    if (remaining.size === 0) return;
    if (opts.startAt !== undefined) {
      // The group is new: offsets committed for it before it joins are where it starts.
      await admin.setOffsets({ groupId, topic, partitions: [...remaining.keys()].map((p) => ({ partition: p, offset: String(start.get(p) ?? 0n) })) });
    }
    /** Next offset not yet handed over, per partition. */
    const next = new Map<number, bigint>();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // kafkajs restarts itself after retriable crashes (e.g. a coordinator still loading).
      consumer.on(consumer.events.CRASH, (e) => {
        if (!e.payload.restart) reject(e.payload.error);
      });
      // A batch holding only aborted records and transaction markers (what a crashed or fenced
      // transactional producer leaves) never reaches eachBatch; kafkajs reports it as an event.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        const { partition, batchSize, lastOffset } = e.payload;
        const end = remaining.get(partition);
        if (batchSize !== 0 || end === undefined || lastOffset === null || BigInt(lastOffset) + 1n < end) return;
        remaining.delete(partition);
        if (remaining.size === 0) resolve();
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = remaining.get(batch.partition);
            if (end === undefined) return;
            for (const m of batch.messages) {
              const offset = BigInt(m.offset);
              if (offset >= end) break;
              if (offset < (next.get(batch.partition) ?? 0n)) continue;
              next.set(batch.partition, offset + 1n);
              await onMessage(m, batch.partition);
            }
            // lastOffset() counts the transaction markers that never reach us as messages.
            if (BigInt(batch.lastOffset()) + 1n >= end) {
              remaining.delete(batch.partition);
              if (remaining.size === 0) resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
