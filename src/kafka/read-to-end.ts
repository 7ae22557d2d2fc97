/**
 * Reads a topic from the beginning up to the end offsets it has when the call starts, with
 * isolation read_committed, and then stops: what `export` does, and what the tests use to look
 * at a topic. A throwaway consumer group is used and deleted afterwards. Each record is handed
 * over once, even when kafkajs restarts its consumer mid-read (after a retriable crash it starts
 * again from the beginning, since this group commits nothing).
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export async function readToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void,
  opts: { groupPrefix?: string } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${opts.groupPrefix ?? ''}read-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const remaining = new Map<number, bigint>();
    for (const o of offsets) if (BigInt(o.high) > BigInt(o.low)) remaining.set(o.partition, BigInt(o.high));
    if (remaining.size === 0) return;
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
