/**
 * The transaction-coordinator cache on the real broker: a transactional producer made by
 * `createProducer` asks the broker for its transaction coordinator once, not before every
 * transactional request (three times a commit in plain kafkajs 2.2.4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/kafka/index.js';
import { cleanupKafka, committedOffsetOnce, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';

beforeAll(async () => {
  await ensureBroker();
}, 600_000);

afterAll(async () => {
  await cleanupKafka();
});

describe('transaction-coordinator cache (real broker)', () => {
  it('looks the coordinator up once for many commits, and the commits still work', async () => {
    const prefix = freshPrefix('coord');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
    const kafka = testKafka('coord');
    const producer = createProducer(kafka, { transactionalId: `${prefix}tx`, maxInFlightRequests: 1 });
    const apis: string[] = [];
    producer.on(producer.events.REQUEST, (e) => apis.push(e.payload.apiName));
    await producer.connect();
    const commits = 5;
    for (let i = 0; i < commits; i++) {
      const tx = await producer.transaction();
      await tx.send({ topic: names['docs.filtered'] as string, messages: [{ key: `k${i}`, value: `v${i}` }] });
      await tx.sendOffsets({ consumerGroupId: `${prefix}group`, topics: [{ topic: names['docs.raw'] as string, partitions: [{ partition: 0, offset: String(i + 1) }] }] });
      await tx.commit();
    }
    await producer.disconnect();
    // kafkajs names FindCoordinator requests after their version 0, GroupCoordinator.
    const finds = apis.filter((a) => a === 'GroupCoordinator').length;
    expect(apis.filter((a) => a === 'EndTxn')).toHaveLength(commits);
    // Uncached: 1 at InitProducerId + 4 a commit (3 transaction lookups, 1 group lookup), 21 or more.
    // Cached: the transaction lookup and the group lookup once each.
    expect(finds).toBeLessThanOrEqual(2);
    const admin = kafka.admin();
    await admin.connect();
    const offset = await committedOffsetOnce(admin, `${prefix}group`, names['docs.raw'] as string, 0, String(commits));
    await admin.disconnect();
    expect(offset).toBe(String(commits));
  }, 120_000);
});
