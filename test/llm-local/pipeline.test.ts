/**
 * The whole embedded pipeline (`webscale-rl run`, built CLI) on the default local model, with the
 * compact-prompt settings a 135M model needs (LLM filter off, compact prompts). A toy model's
 * verdicts are not what is tested here:
 * every document must be accounted for, no call may fail at the LLM layer (context overflow,
 * grammar errors), tokens are counted, and a second run with the same seeds writes the same
 * records, because each local request starts from a fresh context and a seeded sampler.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { ensureModel } from './helpers.js';

const DOCS = {
  reef:
    'The Great Barrier Reef, off the coast of Queensland, Australia, is the largest coral reef system in the world. It is made of over 2,900 individual reefs and 900 islands stretching over 2,300 kilometres. ' +
    'The reef was selected as a World Heritage Site in 1981. Rising sea temperatures have caused mass coral bleaching events in 1998, 2002, 2016 and 2017, and scientists monitor the reef every year to measure how much coral recovers after each event.',
  interest:
    'Compound interest is interest calculated on the initial principal and on the interest accumulated in earlier periods. A deposit of 1,000 dollars at 5 percent annual interest compounded yearly grows to 1,102.50 dollars after two years, ' +
    'while simple interest would give 1,100 dollars. The more often interest is compounded, the faster the balance grows, which is why banks advertise the annual percentage yield alongside the nominal rate.',
  insulin:
    'Insulin is a hormone made by the beta cells of the pancreas. It lets cells in the muscles, liver and fat take up glucose from the blood. People with type 1 diabetes produce little or no insulin, so they must inject it several times a day. ' +
    'Frederick Banting and Charles Best first extracted insulin in 1921 at the University of Toronto, and the first patient was treated in January 1922.',
};

/**
 * Only what these short documents need: everything else comes from the local backend's compact
 * profile (src/config/load.ts), which is what a user without any configuration gets.
 */
const CONFIG = `pipeline:
  minTokens: 30
`;

let dir: string;
let modelPath: string;

beforeAll(async () => {
  modelPath = ensureModel();
  dir = await mkdtemp(join(tmpdir(), 'wsrl-local-e2e-'));
  await writeFile(join(dir, 'docs.jsonl'), Object.entries(DOCS).map(([id, text]) => JSON.stringify({ id, text })).join('\n') + '\n');
  await writeFile(join(dir, 'local.yaml'), CONFIG);
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map(({ created_at: _created, ...rest }) => rest);
}

async function run(tag: string) {
  const out = join(dir, `qa-${tag}.jsonl`);
  const rej = join(dir, `rej-${tag}.jsonl`);
  const summary = join(dir, `summary-${tag}.json`);
  const res = await runCli(
    ['run', '--input', join(dir, 'docs.jsonl'), '--output', out, '--rejections', rej, '--summary', summary, '--config', join(dir, 'local.yaml'), '--no-progress', '--log-level', 'warn'],
    { env: { WEBSCALE_MODEL_PATH: modelPath }, timeoutMs: 400_000 },
  );
  expect(res.code, res.stderr).toBe(0);
  return {
    qa: await readJsonl(out),
    rejections: await readJsonl(rej),
    summary: JSON.parse(await readFile(summary, 'utf8')) as {
      documents: { read: number; done: number };
      stages: Record<string, { in: number; llm_failed: number }>;
      tokens: { total: { prompt: number; completion: number; calls: number }; by_stage: Record<string, { calls: number }> };
    },
  };
}

describe('webscale-rl run on the local model', () => {
  it('accounts for every document with no LLM-layer failure, and repeats itself exactly', async () => {
    const first = await run('a');
    expect(first.summary.documents).toMatchObject({ read: 3, done: 3 });
    expect(first.summary.stages['filter']?.in).toBe(3);
    for (const stage of Object.values(first.summary.stages)) expect(stage.llm_failed).toBe(0);
    expect(first.rejections.map((r) => r['reason'])).not.toContain('llm.failed');
    // Grammar-constrained decoding: no rejection is caused by unparseable or invalid model output.
    expect(first.rejections.filter((r) => String(r['reason']).endsWith('.invalid_output'))).toEqual([]);
    for (const r of first.rejections) for (const k of ['doc_id', 'stage', 'reason', 'detail']) expect(r[k]).toBeTruthy();
    // The local profile skips the LLM filter (pre-filter only) and says so in every record; every
    // document then reaches generation and its pairs reach the check stage's three verdicts.
    expect(first.summary.tokens.by_stage['filter']?.calls).toBe(0);
    expect(first.summary.stages['identify']?.in).toBe(3);
    expect(first.summary.stages['check']?.in).toBeGreaterThan(0);
    for (const q of first.qa) {
      expect(q).toMatchObject({ doc_id: expect.any(String), answer: expect.any(String), domain: expect.any(String), persona: expect.any(String) });
      const provenance = q['provenance'] as { models: Record<string, string>; prompt_versions: Record<string, string> };
      expect(provenance.models['generate']).toContain('SmolLM2');
      expect(provenance.prompt_versions['filter']).toBe('filter:llm-off');
      expect(q['checks']).toMatchObject({ has_context: true, answer_correct: true, info_leakage: false });
    }
    expect(first.summary.tokens.total.calls).toBeGreaterThanOrEqual(3);
    expect(first.summary.tokens.total.prompt).toBeGreaterThan(first.summary.tokens.total.calls * 100);
    expect(first.summary.tokens.total.completion).toBeGreaterThan(0);

    // Each document either yields QA pairs or has at least one typed rejection.
    const seen = new Set([...first.qa, ...first.rejections].map((r) => r['doc_id']));
    expect([...seen].sort()).toEqual(Object.keys(DOCS).sort());
    for (const q of first.qa) expect(String(q['question']).length).toBeGreaterThan(0);

    const second = await run('b');
    expect(second.qa).toEqual(first.qa);
    expect(second.rejections).toEqual(first.rejections);
    expect(second.summary.tokens.total).toEqual(first.summary.tokens.total);
  }, 900_000);
});
