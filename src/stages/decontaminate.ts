/**
 * Decontamination against evaluation benchmarks: a QA pair whose question (plus answer) shares an
 * n-gram (n = `decontamination.ngram`, 13 by default) with a benchmark item is rejected as
 * `check.contaminated`. This follows lm-evaluation-harness's decontamination ("janitor"): text is
 * lower-cased, punctuation is deleted (not replaced by a space, so "state-of-the-art" becomes one
 * word), and words are whitespace-separated. We go a little further on Unicode: NFKC first, and
 * every Unicode punctuation and symbol character is deleted, not only ASCII punctuation.
 *
 * Benchmarks are JSON-lines files, one item per line. Indexed: the string values of the fields in
 * `INDEXED_FIELDS` (question/prompt/problem/text/query/input/instruction), each on its own.
 * Answers and choices are not indexed: they are short (rarely 13 words) and common phrases there
 * would only add false positives. An item shorter than n words but at least `MIN_SHORT_WORDS`
 * long is indexed whole, so a short benchmark question copied word for word is still caught
 * (lm-eval's janitor would never see it: it yields no 13-gram).
 *
 * Memory: n-grams are stored as 52-bit hashes in sharded Maps (one number per n-gram, no strings;
 * a V8 Map holds at most ~16M entries, hence the shards). A false match needs two independent
 * 32-bit hash collisions at once; at tens of millions of n-grams that is negligible.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';

export const INDEXED_FIELDS = ['question', 'prompt', 'problem', 'text', 'query', 'input', 'instruction'] as const;
/** Items shorter than n words but at least this long are indexed whole. */
export const MIN_SHORT_WORDS = 8;
const SHARDS = 16;

export interface ContaminationResult {
  contaminated: boolean;
  benchmark?: string;
  /** The matching word sequence, normalised. */
  ngram?: string;
}

/** lm-eval-harness style: NFKC, lower case, punctuation and symbols deleted, whitespace split. */
export function decontaminationWords(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, '')
    .split(/\s+/)
    .filter((w) => w !== '');
}

function hash2(s: string): [number, number] {
  // FNV-1a and a multiply-xorshift hash over UTF-16 units: two independent 32-bit hashes.
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  b ^= b >>> 16;
  return [a >>> 0, b >>> 0];
}

export class Decontaminator {
  readonly n: number;
  private readonly shards: Map<number, number>[] = Array.from({ length: SHARDS }, () => new Map<number, number>());
  private readonly benchmarks: string[] = [];
  /** Lengths of short items indexed whole (below n). */
  private readonly shortLengths = new Set<number>();
  private count = 0;

  constructor(n = 13) {
    if (!Number.isInteger(n) || n < 1) throw new WebscaleError('CONFIG_INVALID', `decontamination n-gram size must be a positive integer, got ${n}`);
    this.n = n;
  }

  /** A decontaminator with nothing indexed: `check` always passes. */
  static empty(n = 13): Decontaminator {
    return new Decontaminator(n);
  }

  /** Distinct n-grams indexed. */
  get size(): number {
    return this.count;
  }

  get enabled(): boolean {
    return this.count > 0;
  }

  private key(gram: string): { shard: Map<number, number>; key: number } {
    const [a, b] = hash2(gram);
    // 32 bits of one hash and 21 of the other: an exact integer below 2^53.
    return { shard: this.shards[b & (SHARDS - 1)] as Map<number, number>, key: a * 2097152 + (b >>> 11) };
  }

  private insert(gram: string, benchmarkIndex: number): void {
    const { shard, key } = this.key(gram);
    if (!shard.has(key)) {
      shard.set(key, benchmarkIndex);
      this.count++;
    }
  }

  private lookup(gram: string): number | undefined {
    const { shard, key } = this.key(gram);
    return shard.get(key);
  }

  /** Index one benchmark text. Returns how many word sequences it contributed. */
  add(benchmark: string, text: string): number {
    let index = this.benchmarks.indexOf(benchmark);
    if (index < 0) index = this.benchmarks.push(benchmark) - 1;
    const words = decontaminationWords(text);
    if (words.length < this.n) {
      if (words.length < Math.min(MIN_SHORT_WORDS, this.n)) return 0;
      this.shortLengths.add(words.length);
      this.insert(words.join(' '), index);
      return 1;
    }
    for (let i = 0; i + this.n <= words.length; i++) this.insert(words.slice(i, i + this.n).join(' '), index);
    return words.length - this.n + 1;
  }

  /** Whether the question (followed by the answer, when given) overlaps a benchmark item. */
  check(question: string, answer?: string): ContaminationResult {
    if (this.count === 0) return { contaminated: false };
    const words = decontaminationWords(answer === undefined ? question : `${question} ${answer}`);
    const lengths = [this.n, ...[...this.shortLengths].sort((x, y) => x - y)];
    for (const len of lengths) {
      for (let i = 0; i + len <= words.length; i++) {
        const gram = words.slice(i, i + len).join(' ');
        const hit = this.lookup(gram);
        if (hit !== undefined) return { contaminated: true, benchmark: this.benchmarks[hit] ?? 'unknown', ngram: gram };
      }
    }
    return { contaminated: false };
  }
}

function benchmarkName(path: string, taken: readonly string[]): string {
  const name = basename(path).replace(/\.jsonl?$/i, '');
  return taken.includes(name) ? path : name;
}

async function loadFile(dec: Decontaminator, path: string, name: string): Promise<void> {
  const invalid = (message: string, line?: number) =>
    new WebscaleError(
      'CONFIG_INVALID',
      `decontamination benchmark ${path}${line === undefined ? '' : `, line ${line}`}: ${message}`,
      { context: { file: path, ...(line === undefined ? {} : { line }) } },
    );
  try {
    const info = await stat(path);
    if (!info.isFile()) throw invalid('not a file');
  } catch (err) {
    if (err instanceof WebscaleError) throw err;
    throw invalid(`cannot read it (${(err as Error).message})`);
  }
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  let indexed = 0;
  for await (const raw of lines) {
    lineNo++;
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      lines.close();
      throw invalid(`not valid JSON (${(err as Error).message})`, lineNo);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      lines.close();
      throw invalid('expected a JSON object', lineNo);
    }
    const obj = value as Record<string, unknown>;
    for (const field of INDEXED_FIELDS) {
      const v = obj[field];
      if (typeof v === 'string' && v.trim() !== '') {
        dec.add(name, v);
        indexed++;
      }
    }
  }
  if (indexed === 0) {
    throw invalid(`no line has a non-empty string field among ${INDEXED_FIELDS.join(', ')}`);
  }
}

/** Build the decontaminator from `decontamination.benchmarks`; an empty list gives a no-op one. */
export async function loadDecontaminator(cfg: Config['decontamination']): Promise<Decontaminator> {
  const dec = new Decontaminator(cfg.ngram);
  const names: string[] = [];
  for (const path of cfg.benchmarks) {
    const name = benchmarkName(path, names);
    names.push(name);
    await loadFile(dec, path, name);
  }
  return dec;
}
