/**
 * `run --output x.parquet`: the same QA records as a JSON-lines run of the same input, written as
 * parquet (rejections beside it as JSON lines), read back by pyarrow and datasets.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { runCli } from '../support/cli.js';
import { readParquetBack } from '../export/read-back.js';

let llm: StandInLlm;
let dir: string;

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 5 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-run-parquet-'));
});
afterAll(async () => {
  await llm.close();
});

function prose(topic: string): string {
  const sentence = `The ${topic} was measured by researchers over many seasons, who kept careful notes about its growth in the field and the laboratory.`;
  return Array.from({ length: 5 }, () => sentence).join(' ');
}

describe('run --output x.parquet', () => {
  it('writes the QA records of the JSON-lines run as parquet, rejections as JSON lines beside it', async () => {
    const lines = ['glacier', 'harbour', 'orchard', 'meadow'].map((t, i) => JSON.stringify({ id: `d${i}`, text: prose(t), url: `https://e/${i}` }));
    lines.push(JSON.stringify({ id: 'short', text: 'too short' }));
    const input = join(dir, 'docs.jsonl');
    await writeFile(input, lines.join('\n') + '\n');
    const flags = ['--llm-url', llm.url, '--llm-model', 'stand-in', '--no-progress'];

    const jsonl = join(dir, 'qa.jsonl');
    const a = await runCli(['run', '--input', input, '--output', jsonl, ...flags]);
    expect(a.code, a.stderr).toBe(0);
    const expected = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; question: string; created_at: number });
    expect(expected.length).toBeGreaterThan(3);

    const parquet = join(dir, 'qa.parquet');
    const b = await runCli(['run', '--input', input, '--output', parquet, ...flags]);
    expect(b.code, b.stderr).toBe(0);
    expect(existsSync(join(dir, 'qa.rejections.jsonl'))).toBe(true);
    expect(await readFile(join(dir, 'qa.rejections.jsonl'), 'utf8')).toContain('filter.too_short');

    const back = readParquetBack(parquet);
    expect(back.num_rows).toBe(expected.length);
    expect(back.datasets?.num_rows).toBe(expected.length);
    expect(back.schema['checks']).toBe('struct<has_context: bool, answer_correct: bool, info_leakage: bool, reasoning: string>');
    const byId = new Map(back.rows.map((r) => [r['id'] as string, r]));
    expect(new Set(byId.keys())).toEqual(new Set(expected.map((r) => r.id)));
    for (const r of expected) expect(byId.get(r.id)?.['question']).toBe(r.question);
  }, 180_000);
});
