/**
 * The export files as trainers read them: each format written by `openExportSink` into a real
 * file and read back by pyarrow and by `datasets.load_dataset("parquet")` in the Python venv,
 * checking row count, row groups, column names, nested types and every value.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isWebscaleError } from '../../src/core/errors.js';
import type { QaRecord } from '../../src/core/records.js';
import { openExportSink, openRlhfRow, trlRow, verlRow, type ExportFormat } from '../../src/export/index.js';
import { readParquetBack } from './read-back.js';
import { qaRecord, qaRecords } from './records.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsrl-export-'));
});

const CHAT = 'list<element: struct<role: string, content: string>>';
const CHAT_FEATURE = "List({'role': Value('string'), 'content': Value('string')})";

async function writeFile(format: ExportFormat, name: string, records: readonly QaRecord[], rowGroupRows = 10, rowGroupBytes = 1 << 30): Promise<string> {
  const path = join(dir, name);
  const sink = await openExportSink(format, path, { rowGroupRows, rowGroupBytes });
  for (const r of records) await sink.write(r);
  await sink.close();
  expect(sink.count).toBe(records.length);
  return path;
}

describe('parquet exports read back by pyarrow and datasets', () => {
  it('verl: chat prompt, reward_model and extra_info as nested columns, in row groups', async () => {
    const records = qaRecords(25);
    const back = readParquetBack(await writeFile('verl', 'train.parquet', records));
    expect(back.num_rows).toBe(25);
    expect(back.num_row_groups).toBe(3);
    expect(back.schema).toEqual({
      data_source: 'string',
      prompt: CHAT,
      ability: 'string',
      reward_model: 'struct<style: string, ground_truth: string>',
      extra_info: 'struct<id: string, doc_id: string, persona: string, domain: string, url: string, language: string, index: int64>',
    });
    expect(back.rows).toEqual(records.map((r, i) => verlRow(r, i)));
    expect(back.datasets?.num_rows).toBe(25);
    expect(back.datasets?.column_names).toEqual(['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']);
    expect(back.datasets?.features['prompt']).toBe(CHAT_FEATURE);
    expect(back.datasets?.features['extra_info']).toContain("'index': Value('int64')");
    expect(back.datasets?.first).toEqual(verlRow(records[0] as QaRecord, 0));
  }, 120_000);

  it('trl: prompt plus the columns GRPOTrainer hands to reward functions', async () => {
    const records = qaRecords(12);
    const back = readParquetBack(await writeFile('trl', 'trl.parquet', records));
    expect(back.num_rows).toBe(12);
    expect(back.schema).toEqual({ prompt: CHAT, ground_truth: 'string', domain: 'string', id: 'string', doc_id: 'string' });
    expect(back.rows).toEqual(records.map(trlRow));
    expect(back.datasets?.num_rows).toBe(12);
    expect(back.datasets?.features).toEqual({
      prompt: CHAT_FEATURE,
      ground_truth: "Value('string')",
      domain: "Value('string')",
      id: "Value('string')",
      doc_id: "Value('string')",
    });
  }, 120_000);

  it('openrlhf: input and label, as parquet when the name says so and as JSON lines by default', async () => {
    const records = qaRecords(5);
    const back = readParquetBack(await writeFile('openrlhf', 'openrlhf.parquet', records));
    expect(back.schema).toEqual({ input: 'string', label: 'string', domain: 'string', id: 'string' });
    expect(back.rows).toEqual(records.map(openRlhfRow));
    const jsonl = await writeFile('openrlhf', 'openrlhf.out', records);
    const lines = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual(records.map(openRlhfRow));
  }, 120_000);

  it('verl as JSON lines carries the same rows, index included', async () => {
    const records = qaRecords(4);
    const path = await writeFile('verl', 'train.jsonl', records);
    const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual(records.map((r, i) => verlRow(r, i)));
  });

  it('parquet: the QA record with flat scalars, nested checks/provenance/usage and a UTC timestamp', async () => {
    const records = qaRecords(7);
    const back = readParquetBack(await writeFile('parquet', 'qa.parquet', records, 3));
    expect(back.num_rows).toBe(7);
    expect(back.num_row_groups).toBe(3);
    expect(back.schema).toMatchObject({
      id: 'string',
      question: 'string',
      source_text: 'string',
      checks: 'struct<has_context: bool, answer_correct: bool, info_leakage: bool, reasoning: string>',
      provenance:
        'struct<pipeline_version: string, prompt_versions: list<element: struct<key: string, value: string>>, models: list<element: struct<key: string, value: string>>, fewshot_ids: list<element: string>, truncated_chars: int32, language: string>',
      usage: 'struct<prompt_tokens: int64, completion_tokens: int64, by_stage: list<element: struct<stage: string, prompt_tokens: int64, completion_tokens: int64>>>',
      created_at: 'timestamp[ms, tz=UTC]',
    });
    expect(Object.keys(back.schema)).toEqual(Object.keys(records[0] as QaRecord));
    back.rows.forEach((row, i) => {
      const r = records[i] as QaRecord;
      const { provenance, usage, created_at, ...flat } = row as Record<string, unknown> & { provenance: Record<string, unknown>; usage: Record<string, unknown> };
      const { provenance: p, usage: u, created_at: c, ...expectedFlat } = r;
      expect(flat).toEqual(expectedFlat);
      expect(Date.parse(String(created_at))).toBe(c);
      expect(provenance).toEqual({
        ...p,
        prompt_versions: Object.entries(p.prompt_versions).map(([key, value]) => ({ key, value })),
        models: Object.entries(p.models).map(([key, value]) => ({ key, value })),
      });
      expect(usage).toEqual({
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        by_stage: Object.entries(u.by_stage).map(([stage, t]) => ({ stage, ...t })),
      });
    });
    expect(back.datasets?.num_rows).toBe(7);
    expect(back.datasets?.features['usage']).toContain("'by_stage': List(");
    expect(back.datasets?.features['created_at']).toBe("Value('timestamp[ms, tz=UTC]')");
  }, 120_000);

  it('closes a row group early at rowGroupBytes (long source texts)', async () => {
    const records = qaRecords(6).map((r) => ({ ...r, source_text: 'x'.repeat(50_000) }));
    const back = readParquetBack(await writeFile('parquet', 'long.parquet', records, 1000, 100_000));
    expect(back.num_rows).toBe(6);
    expect(back.num_row_groups).toBe(3); // about 50 kB a row: two rows reach 100 kB
    expect((back.rows[5] as { source_text: string }).source_text).toHaveLength(50_000);
  }, 120_000);

  it('an export without rows is still a valid parquet file with its columns', async () => {
    const back = readParquetBack(await writeFile('verl', 'empty.parquet', []));
    expect(back.num_rows).toBe(0);
    expect(Object.keys(back.schema)).toEqual(['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']);
  }, 120_000);

  it('aborting leaves no file, not even a partial one', async () => {
    const sub = await mkdtemp(join(dir, 'abort-'));
    const path = join(sub, 'cut.parquet');
    const sink = await openExportSink('verl', path, { rowGroupRows: 2, rowGroupBytes: 1 << 30 });
    for (let i = 0; i < 5; i++) await sink.write(qaRecord(i));
    await sink.abort();
    expect(existsSync(path)).toBe(false);
    expect(await readdir(sub)).toEqual([]);
  });

  it('refuses a container the format cannot be written in, before writing anything', async () => {
    for (const [format, output] of [
      ['parquet', '-'],
      ['parquet', join(dir, 'nope.jsonl')],
      ['jsonl', join(dir, 'nope.parquet')],
    ] as const) {
      const err = await openExportSink(format, output, { rowGroupRows: 10, rowGroupBytes: 1 << 20 }).catch((e: unknown) => e);
      expect(isWebscaleError(err, 'USAGE'), `${format} -> ${output}`).toBe(true);
    }
    expect(existsSync(join(dir, 'nope.parquet'))).toBe(false);
    expect(existsSync(join(dir, 'nope.jsonl'))).toBe(false);
  });
});
