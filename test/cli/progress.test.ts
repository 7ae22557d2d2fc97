/**
 * `run` with stderr piped (not a TTY), as in CI or a pod's log: the real CLI process against the
 * stand-in LLM, slowed down so the run lasts a few seconds. It must write plain progress lines
 * at the configured interval (no cursor codes), none when the interval is 0, and a summary that
 * says in words what each stage's in and out counted.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;
let dir: string;

/** Documents that pass the pre-filter: enough words, sentences that end in full stops. */
async function writeDocuments(name: string, n: number): Promise<string> {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const text = Array.from(
      { length: 5 },
      (_, k) => `Report ${i} section ${k} explains how the river delta ${i + k + 2} kilometres wide shifted over ${i * 5 + k + 3} years of floods and ${i * 13 + k} surveys by local crews.`,
    ).join(' ');
    lines.push(JSON.stringify({ id: `${name}-${i}`, text: `${text} [[personas:student,teacher]]` }));
  }
  const path = join(dir, `${name}.jsonl`);
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

beforeAll(async () => {
  // 300 ms a call and two calls at a time: four documents take about five seconds.
  llm = await startStandInLlm({ latencyMs: 300 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-progress-'));
});
afterAll(async () => {
  await llm.close();
});

const PROGRESS = /^progress \d+s: docs \d+\/\d+ \| qa \d+ \| rejected .* \| tokens [\d,]+ \| llm \d+ in flight \| [\d.]+ docs\/s/;

describe('run with stderr piped', () => {
  it('writes a plain progress line every --progress-interval and a summary that explains in and out', async () => {
    const input = await writeDocuments('slow', 4);
    const started = Date.now();
    const res = await runCli(['run', '--input', input, '--output', join(dir, 'slow-qa.jsonl'), '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', '2', '--progress-interval', '1']);
    const seconds = (Date.now() - started) / 1000;
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stderr.split('\n');
    const progress = lines.filter((l) => l.startsWith('progress '));
    // One line a second, less start-up and the last partial second.
    expect(seconds).toBeGreaterThan(3);
    expect(progress.length, res.stderr).toBeGreaterThanOrEqual(2);
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    for (const l of progress) expect(l).toMatch(PROGRESS);
    // Piped output gets no cursor movement or line clearing.
    expect(res.stderr.includes('\u001b[')).toBe(false);
    expect(res.stderr.includes('\r')).toBe(false);

    // The table's counts, said in words: identify turns documents into one task per persona.
    const row = (stage: string): number[] => {
      const line = lines.find((l) => l.startsWith(`${stage} `) && /^\S+\s+[\d,]+\s+[\d,]+\s+[\d,]+/.test(l));
      expect(line, `table row for ${stage}`).toBeDefined();
      return (line ?? '').split(/\s+/).slice(1, 4).map((n) => Number(n.replace(/,/g, '')));
    };
    const [idIn, idOut, idRej] = row('identify');
    expect(idIn).toBe(4);
    expect(idOut).toBe(8); // two personas each
    expect(res.stderr).toContain('in words:');
    expect(res.stderr).toContain(`identify: ${idIn} documents in, ${idOut} persona tasks out (one task per persona identified for a document, so out can exceed in), ${idRej} documents rejected`);
    const [genIn, genOut] = row('generate');
    expect(res.stderr).toContain(`generate: ${genIn} persona tasks in, ${genOut} question-answer candidates out`);
    const [chkIn, chkOut] = row('check');
    expect(res.stderr).toContain(`check: ${chkIn} candidates in, ${chkOut} QA pair${chkOut === 1 ? '' : 's'} kept`);
    expect(res.stderr).toMatch(/dedup: 4 documents in, 4 kept as unique, 0 rejected as copies/);
    expect(res.stderr).toMatch(/filter: 4 documents in, 4 passed, 0 rejected/);
  }, 60_000);

  it('takes the interval from the config file, 0 from WEBSCALE_PROGRESS_INTERVAL turns it off, and so does --no-progress', async () => {
    const input = await writeDocuments('quiet', 2);
    const config = join(dir, 'progress.yaml');
    await writeFile(config, 'progressInterval: 500ms\n');
    const base = ['run', '--input', input, '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', '1', '--config', config];
    const progressLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('progress '));

    const fromFile = await runCli([...base, '--output', join(dir, 'file.jsonl')]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(progressLines(fromFile.stderr).length, fromFile.stderr).toBeGreaterThanOrEqual(2);

    const off = await runCli([...base, '--output', join(dir, 'off.jsonl')], { env: { WEBSCALE_PROGRESS_INTERVAL: '0' } });
    expect(off.code, off.stderr).toBe(0);
    expect(progressLines(off.stderr)).toEqual([]);

    const none = await runCli([...base, '--output', join(dir, 'none.jsonl'), '--no-progress']);
    expect(none.code, none.stderr).toBe(0);
    expect(progressLines(none.stderr)).toEqual([]);
  }, 60_000);

  it('names a bad --progress-interval in one line, exit 2', async () => {
    const input = await writeDocuments('bad', 1);
    const res = await runCli(['run', '--input', input, '--output', join(dir, 'bad-qa.jsonl'), '--llm-url', llm.url, '--llm-model', 'stand-in', '--progress-interval', 'soon']);
    expect(res.code).toBe(2);
    expect(res.stderr.trim()).toBe('webscale-rl: invalid configuration (environment and flags): progressInterval: expected milliseconds or a duration such as "500ms", "30s" or "5m"');
  });
});
