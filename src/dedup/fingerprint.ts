/**
 * A document's dedup fingerprint (exact key and LSH band keys), its index entry, its record on the
 * `dedup.index` topic, and `DedupView`: the index as the dedup stage sees it, whether it lives in
 * this process only (`run`) or is shared by the workers of a Kafka consumer group.
 */
import type { DedupConfig } from '../config/schema.js';
import type { DedupEntry } from '../core/records.js';
import { DedupIndex, type DedupMatch, type IndexEntry } from './index-store.js';
import { bandKeys, minhashSignature, type MinHashParams } from './minhash.js';
import { exactKey, normaliseText, wordsOf } from './normalise.js';

export function dedupParams(c: DedupConfig): MinHashParams {
  return { ngram: c.ngram, bands: c.bands, rows: c.rows, seed: c.seed };
}

/** Names the hashing: entries made with other parameters cannot be compared and are ignored. */
export function schemeOf(p: MinHashParams): string {
  return `minhash-w${p.ngram}-b${p.bands}r${p.rows}-s${p.seed}`;
}

const NO_BANDS = new Float64Array(0);

/** The index entry of a document's text. */
export function fingerprintOf(docId: string, text: string, p: MinHashParams): IndexEntry {
  const normalised = normaliseText(text);
  const sig = minhashSignature(wordsOf(normalised), p);
  return { docId, exact: exactKey(normalised).toString('latin1'), bands: sig === null ? NO_BANDS : bandKeys(sig, p) };
}

export function toDedupRecord(entry: IndexEntry, scheme: string, now = Date.now()): DedupEntry {
  return { doc_id: entry.docId, exact: Buffer.from(entry.exact, 'latin1'), bands: [...entry.bands], scheme, created_at: now };
}

/** The entry of a record from the index topic, or null when another scheme made it. */
export function fromDedupRecord(record: DedupEntry, scheme: string): IndexEntry | null {
  if (record.scheme !== scheme) return null;
  return { docId: record.doc_id, exact: record.exact.toString('latin1'), bands: Float64Array.from(record.bands) };
}

/** The dedup index as the dedup stage sees it. */
export interface DedupView {
  readonly params: MinHashParams;
  readonly scheme: string;
  /** The kept document this one duplicates, or null. */
  find(entry: IndexEntry): DedupMatch | null;
  /**
   * Remember a kept document so later copies name it. `owned` (Kafka) says whether the record is
   * still this worker's to commit: once it turns false before the commit, the entry is forgotten.
   */
  keep(entry: IndexEntry, owned?: () => boolean): void;
}

/** The index of one process (`webscale-rl run`): a document kept is final at once. */
export class LocalDedup implements DedupView {
  readonly params: MinHashParams;
  readonly scheme: string;
  readonly index: DedupIndex;

  constructor(config: DedupConfig) {
    this.params = dedupParams(config);
    this.scheme = schemeOf(this.params);
    this.index = new DedupIndex(config.maxEntries);
  }

  find(entry: IndexEntry): DedupMatch | null {
    return this.index.find(entry.exact, entry.bands);
  }

  keep(entry: IndexEntry): void {
    this.index.add(entry);
  }
}
