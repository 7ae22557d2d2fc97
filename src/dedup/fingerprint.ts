/**
 * A document's dedup fingerprint (exact key and LSH band keys), its index entry, its record on the
 * `dedup.index` topic, and `DedupView`: the index as the dedup stage sees it, whether it lives in
 * this process only (`run`) or is shared by the workers of a Kafka consumer group.
 */
import type { DedupConfig } from '../config/schema.js';
import type { DedupClaim } from '../core/records.js';
import { DedupIndex, type DedupMatch, type IndexEntry } from './index-store.js';
import { bandKeys, minhashSignature, type MinHashParams } from './minhash.js';
import { exactKey, normaliseText, wordsOf } from './normalise.js';

export function dedupParams(c: DedupConfig): MinHashParams {
  return { ngram: c.ngram, bands: c.bands, rows: c.rows, seed: c.seed, hashing: c.hashing };
}

/** Names the hashing: entries made with other parameters cannot be compared and are ignored. */
export function schemeOf(p: MinHashParams): string {
  // k-permutation keeps the name it had before there was a choice, so its indexes stay valid.
  const name = p.hashing === 'one-permutation' ? 'oph' : 'minhash';
  return `${name}-w${p.ngram}-b${p.bands}r${p.rows}-s${p.seed}`;
}

const NO_BANDS = new Float64Array(0);

/** The index entry of a document's text. */
export function fingerprintOf(docId: string, text: string, p: MinHashParams): IndexEntry {
  const normalised = normaliseText(text);
  const sig = minhashSignature(wordsOf(normalised), p);
  return { docId, exact: exactKey(normalised).toString('latin1'), bands: sig === null ? NO_BANDS : bandKeys(sig, p) };
}

/** Where a document was read on Kafka: a second claim for the same record gets the first one's decision. */
export interface RecordSource {
  partition: number;
  offset: bigint;
}

export function toClaim(entry: IndexEntry, source: RecordSource, scheme: string, now = Date.now()): DedupClaim {
  return {
    doc_id: entry.docId,
    source_partition: source.partition,
    source_offset: Number(source.offset),
    exact: Buffer.from(entry.exact, 'latin1'),
    bands: [...entry.bands],
    scheme,
    created_at: now,
  };
}

/**
 * The index entry of a claim. A claim of another scheme (other MinHash parameters or hashing)
 * keeps its exact key, which every scheme computes the same way, and drops its band keys, which
 * cannot be compared: after a change of scheme, exact copies of earlier documents are still
 * caught, near copies of them are not.
 */
export function fromClaim(claim: DedupClaim, scheme: string): IndexEntry {
  const bands = claim.scheme === scheme ? Float64Array.from(claim.bands) : NO_BANDS;
  return { docId: claim.doc_id, exact: claim.exact.toString('latin1'), bands };
}

/** The dedup index as the dedup stage sees it. */
export interface DedupView {
  readonly params: MinHashParams;
  readonly scheme: string;
  /**
   * The kept document this one duplicates, or null when it is kept (and remembered, so later
   * copies name it). `source` (Kafka) identifies the input record; `signal` ends a wait.
   */
  decide(entry: IndexEntry, source?: RecordSource, signal?: AbortSignal): Promise<DedupMatch | null>;
}

/**
 * The index of one process (`webscale-rl run`): documents are decided in the order `decide` is
 * called, synchronously (the promise only carries the answer), so the first copy read is kept.
 */
export class LocalDedup implements DedupView {
  readonly params: MinHashParams;
  readonly scheme: string;
  readonly index: DedupIndex;

  constructor(config: DedupConfig) {
    this.params = dedupParams(config);
    this.scheme = schemeOf(this.params);
    this.index = new DedupIndex(config.maxEntries);
  }

  decide(entry: IndexEntry): Promise<DedupMatch | null> {
    return Promise.resolve(decideAgainst(this.index, entry));
  }
}

/** One decision: a match names the kept document; no match keeps this one in the index. */
export function decideAgainst(index: DedupIndex, entry: IndexEntry): DedupMatch | null {
  const match = index.find(entry.exact, entry.bands);
  if (match === null) index.add(entry);
  return match;
}
