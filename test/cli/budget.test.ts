/**
 * The budget of an embedded run, as a user meets it: `run --budget-usd` against the stand-in LLM
 * with prices in a config file. The run stops taking documents once the spend reaches the budget,
 * finishes the documents in flight, exits 4 and reports cost, cost per verified pair and the stop
 * in its summary; the overshoot is at most the documents that were in flight.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costOf } from '../../src/llm/budget.js';
import { runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;
let dir: string;
let input: string;
let config: string;
const DOCS = 40;
const CONCURRENCY = 2;

function prose(i: number): string {
  return Array.from({ length: 5 }, (_, k) => `Record ${i} part ${k} describes the harbour and the ${i + k + 3} people who studied how it changed across ${i * 7 + k} seasons of careful field work.`).join(' ');
}

interface Summary {
  documents: { read: number };
  qa_kept: number;
  cost: { usd: number; input_tokens: number; output_tokens: number; calls: number; per_verified_qa_usd: number | null; budget: { usd: number | null; exhausted: boolean; reason: string | null; stopped_intake: boolean } };
  exit_code: number;
}

async function run(extra: string[]): Promise<{ code: number | null; stderr: string; summary: Summary }> {
  const out = join(dir, `qa-${Math.random().toString(36).slice(2)}.jsonl`);
  const summaryPath = out.replace('.jsonl', '.summary.json');
  const res = await runCli(['run', '--input', input, '--output', out, '--summary', summaryPath, '--llm-url', llm.url, '--llm-model', 'stand-in', '--config', config, '--concurrency', String(CONCURRENCY), '--no-progress', ...extra], { timeoutMs: 120_000 });
  return { code: res.code, stderr: res.stderr, summary: JSON.parse(await readFile(summaryPath, 'utf8')) as Summary };
}

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 40 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-budget-'));
  input = join(dir, 'docs.jsonl');
  await writeFile(input, Array.from({ length: DOCS }, (_, i) => JSON.stringify({ id: `d${i}`, text: prose(i) })).join('\n') + '\n');
  config = join(dir, 'prices.yaml');
  // Dollars per million tokens: made-up, large, so a small run costs whole cents.
  await writeFile(config, 'llm:\n  prices:\n    stand-in: { input: 100, output: 400 }\n');
});

afterAll(async () => {
  await llm.close();
});

describe('run --budget-usd', () => {
  it('reports cost and cost per verified pair, stops intake at the budget within the documents in flight, exit 4', async () => {
    const full = await run([]);
    expect(full.code, full.stderr).toBe(0);
    const c = full.summary.cost;
    expect(c.calls).toBeGreaterThan(DOCS);
    expect(c.usd).toBeCloseTo(costOf({ prompt_tokens: c.input_tokens, completion_tokens: c.output_tokens }, 'stand-in', { 'stand-in': { input: 100, output: 400, batchDiscount: 0.5 } }) ?? -1, 9);
    expect(full.summary.qa_kept).toBeGreaterThan(0);
    expect(c.per_verified_qa_usd).toBeCloseTo(c.usd / full.summary.qa_kept, 9);
    expect(c.budget.exhausted).toBe(false);
    expect(full.stderr).toMatch(/cost: \$[\d.]+ for \d+ LLM calls .* per verified QA pair/);

    const perDoc = c.usd / DOCS;
    const budget = Number((c.usd / 3).toFixed(4));
    const limited = await run(['--budget-usd', String(budget)]);
    expect(limited.code, limited.stderr).toBe(4);
    const l = limited.summary.cost;
    expect(l.budget).toMatchObject({ usd: budget, exhausted: true, reason: 'usd', stopped_intake: true });
    expect(l.usd).toBeGreaterThanOrEqual(budget);
    // The in-flight window of an embedded run: 2 x concurrency documents, each finished.
    const window = 2 * CONCURRENCY * perDoc * 1.25;
    process.stderr.write(`embedded budget figures: ${JSON.stringify({ budget, spent: l.usd, overshoot: l.usd - budget, window, per_doc: perDoc, docs_read: limited.summary.documents.read, full_run: c.usd })}\n`);
    expect(l.usd - budget).toBeLessThanOrEqual(window);
    expect(limited.summary.documents.read).toBeLessThan(DOCS);
    expect(limited.stderr).toMatch(/budget \$[\d.]+ reached .*: stopping intake/);
    expect(limited.stderr).toMatch(/intake stopped, documents in flight finished/);
  }, 240_000);

  it('refuses a USD budget for a model without a price, naming it', async () => {
    const noPrices = join(dir, 'none.yaml');
    await writeFile(noPrices, 'llm:\n  prices:\n    other-model: { input: 1, output: 1 }\n');
    const res = await runCli(['run', '--input', input, '--output', join(dir, 'x.jsonl'), '--llm-url', llm.url, '--llm-model', 'stand-in', '--config', noPrices, '--budget-usd', '1', '--no-progress']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/model stand-in has no price; add llm\.prices/);
  });
});
