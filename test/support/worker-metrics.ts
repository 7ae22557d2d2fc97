/**
 * Reading a stage worker process from outside, as an operator would: a free port for its
 * `--metrics-port`, a metric from its /metrics (summed over label sets), its resident memory.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A metric from a worker's /metrics, summed over its label sets (those with every label of
 * `labels`, when given); null when the worker does not answer.
 */
export async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number | null> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    let sum = 0;
    for (const line of (await res.text()).split('\n')) {
      if (!(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue;
      if (wanted.some((w) => !line.includes(w))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  } catch {
    return null;
  }
}

/** Resident set size of a process, in kB (Linux /proc). */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
