/**
 * Per-partition offset tracking for out-of-order completion (the Confluent Parallel Consumer
 * scheme). Records of one partition finish in any order; the committable offset is the lowest
 * offset not yet finished, and the finished offsets beyond it travel in the offset-commit
 * metadata, so a worker that restarts from the committed offset skips work already done instead
 * of repeating it. Kafka caps commit metadata (offset.metadata.max.bytes, 4096 by default), so
 * only the finished offsets that fit are committed; the rest wait for the next commit, and their
 * outputs with them (outputs and offsets are committed in one transaction).
 *
 * Metadata format, versioned: `wsrl1:<base>:<base64 bitset>` where bit i set means offset
 * base + i is finished. `base` is the committed offset itself.
 */

const PREFIX = 'wsrl1:';

/** Default room for metadata: Kafka's default offset.metadata.max.bytes, with a margin. */
export const DEFAULT_METADATA_BUDGET = 4000;

export function encodeFinished(base: bigint, finished: Iterable<bigint>): string {
  const offsets = [...finished].filter((o) => o >= base).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (offsets.length === 0) return '';
  const last = offsets[offsets.length - 1] as bigint;
  const bits = Buffer.alloc(Number(last - base) / 8 + 1);
  for (const o of offsets) {
    const i = Number(o - base);
    bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
  }
  return `${PREFIX}${base}:${bits.toString('base64')}`;
}

/** Finished offsets recorded in commit metadata; empty for metadata we did not write. */
export function decodeFinished(metadata: string | null | undefined): Set<bigint> {
  const out = new Set<bigint>();
  if (!metadata || !metadata.startsWith(PREFIX)) return out;
  const [baseText, bitsText] = metadata.slice(PREFIX.length).split(':');
  if (baseText === undefined || bitsText === undefined || !/^\d+$/.test(baseText)) return out;
  const base = BigInt(baseText);
  const bits = Buffer.from(bitsText, 'base64');
  for (let byte = 0; byte < bits.length; byte++) {
    const b = bits[byte] as number;
    if (b === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) out.add(base + BigInt(byte * 8 + bit));
  }
  return out;
}

/** Bytes the metadata takes for a window of `span` offsets. */
function metadataLength(base: bigint, span: number): number {
  return PREFIX.length + String(base).length + 1 + Math.ceil(Math.ceil(span / 8) / 3) * 4;
}

export interface CommitPlan {
  /** The offset to commit (the next record to process after a restart). */
  offset: bigint;
  metadata: string;
  /** Finished offsets whose outputs go into this commit's transaction. */
  covered: bigint[];
}

/**
 * State of one partition: which offsets were handed out and which finished. Offsets are bigint
 * because Kafka's are 64-bit.
 */
export class PartitionTracker {
  /** Offsets received and not yet finished. */
  private readonly pending = new Set<bigint>();
  /** Offsets finished and not yet committed. */
  private readonly finished = new Set<bigint>();
  /** Offsets finished in an earlier life (from commit metadata): skip them. */
  private readonly finishedBefore: Set<bigint>;
  /** Everything below this is committed. */
  committed: bigint;

  constructor(committed: bigint, metadata: string | null = null) {
    this.committed = committed;
    this.finishedBefore = decodeFinished(metadata);
    for (const o of this.finishedBefore) if (o < committed) this.finishedBefore.delete(o);
  }

  /**
   * Whether a fetched record should be processed: false when it is below the committed offset,
   * already in flight, finished but not yet committed, or finished in an earlier life.
   */
  accept(offset: bigint): boolean {
    if (offset < this.committed || this.pending.has(offset) || this.finished.has(offset)) return false;
    if (this.finishedBefore.has(offset)) {
      // Its outputs are already committed; count it finished so the commit can move past it.
      this.finished.add(offset);
      this.finishedBefore.delete(offset);
      return false;
    }
    this.pending.add(offset);
    return true;
  }

  finish(offset: bigint): void {
    if (!this.pending.delete(offset)) return;
    this.finished.add(offset);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get uncommitted(): number {
    return this.finished.size;
  }

  /**
   * The commit that covers as much finished work as the metadata budget allows: the committed
   * offset moves to the lowest unfinished offset; finished offsets beyond it are listed in the
   * metadata while it fits. Returns null when there is nothing new to commit.
   */
  plan(budget = DEFAULT_METADATA_BUDGET): CommitPlan | null {
    if (this.finished.size === 0) return null;
    const done = [...this.finished].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // Known offsets not yet finished: in flight now, or finished before (still to be re-seen).
    let lowestOpen: bigint | null = null;
    for (const o of this.pending) if (lowestOpen === null || o < lowestOpen) lowestOpen = o;
    let next = this.committed;
    const covered: bigint[] = [];
    let i = 0;
    // Contiguous prefix: finished offsets from `committed` up, or up to the first open one.
    // Offsets may have gaps (compaction, transaction markers), so we advance over every finished
    // offset below the lowest open one.
    for (; i < done.length; i++) {
      const o = done[i] as bigint;
      if (lowestOpen !== null && o > lowestOpen) break;
      covered.push(o);
      next = o + 1n;
    }
    if (lowestOpen !== null && lowestOpen > next) next = lowestOpen;
    // Finished-before offsets not yet re-seen must stay in the metadata, or a restart loses them.
    const carried = [...this.finishedBefore].filter((o) => o >= next);
    let maxListed = carried.reduce((m, o) => (o > m ? o : m), next - 1n);
    // Beyond the lowest open offset: list finished offsets in the metadata while it fits.
    const beyond: bigint[] = [];
    for (; i < done.length; i++) {
      const o = done[i] as bigint;
      const top = o > maxListed ? o : maxListed;
      if (metadataLength(next, Number(top - next) + 1) > budget) break;
      beyond.push(o);
      maxListed = top;
    }
    const metadata = encodeFinished(next, [...beyond, ...carried]);
    return { offset: next, metadata, covered: [...covered, ...beyond] };
  }

  /** Record that a plan's transaction committed. */
  committedPlan(plan: CommitPlan): void {
    for (const o of plan.covered) this.finished.delete(o);
    this.committed = plan.offset;
    // Covered offsets beyond the committed one now live in the committed metadata.
    for (const o of plan.covered) if (o >= plan.offset) this.finishedBefore.add(o);
    for (const o of this.finishedBefore) if (o < plan.offset) this.finishedBefore.delete(o);
  }
}
