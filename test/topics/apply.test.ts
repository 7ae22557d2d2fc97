/**
 * `topics apply` against the real broker: creates the ten topics, is idempotent, and reports
 * drift from a changed spec without touching data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { createSingleObjectCodec } from '../../src/codec/index.js';
import { createProducer } from '../../src/kafka/index.js';
import { applyTopics, formatTopicsReport, loadTopicSpecs, runTopicsApply } from '../../src/topics/index.js';
import type { TopicSpec } from '../../src/topics/index.js';
import { SAMPLES } from '../codec/samples.js';
import { cleanupKafka, ensureBroker, freshPrefix, testConfig, testKafka, withAdmin } from '../support/kafka.js';

const specs = loadTopicSpecs();

beforeAll(ensureBroker);
afterAll(cleanupKafka);

async function topicConfig(topic: string, name: string): Promise<string | undefined> {
  return withAdmin(async (admin) => {
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }],
    });
    return r.resources[0]?.configEntries.find((c) => c.configName === name)?.configValue;
  });
}

async function partitionCount(topic: string): Promise<number> {
  return withAdmin(async (admin) => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 0);
}

describe('topics apply', () => {
  const prefix = freshPrefix('topics');

  it('creates all ten topics (the schemas topic among them) as specified, lowering replication to the one broker', async () => {
    const report = await runTopicsApply(testConfig(), { prefix });
    expect(report.created).toBe(11);
    expect(report.topics.map((t) => t.topic)).toEqual(specs.map((s) => `${prefix}${s.suffix}`));
    expect(report.topics.every((t) => t.replicationFactor === 1)).toBe(true);
    expect(report.notes.join('\n')).toMatch(/replication factor lowered from 3 to 1/);
    const listed = await withAdmin((admin) => admin.listTopics());
    for (const t of report.topics) expect(listed).toContain(t.topic);
    expect(await partitionCount(`${prefix}qa.verified`)).toBe(12);
    expect(await topicConfig(`${prefix}qa.verified`, 'retention.ms')).toBe('-1');
    expect(await topicConfig(`${prefix}docs.raw`, 'max.message.bytes')).toBe('8388608');
    expect(await topicConfig(`${prefix}schemas`, 'cleanup.policy')).toBe('compact');
    // min.insync.replicas follows the lowered replication factor, or acks=all writes would fail.
    expect(await topicConfig(`${prefix}docs.raw`, 'min.insync.replicas')).toBe('1');
    expect(formatTopicsReport(report)).toMatch(/11 created, 0 unchanged, 0 updated, 0 with drift/);
  });

  it('a second apply finds nothing to do', async () => {
    const report = await runTopicsApply(testConfig(), { prefix });
    expect(report.created).toBe(0);
    expect(report.drifted).toBe(0);
    expect(report.topics.map((t) => t.status)).toEqual(specs.map(() => 'ok'));
  });

  it('a changed spec is reported as drift and no data is lost', async () => {
    const raw = `${prefix}docs.raw`;
    const codec = createSingleObjectCodec('Document');
    const producer = createProducer(testKafka('drift'));
    await producer.connect();
    await producer.send({ topic: raw, acks: -1, messages: [{ key: SAMPLES.Document.id, value: codec.encode(SAMPLES.Document) }] });
    await producer.disconnect();

    const changed: TopicSpec[] = specs.map((s) => {
      if (s.suffix === 'docs.raw') return { ...s, partitions: 16, configs: { ...s.configs, 'retention.ms': '3600000' } };
      if (s.suffix === 'dlq') return { ...s, partitions: 1 };
      return s;
    });
    const report = await withAdmin((admin) => applyTopics(admin, changed, prefix, { replicationFactorOverride: 'auto' }));
    const byTopic = Object.fromEntries(report.topics.map((t) => [t.suffix, t]));
    expect(report.created).toBe(0);
    expect(report.drifted).toBe(2);
    expect(byTopic['docs.raw']?.status).toBe('drift');
    expect(byTopic['docs.raw']?.drift).toEqual([
      { kind: 'partitions', key: 'partitions', expected: '16', actual: '12', fixed: false },
      { kind: 'config', key: 'retention.ms', expected: '3600000', actual: '604800000', fixed: false },
    ]);
    expect(byTopic['dlq']?.drift).toEqual([{ kind: 'partitions', key: 'partitions', expected: '1', actual: '3', fixed: false }]);
    expect(byTopic['qa.verified']?.status).toBe('ok');
    const text = formatTopicsReport(report);
    expect(text).toMatch(/retention\.ms is 604800000, spec says 3600000/);
    expect(text).toMatch(/Kafka cannot remove partitions/);

    // Nothing changed on the broker: partitions, retention and the record are all still there.
    expect(await partitionCount(raw)).toBe(12);
    expect(await partitionCount(`${prefix}dlq`)).toBe(3);
    expect(await topicConfig(raw, 'retention.ms')).toBe('604800000');
    const offsets = await withAdmin((admin) => admin.fetchTopicOffsets(raw));
    expect(offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0)).toBe(1);

    // Only with the explicit flag are partitions added; the record stays where it was.
    const grown = await withAdmin((admin) =>
      applyTopics(admin, changed.filter((s) => s.suffix === 'docs.raw'), prefix, { replicationFactorOverride: 'auto', allowPartitionIncrease: true }),
    );
    expect(grown.topics[0]?.drift.find((d) => d.kind === 'partitions')?.fixed).toBe(true);
    expect(grown.topics[0]?.status).toBe('drift'); // retention drift is still left alone
    expect(await partitionCount(raw)).toBe(16);
    const after = await withAdmin((admin) => admin.fetchTopicOffsets(raw));
    expect(after.reduce((n, p) => n + Number(p.high) - Number(p.low), 0)).toBe(1);
  });

  it('reports every topic created when the wait for leaders gives up after the create went through (a fresh broker), and still fails a create that did not', async () => {
    const fresh = freshPrefix('topics-late');
    const some = specs.filter((s) => ['docs.raw', 'dlq'].includes(s.suffix));
    const report = await withAdmin((admin) => {
      // The real create, then the error kafkajs' waitForLeaders gives on a broker that has not
      // published the new topics' metadata yet.
      const flaky = new Proxy(admin, {
        get(target, key, receiver) {
          if (key !== 'createTopics') return Reflect.get(target, key, receiver) as unknown;
          return async (o: Parameters<typeof admin.createTopics>[0]) => {
            await target.createTopics(o);
            throw new Error('This server does not host this topic-partition');
          };
        },
      });
      return applyTopics(flaky, some, fresh, { replicationFactorOverride: 'auto' });
    });
    expect(report.created).toBe(2);
    expect(report.topics.map((t) => t.status)).toEqual(['created', 'created']);
    // A create the broker refuses outright is still an error, after the listing found nothing.
    const refused = withAdmin((admin) => {
      const failing = new Proxy(admin, {
        get(target, key, receiver) {
          if (key !== 'createTopics') return Reflect.get(target, key, receiver) as unknown;
          return () => Promise.reject(new Error('Topic authorization failed'));
        },
      });
      return applyTopics(failing, some, freshPrefix('topics-refused'), { replicationFactorOverride: 'auto' });
    });
    await expect(refused).rejects.toMatchObject({ code: 'KAFKA' });
  }, 60_000);
});
