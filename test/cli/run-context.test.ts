/**
 * A document ten times the model's context through `webscale-rl run` (built CLI, embedded) on the
 * stand-in LLM with a context limit, which refuses over-long requests with vLLM's real 400. The
 * document's head is about one subject and its (much longer) tail about another; the stand-in's
 * answer is the most frequent word of the document it is shown, so the answer itself tells
 * whether the pair came from the cut text (head) or the whole document (tail).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

const CONTEXT = 4096;

let dir: string;

function longDocument(): string {
  const parts: string[] = [];
  for (let i = 0; parts.join(' ').length < 15_000; i++) parts.push(`The glacier moved slowly and the glacier carved valley number ${i} into the mountain rock.`);
  // The stand-in counts 4 characters a token: 10x its context in all.
  for (let i = 0; parts.join(' ').length < CONTEXT * 4 * 10; i++) parts.push(`The volcano erupted again and the volcano buried village number ${i} under grey ash.`);
  return parts.join(' ');
}

const TEXT = longDocument();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsrl-context-'));
  await writeFile(join(dir, 'docs.jsonl'), JSON.stringify({ id: 'huge', text: TEXT }) + '\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function run(llm: StandInLlm, tag: string, config: string) {
  const cfg = join(dir, `${tag}.yaml`);
  await writeFile(cfg, config);
  const out = join(dir, `qa-${tag}.jsonl`);
  const rej = join(dir, `rej-${tag}.jsonl`);
  const summary = join(dir, `summary-${tag}.json`);
  const res = await runCli([
    'run', '--input', join(dir, 'docs.jsonl'), '--output', out, '--rejections', rej, '--summary', summary,
    '--llm-url', llm.url, '--llm-model', 'stand-in', '--config', cfg, '--no-progress',
  ]);
  expect(res.code, res.stderr).toBe(0);
  return {
    qa: await readJsonl(out),
    rejections: await readJsonl(rej),
    summary: JSON.parse(await readFile(summary, 'utf8')) as { stages: Record<string, { llm_failed: number }> },
  };
}

function expectQaFromCutText(qa: Record<string, unknown>[]): void {
  expect(qa.length).toBe(2); // the stand-in's two default personas
  for (const q of qa) {
    expect(q['answer']).toBe('glacier');
    const provenance = q['provenance'] as { truncated_chars: number };
    const source = String(q['source_text']);
    expect(provenance.truncated_chars).toBeGreaterThan(0);
    // The record holds the text the pair was drawn from, and counts the rest.
    expect(TEXT.startsWith(source)).toBe(true);
    expect(source.length).toBeLessThan(CONTEXT * 4);
    // truncated_chars counts what any stage did not see: at least what the generator was not
    // shown (source_text is its text), more when the checker's prompt left it less room.
    expect(provenance.truncated_chars).toBeGreaterThanOrEqual(TEXT.length - source.length);
    expect(provenance.truncated_chars).toBeLessThan(TEXT.length - 1000);
  }
}

describe('webscale-rl run: a document 10x the model context', () => {
  it('with llm.contextSize set: cut before every call, never refused, QA from the cut text', async () => {
    const llm = await startStandInLlm({ contextLimit: CONTEXT });
    try {
      const { qa, rejections, summary } = await run(llm, 'configured', `llm:\n  maxTokens: 512\n  contextSize: ${CONTEXT}\npipeline:\n  includeSourceText: true\n`);
      expect(rejections).toEqual([]);
      expect(llm.stats().contextRejections).toBe(0);
      for (const stage of Object.values(summary.stages)) expect(stage.llm_failed).toBe(0);
      expectQaFromCutText(qa);
    } finally {
      await llm.close();
    }
  });

  it('with no context size configured: the 400 names the limit, the document is cut to it and sent once more', async () => {
    const llm = await startStandInLlm({ contextLimit: CONTEXT });
    try {
      const { qa, rejections, summary } = await run(llm, 'learned', 'llm:\n  maxTokens: 512\npipeline:\n  includeSourceText: true\n');
      expect(rejections).toEqual([]);
      // One refusal: the first call; the limit it stated sizes every later call up front.
      expect(llm.stats().contextRejections).toBe(1);
      for (const stage of Object.values(summary.stages)) expect(stage.llm_failed).toBe(0);
      expectQaFromCutText(qa);
    } finally {
      await llm.close();
    }
  });

  it('the stand-in refuses the whole document with vLLM\'s 400 (what both runs above had to get past)', async () => {
    const llm = await startStandInLlm({ contextLimit: CONTEXT });
    try {
      const res = await fetch(`${llm.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'stand-in', max_tokens: 512, messages: [{ role: 'user', content: TEXT }] }),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { message: string; type: string };
      expect(body.type).toBe('BadRequestError');
      expect(body.message).toMatch(new RegExp(`^This model's maximum context length is ${CONTEXT} tokens\\. However, you requested \\d+ tokens \\(\\d+ in the messages, 512 in the completion\\)`));
    } finally {
      await llm.close();
    }
  });
});
