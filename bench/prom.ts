/**
 * A minimal reader of the Prometheus text exposition a stage worker serves at /metrics: enough to
 * sum a counter or a histogram's _sum/_count over chosen labels. The bench scrapes the workers
 * while they run, so it only needs `name{labels} value` lines (comments and exemplars ignored).
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null || m[1] === undefined || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) if (l[1] !== undefined && l[2] !== undefined) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sum of every sample called `name` whose labels include all of `where`. */
export function total(samples: readonly Sample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** GET a worker's /metrics and parse it; null when the worker does not answer (yet, or any more). */
export async function scrape(port: number, timeoutMs = 2000): Promise<Sample[] | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return parseProm(await res.text());
  } catch {
    return null;
  }
}
