/**
 * The response log with the local model (llama.cpp, seeded): a second run of the same input into
 * the same output answers every request from the log beside it, makes no model call, and writes
 * the same records.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { ensureModel } from './helpers.js';

const TEXT =
  'Insulin is a hormone made by the beta cells of the pancreas. It lets cells in the muscles, liver and fat take up glucose from the blood. People with type 1 diabetes produce little or no insulin, so they must inject it several times a day. ' +
  'Frederick Banting and Charles Best first extracted insulin in 1921 at the University of Toronto, and the first patient was treated in January 1922.';

let dir: string;
let modelPath: string;

beforeAll(async () => {
  modelPath = ensureModel();
  dir = await mkdtemp(join(tmpdir(), 'wsrl-local-rlog-'));
  await writeFile(join(dir, 'docs.jsonl'), JSON.stringify({ id: 'insulin', text: TEXT }) + '\n');
  await writeFile(join(dir, 'local.yaml'), 'pipeline:\n  minTokens: 30\n');
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const { created_at: _c, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    })
    .sort();
}

async function run(): Promise<{ calls: number; fromLog: number; qa: string[]; rejections: string[] }> {
  const out = join(dir, 'qa.jsonl');
  const summary = join(dir, 'summary.json');
  const res = await runCli(['run', '--input', join(dir, 'docs.jsonl'), '--output', out, '--summary', summary, '--config', join(dir, 'local.yaml'), '--no-progress', '--log-level', 'warn'], {
    env: { WEBSCALE_MODEL_PATH: modelPath },
    timeoutMs: 400_000,
  });
  expect(res.code, res.stderr).toBe(0);
  const s = JSON.parse(await readFile(summary, 'utf8')) as { tokens: { total: { calls: number } }; from_log: { total: { calls: number } } };
  return { calls: s.tokens.total.calls, fromLog: s.from_log.total.calls, qa: await lines(out), rejections: await lines(join(dir, 'qa.rejections.jsonl')) };
}

describe('response log with the local model', () => {
  it('a second run makes no model call and writes the same records', async () => {
    const first = await run();
    expect(first.calls).toBeGreaterThan(0);
    expect(first.fromLog).toBe(0);
    const second = await run();
    expect(second.calls).toBe(0);
    expect(second.fromLog).toBe(first.calls);
    expect(second.qa).toEqual(first.qa);
    expect(second.rejections).toEqual(first.rejections);
  }, 800_000);
});
