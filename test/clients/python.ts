/**
 * Test helper: the trainer client's venv (test/interop/setup.sh --client: fastavro, pyarrow,
 * datasets, confluent-kafka, pytest and `pip install ./clients/python`) and Python processes
 * started from it directly, so a signal hits the Python interpreter itself. Each process's stdout
 * is read as JSON lines (the drivers in this folder print one event per line).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SETUP = fileURLToPath(new URL('../interop/setup.sh', import.meta.url));
export const STREAM_READER = fileURLToPath(new URL('./stream_reader.py', import.meta.url));
export const CODEC_READER = fileURLToPath(new URL('./decode_samples.py', import.meta.url));
export const TRAIN_LOOP = fileURLToPath(new URL('../../clients/python/examples/train_loop.py', import.meta.url));

let python: string | undefined;

/** The venv's python with webscale_rl installed from this checkout (installs on first use). */
export function clientPython(): string {
  python ??= execFileSync('bash', [SETUP, '--client'], { encoding: 'utf8', timeout: 600_000 }).trim().split('\n').pop() ?? '';
  return python;
}

export type PyEvent = Record<string, unknown>;

export interface PyProcess {
  proc: ChildProcess;
  events: PyEvent[];
  exited: Promise<number | null>;
  stderr: () => string;
  /** Resolves with the events once `predicate` holds for them (checked on every new line). */
  waitFor: (predicate: (events: PyEvent[]) => boolean, timeoutMs: number) => Promise<PyEvent[]>;
}

export function startPython(script: string, args: string[]): PyProcess {
  const proc = spawn(clientPython(), [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: PyEvent[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) events.push(JSON.parse(line) as PyEvent);
    }
    for (const w of [...waiters]) w();
  });
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  const waitFor = (predicate: (e: PyEvent[]) => boolean, timeoutMs: number): Promise<PyEvent[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting on python (${events.length} events): ${err.slice(-2000)}`)), timeoutMs);
      const check = (): void => {
        if (predicate(events)) {
          clearTimeout(timer);
          resolve(events);
        }
      };
      waiters.push(check);
      void exited.then(() => {
        check();
        clearTimeout(timer);
        if (!predicate(events)) reject(new Error(`python exited before the awaited event: ${err.slice(-2000)}`));
      });
      check();
    });
  return { proc, events, exited, stderr: () => err, waitFor };
}

/** Runs a Python script to its end; throws with its stderr when it exits non-zero. */
export async function runPython(script: string, args: string[], timeoutMs = 180_000): Promise<PyEvent[]> {
  const p = startPython(script, args);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`python ${script} exited ${String(code)}: ${p.stderr().slice(-3000)}`);
  return p.events;
}

/** The ids of every batch event, in order. */
export function batchIds(events: PyEvent[]): string[] {
  return events.flatMap((e) => (Array.isArray(e['batch']) ? (e['batch'] as string[]) : []));
}
