/**
 * A set of Kafka offsets per partition, kept as sorted, merged ranges: `dlq replay` marks dead
 * letters as replayed one by one, but mostly in runs of neighbouring offsets, so memory follows
 * the number of runs (gaps left by `--reason`, `--since` or `--stage`), not the number of dead
 * letters replayed.
 */

/** Half-open range [start, end). */
interface Range {
  start: bigint;
  end: bigint;
}

export class OffsetSet {
  private readonly byPartition = new Map<number, Range[]>();
  private count = 0;

  /** Offsets in the set, over all partitions. */
  get size(): number {
    return this.count;
  }

  /** Ranges held, over all partitions (what memory grows with). */
  get ranges(): number {
    let n = 0;
    for (const list of this.byPartition.values()) n += list.length;
    return n;
  }

  has(partition: number, offset: bigint): boolean {
    const list = this.byPartition.get(partition);
    if (!list) return false;
    const i = this.indexAfter(list, offset) - 1;
    const r = list[i];
    return r !== undefined && offset >= r.start && offset < r.end;
  }

  /** Adds one offset; returns false when it was there already. */
  add(partition: number, offset: bigint): boolean {
    let list = this.byPartition.get(partition);
    if (!list) this.byPartition.set(partition, (list = []));
    // Index of the first range starting after the offset; the one before may hold or touch it.
    const i = this.indexAfter(list, offset);
    const before = list[i - 1];
    const after = list[i];
    if (before && offset < before.end) return false;
    const joinsBefore = before !== undefined && before.end === offset;
    const joinsAfter = after !== undefined && after.start === offset + 1n;
    if (joinsBefore && joinsAfter) {
      before.end = after.end;
      list.splice(i, 1);
    } else if (joinsBefore) {
      before.end = offset + 1n;
    } else if (joinsAfter) {
      after.start = offset;
    } else {
      list.splice(i, 0, { start: offset, end: offset + 1n });
    }
    this.count++;
    return true;
  }

  /** The index of the first range whose start is above `offset` (binary search). */
  private indexAfter(list: readonly Range[], offset: bigint): number {
    let lo = 0;
    let hi = list.length;
    // Replays mostly append: check the last range first.
    const last = list[hi - 1];
    if (last === undefined || last.start <= offset) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((list[mid] as Range).start <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
