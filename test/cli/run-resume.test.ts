/**
 * `run --resume` and the response log through the CLI, as a user runs it, against the stand-in
 * LLM (a real HTTP server; it records every request it receives). The killed run is the CLI's
 * own node process, sent SIGKILL.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_MARKER } from '../../src/llm/probe.js';
import { CLI, runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm, type StandInRequest } from '../support/stand-in-llm.js';

let llm: StandInLlm;
let dir: string;
let input: string;
const CONCURRENCY = 6;

function prose(topic: string, words = 70): string {
  const base = `The ${topic} was studied in detail by ${topic} researchers who measured the ${topic} growth over many ${topic} seasons and recorded careful ${topic} notes about what they saw of the ${topic} in the field and in the ${topic} laboratory.`;
  let out = '';
  while (out.split(/\s+/).length < words) out += base + ' ';
  return out.trim();
}

const TOPICS = 'glacier orchard harbour volcano meadow canyon estuary lagoon tundra savanna prairie delta fjord marsh reef dune plateau geyser atoll moraine steppe taiga oasis cavern'.split(' ');

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 30 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-resume-'));
  const lines = TOPICS.map((t, i) => JSON.stringify({ id: `doc-${i}`, text: prose(t) + (i % 3 === 0 ? ` [[personas:${t} keeper,${t} visitor,${t} mapper]]` : '') }));
  lines.push(JSON.stringify({ id: 'bad-json', text: prose('quarry') + ' [[badjson]]' }));
  lines.push(JSON.stringify({ id: 'short', text: 'too short to use' }));
  lines.push('{"id": "broken", "text": ');
  input = join(dir, 'docs.jsonl');
  await writeFile(input, lines.join('\n') + '\n');
});
afterAll(async () => {
  await llm?.close();
});

const isCall = (r: StandInRequest): boolean => r.path.endsWith('/chat/completions') && !JSON.stringify(r.body).includes(PROBE_MARKER);
const callsSince = (from: number): StandInRequest[] => llm.requests.slice(from).filter(isCall);

function args(out: string, ...extra: string[]): string[] {
  return ['run', '--input', input, '--output', out, '--llm-url', llm.url, '--llm-model', 'stand-in', '--concurrency', String(CONCURRENCY), '--no-progress', ...extra];
}

/** Output lines without their timestamps, sorted: what two runs must agree on. */
async function normalised(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const { created_at: _c, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(rest);
    })
    .sort();
}

async function journalEntries(path: string): Promise<{ s: number; q: number; r: number }[]> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
  return lines.slice(1).map((l) => JSON.parse(l) as { s: number; q: number; r: number });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

let fullCalls = 0;
const full = (): string => join(dir, 'full', 'qa.jsonl');

describe('run with the response log and --resume (stand-in LLM, real CLI process)', () => {
  it('an uninterrupted run, then a second identical run that makes 0 LLM calls and writes the same outputs', async () => {
    const from = llm.requests.length;
    const first = await runCli(args(full(), '--summary', join(dir, 'full', 'summary.json')), { timeoutMs: 120_000 });
    expect(first.code, first.stderr).toBe(0);
    fullCalls = callsSince(from).length;
    expect(fullCalls).toBeGreaterThan(100);
    const summary = JSON.parse(await readFile(join(dir, 'full', 'summary.json'), 'utf8')) as { tokens: { total: { calls: number } }; from_log: { total: { calls: number } } };
    expect(summary.tokens.total.calls).toBe(fullCalls);
    expect(summary.from_log.total.calls).toBe(0);

    const qa = await normalised(full());
    const rej = await normalised(join(dir, 'full', 'qa.rejections.jsonl'));
    const again = llm.requests.length;
    const second = await runCli(args(full(), '--summary', join(dir, 'full', 'summary2.json')), { timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    expect(callsSince(again)).toHaveLength(0);
    expect(await normalised(full())).toEqual(qa);
    expect(await normalised(join(dir, 'full', 'qa.rejections.jsonl'))).toEqual(rej);
    const s2 = JSON.parse(await readFile(join(dir, 'full', 'summary2.json'), 'utf8')) as { tokens: { total: { calls: number } }; from_log: { total: { calls: number; prompt: number } } };
    expect(s2.tokens.total.calls).toBe(0);
    expect(s2.from_log.total.calls).toBe(fullCalls);
    expect(s2.from_log.total.prompt).toBeGreaterThan(0);
    expect(second.stderr).toMatch(/from the response log \(no call made\): [\d,]+ requests/);
    // Every input position once in the journal: 24 documents + bad-json + short + a broken line.
    const entries = await journalEntries(join(dir, 'full', 'qa.progress.jsonl'));
    expect(entries.map((e) => e.s).sort((a, b) => a - b)).toEqual([...Array(TOPICS.length + 3).keys()]);
  }, 240_000);

  it('kill -9 mid-way, then --resume: outputs equal the uninterrupted run, calls paid twice <= calls in flight at the kill', async () => {
    expect(fullCalls).toBeGreaterThan(0);
    const out = join(dir, 'killed', 'qa.jsonl');
    const from = llm.requests.length;
    const child = spawn(process.execPath, [CLI, ...args(out)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal === 'SIGKILL' ? -9 : _code)));
    // About 40% of the work answered, then the server stops answering: every LLM slot ends up
    // holding a request that never returns, and once nothing else is moving the process is killed.
    await until(() => callsSince(from).length >= fullCalls * 0.4, 120_000, 'the killed run to make 40% of its calls');
    llm.script(...Array<'hang'>(CONCURRENCY).fill('hang'));
    await until(() => llm.pendingFaults() === 0, 30_000, 'every slot to hang');
    await sleep(500);
    const inFlightAtKill = llm.stats().inFlight;
    const paidBefore = new Set(callsSince(from).map((r) => JSON.stringify(r.body)));
    child.kill('SIGKILL');
    expect(await exited, stderr).toBe(-9);
    expect(inFlightAtKill).toBe(CONCURRENCY);

    const done = await journalEntries(join(dir, 'killed', 'qa.progress.jsonl'));
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(TOPICS.length + 3);

    const resumeFrom = llm.requests.length;
    const resumed = await runCli(args(out, '--resume'), { timeoutMs: 120_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`--resume: ${done.length} documents already finished`);
    const resumeCalls = callsSince(resumeFrom);
    const paidTwice = resumeCalls.filter((r) => paidBefore.has(JSON.stringify(r.body))).length;
    expect(paidTwice).toBeLessThanOrEqual(inFlightAtKill);
    // Whatever was paid before the kill and not in flight was not paid again: both runs together
    // made the uninterrupted run's calls plus at most the hung ones.
    expect(paidBefore.size + resumeCalls.length - paidTwice).toBe(fullCalls);

    expect(await normalised(out)).toEqual(await normalised(full()));
    expect(await normalised(join(dir, 'killed', 'qa.rejections.jsonl'))).toEqual(await normalised(join(dir, 'full', 'qa.rejections.jsonl')));
    const entries = await journalEntries(join(dir, 'killed', 'qa.progress.jsonl'));
    expect(entries.map((e) => e.s).sort((a, b) => a - b)).toEqual([...Array(TOPICS.length + 3).keys()]);
  }, 240_000);

  it('Ctrl-C (SIGINT) stops intake and finishes what is in flight (exit 130); --resume completes it, each call paid once', async () => {
    const out = join(dir, 'ctrlc', 'qa.jsonl');
    const from = llm.requests.length;
    const child = spawn(process.execPath, [CLI, ...args(out, '--no-response-log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until(() => callsSince(from).length >= fullCalls * 0.3, 120_000, 'the run to make 30% of its calls');
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    const firstCalls = callsSince(from).length;
    const done = await journalEntries(join(dir, 'ctrlc', 'qa.progress.jsonl'));
    expect(done.length).toBeLessThan(TOPICS.length + 3);
    // Without the response log, resuming still pays nothing twice: the finished documents are passed over.
    const resumeFrom = llm.requests.length;
    const resumed = await runCli(args(out, '--resume', '--no-response-log'), { timeoutMs: 120_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(firstCalls + callsSince(resumeFrom).length).toBe(fullCalls);
    expect(await normalised(out)).toEqual(await normalised(full()));
    expect(await normalised(join(dir, 'ctrlc', 'qa.rejections.jsonl'))).toEqual(await normalised(join(dir, 'full', 'qa.rejections.jsonl')));
  }, 240_000);

  it('repairs what a kill leaves: a torn journal line and half-written output lines are cut, their documents redone from the log', async () => {
    const out = join(dir, 'full', 'qa.jsonl');
    const journal = join(dir, 'full', 'qa.progress.jsonl');
    const expected = await normalised(out);
    const expectedRej = await normalised(join(dir, 'full', 'qa.rejections.jsonl'));
    // Forget the last three documents: cut the journal back, leave their lines in the outputs
    // (written, never journaled), then a torn journal line and a torn QA line, as a kill mid-write leaves.
    const text = await readFile(journal, 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    await writeFile(journal, lines.slice(0, -3).join('\n') + '\n' + '{"s":4,"q":1');
    await appendFile(out, '{"id":"half a rec');
    const from = llm.requests.length;
    const res = await runCli(args(out, '--resume'), { timeoutMs: 120_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(callsSince(from)).toHaveLength(0);
    expect(await normalised(out)).toEqual(expected);
    expect(await normalised(join(dir, 'full', 'qa.rejections.jsonl'))).toEqual(expectedRej);
    const entries = await journalEntries(journal);
    expect(entries.map((e) => e.s).sort((a, b) => a - b)).toEqual([...Array(TOPICS.length + 3).keys()]);
  }, 120_000);

  it('--resume refuses a changed input, outputs without a journal, stdout and parquet; with no earlier run it starts one', async () => {
    const out = join(dir, 'full', 'qa.jsonl');
    const info = await stat(input);
    await utimes(input, info.atime, new Date(info.mtimeMs + 5000));
    const changed = await runCli(args(out, '--resume'));
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/--resume: the input changed since the interrupted run \(.*docs\.jsonl was modified\)/);
    await utimes(input, info.atime, info.mtime);

    const orphan = join(dir, 'orphan', 'qa.jsonl');
    await runCli(args(orphan, '--no-response-log'), { timeoutMs: 120_000 });
    await rm(join(dir, 'orphan', 'qa.progress.jsonl'));
    const noJournal = await runCli(args(orphan, '--resume'));
    expect(noJournal.code).toBe(2);
    expect(noJournal.stderr).toMatch(/exist but .*qa\.progress\.jsonl does not/);
    // Refused: no file was created, not even the response log.
    expect(existsSync(join(dir, 'orphan', 'qa.responses.mdb'))).toBe(false);

    const toStdout = await runCli(args('-', '--resume'));
    expect(toStdout.code).toBe(2);
    expect(toStdout.stderr).toContain('--resume needs --output (and --rejections) to be JSON-lines files');
    const toParquet = await runCli(args(join(dir, 'p', 'qa.parquet'), '--resume'));
    expect(toParquet.code).toBe(2);

    const fresh = join(dir, 'fresh', 'qa.jsonl');
    const first = await runCli(args(fresh, '--resume', '--response-log', join(dir, 'full', 'qa.responses.mdb')), { timeoutMs: 120_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('no earlier run of');
    expect(await normalised(fresh)).toEqual(await normalised(full()));
  }, 240_000);
});
