/**
 * The dedup stage in `webscale-rl run` (the real CLI, embedded): a planted corpus goes in, and
 * the rejections file names each caught copy's kept twin. The pre-filter is set to turn every
 * kept document away (minTokens far above any document), so no document reaches the LLM and the
 * run measures dedup alone; the stand-in LLM only answers the start-up probe.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plantedCorpus, scoreDedup } from '../../bench/dedup-corpus.js';
import { runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;
let dir: string;

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 1 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-dedup-run-'));
});
afterAll(async () => {
  await llm.close();
});

async function run(input: string, config: string): Promise<Record<string, unknown>[]> {
  const out = join(dir, `qa-${Date.now()}.jsonl`);
  const rej = out.replace('.jsonl', '.rej.jsonl');
  const summary = out.replace('.jsonl', '.summary.json');
  const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--summary', summary, '--config', config, '--llm-url', llm.url, '--llm-model', 'stand-in', '--no-progress']);
  expect(res.code, res.stderr).toBe(0);
  const s = JSON.parse(await readFile(summary, 'utf8')) as { stages: Record<string, { in: number; out: number; rejected: number }> };
  const lines = (await readFile(rej, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(s.stages['dedup']?.in).toBe(lines.length);
  return lines;
}

describe('dedup in webscale-rl run', () => {
  it('catches planted copies (recall >= 0.95, false positives <= 1%), and a re-ingested file entirely, before any LLM call', async () => {
    const corpus = plantedCorpus({ seed: 99, distinct: 2500, exact: 100, near: 100, jaccards: [0.85, 0.9, 0.95], prefix: 'emb' });
    const input = join(dir, 'planted.jsonl');
    await writeFile(input, corpus.docs.map((d) => JSON.stringify({ id: d.id, text: d.text })).join('\n') + '\n');
    const config = join(dir, 'dedup-only.yaml');
    await writeFile(config, 'pipeline:\n  minTokens: 1000000\n');
    const callsBefore = llm.stats().total;
    const lines = await run(input, config);
    const dedup = lines.filter((r) => r['stage'] === 'dedup');
    const rejected = new Map(dedup.map((r) => [String(r['doc_id']), String(r['duplicate_of'])]));
    const score = scoreDedup(corpus, rejected);
    expect(score.recall).toBeGreaterThanOrEqual(0.95);
    expect(score.falsePositiveRate).toBeLessThanOrEqual(0.01);
    process.stderr.write(`dedup in run: recall ${score.recall.toFixed(3)} (${score.caught}/${score.pairs}), false positives ${score.falsePositives}/${score.distinct}\n`);
    // The rest reached the pre-filter, which turned them away without an LLM call.
    expect(lines.filter((r) => r['reason'] === 'filter.too_short').length).toBe(corpus.docs.length - dedup.length);
    // Only the start-up probes went to the LLM.
    expect(llm.stats().total - callsBefore).toBeLessThanOrEqual(4);

    // The same file twice in one run: every line of the second copy is an exact duplicate.
    const twice = join(dir, 'twice.jsonl');
    const small = corpus.docs.slice(0, 200);
    const once = small.map((d) => JSON.stringify({ id: d.id, text: d.text })).join('\n') + '\n';
    await writeFile(twice, once + once);
    const again = await run(twice, config);
    const exact = again.filter((r) => r['reason'] === 'dedup.exact');
    const firstPass = again.filter((r) => r['stage'] === 'dedup' && r['reason'] !== 'dedup.exact').length;
    // 200 copies of lines already read, plus any planted twins among the first 200.
    expect(exact.length).toBeGreaterThanOrEqual(200);
    for (const r of exact) expect(small.some((d) => d.id === r['duplicate_of'])).toBe(true);
    expect(firstPass).toBeLessThanOrEqual(small.length);
  }, 240_000);
});
