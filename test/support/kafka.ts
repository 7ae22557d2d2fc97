/**
 * Helpers for integration tests against the real Kafka broker (never a mock):
 * - `brokers()` from KAFKA_BROKERS (comma-separated) or the dev broker at 127.0.0.1:19092;
 * - `ensureBroker()` checks the broker answers and, for the dev broker, starts it with
 *   scripts/kafka.sh (idempotent) when it does not;
 * - `freshPrefix()` a unique topic/group prefix per test, remembered for cleanup;
 * - `createTestTopics()` the pipeline topics (or some) under a prefix, via `applyTopics`;
 * - `cleanupKafka()` deletes every topic and consumer group of the prefixes handed out.
 * Typical use: `beforeAll(ensureBroker)`, `afterAll(cleanupKafka)`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import type { Admin, Kafka } from 'kafkajs';
import { configSchema } from '../../src/config/schema.js';
import { createKafka } from '../../src/kafka/client.js';
import { applyTopics, loadTopicSpecs } from '../../src/topics/index.js';
import { waitFor } from './wait.js';
import type { TopicSpec, TopicsApplyReport } from '../../src/topics/index.js';

const KAFKA_SH = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));
const DEV_BROKER = '127.0.0.1:19092';

export function brokers(): string[] {
  const env = process.env.KAFKA_BROKERS?.trim();
  return env ? env.split(',').map((b) => b.trim()).filter((b) => b !== '') : [DEV_BROKER];
}

/** A compiled config pointing at the test brokers (for code that takes a Config). */
export function testConfig(overrides: { topicPrefix?: string } = {}): ReturnType<typeof configSchema.parse> {
  return configSchema.parse({ kafka: { brokers: brokers(), clientId: 'webscale-rl-test', ...overrides }, logLevel: 'silent' });
}

/** A silent kafkajs client for the test brokers. */
export function testKafka(clientIdSuffix = 'test'): Kafka {
  return createKafka(testConfig(), { clientIdSuffix });
}

async function answers(): Promise<boolean> {
  const admin = createKafka(testConfig(), {
    overrides: { connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 0 } },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

let ready: Promise<void> | undefined;

/** Resolves once the broker answers; starts the dev broker (scripts/kafka.sh start) when needed. */
export function ensureBroker(): Promise<void> {
  ready ??= (async () => {
    if (await answers()) return;
    if (process.env.KAFKA_BROKERS) throw new Error(`Kafka at KAFKA_BROKERS=${process.env.KAFKA_BROKERS} does not answer`);
    execFileSync('bash', [KAFKA_SH, 'start'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    if (!(await answers())) throw new Error(`Kafka at ${DEV_BROKER} does not answer after npm run kafka:start`);
  })();
  return ready;
}

const handedOut = new Set<string>();

/** A topic/group prefix no other test (or earlier run) uses, e.g. `test.topics.m3k2x1a9f.`. */
export function freshPrefix(label = 'test'): string {
  const prefix = `test.${label}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}.`;
  handedOut.add(prefix);
  return prefix;
}

/** Runs `fn` with a connected admin client. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = testKafka('admin').admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * The partition's committed offset once the group coordinator shows `expected` (or the last seen
 * after `timeoutMs`). A transactional offset commit becomes visible when its commit markers are
 * written, a moment after EndTxn is answered, and kafkajs's OffsetFetch (v4) cannot ask to wait
 * for it (require_stable came in v7).
 */
export async function committedOffsetOnce(admin: Admin, groupId: string, topic: string, partition: number, expected: string, timeoutMs = 30_000): Promise<string | undefined> {
  let offset: string | undefined;
  const shows = async (): Promise<boolean> => {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    offset = entry?.partitions.find((p) => p.partition === partition)?.offset;
    return offset === expected;
  };
  // Timed out: the caller's assertion names the offset last seen.
  await waitFor(`offset ${expected} of ${topic}`, shows, timeoutMs, 20).catch(() => undefined);
  return offset;
}

export interface TestTopics {
  /** Full topic name by suffix. */
  names: Record<string, string>;
  report: TopicsApplyReport;
}

/**
 * Creates topics under `prefix` from specs (default: all of topics/), with replication 1 and,
 * unless `partitions` says otherwise, 3 partitions each to keep the broker's work small.
 */
export async function createTestTopics(
  prefix: string,
  specs: readonly TopicSpec[] = loadTopicSpecs(),
  opts: { partitions?: number } = {},
): Promise<TestTopics> {
  handedOut.add(prefix);
  const report = await withAdmin((admin) =>
    applyTopics(admin, specs, prefix, { replicationFactorOverride: 1, partitionsOverride: opts.partitions ?? 3 }),
  );
  const names = Object.fromEntries(report.topics.map((t) => [t.suffix, t.topic]));
  return { names, report };
}

/** Deletes the topics and consumer groups under `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  await withAdmin(async (admin) => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) {
      await admin.deleteGroups(groups).catch((err: unknown) => {
        // A group whose member has not left yet cannot be deleted; the topic is gone anyway.
        if (!(err instanceof kafkajs.KafkaJSDeleteGroupsError)) throw err;
      });
    }
  });
}

/** Deletes everything under every prefix handed out by this module (call in afterAll). */
export async function cleanupKafka(): Promise<void> {
  const prefixes = [...handedOut];
  handedOut.clear();
  for (const prefix of prefixes) await deletePrefix(prefix);
}
