/**
 * The in-memory dedup index: exact keys and LSH band keys of kept documents, each pointing at the
 * id of the document kept. Its size is bounded by `maxEntries` documents; past that the oldest
 * entry (first added) is evicted, so a copy of a document evicted long ago is kept again rather
 * than memory growing with the corpus. A `Map` keeps insertion order, which is the eviction order.
 */

/** What the index knows of one kept document. */
export interface IndexEntry {
  docId: string;
  /** The exact key as a one-byte string (16 latin1 characters: the cheapest Map key). */
  exact: string;
  bands: Float64Array;
}

export type DedupMatch = { kind: 'exact' | 'near'; of: string };

export class DedupIndex {
  private readonly exact = new Map<string, string>();
  private readonly bands = new Map<number, string>();
  private readonly entries = new Map<string, IndexEntry>();
  /** Entries evicted to stay within maxEntries, since the index was made. */
  evicted = 0;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  has(docId: string): boolean {
    return this.entries.has(docId);
  }

  /** The kept document this one duplicates: exact content first, else a shared LSH band. */
  find(exact: string, bands: Float64Array): DedupMatch | null {
    const same = this.exact.get(exact);
    if (same !== undefined) return { kind: 'exact', of: same };
    for (const key of bands) {
      const near = this.bands.get(key);
      if (near !== undefined) return { kind: 'near', of: near };
    }
    return null;
  }

  /** Adds a kept document (a second add of the same id is ignored), evicting the oldest past the bound. */
  add(entry: IndexEntry): void {
    if (this.entries.has(entry.docId)) return;
    this.entries.set(entry.docId, entry);
    // An earlier document keeps its keys: the first one kept is the one later copies name.
    if (!this.exact.has(entry.exact)) this.exact.set(entry.exact, entry.docId);
    for (const key of entry.bands) if (!this.bands.has(key)) this.bands.set(key, entry.docId);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.remove(oldest.value);
      this.evicted++;
    }
  }

  remove(docId: string): void {
    const entry = this.entries.get(docId);
    if (!entry) return;
    this.entries.delete(docId);
    if (this.exact.get(entry.exact) === docId) this.exact.delete(entry.exact);
    for (const key of entry.bands) if (this.bands.get(key) === docId) this.bands.delete(key);
  }

  /** Every entry, oldest first. */
  values(): IterableIterator<IndexEntry> {
    return this.entries.values();
  }
}
