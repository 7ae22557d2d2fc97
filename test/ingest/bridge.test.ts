/**
 * The crawl bridge on the real broker: a crawler publishes JSON documents to a topic of its own
 * while `webscale-rl ingest --from-topic` (the node process itself) copies them into docs.raw; the
 * bridge is killed with SIGKILL mid-stream and restarted, and in another test one of two bridges
 * is frozen past its session timeout and woken. docs.raw read read_committed holds every document
 * once, bad messages are typed rejections (once), nothing reaches the DLQ.
 */
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka, Message } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DocumentRecord, Rejection } from '../../src/core/records.js';
import { loadTopicSpecs } from '../../src/topics/index.js';
import { cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka, withAdmin } from '../support/kafka.js';
import { killIngests, publish, readCommitted, readCommittedRaw, spawnIngest, waitFor, type IngestProcess } from '../support/ingest.js';
import { htmlPage, warcBytes } from '../support/warc-fixtures.js';
import { freePort, metric } from '../support/worker-metrics.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function crawlDoc(i: number): Message {
  const text = `Crawled page ${i} tells how the river town of site ${i % 37} rebuilt its bridge after the flood of year ${1900 + (i % 120)}.`;
  return { key: `page-${i}`, value: JSON.stringify({ id: `page-${i}`, text, url: `https://site${i % 37}.example/page/${i}`, crawl_date: 1_714_557_600_000 + i }) };
}

/** Messages a careless crawler sends, each with the rejection it must become. */
const BAD: { message: Message; reason: string }[] = [
  { message: { key: 'bad-json', value: '{"id": "bad-json", "text": ' }, reason: 'input.invalid_json' },
  { message: { key: 'bad-array', value: '[1, 2, 3]' }, reason: 'input.not_object' },
  { message: { key: 'bad-text', value: JSON.stringify({ id: 'bad-text', text: 42 }) }, reason: 'input.missing_text' },
  { message: { key: 'bad-date', value: JSON.stringify({ id: 'bad-date', text: 'a page', crawl_date: 'last tuesday' }) }, reason: 'input.invalid_field' },
  { message: { key: 'bad-lang', value: JSON.stringify({ id: 'bad-lang', text: 'a page', language: 7 }) }, reason: 'input.invalid_field' },
  { message: { key: 'bad-utf8', value: Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }, reason: 'input.invalid_utf8' },
  { message: { key: 'tombstone', value: null }, reason: 'input.missing_text' },
];

const WITH_FIELDS: Message = {
  key: 'fields-1',
  value: JSON.stringify({ id: 'fields-1', text: 'Página con fecha y lengua.', url: 'https://example.pt/a', source: 'crawler-7', crawl_date: '2024-05-01T10:00:00Z', language: 'pt-BR' }),
};

async function createCrawlTopic(topic: string, partitions: number): Promise<void> {
  await withAdmin((admin) => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] }));
}

async function pipelineTopics(prefix: string): Promise<void> {
  await createTestTopics(prefix, loadTopicSpecs().filter((s) => ['docs.raw', 'rejections', 'dlq'].includes(s.suffix)));
}

async function ready(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function docCount(kafka: Kafka, topic: string): Promise<number> {
  return (await readCommitted(kafka, topic, 'Document')).length;
}

describe('crawl bridge: ingest --from-topic (real broker)', () => {
  let dir: string;
  let cfg: string;
  beforeAll(async () => {
    await ensureBroker();
    dir = await mkdtemp(join(tmpdir(), 'wsrl-bridge-'));
    cfg = join(dir, 'bridge.yaml');
    // The broker's minimum session timeout, so a restarted or surviving bridge takes over quickly.
    await writeFile(cfg, 'kafka:\n  sessionTimeout: 6s\n  commitInterval: 300ms\n');
  }, 600_000);
  afterEach(killIngests);
  afterAll(cleanupKafka);

  it('copies JSON crawl records into docs.raw exactly once across a kill -9 mid-stream', async () => {
    const prefix = freshPrefix('bridge');
    const crawl = `${prefix}crawler.pages`;
    await pipelineTopics(prefix);
    await createCrawlTopic(crawl, 3);
    const kafka = testKafka('bridge-test');
    const n = 3000;
    const docs = Array.from({ length: n }, (_, i) => crawlDoc(i));
    await publish(kafka, crawl, [...docs.slice(0, 1000), ...BAD.map((b) => b.message), WITH_FIELDS]);

    const port = await freePort();
    const args = ['--from-topic', crawl, '--format', 'json', '--config', cfg, '--metrics-port', String(port)];
    let bridge: IngestProcess = spawnIngest(args, prefix);
    await waitFor('the first documents committed', async () => (await docCount(kafka, `${prefix}docs.raw`)) > 0, 60_000);
    // The crawler goes on publishing while the bridge is killed and restarted.
    let published = 1000;
    const crawler = (async () => {
      for (; published < n; published += 50) {
        await publish(kafka, crawl, docs.slice(published, published + 50));
        await sleep(100);
      }
    })();
    await sleep(1500);
    expect(await metric(port, 'webscale_rl_records_consumed_total')).toBeGreaterThan(0);
    bridge.proc.kill('SIGKILL');
    expect(await bridge.exited).toBeNull();
    const atKill = await docCount(kafka, `${prefix}docs.raw`);
    expect(atKill, 'killed mid-stream').toBeLessThan(n + 1);
    expect(published, 'the crawler was still publishing').toBeLessThan(n);

    bridge = spawnIngest(args, prefix);
    await waitFor('the restarted bridge ready', () => ready(port), 60_000);
    await crawler;
    await waitFor('every document in docs.raw', async () => (await docCount(kafka, `${prefix}docs.raw`)) >= n + 1, 120_000, 1000);
    // Anything the bridge would repeat would be committed within a few commit intervals.
    await sleep(2000);

    const raw = await readCommitted<DocumentRecord>(kafka, `${prefix}docs.raw`, 'Document');
    const ids = raw.map((d) => d.id);
    expect(ids.length - new Set(ids).size, 'duplicates in docs.raw').toBe(0);
    expect(new Set(ids)).toEqual(new Set([...docs.map((m) => String(m.key)), 'fields-1']));
    const page7 = raw.find((d) => d.id === 'page-7');
    expect(page7).toMatchObject({ url: 'https://site7.example/page/7', source: crawl, crawl_date: 1_714_557_600_007 });
    expect(raw.find((d) => d.id === 'fields-1')).toMatchObject({ source: 'crawler-7', crawl_date: Date.parse('2024-05-01T10:00:00Z'), language: 'pt', url: 'https://example.pt/a' });

    const rejections = await readCommitted<Rejection>(kafka, `${prefix}rejections`, 'Rejection');
    expect(rejections.map((r) => r.reason).sort()).toEqual(BAD.map((b) => b.reason).sort());
    const keys = rejections.map((r) => `${r.doc_id}|${r.reason}`);
    expect(keys.length - new Set(keys).size, 'duplicate rejections').toBe(0);
    for (const r of rejections) expect(r.detail).toMatch(new RegExp(`^${crawl.replace(/\./g, '\\.')}\\[\\d\\]@\\d+: `));
    expect(rejections.find((r) => r.reason === 'input.missing_text' && r.doc_id === 'tombstone')).toBeDefined();
    expect(await readCommitted(kafka, `${prefix}dlq`, 'DeadLetter')).toEqual([]);
    bridge.proc.kill('SIGTERM');
    expect(await bridge.exited).toBe(0);
  }, 300_000);

  it('fences a bridge frozen past its session timeout: woken, it commits nothing twice', async () => {
    const prefix = freshPrefix('bridgez');
    const crawl = `${prefix}crawler.pages`;
    await pipelineTopics(prefix);
    await createCrawlTopic(crawl, 4);
    const kafka = testKafka('bridge-zombie');
    const n = 2000;
    const docs = Array.from({ length: n }, (_, i) => crawlDoc(i));
    const args = (port: number, id: string): string[] => ['--from-topic', crawl, '--config', cfg, '--metrics-port', String(port), '--instance-id', id];
    const portA = await freePort();
    const portB = await freePort();
    const a = spawnIngest(args(portA, 'bridge-a'), prefix);
    const b = spawnIngest(args(portB, 'bridge-b'), prefix);
    await waitFor('both bridges ready', async () => (await ready(portA)) && (await ready(portB)), 60_000);
    let published = 0;
    const crawler = (async () => {
      for (; published < n; published += 40) {
        await publish(kafka, crawl, docs.slice(published, published + 40));
        await sleep(100);
      }
    })();
    await waitFor('bridge a consuming', async () => ((await metric(portA, 'webscale_rl_records_consumed_total')) ?? 0) > 0, 60_000, 200);
    a.proc.kill('SIGSTOP');
    // Past the 6 s session timeout: b takes a's partitions while a still holds what it read.
    await sleep(9000);
    a.proc.kill('SIGCONT');
    await crawler;
    await waitFor('every document in docs.raw', async () => (await docCount(kafka, `${prefix}docs.raw`)) >= n, 120_000, 1000);
    await sleep(3000);
    // The crawler's own topic holds each page once: any repeat in docs.raw would be the bridge's.
    const sent = (await readCommittedRaw(kafka, crawl)).map((m) => m.key);
    expect(sent.length - new Set(sent).size, 'duplicates in the crawler topic').toBe(0);
    const ids = (await readCommitted<DocumentRecord>(kafka, `${prefix}docs.raw`, 'Document')).map((d) => d.id);
    const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(repeated, `duplicates in docs.raw; bridge a said:\n${a.stderr()}\nbridge b said:\n${b.stderr()}`).toEqual([]);
    expect(new Set(ids)).toEqual(new Set(docs.map((m) => String(m.key))));
    expect(await readCommitted(kafka, `${prefix}dlq`, 'DeadLetter')).toEqual([]);
  }, 300_000);

  it('copies WARC messages (plain and gzip) exactly once across a kill -9, skipping and rejecting what holds no text', async () => {
    const prefix = freshPrefix('bridgew');
    const crawl = `${prefix}crawler.warc`;
    await pipelineTopics(prefix);
    await createCrawlTopic(crawl, 3);
    const kafka = testKafka('bridge-warc');
    const n = 800;
    const pages: { message: Message; id: string }[] = [];
    for (let i = 0; i < n; i++) {
      const { bytes, recordId } = await warcBytes({
        type: 'response',
        url: `https://port${i % 11}.example/news/${i}`,
        date: `2024-05-0${1 + (i % 9)}T10:00:00Z`,
        httpHeaders: { 'Content-Type': 'text/html; charset=utf-8' },
        body: htmlPage(`News ${i}`, `Ship ${i} docked at quay ${i % 7} with a cargo of timber.`),
        gzip: i % 2 === 0,
      });
      pages.push({ message: { key: null, value: bytes }, id: recordId });
    }
    const request = await warcBytes({ type: 'request', url: 'https://port1.example/', httpHeaders: { Host: 'port1.example' }, body: '' });
    const pdf = await warcBytes({ type: 'response', url: 'https://port1.example/a.pdf', httpHeaders: { 'Content-Type': 'application/pdf' }, body: Buffer.from('%PDF-1.7') });
    const odd = [request.bytes, pdf.bytes, Buffer.from('not a warc record at all')].map((value) => ({ key: null, value }));
    await publish(kafka, crawl, [...pages.slice(0, 300).map((p) => p.message), ...odd]);

    const args = ['--from-topic', crawl, '--format', 'warc', '--config', cfg];
    const first = spawnIngest(args, prefix);
    await waitFor('the first documents committed', async () => (await docCount(kafka, `${prefix}docs.raw`)) > 0, 60_000);
    let published = 300;
    const crawler = (async () => {
      for (; published < n; published += 25) {
        await publish(kafka, crawl, pages.slice(published, published + 25).map((p) => p.message));
        await sleep(100);
      }
    })();
    await sleep(1000);
    first.proc.kill('SIGKILL');
    await first.exited;
    expect(published, 'the crawler was still publishing').toBeLessThan(n);
    spawnIngest(args, prefix);
    await crawler;
    await waitFor('every page in docs.raw', async () => (await docCount(kafka, `${prefix}docs.raw`)) >= n, 120_000, 1000);
    await sleep(2000);

    const raw = await readCommitted<DocumentRecord>(kafka, `${prefix}docs.raw`, 'Document');
    const ids = raw.map((d) => d.id);
    expect(ids.length - new Set(ids).size, 'duplicates in docs.raw').toBe(0);
    expect(new Set(ids)).toEqual(new Set(pages.map((p) => p.id)));
    const page5 = raw.find((d) => d.id === pages[5]?.id);
    expect(page5).toMatchObject({ url: 'https://port5.example/news/5', crawl_date: Date.parse('2024-05-06T10:00:00Z'), source: crawl });
    expect(page5?.text).toContain('Ship 5 docked at quay 5 with a cargo of timber.');
    const rejections = await readCommitted<Rejection>(kafka, `${prefix}rejections`, 'Rejection');
    expect(rejections.map((r) => r.reason).sort()).toEqual(['input.invalid_warc', 'input.unsupported_content_type']);
    expect(rejections.find((r) => r.reason === 'input.unsupported_content_type')?.doc_id).toBe(pdf.recordId);
    expect(await readCommitted(kafka, `${prefix}dlq`, 'DeadLetter')).toEqual([]);
  }, 300_000);

  it('commits a backlog of large documents bound for one partition beyond its max.message.bytes', async () => {
    const prefix = freshPrefix('bridgebig');
    const crawl = `${prefix}crawler.big`;
    await pipelineTopics(prefix);
    await createCrawlTopic(crawl, 1);
    const kafka = testKafka('bridge-big');
    // 60 documents of 600 kB, published before the bridge starts; a commit every 5 s holds most
    // of them (about 12 MB per docs.raw partition), more than one record batch may carry.
    const n = 60;
    const body = 'The quay was rebuilt in stone after the storm. '.repeat(12_500);
    await publish(kafka, crawl, Array.from({ length: n }, (_, i) => ({ key: `big-${i}`, value: JSON.stringify({ id: `big-${i}`, text: `${i} ${body}` }) })));
    const slow = join(dir, 'slow-commits.yaml');
    await writeFile(slow, 'kafka:\n  sessionTimeout: 6s\n  commitInterval: 5s\n');
    spawnIngest(['--from-topic', crawl, '--config', slow], prefix);
    await waitFor('every large document in docs.raw', async () => (await docCount(kafka, `${prefix}docs.raw`)) >= n, 120_000, 1000);
    const ids = (await readCommitted<DocumentRecord>(kafka, `${prefix}docs.raw`, 'Document')).map((d) => d.id);
    expect(new Set(ids).size).toBe(n);
    expect(ids).toHaveLength(n);
  }, 300_000);

  it('refuses unusable flags with exit code 2', async () => {
    const bad = spawnIngest(['--from-topic', 'x', '--format', 'csv'], freshPrefix('bridgeflags'));
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/unknown --format "csv"/);
    const both = spawnIngest(['--from-topic', 'x', '--follow', dir], freshPrefix('bridgeflags'));
    expect(await both.exited).toBe(2);
    const prefix = freshPrefix('bridgeflags');
    // Without the pipeline's topics the bridge names those first; with them, the crawler's topic.
    const noPipeline = spawnIngest(['--from-topic', `${prefix}no.such.topic`], prefix);
    expect(await noPipeline.exited).toBe(2);
    expect(noPipeline.stderr()).toMatch(/missing Kafka topics .*docs\.raw.*webscale-rl topics apply/);
    await pipelineTopics(prefix);
    const missing = spawnIngest(['--from-topic', `${prefix}no.such.topic`], prefix);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr()).toMatch(/no such topic/);
  }, 60_000);
});
