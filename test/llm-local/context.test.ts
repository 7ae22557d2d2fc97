/**
 * One document ten times the local model's context through `webscale-rl run` (built CLI) on the
 * default model. The compact profile's `promptDocumentChars` cut (1,200 characters) is lifted so
 * that the context fit alone decides how much of the document the model reads: without it this
 * document would overflow the context in every stage and end as `llm.failed`.
 *
 * The QA pair's content is a 135M model's; what is tested is that no call overflowed, the pairs
 * were drawn from a prefix of the document that fits the context, and the record says how much
 * was cut. Seeded sampling on fresh contexts makes the run repeatable on one machine.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { ensureModel } from './helpers.js';

/** `llm.local.contextSize` of the local profile (src/config/load.ts). */
const CONTEXT = 2048;

const HEAD =
  'Insulin is a hormone made by the beta cells of the pancreas. It lets cells in the muscles, liver and fat take up glucose from the blood. ' +
  'People with type 1 diabetes produce little or no insulin, so they must inject it several times a day. ' +
  'Frederick Banting and Charles Best first extracted insulin in 1921 at the University of Toronto, and the first patient was treated in January 1922. ';

function longDocument(): string {
  const parts = [HEAD];
  // ~4 characters a token for English: 10x the context.
  for (let i = 0; parts.join('').length < CONTEXT * 4 * 10; i++) {
    parts.push(`Chapter ${i} of the hospital records lists the daily insulin doses, meal times and blood glucose readings of ward patients in careful detail. `);
  }
  return parts.join('').trim();
}

const TEXT = longDocument();
const CONFIG = `pipeline:
  minTokens: 30
  promptDocumentChars: 100000000
  includeSourceText: true
`;

let dir: string;
let modelPath: string;

beforeAll(async () => {
  modelPath = ensureModel();
  dir = await mkdtemp(join(tmpdir(), 'wsrl-local-context-'));
  await writeFile(join(dir, 'docs.jsonl'), JSON.stringify({ id: 'long', text: TEXT }) + '\n');
  await writeFile(join(dir, 'local.yaml'), CONFIG);
}, 600_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('webscale-rl run on the local model: a document 10x the context', () => {
  it('fits every prompt to the context and yields QA from the cut text, with truncated_chars', async () => {
    const out = join(dir, 'qa.jsonl');
    const rej = join(dir, 'rej.jsonl');
    const summaryPath = join(dir, 'summary.json');
    const res = await runCli(
      ['run', '--input', join(dir, 'docs.jsonl'), '--output', out, '--rejections', rej, '--summary', summaryPath, '--config', join(dir, 'local.yaml'), '--no-progress', '--log-level', 'warn'],
      { env: { WEBSCALE_MODEL_PATH: modelPath }, timeoutMs: 400_000 },
    );
    expect(res.code, res.stderr).toBe(0);
    const qa = await readJsonl(out);
    const rejections = await readJsonl(rej);
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as {
      stages: Record<string, { in: number; out: number; llm_failed: number }>;
      tokens: { by_stage: Record<string, { prompt: number; calls: number }> };
    };

    // No call overflowed (that would be llm.failed), and every stage ran on the document.
    for (const stage of Object.values(summary.stages)) expect(stage.llm_failed).toBe(0);
    expect(rejections.map((r) => r['reason'])).not.toContain('llm.failed');
    expect(summary.stages['generate']?.out).toBeGreaterThan(0);
    expect(summary.stages['check']?.in).toBeGreaterThan(0);
    // Each prompt used the context it was given: at most half of it (the rest is the reply's),
    // and far more than the 1,200-character profile cut would have shown.
    for (const stage of ['identify', 'generate', 'check']) {
      const t = summary.tokens.by_stage[stage];
      expect(t?.calls).toBeGreaterThan(0);
      expect((t?.prompt ?? 0) / (t?.calls ?? 1)).toBeLessThanOrEqual(CONTEXT / 2);
      expect((t?.prompt ?? 0) / (t?.calls ?? 1)).toBeGreaterThan(600);
    }

    expect(qa.length).toBeGreaterThan(0);
    for (const q of qa) {
      const provenance = q['provenance'] as { truncated_chars: number };
      const source = String(q['source_text']);
      expect(provenance.truncated_chars).toBeGreaterThan(0);
      expect(TEXT.startsWith(source)).toBe(true);
      expect(source.length).toBeGreaterThan(1200);
      expect(source.length).toBeLessThan(CONTEXT * 4);
      // truncated_chars counts what any stage did not see: at least what the generator was not
      // shown (source_text is its text), more when the checker's prompt left it less room.
      expect(provenance.truncated_chars).toBeGreaterThanOrEqual(TEXT.length - source.length);
      expect(provenance.truncated_chars).toBeLessThan(TEXT.length - 1200);
    }
  }, 600_000);
});
