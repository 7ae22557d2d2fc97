/**
 * `ensureTopic` (src/kafka/ensure-topic.ts) on the real broker: a missing topic is created with
 * the partitions and configs asked for (read back with describeConfigs), an existing one is left
 * as it is, callers racing to create the same topic all succeed, and a create the broker refuses
 * is one typed KAFKA error naming the topic. The four internal topics made through it (ingest
 * progress, batch state, replay log, LLM quota board) keep their own configs.
 */
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebscaleError } from '../../src/core/errors.js';
import { ensureReplayedTopic } from '../../src/dlq/replay-log.js';
import { ensureProgressTopic } from '../../src/ingest/follow-progress.js';
import { ensureTopic } from '../../src/kafka/index.js';
import { ensureBatchStateTopic } from '../../src/llm/batch/kafka-state.js';
import { ensureQuotaTopic } from '../../src/llm/rate-limit/quota-board.js';
import { cleanupKafka, ensureBroker, freshPrefix, testKafka, withAdmin } from '../support/kafka.js';

const TOPIC = 2; // ConfigResourceTypes.TOPIC

async function configsOf(admin: Admin, topic: string, names: string[]): Promise<Record<string, string>> {
  const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC, name: topic, configNames: names }] });
  return Object.fromEntries((res.resources[0]?.configEntries ?? []).map((c) => [c.configName, c.configValue]));
}

async function partitionsOf(admin: Admin, topic: string): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return meta.topics[0]?.partitions.length ?? 0;
}

/** What the helper sets `min.insync.replicas` to on this cluster. */
async function expectedMinIsr(admin: Admin): Promise<string> {
  const brokers = (await admin.describeCluster()).brokers.length;
  return String(Math.min(2, Math.max(1, Math.min(3, brokers))));
}

describe('ensureTopic on the real broker', () => {
  let prefix: string;
  beforeAll(async () => {
    await ensureBroker();
    prefix = freshPrefix('ensure-topic');
  });
  afterAll(cleanupKafka);

  it('creates a missing topic with the partitions and configs asked for', async () => {
    await withAdmin(async (admin) => {
      const topic = `${prefix}created`;
      const created = await ensureTopic(admin, {
        topic,
        partitions: 2,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact,delete' },
          { name: 'retention.ms', value: '3600000' },
        ],
        what: 'test topic',
      });
      expect(created).toBe(true);
      expect(await partitionsOf(admin, topic)).toBe(2);
      expect(await configsOf(admin, topic, ['cleanup.policy', 'retention.ms', 'min.insync.replicas'])).toEqual({
        'cleanup.policy': 'compact,delete',
        'retention.ms': '3600000',
        'min.insync.replicas': await expectedMinIsr(admin),
      });
    });
  });

  it('leaves an existing topic as it is', async () => {
    await withAdmin(async (admin) => {
      const topic = `${prefix}existing`;
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }, { name: 'retention.ms', value: '7200000' }] }],
      });
      const created = await ensureTopic(admin, {
        topic,
        partitions: 1,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'retention.ms', value: '60000' },
        ],
        what: 'test topic',
      });
      expect(created).toBe(false);
      expect(await partitionsOf(admin, topic)).toBe(3);
      expect(await configsOf(admin, topic, ['cleanup.policy', 'retention.ms'])).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': '7200000' });
    });
  });

  it('callers racing to create the same topic all succeed, and it is made once', async () => {
    const topic = `${prefix}raced`;
    const clients = [0, 1, 2, 3].map((i) => testKafka(`race-${i}`).admin());
    await Promise.all(clients.map((a) => a.connect()));
    try {
      const results = await Promise.all(
        clients.map((a) => ensureTopic(a, { topic, partitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }], what: 'test topic' })),
      );
      // One of them made it (kafkajs answers false to the others: TOPIC_ALREADY_EXISTS, or found).
      expect(results.filter((r) => r).length).toBeLessThanOrEqual(1);
    } finally {
      await Promise.all(clients.map((a) => a.disconnect().catch(() => undefined)));
    }
    await withAdmin(async (admin) => {
      expect((await admin.listTopics()).filter((t) => t === topic)).toEqual([topic]);
      expect(await partitionsOf(admin, topic)).toBe(1);
      expect(await configsOf(admin, topic, ['cleanup.policy'])).toEqual({ 'cleanup.policy': 'compact' });
    });
  });

  it('a create the broker refuses is a retryable KAFKA error naming what and which topic', async () => {
    await withAdmin(async (admin) => {
      const topic = `${prefix}refused`;
      const err = await ensureTopic(admin, {
        topic,
        partitions: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'shred' }],
        what: 'the test log',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebscaleError);
      const e = err as WebscaleError;
      expect(e.code).toBe('KAFKA');
      expect(e.retryable).toBe(true);
      expect(e.message).toMatch(new RegExp(`^cannot create the test log ${topic.replaceAll('.', '\\.')}: `));
      expect(await admin.listTopics()).not.toContain(topic);
    });
  });

  it('a create that errors but went through on a broker slow to list it counts as made (a fresh broker)', async () => {
    // The broker is the one thing this cannot stage on demand, so the admin is a stand-in that
    // answers as the fresh KRaft broker did: the create fails with UNKNOWN_TOPIC_OR_PARTITION and
    // the topic shows up in the listing only on the third ask after that.
    let lists = 0;
    const admin = {
      listTopics: async () => (++lists >= 4 ? ['fresh.topic'] : []),
      describeCluster: async () => ({ brokers: [{}], controller: 1, clusterId: 'c' }),
      createTopics: async () => {
        throw Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });
      },
    } as unknown as Admin;
    await expect(ensureTopic(admin, { topic: 'fresh.topic', partitions: 1, configEntries: [], what: 'the test log' })).resolves.toBe(false);
    expect(lists).toBe(4);
  });

  it('the four internal topics keep their own configs', async () => {
    const kafka = testKafka('callers');
    await withAdmin(async (admin) => {
      const minIsr = await expectedMinIsr(admin);
      const names = ['cleanup.policy', 'retention.ms', 'segment.ms', 'min.cleanable.dirty.ratio', 'min.insync.replicas'];

      await ensureProgressTopic(admin, `${prefix}ingest.progress`);
      expect(await configsOf(admin, `${prefix}ingest.progress`, names)).toMatchObject({ 'cleanup.policy': 'compact', 'min.insync.replicas': minIsr });

      await ensureBatchStateTopic(admin, `${prefix}llm.batch-state`);
      expect(await configsOf(admin, `${prefix}llm.batch-state`, names)).toMatchObject({
        'cleanup.policy': 'compact,delete',
        'retention.ms': String(7 * 24 * 3600 * 1000),
        'min.insync.replicas': minIsr,
      });

      // The replay log keeps entries as long as the DLQ keeps dead letters.
      const dlq = `${prefix}dlq`;
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: dlq, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '5400000' }] }] });
      await ensureReplayedTopic(admin, `${prefix}dlq.replayed`, dlq);
      expect(await configsOf(admin, `${prefix}dlq.replayed`, names)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '5400000', 'min.insync.replicas': minIsr });

      await ensureQuotaTopic(kafka, `${prefix}llm.quota`);
      expect(await configsOf(admin, `${prefix}llm.quota`, names)).toMatchObject({
        'cleanup.policy': 'compact',
        'segment.ms': '600000',
        'min.cleanable.dirty.ratio': '0.1',
        'min.insync.replicas': minIsr,
      });

      for (const t of ['ingest.progress', 'llm.batch-state', 'dlq.replayed', 'llm.quota']) expect(await partitionsOf(admin, `${prefix}${t}`)).toBe(1);
    });
  });
});
