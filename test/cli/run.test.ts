import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandInLlm, type StandInFailAll, type StandInLlm } from '../support/stand-in-llm.js';
import { runCli } from '../support/cli.js';
import { PROBE_MARKER } from '../../src/llm/probe.js';

let llm: StandInLlm;
let dir: string;

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 5 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-run-'));
});
afterAll(async () => {
  await llm.close();
});

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Prose about a topic, named every few words: documents on different topics share no word
 * 5-gram, so the dedup stage keeps each of them (copies that differ in one word are near
 * duplicates, and would be rejected before any LLM call).
 */
function prose(topic: string, words = 80): string {
  const base = `The ${topic} was studied in detail by ${topic} researchers who measured the ${topic} growth over many ${topic} seasons and recorded careful ${topic} notes about what they saw of the ${topic} in the field and in the ${topic} laboratory.`;
  let out = '';
  while (out.split(/\s+/).length < words) out += base + ' ';
  return out.trim();
}

describe('webscale-rl run (embedded, stand-in LLM)', () => {
  it('accounts for every input line: QA records, typed rejections, and survives bad input', async () => {
    const lines = [
      JSON.stringify({ id: 'good-1', text: prose('glacier') + ' [[domain:Natural Science]] [[personas:hydrologist, hydrologist ,  ski guide,climate reporter,extra one]]', url: 'https://e/1', source: 'wiki' }),
      JSON.stringify({ id: 'unq', text: prose('banner') + ' [[unqualified]]' }),
      JSON.stringify({ id: 'astro', text: prose('horoscope') + ' [[domain:Astrology]]' }),
      JSON.stringify({ id: 'short', text: 'too short to use' }),
      JSON.stringify({ id: 'leaky', text: prose('orchard') + ' [[leak]]' }),
      JSON.stringify({ id: 'badjson', text: prose('harbour') + ' [[badjson]]' }),
      '{"id": "broken", "text": ',
      '[1, 2, 3]',
      JSON.stringify({ id: 'notext', body: 'x' }),
      '',
      JSON.stringify({ text: prose('volcano') }),
    ];
    const input = join(dir, 'mixed.jsonl');
    await writeFile(input, Buffer.concat([Buffer.from(lines.join('\n') + '\n'), Buffer.from([0x7b, 0x22, 0x74, 0xff, 0xfe, 0x0a])]));
    const out = join(dir, 'qa.jsonl');
    const rej = join(dir, 'rej.jsonl');
    const summaryPath = join(dir, 'summary.json');
    const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--summary', summaryPath, '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', '4']);
    expect(res.stderr).toContain('verification rate');
    expect(res.code).toBe(0);

    const qa = await readJsonl(out);
    const rejections = await readJsonl(rej);
    const reasons = rejections.map((r) => `${String(r['doc_id'])}:${String(r['reason'])}`);
    expect(reasons).toEqual(
      expect.arrayContaining(['unq:filter.unqualified', 'astro:identify.unknown_domain', 'short:filter.too_short', 'badjson:filter.invalid_output']),
    );
    expect(rejections.filter((r) => r['doc_id'] === 'leaky').map((r) => r['reason'])).toEqual(['check.leakage', 'check.leakage']);
    const inputRejects = rejections.filter((r) => r['stage'] === 'input');
    expect(inputRejects.map((r) => [r['reason'], r['line']])).toEqual(
      expect.arrayContaining([
        ['input.invalid_json', 7],
        ['input.not_object', 8],
        ['input.missing_text', 9],
        ['input.invalid_utf8', 12],
      ]),
    );
    for (const r of rejections) for (const k of ['doc_id', 'stage', 'reason', 'detail']) expect(r[k]).toBeTruthy();

    // good-1: personas trimmed, de-duplicated and capped at 3 -> three QA pairs.
    const good = qa.filter((q) => q['doc_id'] === 'good-1');
    expect(good.map((q) => q['persona']).sort()).toEqual(['climate reporter', 'hydrologist', 'ski guide']);
    for (const q of good) {
      expect(q['domain']).toBe('Natural Science');
      expect(q).toMatchObject({ source_url: 'https://e/1', source: 'wiki', checks: { has_context: true, answer_correct: true, info_leakage: false } });
      const prov = q['provenance'] as Record<string, unknown>;
      expect(Object.keys(prov['models'] as object).sort()).toEqual(['check', 'filter', 'generate', 'identify']);
      expect((prov['fewshot_ids'] as string[]).length).toBe(2);
      expect((q['usage'] as { prompt_tokens: number }).prompt_tokens).toBeGreaterThan(0);
    }
    expect(new Set(qa.map((q) => q['id'])).size).toBe(qa.length);

    // Every document line (11 non-blank JSON lines + 1 invalid UTF-8 line) is accounted for.
    const accounted = new Set([...qa.map((q) => q['doc_id']), ...rejections.map((r) => r['doc_id'])]);
    expect(accounted.size).toBe(11);

    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as {
      documents: { read: number; input_rejected: number };
      qa_kept: number;
      rejections_by_reason: Record<string, number>;
    };
    expect(summary.documents.read).toBe(11);
    expect(summary.qa_kept).toBe(qa.length);
    expect(summary.rejections_by_reason['check.leakage']).toBe(2);
    expect(summary.documents.input_rejected).toBe(4);
  });

  it('is reproducible: the same input gives the same ids, questions and few-shot examples', async () => {
    const input = join(dir, 'repro.jsonl');
    await writeFile(input, [1, 2, 3].map((i) => JSON.stringify({ id: `r${i}`, text: prose(`river ${i}`) + ' [[domain:Math]]' })).join('\n'));
    const runs: Record<string, unknown>[][] = [];
    for (const n of [1, 2]) {
      const out = join(dir, `repro-${n}.jsonl`);
      const res = await runCli(['run', '--input', input, '--output', out, '--llm-url', llm.url, '--llm-model', 'stand-in']);
      expect(res.code).toBe(0);
      runs.push((await readJsonl(out)).sort((a, b) => String(a['id']).localeCompare(String(b['id']))));
    }
    const pick = (r: Record<string, unknown>[]) => r.map((q) => [q['id'], q['question'], (q['provenance'] as { fewshot_ids: string[] }).fewshot_ids]);
    expect(runs[0]?.length).toBe(6);
    expect(pick(runs[0] ?? [])).toEqual(pick(runs[1] ?? []));
  });

  it('rides out 429s and 5xx from the server and still completes', async () => {
    const input = join(dir, 'faults.jsonl');
    await writeFile(input, JSON.stringify({ id: 'f1', text: prose('meadow') }) + '\n');
    llm.script({ type: 'rate_limit', retryAfterMs: 200 }, { type: 'status', status: 503 }, { type: 'status', status: 500 }, 'malformed_json');
    const out = join(dir, 'faults-qa.jsonl');
    const res = await runCli(['run', '--input', input, '--output', out, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(res.code).toBe(0);
    expect(llm.pendingFaults()).toBe(0);
    expect((await readJsonl(out)).length).toBe(2);
  });

  it('turns exhausted retries into llm.failed rejections and goes on', async () => {
    const input = join(dir, 'exhaust.jsonl');
    await writeFile(input, [JSON.stringify({ id: 'e1', text: prose('canyon') }), JSON.stringify({ id: 'e2', text: prose('lagoon') })].join('\n'));
    const config = join(dir, 'exhaust.yaml');
    await writeFile(config, 'concurrency: 1\nllm:\n  maxRetries: 1\n  backoffInitial: 10ms\n  backoffMax: 20ms\n');
    llm.script({ type: 'status', status: 502 }, { type: 'status', status: 502 });
    const out = join(dir, 'exhaust-qa.jsonl');
    const rej = join(dir, 'exhaust-rej.jsonl');
    const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--config', config, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(res.code).toBe(0);
    const rejections = await readJsonl(rej);
    expect(rejections).toEqual([expect.objectContaining({ doc_id: 'e1', stage: 'filter', reason: 'llm.failed', detail: expect.stringContaining('LLM_SERVER') })]);
    expect((await readJsonl(out)).every((q) => q['doc_id'] === 'e2')).toBe(true);
  });

  it('reads JSON lines from stdin and writes QA to stdout', async () => {
    const res = await runCli(['run', '--input', '-', '--output', '-', '--rejections', join(dir, 'stdin-rej.jsonl'), '--llm-url', llm.url, '--llm-model', 'stand-in'], {
      stdin: JSON.stringify({ id: 's1', text: prose('prairie') }) + '\n',
    });
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['doc_id'])).toEqual(['s1', 's1']);
  });

  it('exits non-zero with one clear line for unusable configuration', async () => {
    const input = join(dir, 'one.jsonl');
    await writeFile(input, JSON.stringify({ text: prose('tundra') }) + '\n');
    const out = join(dir, 'x.jsonl');

    const unreachable = await runCli(['run', '--input', input, '--output', out, '--llm-url', 'http://127.0.0.1:9/v1', '--llm-model', 'm']);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
    expect(unreachable.stderr).toMatch(/unreachable|connect/i);

    const badFlag = await runCli(['run', '--input', input, '--output', out, '--concurrency', 'lots']);
    expect(badFlag.code).toBe(2);

    const missingModel = await runCli(['run', '--input', input, '--output', out, '--llm', 'local', '--model-path', join(dir, 'missing.gguf')]);
    expect(missingModel.code).toBe(2);
    expect(missingModel.stderr).toMatch(/model/i);

    const cfg = join(dir, 'bad.yaml');
    await writeFile(cfg, 'concurrency: 0\npipeline:\n  oversize: explode\n');
    const badConfig = await runCli(['run', '--input', input, '--output', out, '--config', cfg, '--llm-url', llm.url]);
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('concurrency');
    expect(badConfig.stderr).toContain('pipeline.oversize');

    const missingInput = await runCli(['run', '--input', join(dir, 'nope.jsonl'), '--output', out, '--llm-url', llm.url]);
    expect(missingInput.code).toBe(2);
  });

  it('stops at start, with exit 2, one line and no output, when the LLM cannot serve', async () => {
    const input = join(dir, 'probe.jsonl');
    await writeFile(input, JSON.stringify({ id: 'p1', text: prose('steppe') }) + '\n');
    const modes: [StandInFailAll, RegExp][] = [
      [404, /404 \(not found; check the URL/],
      [405, /405 \(method not allowed/],
      [501, /501 \(not implemented/],
      [401, /401 \(not authorised/],
      ['model_not_found', /model not found.*wrong-model/],
    ];
    for (const [mode, why] of modes) {
      const server = await startStandInLlm({ failAll: mode });
      try {
        const out = join(dir, `probe-${mode}.jsonl`);
        const rej = join(dir, `probe-${mode}.rej.jsonl`);
        const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--llm-url', server.url, '--llm-model', 'wrong-model']);
        expect(res.code, String(mode)).toBe(2);
        const lines = res.stderr.trim().split('\n');
        expect(lines, res.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/^webscale-rl: LLM for stages? filter.* cannot serve \(openai http:\/\/127\.0\.0\.1:\d+\/v1, model wrong-model\): /);
        expect(lines[0]).toMatch(why);
        expect(res.stderr).not.toMatch(/\n\s+at /);
        expect(existsSync(out), 'no QA output').toBe(false);
        expect(existsSync(rej), 'no rejections output').toBe(false);
        // Nothing of the input reached the server: only the probe's requests.
        for (const r of server.requests) expect(JSON.stringify(r.body ?? '')).not.toContain('steppe');
      } finally {
        await server.close();
      }
    }

    const missing = join(dir, 'no-such-model.gguf');
    const out = join(dir, 'probe-local.jsonl');
    const local = await runCli(['run', '--input', input, '--output', out, '--llm', 'local', '--model-path', missing]);
    expect(local.code).toBe(2);
    expect(local.stderr.trim().split('\n')).toHaveLength(1);
    expect(local.stderr).toContain(missing);
    expect(local.stderr).toMatch(/model:fetch|--model-path/);
    expect(existsSync(out)).toBe(false);
  });

  it('exits 3 when more than pipeline.maxLlmFailedShare of the documents end in llm.failed, writing everything', async () => {
    const input = join(dir, 'share.jsonl');
    const docs = [
      { id: 'ok-1', text: prose('fjord') },
      { id: 'bad-1', text: prose('mesa') + ' [[fail:400]]' },
      { id: 'bad-2', text: prose('butte') + ' [[fail:404]]' },
      { id: 'bad-3', text: prose('atoll') + ' [[fail:400]]' },
    ];
    // A malformed line is not a document the LLM could fail: 3 of 4, not 3 of 5.
    await writeFile(input, docs.map((d) => JSON.stringify(d)).join('\n') + '\n{"broken": \n');
    const out = join(dir, 'share-qa.jsonl');
    const rej = join(dir, 'share-rej.jsonl');
    const summaryPath = join(dir, 'share-summary.json');
    const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--summary', summaryPath, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(res.code, res.stderr).toBe(3);
    expect(res.stderr).toContain('verification rate');
    expect(res.stderr).toMatch(/webscale-rl: 75% of documents \(3 of 4\) ended in llm\.failed, more than pipeline\.maxLlmFailedShare \(50%\); exit code 3/);
    // Outputs and the summary are complete all the same.
    expect((await readJsonl(out)).map((q) => q['doc_id'])).toEqual(['ok-1', 'ok-1']);
    const rejections = await readJsonl(rej);
    expect(rejections.filter((r) => r['reason'] === 'llm.failed').map((r) => r['doc_id']).sort()).toEqual(['bad-1', 'bad-2', 'bad-3']);
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as { documents: { llm_failed: number }; llm_failed_share: number; exit_code: number };
    expect(summary).toMatchObject({ documents: { llm_failed: 3 }, llm_failed_share: 0.75, exit_code: 3 });

    // The bar is configurable, and "more than": 3 of 4 passes a bar of 0.75.
    const cfg = join(dir, 'share.yaml');
    await writeFile(cfg, 'pipeline:\n  maxLlmFailedShare: 0.75\n');
    const tolerant = await runCli(['run', '--input', input, '--output', out, '--config', cfg, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(tolerant.code, tolerant.stderr).toBe(0);
    await writeFile(cfg, 'pipeline:\n  maxLlmFailedShare: 0\n');
    const strictInput = join(dir, 'share-one.jsonl');
    await writeFile(strictInput, [docs[0], docs[1], { id: 'ok-2', text: prose('tarn') }, { id: 'ok-3', text: prose('cirque') }].map((d) => JSON.stringify(d)).join('\n') + '\n');
    const strict = await runCli(['run', '--input', strictInput, '--output', out, '--config', cfg, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(strict.code, strict.stderr).toBe(3);
    expect(strict.stderr).toMatch(/25% of documents \(1 of 4\)/);
    const lenient = await runCli(['run', '--input', strictInput, '--output', out, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(lenient.code, lenient.stderr).toBe(0);
  });

  it('uses a user few-shot library in the reference format with --fewshot-dir', async () => {
    const lib = join(dir, 'fewshot-lib');
    await mkdir(lib, { recursive: true });
    const example = (n: number) =>
      JSON.stringify({
        original_material: `Zebrafish embryo note ${n}: the marker ZQX-${n} glows green in the developing heart by day two after fertilisation.`,
        question: `Which colour does the ZQX-${n} marker show in a zebrafish heart on day two?`,
        answer: 'green',
        domain: 'Other',
        persona: 'developmental biologist',
      });
    await writeFile(join(lib, 'other_examples.jsonl'), [1, 2, 3].map(example).join('\n') + '\n');
    const input = join(dir, 'fewshot.jsonl');
    await writeFile(input, JSON.stringify({ id: 'fs1', text: prose('estuary') }) + '\n');
    const out = join(dir, 'fewshot-qa.jsonl');
    llm.requests.length = 0;
    const res = await runCli(['run', '--input', input, '--output', out, '--fewshot-dir', lib, '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(res.code).toBe(0);
    const qa = await readJsonl(out);
    expect(qa.length).toBe(2);
    const generateBodies = llm.requests
      .map((r) => JSON.stringify(r.body ?? null))
      .filter((b) => b.includes('question_answer') && !b.includes(PROBE_MARKER));
    expect(generateBodies).toHaveLength(2);
    for (const b of generateBodies) expect(b).toMatch(/ZQX-[123]/);
    for (const q of qa) expect((q['provenance'] as { fewshot_ids: string[] }).fewshot_ids).toHaveLength(2);

    const bad = join(dir, 'fewshot-bad');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'x.jsonl'), '{"question": "no material"}\n');
    const rejected = await runCli(['run', '--input', input, '--output', out, '--fewshot-dir', bad, '--llm-url', llm.url]);
    expect(rejected.code).toBe(2);
    expect(rejected.stderr).toContain('x.jsonl');
  });

  it('talks to a TGI endpoint through the Hugging Face backend', async () => {
    const tgi = await startStandInLlm({ mode: 'tgi' });
    try {
      const input = join(dir, 'tgi.jsonl');
      await writeFile(input, JSON.stringify({ id: 't1', text: prose('delta') }) + '\n');
      const out = join(dir, 'tgi-qa.jsonl');
      const rej = join(dir, 'tgi-rej.jsonl');
      const res = await runCli(['run', '--input', input, '--output', out, '--rejections', rej, '--llm', 'hf', '--llm-url', tgi.root, '--llm-model', 'tgi']);
      expect(res.code).toBe(0);
      expect(await readJsonl(rej)).toEqual([]);
      expect((await readJsonl(out)).length).toBe(2);
      const first = tgi.requests.find((r) => r.path.includes('chat/completions'));
      expect((first?.body as { response_format?: { type?: string } }).response_format?.type).toBe('json');
    } finally {
      await tgi.close();
    }
  });
});
