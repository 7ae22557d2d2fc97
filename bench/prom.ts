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

/**
 * The q-quantile of a histogram from its cumulative `_bucket` samples (summed over the series
 * matching `where`), interpolated linearly inside the bucket as Prometheus' histogram_quantile
 * does. Null when the histogram has no observations.
 */
export function histogramQuantile(samples: readonly Sample[], name: string, q: number, where: Record<string, string> = {}): number | null {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    if (!Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const count = buckets[buckets.length - 1]?.[1] ?? 0;
  if (count === 0) return null;
  const rank = q * count;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of buckets) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, c - prevCount));
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}
