/**
 * Schema changes and schema infrastructure on the real broker, with stage worker processes:
 * - a rolling upgrade: filter workers of a release whose FilteredDocument has an added optional
 *   field (a schema folder selected with WEBSCALE_SCHEMA_DIR) replace the current ones while
 *   documents are in flight; identify workers of the current release read the newer records
 *   (their schema looked up in `<prefix>schemas`), then are replaced by the new release, which
 *   reads both. Every document ends exactly once in the sink or the rejections, no dead letter;
 * - a record written with a schema nobody published waits `kafka.unknownSchemaWait`, then is one
 *   dead letter naming the cause;
 * - a Confluent registry (stand-in, basic auth over TLS with a CA made for the run) that is down
 *   when the workers start and comes back seconds later: records wait, none is dead-lettered.
 */
import { copyFileSync, cpSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSingleObjectCodec, publishedSchemaText, SchemaStore, SchemaTopic } from '../../src/codec/index.js';
import { loadTopicSpecs } from '../../src/topics/index.js';
import { captureLogger } from '../support/capture-logger.js';
import { WORKER_STAGES } from '../../src/core/records.js';
import { readToEnd, packageDir } from '../../src/kafka/index.js';
import { SAMPLES } from '../codec/samples.js';
import { createTestTopics, freshPrefix, testKafka } from '../support/kafka.js';
import { PipelineHarness, sleep, usePipelineSuite, type Worker } from '../support/pipeline.js';
import { makeTestCa, startStandInRegistry } from '../support/stand-in-registry.js';

const suite = usePipelineSuite('schemas', { latencyMs: 150, maxLog: 100 });

/** A copy of schemas/ whose FilteredDocument gains an optional field; the current one goes to history/. */
function writeV2Schemas(dir: string): string {
  const v2 = join(dir, 'schemas-v2');
  mkdirSync(dir, { recursive: true });
  cpSync(packageDir('schemas'), v2, { recursive: true });
  copyFileSync(join(v2, 'FilteredDocument.avsc'), join(v2, 'history', 'FilteredDocument.v2-previous.avsc'));
  const schema = JSON.parse(readFileSync(join(v2, 'FilteredDocument.avsc'), 'utf8')) as { fields: unknown[] };
  schema.fields.push({ name: 'filter_note', type: ['null', 'string'], default: null, doc: 'Added in the test release.' });
  writeFileSync(join(v2, 'FilteredDocument.avsc'), JSON.stringify(schema, null, 2));
  return v2;
}

/**
 * Input files of `writeInput`'s documents `from..to-1` (their texts, and so their dedup verdicts,
 * depend on the number only: two files must not share numbers), without its malformed last line.
 */
async function inputs(h: PipelineHarness, parts: { name: string; from: number; to: number }[]): Promise<{ dir: string; files: string[] }> {
  const dir = join(h.dir, `in-${Date.now()}`);
  mkdirSync(dir);
  const files: string[] = [];
  for (const { name, from, to } of parts) {
    const path = await h.writeInput(name, to);
    const lines = (await readFile(path, 'utf8')).trim().split('\n').slice(from, to);
    await writeFile(path, lines.join('\n') + '\n');
    const moved = join(dir, `${name}.jsonl`);
    renameSync(path, moved);
    files.push(moved);
  }
  return { dir, files };
}

async function rawValues(topic: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await readToEnd(testKafka('reader'), topic, (m) => {
    if (m.value) out.push(m.value);
  });
  return out;
}

async function keys(topic: string): Promise<string[]> {
  const out: string[] = [];
  await readToEnd(testKafka('reader'), topic, (m) => {
    if (m.key) out.push(m.key.toString());
  });
  return out;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail().slice(-3000)}`);
    await sleep(300);
  }
}

async function stopGracefully(w: Worker): Promise<void> {
  w.proc.kill('SIGTERM');
  expect(await w.exited, w.stderr()).toBe(0);
}

describe('schema evolution and schema infrastructure (real broker, worker processes)', () => {
  it('a rolling upgrade to a FilteredDocument with an added optional field: old readers resolve the new schema, 0 dead letters, 0 lost', async () => {
    const { h } = suite;
    const prefix = freshPrefix('upgrade');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 3 });
    const v2 = writeV2Schemas(h.dir);
    const v2Env = { WEBSCALE_SCHEMA_DIR: v2 };
    const { dir, files } = await inputs(h, [{ name: 'up-a', from: 0, to: 30 }, { name: 'up-b', from: 30, to: 60 }]);
    const expected = await h.embeddedExpectation(dir);
    expect(expected.qa.size).toBeGreaterThan(30);

    // The current release everywhere; identify logs at info so its schema lookup shows.
    const others = WORKER_STAGES.filter((s) => s !== 'identify' && s !== 'filter').map((s) => h.startWorker(s, prefix));
    const filterV1 = h.startWorker('filter', prefix, { instance: 'filter-1' });
    const identifyV1 = h.startWorker('identify', prefix, { instance: 'identify-1', env: { WEBSCALE_LOG_LEVEL: 'info' } });
    await h.ingest(prefix, files[0] ?? '');
    await waitFor('the current filter to write', async () => (await rawValues(names['docs.filtered'] ?? '')).length > 0, 90_000, () => filterV1.stderr());

    // Roll the filter while the first half is in flight: the new release joins, the old one drains
    // what it holds and leaves, then the second half arrives (read by the new release only).
    const v2Store = SchemaStore.load(v2);
    const v2Fingerprint = v2Store.current('FilteredDocument').fingerprintHex;
    const v1Fingerprint = createSingleObjectCodec('FilteredDocument').writer.fingerprintHex;
    expect(v2Fingerprint).not.toBe(v1Fingerprint);
    const filterV2 = h.startWorker('filter', prefix, { instance: 'filter-2', env: v2Env });
    await sleep(1500);
    await stopGracefully(filterV1);
    await h.ingest(prefix, files[1] ?? '');
    await waitFor(
      'records of the new release in docs.filtered',
      async () => (await rawValues(names['docs.filtered'] ?? '')).some((v) => v.subarray(2, 10).toString('hex') === v2Fingerprint),
      90_000,
      () => [filterV2, ...others].map((w) => w.stderr()).join('\n'),
    );
    // The old identify meets the new fingerprint, finds it in the schemas topic and reads on.
    await waitFor('the old identify to look the new schema up', () => identifyV1.stderr().includes('writer schemas found in the schemas topic'), 60_000, () => identifyV1.stderr());
    expect(await keys(names['schemas'] ?? '')).toContain(v2Fingerprint);

    // Roll identify too: the new release reads what both releases wrote.
    h.startWorker('identify', prefix, { instance: 'identify-2', env: v2Env });
    await sleep(1500);
    await stopGracefully(identifyV1);

    await h.waitForCompletion(prefix, expected, 180_000);
    await h.assertExactlyOnce(prefix, expected);
    const written = (await rawValues(names['docs.filtered'] ?? '')).map((v) => v.subarray(2, 10).toString('hex'));
    expect(new Set(written)).toEqual(new Set([v1Fingerprint, v2Fingerprint]));
    expect(identifyV1.stderr()).not.toContain('record dead-lettered');
  }, 420_000);

  it('the schemas topic in-process: publish is idempotent per schema, entries whose key is not their fingerprint are ignored, a missing topic is one warning', async () => {
    const prefix = freshPrefix('schematopic');
    const { names } = await createTestTopics(prefix, loadTopicSpecs().filter((s) => s.suffix === 'schemas'), { partitions: 1 });
    const topic = names['schemas'] ?? '';
    const v2 = SchemaStore.load(writeV2Schemas(join(suite.h.dir, `topic-${Date.now()}`))).current('FilteredDocument');
    const writer = new SchemaTopic({ kafka: testKafka('schemas-writer'), topic, store: SchemaStore.load() });
    await writer.publish(v2);
    await writer.publish(v2);
    await writer.close();
    const other = SchemaStore.load(writeV2Schemas(join(suite.h.dir, `other-${Date.now()}`)));
    const producer = testKafka('schemas-liar').producer();
    await producer.connect();
    // A valid schema published under a key that is not its fingerprint.
    await producer.send({ topic, messages: [{ key: 'ffffffffffffffff', value: publishedSchemaText(other.current('FilteredDocument')) }] });
    await producer.disconnect();
    expect(await keys(topic)).toEqual([v2.fingerprintHex, 'ffffffffffffffff']);

    const log = captureLogger();
    const store = SchemaStore.load();
    const reader = new SchemaTopic({ kafka: testKafka('schemas-reader'), topic, store, log: log.logger, minRefreshIntervalMs: 0 });
    expect(store.byFingerprint(v2.fingerprintHex)).toBeUndefined();
    await reader.refresh();
    expect(store.byFingerprint(v2.fingerprintHex)?.recordType).toBe('FilteredDocument');
    expect(store.byFingerprint('ffffffffffffffff')).toBeUndefined();
    expect(log.text()).toContain('key is not its fingerprint');

    const missing = captureLogger();
    const nowhere = new SchemaTopic({ kafka: testKafka('schemas-missing'), topic: `${prefix}no-such-topic`, store, log: missing.logger, minRefreshIntervalMs: 0 });
    await nowhere.publish(v2);
    await nowhere.refresh();
    await nowhere.close();
    expect(missing.lines().filter((l) => String(l['msg']).includes('does not exist'))).toHaveLength(1);
  }, 120_000);

  it('a record written with a schema nobody published waits kafka.unknownSchemaWait, then is one dead letter naming the cause', async () => {
    const { h } = suite;
    const prefix = freshPrefix('unknown');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
    const config = join(h.dir, 'unknown-wait.yaml');
    await writeFile(config, 'kafka:\n  unknownSchemaWait: 4s\n');
    // A writer of a release that never published its schema (no schemas topic access, say).
    const store = SchemaStore.load(writeV2Schemas(join(h.dir, `unpublished-${Date.now()}`)));
    const codec = createSingleObjectCodec('FilteredDocument', { store });
    const producer = testKafka('writer').producer();
    await producer.connect();
    const sentAt = Date.now();
    await producer.send({ topic: names['docs.filtered'] ?? '', acks: -1, messages: [{ key: 'orphan', value: codec.encode(SAMPLES.FilteredDocument) }] });
    await producer.disconnect();
    const w = h.startWorker('identify', prefix, { env: { WEBSCALE_CONFIG: config } });
    let letters: Record<string, unknown>[] = [];
    await waitFor('the dead letter', async () => (letters = await h.exportJsonl(prefix, 'dlq')).length > 0, 60_000);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(4000);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ error_code: 'SCHEMA_UNKNOWN', stage: 'identify', source_topic: names['docs.filtered'] });
    expect(String(letters[0]?.['error'])).toMatch(
      new RegExp(`writer schema fingerprint ${codec.writer.fingerprintHex} is neither bundled .* still not found after \\d+ s \\(kafka.unknownSchemaWait\\)`),
    );
    w.proc.kill('SIGTERM');
    await w.exited;
  }, 180_000);

  it('a schema registry (basic auth over TLS) that is down when the workers start and back seconds later: records wait, none is dead-lettered', async () => {
    const { h: base } = suite;
    const ca = makeTestCa();
    const registry = await startStandInRegistry({ tls: { key: ca.key, cert: ca.cert }, basic: { username: 'sr-user', password: 'sr-pass-outage' } });
    try {
      const registryEnv = {
        WEBSCALE_SCHEMA_REGISTRY_URL: registry.url,
        WEBSCALE_SCHEMA_REGISTRY_USERNAME: 'sr-user',
        WEBSCALE_SCHEMA_REGISTRY_PASSWORD: 'sr-pass-outage',
        WEBSCALE_SCHEMA_REGISTRY_CA: ca.caPath,
        WEBSCALE_DEDUP_ENABLED: 'false',
      };
      class RegistryHarness extends PipelineHarness {
        override env(prefix: string): Record<string, string> {
          return { ...super.env(prefix), ...registryEnv };
        }
      }
      const h = new RegistryHarness(base.dir, base.llmUrl);
      const prefix = freshPrefix('registry');
      await createTestTopics(prefix, undefined, { partitions: 2 });
      const { files } = await inputs(h, [{ name: 'reg', from: 0, to: 24 }]);
      const expected = await h.embeddedExpectation(files[0] ?? '');
      await h.ingest(prefix, files[0] ?? '');
      expect(registry.calls.some((c) => c.startsWith('POST /subjects/'))).toBe(true);

      await registry.stop();
      const workers = WORKER_STAGES.filter((s) => s !== 'dedup').map((s) => h.startWorker(s, prefix));
      try {
        await waitFor('a worker to wait for the registry', () => workers.some((w) => w.stderr().includes('waiting for schemas')), 60_000);
        await sleep(4000);
        await registry.start();
        await h.waitForCompletion(prefix, expected, 180_000);
        await h.assertExactlyOnce(prefix, expected);
        const log = workers.map((w) => w.stderr()).join('\n');
        expect(log).toMatch(/schema registry https:\/\/127\.0\.0\.1:\d+ cannot be reached: connection refused/);
        expect(log).not.toContain('sr-pass-outage');
        expect(log).not.toContain('record dead-lettered');
      } finally {
        h.killAll();
      }
    } finally {
      await registry.close();
    }
  }, 420_000);
});
