/**
 * `webscale-rl export` from the real broker as a user runs it: a sink topic filled with QA
 * records (plus one in an aborted transaction, which read_committed must never show), exported
 * as verl, TRL and QA-record parquet and as JSON lines on stdout, with --domain, --language and
 * --since; the parquet files read back by pyarrow and datasets.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodec } from '../../src/codec/index.js';
import type { QaRecord } from '../../src/core/records.js';
import { trlRow, verlRow } from '../../src/export/index.js';
import { createProducer } from '../../src/kafka/index.js';
import { loadTopicSpecs } from '../../src/topics/index.js';
import { CLI, runCli } from '../support/cli.js';
import { brokers, cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { readParquetBack } from '../export/read-back.js';
import { qaRecord } from '../export/records.js';

const HOUR = 3_600_000;
const N = 60;
const prefix = freshPrefix('export');
// Record i was created i hours before `newest`, half an hour ago: --since 12h keeps i = 0..11.
const newest = Date.now() - HOUR / 2;
const records: QaRecord[] = Array.from({ length: N }, (_, i) => qaRecord(i, newest));
const byId = new Map(records.map((r) => [r.id, r]));
let dir: string;
const env = { KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn' };

beforeAll(async () => {
  await ensureBroker();
  dir = await mkdtemp(join(tmpdir(), 'wsrl-kafka-export-'));
  const specs = loadTopicSpecs().filter((s) => s.suffix === 'qa.verified');
  const topic = (await createTestTopics(prefix, specs, { partitions: 3 })).names['qa.verified'] ?? '';
  const codec = createCodec('QaRecord', { topic });
  const kafka = testKafka('export');
  const producer = createProducer(kafka);
  await producer.connect();
  // Each record produced with its creation time as its Kafka timestamp, oldest first, as the
  // check stage does within moments of creating it; `--since` starts reading there.
  const messages = await Promise.all([...records].reverse().map(async (r) => ({ key: r.doc_id, value: await codec.encode(r), timestamp: String(r.created_at) })));
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  const tx = createProducer(kafka, { transactionalId: `${prefix}aborted`, maxInFlightRequests: 1 });
  await tx.connect();
  const t = await tx.transaction();
  await t.send({ topic, messages: [{ key: 'ghost', value: await codec.encode({ ...qaRecord(0, newest), id: 'qa-aborted' }) }] });
  await t.abort();
  await tx.disconnect();
}, 600_000);
afterAll(cleanupKafka);

async function exportCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['export', ...args], { env, timeoutMs: 120_000 });
}

function ids(list: readonly QaRecord[]): string[] {
  return list.map((r) => r.id).sort();
}

describe('export from the sink topic', () => {
  it('verl parquet filtered by --domain and --language, index = row number', async () => {
    const out = join(dir, 'verl', 'train.parquet');
    const res = await exportCli(['--format', 'verl', '--output', out, '--domain', 'Math', 'natural science', '--language', 'en']);
    expect(res.code, res.stderr).toBe(0);
    const expected = records.filter((r) => (r.domain === 'Math' || r.domain === 'Natural Science') && r.provenance.language === 'en');
    expect(expected.length).toBeGreaterThan(2);
    expect(res.stderr).toContain(`exported ${expected.length} of ${N} records`);
    const back = readParquetBack(out);
    expect(back.num_rows).toBe(expected.length);
    expect(back.datasets?.num_rows).toBe(expected.length);
    expect(Object.keys(back.schema)).toEqual(['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']);
    const rows = back.rows as unknown as ReturnType<typeof verlRow>[];
    expect(rows.map((r) => r.extra_info.index)).toEqual(rows.map((_, i) => i));
    expect(rows.map((r) => r.extra_info.id).sort()).toEqual(ids(expected));
    for (const row of rows) expect(row).toEqual(verlRow(byId.get(row.extra_info.id) as QaRecord, row.extra_info.index));
  }, 180_000);

  it('trl parquet filtered by --since as a duration, reading only the tail; the aborted record never shows', async () => {
    const out = join(dir, 'trl.parquet');
    const res = await exportCli(['--format', 'trl', '--output', out, '--since', '12h']);
    expect(res.code, res.stderr).toBe(0);
    // Only records whose timestamps are within 12 h (and a 15 min margin) were read, not all 60.
    expect(res.stderr).toContain('exported 12 of 12 records');
    const back = readParquetBack(out);
    const expected = records.slice(0, 12);
    expect(back.num_rows).toBe(12);
    expect(back.datasets?.column_names).toEqual(['prompt', 'ground_truth', 'domain', 'id', 'doc_id']);
    const rows = back.rows as unknown as ReturnType<typeof trlRow>[];
    expect(rows.map((r) => r.id).sort()).toEqual(ids(expected));
    for (const row of rows) expect(row).toEqual(trlRow(byId.get(row.id) as QaRecord));
  }, 180_000);

  it('JSON lines on stdout with --language and --since as an ISO time', async () => {
    const since = new Date(newest - 5.5 * HOUR).toISOString();
    const res = await exportCli(['--output', '-', '--language', 'de', '--since', since]);
    expect(res.code, res.stderr).toBe(0);
    const got = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as QaRecord);
    expect(res.stderr).toContain('of 6 records');
    const expected = records.slice(0, 6).filter((r) => r.provenance.language === 'de');
    expect(ids(got)).toEqual(ids(expected));
    for (const r of got) expect(r).toEqual(byId.get(r.id));
  }, 180_000);

  it('every record as QA-record parquet in row groups of --row-group-rows', async () => {
    const out = join(dir, 'all.parquet');
    const res = await exportCli(['--output', out, '--row-group-rows', '7']);
    expect(res.code, res.stderr).toBe(0);
    const back = readParquetBack(out);
    expect(back.num_rows).toBe(N);
    expect(back.num_row_groups).toBe(Math.ceil(N / 7));
    expect(back.schema['created_at']).toBe('timestamp[ms, tz=UTC]');
    expect((back.rows.map((r) => r['id']) as string[]).sort()).toEqual(ids(records));
  }, 180_000);

  it('Ctrl-C mid-export exits 130 and leaves neither the file nor its partial', async () => {
    const sub = await mkdtemp(join(dir, 'interrupted-'));
    const out = join(sub, 'train.parquet');
    const child = spawn(process.execPath, [CLI, 'export', '--format', 'verl', '--output', out], { env: { ...process.env, ...env }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // The partial file exists from the start; joining the consumer group takes the broker's
    // initial rebalance delay (3 s by default), so the signal lands before the export ends.
    while (!(await readdir(sub)).some((f) => f.includes('.partial-'))) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(await readdir(sub)).toEqual([]);
  }, 60_000);

  it('unusable flags exit 2 with one line, before reading anything', async () => {
    const cases: [string[], string][] = [
      [['--format', 'parquet', '--output', '-'], 'parquet needs a file'],
      [['--format', 'verl', '--output', join(dir, 'x.parquet'), '--domain', 'Astrology'], '--domain "Astrology"'],
      [['--output', '-', '--since', 'last week'], '--since "last week"'],
      [['--topic', 'rejections', '--format', 'verl', '--output', join(dir, 'r.parquet')], 'apply to the qa.verified sink'],
      [['--format', 'csv', '--output', '-'], '--format "csv"'],
    ];
    for (const [args, message] of cases) {
      const res = await exportCli(args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toContain(message);
    }
  }, 180_000);
});
