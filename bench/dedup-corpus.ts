/**
 * A corpus with planted duplicates, for the dedup tests and benchmark: distinct documents of
 * Zipf-distributed words from a synthetic vocabulary (each opening with one of a few shared
 * boilerplate lines, as crawled pages do), and for some of them a copy that is either exact up to
 * case, spacing and Unicode width, or edited (words replaced at random places) down to a chosen
 * Jaccard similarity of word 5-gram sets, measured on the texts themselves. Seeded, so the same
 * options always give the same corpus.
 */
import { normaliseText, wordsOf } from '../src/dedup/normalise.js';
import { mulberry32 } from '../src/stages/common.js';

export interface PlantedPair {
  /** Id of the original and of its copy. */
  original: string;
  copy: string;
  kind: 'exact' | 'near';
  /** Jaccard similarity of the two texts' word 5-gram sets (1 for exact copies). */
  jaccard: number;
}

export interface PlantedCorpus {
  docs: { id: string; text: string }[];
  pairs: PlantedPair[];
}

export interface PlantedCorpusOptions {
  seed: number;
  /** Distinct documents (the originals among them). */
  distinct: number;
  /** Exact copies planted. */
  exact: number;
  /** Near copies planted per target Jaccard. */
  near: number;
  /** Target Jaccard similarities of the near copies. */
  jaccards: readonly number[];
  /** Id prefix, so corpora of different tests never share ids. */
  prefix?: string;
  minWords?: number;
  maxWords?: number;
}

const BOILERPLATE = [
  'home about contact privacy policy terms of use sign in',
  'skip to main content menu search subscribe newsletter',
  'you are here home articles archive latest news',
];

function vocabulary(rand: () => number, size: number): string[] {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const words = new Set<string>();
  while (words.size < size) {
    const len = 2 + Math.floor(rand() * 8);
    let w = '';
    for (let i = 0; i < len; i++) w += letters[Math.floor(rand() * letters.length)];
    words.add(w);
  }
  return [...words];
}

/** Zipf-like draw: index ~ vocabulary size ^ u, so a few words are very common, as in prose. */
function zipfPick(rand: () => number, vocab: readonly string[]): string {
  const i = Math.floor(Math.pow(vocab.length, rand())) - 1;
  return vocab[Math.min(vocab.length - 1, Math.max(0, i))] as string;
}

function shingles(words: readonly string[], n = 5): Set<string> {
  const out = new Set<string>();
  if (words.length < n) {
    if (words.length > 0) out.add(words.join(' '));
    return out;
  }
  for (let i = 0; i + n <= words.length; i++) out.add(words.slice(i, i + n).join(' '));
  return out;
}

/** Jaccard similarity of the word 5-gram sets of two texts, after the dedup stage's normalisation. */
export function textJaccard(a: string, b: string, n = 5): number {
  const sa = shingles(wordsOf(normaliseText(a)), n);
  const sb = shingles(wordsOf(normaliseText(b)), n);
  let inter = 0;
  for (const s of sa) if (sb.has(s)) inter++;
  const union = sa.size + sb.size - inter;
  return union === 0 ? 1 : inter / union;
}

/** Sentences of 8-20 words, capitalised and full-stopped, so the text looks like prose. */
function toProse(words: readonly string[], rand: () => number): string {
  const out: string[] = [];
  let i = 0;
  while (i < words.length) {
    const len = 8 + Math.floor(rand() * 13);
    const sentence = words.slice(i, i + len);
    i += len;
    const first = sentence[0] ?? '';
    sentence[0] = first.charAt(0).toUpperCase() + first.slice(1);
    out.push(`${sentence.join(' ')}.`);
  }
  return out.join(' ');
}

/** An exact copy as a mirror serves it: upper case, doubled spaces, full-width letters in places. */
function mirrorOf(text: string): string {
  const fullWidth = (c: string): string => String.fromCharCode(c.charCodeAt(0) - 0x21 + 0xff01);
  return text
    .toUpperCase()
    .replace(/ /g, (m, offset: number) => (offset % 7 === 0 ? '  \n ' : m))
    .replace(/[A-Z]/g, (c, offset: number) => (offset % 11 === 0 ? fullWidth(c) : c));
}

/** `words` with random words replaced until their 5-gram Jaccard similarity is as close to `target` as edits allow. */
function editTo(words: readonly string[], target: number, rand: () => number, vocab: readonly string[]): { words: string[]; jaccard: number } {
  const order = words.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const replacement = words.map(() => zipfPick(rand, vocab));
  const original = shingles(words);
  const edited = (k: number): string[] => {
    const out = [...words];
    for (let t = 0; t < k; t++) {
      const i = order[t] as number;
      // A replacement equal to the word it replaces would be no edit.
      out[i] = replacement[i] === words[i] ? `${replacement[i]}x` : (replacement[i] as string);
    }
    return out;
  };
  const jaccardOf = (w: string[]): number => {
    const s = shingles(w);
    let inter = 0;
    for (const x of s) if (original.has(x)) inter++;
    return inter / (s.size + original.size - inter);
  };
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (jaccardOf(edited(mid)) <= target) hi = mid;
    else lo = mid + 1;
  }
  // The edit count whose similarity is closest to the target, on either side of it.
  const below = edited(lo);
  const jBelow = jaccardOf(below);
  if (lo === 0) return { words: below, jaccard: jBelow };
  const above = edited(lo - 1);
  const jAbove = jaccardOf(above);
  return jAbove - target < target - jBelow ? { words: above, jaccard: jAbove } : { words: below, jaccard: jBelow };
}

export function plantedCorpus(o: PlantedCorpusOptions): PlantedCorpus {
  const rand = mulberry32(o.seed);
  const vocab = vocabulary(rand, 20_000);
  const prefix = o.prefix ?? 'doc';
  const minWords = o.minWords ?? 150;
  const maxWords = o.maxWords ?? 450;
  const bodies: string[][] = [];
  const docs: { id: string; text: string }[] = [];
  for (let i = 0; i < o.distinct; i++) {
    const n = minWords + Math.floor(rand() * (maxWords - minWords));
    const words = Array.from({ length: n }, () => zipfPick(rand, vocab));
    bodies.push(words);
    docs.push({ id: `${prefix}-${i}`, text: `${BOILERPLATE[i % BOILERPLATE.length] ?? ''}\n${toProse(words, rand)}` });
  }
  const copies: { id: string; text: string }[] = [];
  const pairs: PlantedPair[] = [];
  let next = 0;
  const take = (): number => {
    if (next >= o.distinct) throw new Error('more copies than distinct documents');
    return next++;
  };
  for (let k = 0; k < o.exact; k++) {
    const i = take();
    const original = docs[i] as { id: string; text: string };
    const id = `${prefix}-${i}-exact`;
    copies.push({ id, text: mirrorOf(original.text) });
    pairs.push({ original: original.id, copy: id, kind: 'exact', jaccard: 1 });
  }
  for (const target of o.jaccards) {
    for (let k = 0; k < o.near; k++) {
      const i = take();
      const original = docs[i] as { id: string; text: string };
      const edit = editTo(wordsOf(normaliseText(original.text)), target, rand, vocab);
      const id = `${prefix}-${i}-near${Math.round(target * 100)}`;
      // The edit ran on the normalised words, boilerplate line included: the copy is one paragraph.
      const text = toProse(edit.words, rand);
      copies.push({ id, text });
      pairs.push({ original: original.id, copy: id, kind: 'near', jaccard: textJaccard(original.text, text) });
    }
  }
  // Copies arrive after their originals, interleaved with the rest, as re-crawls do.
  const all = [...docs];
  for (const c of copies) {
    const at = Math.floor(o.distinct / 2 + rand() * (all.length - o.distinct / 2));
    all.splice(at, 0, c);
  }
  return { docs: all, pairs };
}

export interface DedupScore {
  /** Planted pairs where the copy or the original was rejected naming the other. */
  caught: number;
  pairs: number;
  recall: number;
  /** Rejections that name a document which is not the rejected one's planted twin. */
  falsePositives: number;
  /** Documents that should all be kept: the distinct ones (originals included). */
  distinct: number;
  falsePositiveRate: number;
}

/** Scores dedup rejections (`doc_id` -> `duplicate_of`) against the planted pairs. */
export function scoreDedup(corpus: PlantedCorpus, rejected: ReadonlyMap<string, string>): DedupScore {
  const twin = new Map<string, string>();
  for (const p of corpus.pairs) {
    twin.set(p.original, p.copy);
    twin.set(p.copy, p.original);
  }
  let caught = 0;
  for (const p of corpus.pairs) if (rejected.get(p.copy) === p.original || rejected.get(p.original) === p.copy) caught++;
  let falsePositives = 0;
  for (const [doc, of] of rejected) if (twin.get(doc) !== of) falsePositives++;
  const distinct = corpus.docs.length - corpus.pairs.length;
  return {
    caught,
    pairs: corpus.pairs.length,
    recall: corpus.pairs.length === 0 ? 1 : caught / corpus.pairs.length,
    falsePositives,
    distinct,
    falsePositiveRate: distinct === 0 ? 0 : falsePositives / distinct,
  };
}
