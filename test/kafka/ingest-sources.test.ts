/**
 * `ingest` of crawl files on the real broker: a folder holding a WARC and a parquet file goes
 * to `docs.raw` with the crawl fields (crawl date, language, url) in the Avro records, input
 * rejections go to the rejections topic, and skipped records are counted.
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers, cleanupKafka, ensureBroker, freshPrefix } from '../support/kafka.js';
import { runCli } from '../support/cli.js';
import { crawlRecords, writeParquet, writeWarc } from '../input/make-fixtures.js';

beforeAll(ensureBroker, 600_000);
afterAll(cleanupKafka);

describe('ingest of crawl files', () => {
  it('sends WARC pages and parquet rows to docs.raw with their crawl fields', async () => {
    const prefix = freshPrefix('ingest-src');
    const env = { KAFKA_BROKERS: brokers().join(','), WEBSCALE_LOG_LEVEL: 'warn' };
    const apply = await runCli(['topics', 'apply', '--topic-prefix', prefix, '--partitions', '2'], { env });
    expect(apply.code, apply.stderr).toBe(0);

    const dir = await mkdtemp(join(tmpdir(), 'wsrl-ingest-src-'));
    await mkdir(join(dir, 'crawl'));
    await writeWarc(join(dir, 'crawl', 'part-0.warc.gz'), await crawlRecords());
    writeParquet(join(dir, 'rows.parquet'), [{ key: 'r1', content: 'a parquet row' }], 10);
    const ingest = await runCli(['ingest', dir, '--text-field', 'content', '--id-field', 'key', '--topic-prefix', prefix], { env });
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(ingest.stderr).toContain('ingested 4 documents');
    expect(ingest.stderr).toContain('2 input rejections');
    expect(ingest.stderr).toContain('4 records skipped');

    const exported = await runCli(['export', '--topic', 'docs.raw', '--output', '-', '--topic-prefix', prefix], { env });
    expect(exported.code, exported.stderr).toBe(0);
    const records = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; url: string | null; crawl_date: number | null; language: string | null; source: string | null });
    const byId = new Map(records.map((r) => [r.id, r]));
    expect([...byId.keys()].sort()).toEqual(['r1', 'urn:uuid:00000000-0000-4000-8000-000000000002', 'urn:uuid:00000000-0000-4000-8000-000000000003', 'urn:uuid:00000000-0000-4000-8000-000000000004']);
    expect(byId.get('urn:uuid:00000000-0000-4000-8000-000000000002')).toMatchObject({
      url: 'https://coastal.example/tide-pools',
      crawl_date: Date.parse('2026-03-01T10:20:30Z'),
      language: 'en',
      source: 'part-0.warc.gz',
    });
    expect(byId.get('urn:uuid:00000000-0000-4000-8000-000000000004')?.language).toBe('ja');
    expect(byId.get('r1')).toMatchObject({ source: 'rows.parquet' });

    const rejections = await runCli(['export', '--topic', 'rejections', '--output', '-', '--topic-prefix', prefix], { env });
    const reasons = rejections.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason).sort();
    expect(reasons).toEqual(['input.undecodable', 'input.unsupported_content_type']);
  }, 180_000);
});
