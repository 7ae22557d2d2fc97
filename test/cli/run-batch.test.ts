/**
 * `webscale-rl run --batch` end to end, as a user runs it, against the stand-in's Batch API: the
 * QA records and rejections equal those of the online run of the same input, although the first
 * batch expires with most of its lines unanswered and one document's lines fail in every batch;
 * and a run killed (SIGKILL, the node process itself) while its batch is in progress, then run
 * again, collects that batch and submits no request twice.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_MARKER } from '../../src/llm/probe.js';
import { CLI, runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;
let dir: string;
let input: string;
let config: string;
let online: { qa: string[]; rejections: string[] };

function prose(topic: string, words = 80): string {
  const base = `The ${topic} was studied in detail by ${topic} researchers who measured the ${topic} growth over many ${topic} seasons and recorded careful ${topic} notes about what they saw of the ${topic} in the field and in the ${topic} laboratory.`;
  let out = '';
  while (out.split(/\s+/).length < words) out += base + ' ';
  return out.trim();
}

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What must not differ between two runs: everything but timestamps. */
async function outcome(out: string, rej: string): Promise<{ qa: string[]; rejections: string[] }> {
  const qa = (await readJsonl(out)).map((r) => JSON.stringify([r['id'], r['doc_id'], r['question'], r['answer'], r['domain'], r['persona'], r['checks'], r['usage']])).sort();
  const rejections = (await readJsonl(rej)).map((r) => JSON.stringify([r['doc_id'], r['stage'], r['reason'], r['persona']])).sort();
  return { qa, rejections };
}

/** Chat requests of the pipeline (not the start-up probe) the stand-in received since `from`. */
function onlineCalls(from: number): number {
  return llm.requests.filter((r) => r.receivedAt >= from && r.path === '/v1/chat/completions' && !JSON.stringify(r.body).includes(PROBE_MARKER)).length;
}

beforeAll(async () => {
  llm = await startStandInLlm({ model: 'stand-in' });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-run-batch-'));
  const docs = [
    { id: 'glacier', text: prose('glacier') + ' [[domain:Natural Science]]' },
    { id: 'orchard', text: prose('orchard') + ' [[personas:farmer,botanist,chef]]' },
    { id: 'banner', text: prose('banner') + ' [[unqualified]]' },
    { id: 'harbour', text: prose('harbour') + ' [[leak]]' },
    { id: 'volcano', text: prose('volcano') + ' [[batchfail]]' },
    { id: 'canal', text: prose('canal') + ' [[domain:Technology & Engineering]]' },
    { id: 'meadow', text: prose('meadow') },
    { id: 'short', text: 'too short to use' },
  ];
  input = join(dir, 'docs.jsonl');
  await writeFile(input, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  config = join(dir, 'config.yaml');
  await writeFile(config, 'llm:\n  batch:\n    window: 100ms\n    pollInterval: 50ms\n');
  const res = await runCli(['run', '--input', input, '--output', join(dir, 'online.jsonl'), '--llm-url', llm.url, '--llm-model', 'stand-in', '--no-progress']);
  expect(res.code).toBe(0);
  online = await outcome(join(dir, 'online.jsonl'), join(dir, 'online.rejections.jsonl'));
  expect(online.qa.length).toBeGreaterThanOrEqual(8);
});
afterAll(async () => {
  await llm.close();
});

describe('run --batch', () => {
  it('gives the QA records and rejections of the online run, with an expiring batch and failing lines finished online', async () => {
    const out = join(dir, 'batch.jsonl');
    const summaryPath = join(dir, 'batch-summary.json');
    const before = llm.batches.created().length;
    llm.batches.script({ expireAfter: 2 });
    const from = Date.now();
    const res = await runCli(['run', '--batch', '--config', config, '--input', input, '--output', out, '--summary', summaryPath, '--llm-url', llm.url, '--llm-model', 'stand-in', '--no-progress']);
    expect(res.stderr).toMatch(/batch: \d+ batches submitted/);
    expect(res.code).toBe(0);
    expect(await outcome(out, join(dir, 'batch.rejections.jsonl'))).toEqual(online);

    const batches = llm.batches.created().slice(before);
    expect(batches[0]?.status).toBe('expired');
    expect(batches.slice(1).every((b) => b.status === 'completed')).toBe(true);
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as { batch: { batches: { submitted: number; by_status: Record<string, number> }; lines: { answered: number; retried_online: number; retried_by_reason: Record<string, number> } } };
    expect(summary.batch.batches.submitted).toBe(batches.length);
    expect(summary.batch.batches.by_status['expired']).toBe(1);
    const expired = (batches[0]?.customIds.length ?? 0) - 2;
    expect(expired).toBeGreaterThan(0);
    expect(summary.batch.lines.retried_by_reason['expired']).toBe(expired);
    // Every request of the [[batchfail]] document failed in its batch and was answered online.
    expect(summary.batch.lines.retried_by_reason['failed']).toBeGreaterThanOrEqual(4);
    // The only pipeline calls made online are the retried lines.
    expect(onlineCalls(from)).toBe(summary.batch.lines.retried_online);
    expect(summary.batch.lines.answered).toBeGreaterThan(summary.batch.lines.retried_online);
    // A finished run leaves no batch state behind.
    expect(existsSync(`${out}.batches.jsonl`)).toBe(false);
  });

  it('a run killed mid-batch and run again collects its batch and submits no request twice', async () => {
    const out = join(dir, 'restart.jsonl');
    const state = `${out}.batches.jsonl`;
    const before = llm.batches.created().length;
    const args = ['run', '--batch', '--config', config, '--input', input, '--output', out, '--llm-url', llm.url, '--llm-model', 'stand-in', '--no-progress'];
    llm.batches.hold(true);
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal === 'SIGKILL' ? -9 : code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!(llm.batches.created().length > before && (await readFile(state, 'utf8').catch(() => '')).includes('"event":"submitted"'))) {
        if (Date.now() > deadline) throw new Error(`no batch submitted: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(llm.batches.created().at(-1)?.status).not.toBe('completed');
    } finally {
      child.kill('SIGKILL');
    }
    expect(await exited).toBe(-9);
    const held = llm.batches.created().slice(before);
    expect(held).toHaveLength(1);

    llm.batches.hold(false);
    const summaryPath = join(dir, 'restart-summary.json');
    const res = await runCli([...args, '--summary', summaryPath]);
    expect(res.code).toBe(0);
    expect(await outcome(out, join(dir, 'restart.rejections.jsonl'))).toEqual(online);
    const batches = llm.batches.created().slice(before);
    const ids = batches.flatMap((b) => b.customIds);
    expect(new Set(ids).size).toBe(ids.length);
    const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as { batch: { batches: { submitted: number; adopted: number } } };
    expect(summary.batch.batches.adopted).toBe(1);
    expect(summary.batch.batches.submitted).toBe(batches.length - 1);
    expect(existsSync(state)).toBe(false);
  });

  it('refuses a server without the Batch API before reading any input', async () => {
    const plain = await startStandInLlm({ model: 'stand-in', noBatchApi: true });
    try {
      const out = join(dir, 'nobatch.jsonl');
      const res = await runCli(['run', '--batch', '--input', input, '--output', out, '--llm-url', plain.url, '--llm-model', 'stand-in', '--no-progress']);
      expect(res.code).toBe(2);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(/has no Batch API \(GET \/batches: LLM server answered 404.*\); run without --batch/);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.batches.jsonl`)).toBe(false);
    } finally {
      await plain.close();
    }
  });

  it('refuses --batch without an OpenAI-compatible endpoint, and with --output - without --batch-state', async () => {
    const local = await runCli(['run', '--batch', '--input', input, '--output', join(dir, 'x.jsonl'), '--llm', 'local', '--no-progress']);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/--batch needs an OpenAI-compatible endpoint.*identify, generate, check use local; set --llm-url/);
    const stdout = await runCli(['run', '--batch', '--input', input, '--output', '-', '--llm-url', llm.url, '--no-progress']);
    expect(stdout.code).toBe(2);
    expect(stdout.stderr).toContain('--batch-state');
  });
});
