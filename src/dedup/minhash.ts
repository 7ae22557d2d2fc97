/**
 * MinHash signatures over word n-grams and their LSH band keys (Broder 1997; banding as in
 * Leskovec, Rajaraman and Ullman, "Mining of Massive Datasets", ch. 3). Two documents whose
 * n-gram sets have Jaccard similarity J agree on one MinHash value with probability J, on a band
 * of `rows` values with probability J^rows, and share at least one of `bands` band keys with
 * probability 1 - (1 - J^rows)^bands: with DataTrove's 14 bands of 8 rows that is 0.92 at J = 0.8,
 * 0.99 at J = 0.85 and 0.05 at J = 0.5.
 *
 * Two ways to fill the k = bands x rows values, named in the index's scheme so entries of one are
 * never compared with the other:
 * - `one-permutation` (the default): one-permutation hashing (Li, Owen and Zhang, NIPS 2012) with
 *   optimal densification (Shrivastava, ICML 2017). Each n-gram is hashed once; one hash picks its
 *   bin among the k, an independent one is its rank there, and each bin keeps its lowest rank. A
 *   bin no n-gram fell into takes the value of a non-empty bin chosen by a hash sequence of its own
 *   number (the same sequence in every document), which keeps the chance that two documents agree
 *   on a bin equal to their Jaccard similarity. Cost: O(n-grams + k) instead of O(n-grams x k),
 *   about 100 times fewer hash evaluations on a page of prose; measured in `npm run bench`.
 * - `k-permutation`: the classic scheme, k hash functions each minimised over every n-gram. Kept
 *   for indexes built before one-permutation hashing was the default.
 *
 * Hashing is 32-bit integer arithmetic only (`Math.imul`), which V8 keeps in registers: each word
 * is hashed once (FNV-1a), an n-gram's two hashes combine its words' hashes (MurmurHash3's mixing
 * step). For k-permutation, the i-th function is MurmurHash3's finaliser applied to h1 + i * h2
 * (Kirsch and Mitzenmacher's double hashing), so one n-gram costs two combines and one finaliser
 * per function instead of k hashes of its text.
 */

export type MinHashing = 'one-permutation' | 'k-permutation';

export interface MinHashParams {
  /** Words per shingle. */
  ngram: number;
  bands: number;
  rows: number;
  /** Mixed into every hash: indexes built with different seeds never match. */
  seed: number;
  hashing: MinHashing;
}

/** Band keys carry the band number above 48 bits of hash; 32 bands keep them exact doubles. */
export const MAX_BANDS = 32;
const TWO_32 = 2 ** 32;
const TWO_48 = 2 ** 48;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixIn(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function wordHash(word: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) {
    h ^= word.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The MinHash signature (bands x rows values) of a document's words, or null when it has none.
 * A document shorter than one n-gram is one shingle of all its words.
 */
export function minhashSignature(words: readonly string[], p: MinHashParams): Uint32Array | null {
  if (words.length === 0) return null;
  const hashes = new Uint32Array(words.length);
  for (let i = 0; i < words.length; i++) hashes[i] = wordHash(words[i] as string);
  return p.hashing === 'one-permutation' ? onePermutation(hashes, p) : kPermutation(hashes, p);
}

/** The two hashes of every n-gram of the words whose hashes are given, in two arrays. */
function shingleHashes(hashes: Uint32Array, p: MinHashParams): { h1: Uint32Array; h2: Uint32Array } {
  const n = Math.min(p.ngram, hashes.length);
  const count = hashes.length - n + 1;
  const h1s = new Uint32Array(count);
  const h2s = new Uint32Array(count);
  const seedA = p.seed ^ 0x9e3779b9;
  const seedB = p.seed ^ 0x7f4a7c15;
  for (let start = 0; start < count; start++) {
    let h1 = seedA;
    let h2 = seedB;
    for (let t = 0; t < n; t++) {
      const w = hashes[start + t] as number;
      h1 = mixIn(h1, w);
      h2 = mixIn(h2, w);
    }
    h1s[start] = fmix32(h1 ^ n);
    h2s[start] = fmix32(h2 ^ n);
  }
  return { h1: h1s, h2: h2s };
}

function kPermutation(hashes: Uint32Array, p: MinHashParams): Uint32Array {
  const k = p.bands * p.rows;
  const sig = new Uint32Array(k).fill(0xffffffff);
  const { h1, h2 } = shingleHashes(hashes, p);
  for (let s = 0; s < h1.length; s++) {
    // Odd, so the k multiples of h2 are distinct modulo 2^32; g = h1 + i * h2 as a running sum.
    const step = (h2[s] as number) | 1;
    let g = (h1[s] as number) | 0;
    for (let i = 0; i < k; i++) {
      let v = g ^ (g >>> 16);
      v = Math.imul(v, 0x85ebca6b);
      v ^= v >>> 13;
      v = Math.imul(v, 0xc2b2ae35);
      v = (v ^ (v >>> 16)) >>> 0;
      if (v < (sig[i] as number)) sig[i] = v;
      g = (g + step) | 0;
    }
  }
  return sig;
}

/** One of `k` bins for a 32-bit hash: its high bits scaled to k (no modulo bias). */
function binOf(h: number, k: number): number {
  return Math.floor((h * k) / TWO_32);
}

/** Rank of an empty bin's own slot: above every rank a real n-gram can have (ranks are < 2^32 - 1). */
const EMPTY = 0xffffffff;

function onePermutation(hashes: Uint32Array, p: MinHashParams): Uint32Array {
  const k = p.bands * p.rows;
  const bins = new Uint32Array(k).fill(EMPTY);
  let filled = 0;
  const { h1, h2 } = shingleHashes(hashes, p);
  for (let s = 0; s < h1.length; s++) {
    // h1 picks the bin, h2 is the rank in it.
    const bin = binOf(h1[s] as number, k);
    const r = h2[s] as number;
    const rank = r === EMPTY ? EMPTY - 1 : r;
    const was = bins[bin] as number;
    if (was === EMPTY) filled++;
    if (rank < was) bins[bin] = rank;
  }
  if (filled === k) return bins;
  // Optimal densification: empty bin i tries bins h(i, 1), h(i, 2), ... until a non-empty one
  // (among the bins n-grams filled, never among copies), and takes its value.
  const sig = bins.slice();
  const salt = p.seed ^ 0x2545f491;
  for (let i = 0; i < k; i++) {
    if (bins[i] !== EMPTY) continue;
    for (let attempt = 1; ; attempt++) {
      const j = binOf(fmix32(mixIn(mixIn(salt, i), attempt)), k);
      const v = bins[j] as number;
      if (v !== EMPTY) {
        sig[i] = v;
        break;
      }
    }
  }
  return sig;
}

/**
 * One key per band: the band number and 48 bits of hash of its rows. At a million indexed
 * documents a random collision of one lookup's 14 keys has a chance of about 5e-8.
 */
export function bandKeys(sig: Uint32Array, p: MinHashParams): Float64Array {
  const keys = new Float64Array(p.bands);
  for (let b = 0; b < p.bands; b++) {
    let lo = p.seed ^ 0x85ebca6b ^ b;
    let hi = p.seed ^ 0xc2b2ae35 ^ b;
    for (let r = 0; r < p.rows; r++) {
      const v = sig[b * p.rows + r] as number;
      lo = mixIn(lo, v);
      hi = mixIn(hi, v);
    }
    keys[b] = b * TWO_48 + (fmix32(hi ^ p.rows) & 0xffff) * TWO_32 + fmix32(lo ^ p.rows);
  }
  return keys;
}

/** Share of equal values of two signatures: an unbiased estimate of the Jaccard similarity. */
export function estimatedJaccard(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return a.length === 0 ? 0 : same / a.length;
}

/** Probability that two documents at Jaccard `j` share a band key (the LSH S-curve). */
export function matchProbability(j: number, p: Pick<MinHashParams, 'bands' | 'rows'>): number {
  return 1 - (1 - j ** p.rows) ** p.bands;
}
