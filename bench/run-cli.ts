/**
 * Runs one `webscale-rl run` as a child process (through `cli-child.ts`) against an LLM URL and
 * collects what it reported: the summary JSON, the child's CPU time, peak RSS and event-loop
 * delay, and the wall time seen from outside.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BareClientResult } from './bare-client.js';
import type { ChildProbe } from './cli-child.js';

const CHILD = fileURLToPath(new URL('./cli-child.js', import.meta.url));
const BARE_CLIENT = fileURLToPath(new URL('./bare-client.js', import.meta.url));

export interface CliRunOptions {
  input: string;
  /** Folder for the QA, rejection, summary and probe files. */
  workDir: string;
  llmUrl: string;
  concurrency: number;
  /** Extra node flags for the child, e.g. --max-old-space-size. */
  nodeArgs?: string[];
  /** A config file for the run (the benchmark's reference prices). */
  config?: string;
  timeoutMs?: number;
}

/** The part of `run --summary` the benchmark reads; the rest is kept as-is in `raw`. */
export interface RunSummary {
  documents: { read: number; done: number; input_rejected: number; with_qa: number };
  qa_kept: number;
  stages: Record<string, { in: number; out: number; rejected: number; llm_failed: number }>;
  rejections_by_reason: Record<string, number>;
  tokens: { total: { prompt: number; completion: number; calls: number } };
  elapsed_ms: number;
  llm_utilisation: number | null;
  interrupted: boolean;
  /** Spend at the configured prices (see `cli/cost-summary.ts`). */
  cost?: { usd: number; per_verified_qa_usd: number | null };
}

export interface CliRun {
  summary: RunSummary;
  probe: ChildProbe;
  /** Spawn to exit, as seen by the benchmark (includes Node start-up and config loading). */
  processWallMs: number;
  stderrTail: string;
}

export async function runCli(options: CliRunOptions): Promise<CliRun> {
  const summaryPath = join(options.workDir, 'summary.json');
  const probePath = join(options.workDir, 'probe.json');
  const args = [
    // Only exposes global.gc for the probe's live-heap figure at exit; the run itself is unchanged.
    '--expose-gc',
    ...(options.nodeArgs ?? []),
    CHILD,
    'run',
    '--input', options.input,
    '--output', join(options.workDir, 'qa.jsonl'),
    '--rejections', join(options.workDir, 'rejections.jsonl'),
    '--summary', summaryPath,
    '--llm-url', options.llmUrl,
    '--llm-model', 'stand-in-model',
    '--concurrency', String(options.concurrency),
    '--log-level', 'warn',
    '--no-progress',
    ...(options.config === undefined ? [] : ['--config', options.config]),
  ];
  // Only what the CLI needs: a developer's WEBSCALE_* or HF_TOKEN must not change the run.
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', BENCH_PROBE_FILE: probePath };
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30 * 60_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  clearTimeout(timer);
  const processWallMs = performance.now() - started;
  if (code !== 0) throw new Error(`webscale-rl run exited with ${code}:\n${stderr}`);
  const summary = JSON.parse(await readFile(summaryPath, 'utf8')) as RunSummary;
  const probe = JSON.parse(await readFile(probePath, 'utf8')) as ChildProbe;
  return { summary, probe, processWallMs, stderrTail: stderr };
}

/** Run the bare HTTP client control (`bare-client.ts`) in its own process. */
export async function runBareClient(url: string, calls: number, concurrency: number): Promise<BareClientResult> {
  const child = spawn(process.execPath, [BARE_CLIENT, '--url', url, '--calls', String(calls), '--concurrency', String(concurrency)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`bare client exited with ${code}: ${stderr}`);
  return JSON.parse(stdout) as BareClientResult;
}
