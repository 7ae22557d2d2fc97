/**
 * The moving parts of a Kafka bench run, as processes: stage workers (through `cli-child.ts`, so
 * each reports its own CPU and peak RSS at exit), one-shot CLI commands (ingest, export), the
 * topics of a run's private prefix, and the broker's CPU time read from /proc (the broker is a
 * shared JVM the bench neither starts nor stops; it only reads its counters).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProbe } from './cli-child.js';

const CHILD = fileURLToPath(new URL('./cli-child.js', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** A port nobody listens on right now (the worker binds it a moment later; fine on loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Only what the CLI needs: a developer's own WEBSCALE_* or HF_TOKEN must not change a run. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...extra };
}

export interface WorkerProcess {
  stage: string;
  port: number;
  pid: number;
  proc: ChildProcess;
  exited: Promise<number | null>;
  stderrTail(): string;
  /** SIGTERM (graceful drain), SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** What cli-child.ts wrote at exit (null if the process died without writing it). */
  probe(): Promise<ChildProbe | null>;
}

/**
 * BENCH_WORKER_NODE_ARGS: extra node flags for the stage workers only, e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` to profile them (node refuses --cpu-prof in NODE_OPTIONS).
 */
export function workerNodeArgs(): string[] {
  return (process.env['BENCH_WORKER_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
}

export function startWorker(opts: { stage: string; port: number; args: string[]; env: NodeJS.ProcessEnv; probePath: string }): WorkerProcess {
  const proc = spawn(process.execPath, [...workerNodeArgs(), CHILD, 'stage', opts.stage, '--metrics-port', String(opts.port), ...opts.args], {
    env: { ...opts.env, BENCH_PROBE_FILE: opts.probePath },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return {
    stage: opts.stage,
    port: opts.port,
    pid: proc.pid ?? -1,
    proc,
    exited,
    stderrTail: () => stderr,
    async stop(graceMs = 45_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async probe() {
      try {
        return JSON.parse(await readFile(opts.probePath, 'utf8')) as ChildProbe;
      } catch {
        return null;
      }
    },
  };
}

/** Waits until the worker's /readyz says ready (joined its group, LLM reachable). */
export async function waitReady(w: WorkerProcess, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (w.proc.exitCode !== null) throw new Error(`${w.stage} worker exited with ${w.proc.exitCode} before it was ready:\n${w.stderrTail()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${w.port}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${w.stage} worker not ready after ${timeoutMs} ms:\n${w.stderrTail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface CliResult {
  code: number | null;
  stderr: string;
  wallMs: number;
}

/**
 * Runs one CLI command to completion. With `stdinLines` and `linesPerSecond` > 0 the lines are fed
 * through stdin at that rate (documents arriving while the pipeline runs), else the command reads
 * its own arguments.
 */
export async function runCliCommand(args: string[], env: NodeJS.ProcessEnv, feed?: { lines: string[]; linesPerSecond: number }): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: [feed ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (feed && child.stdin) {
    const stdin = child.stdin;
    stdin.on('error', () => undefined);
    const tickMs = 50;
    const t0 = performance.now();
    let sent = 0;
    while (sent < feed.lines.length) {
      const due = Math.min(feed.lines.length, Math.floor(((performance.now() - t0) / 1000) * feed.linesPerSecond) + 1);
      if (due > sent) {
        stdin.write(feed.lines.slice(sent, due).join('\n') + '\n');
        sent = due;
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
    stdin.end();
  }
  const code = await closed;
  return { code, stderr, wallMs: performance.now() - started };
}

/** pid of the dev broker started by scripts/kafka.sh, if it runs on this machine (else null). */
export async function brokerPid(): Promise<number | null> {
  const base = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'webscale-rl', 'kafka');
  let versions: string[];
  try {
    versions = await readdir(base);
  } catch {
    return null;
  }
  for (const v of versions) {
    try {
      const pid = Number((await readFile(join(base, v, 'kafka.pid'), 'utf8')).trim());
      if (Number.isInteger(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka')) return pid;
    } catch {
      // no pid file or not running
    }
  }
  return null;
}

/** CPU time (user + system) of a process from /proc/<pid>/stat, ms; null if unreadable. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    // USER_HZ is 100 on every Linux build Node runs on.
    return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / 100 : null;
  } catch {
    return null;
  }
}

/** VmHWM / VmRSS of a running process, kB. */
export function processMemKb(pid: number): { hwm: number; rss: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+)/.exec(status)?.[1];
    const rss = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return hwm === undefined || rss === undefined ? null : { hwm: Number(hwm), rss: Number(rss) };
  } catch {
    return null;
  }
}
