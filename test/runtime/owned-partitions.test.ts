import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { OwnedPartitions } from '../../src/runtime/owned-partitions.js';
import type { PartitionOwner } from '../../src/runtime/partition-owner.js';

/** Just what OwnedPartitions uses of a PartitionOwner; `commitMark` stands for its last commit. */
class FakeOwner {
  startedAt = new Map<bigint, number>();
  heldBytes = 0;
  closed = false;
  adopted: FakeOwner | null = null;
  constructor(
    readonly partition: number,
    readonly commitMark: number,
  ) {}
  get active(): boolean {
    return !this.closed;
  }
  commit(): Promise<{ outcome: 'nothing' }> {
    return Promise.resolve({ outcome: 'nothing' });
  }
  sameCommitAs(fresh: FakeOwner): boolean {
    return fresh.commitMark === this.commitMark;
  }
  adoptProducerOf(fresh: FakeOwner): void {
    this.adopted = fresh;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function setup(marks: Map<number, number>, failFirst = new Set<number>()) {
  const opened: FakeOwner[] = [];
  const released: number[] = [];
  const parts = new OwnedPartitions({
    open: (p) => {
      if (failFirst.delete(p)) return Promise.reject(new Error('coordinator loading'));
      const o = new FakeOwner(p, marks.get(p) ?? 0);
      opened.push(o);
      return Promise.resolve(o as unknown as PartitionOwner);
    },
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    onReleased: (p) => released.push(p),
  });
  return { parts, opened, released };
}

describe('OwnedPartitions', () => {
  it('takes assigned partitions and hands records their owner once taken', async () => {
    const { parts, opened } = setup(new Map());
    parts.assign([0, 2]);
    const o0 = await parts.ownerFor(0);
    expect(o0?.partition).toBe(0);
    expect(await parts.ownerFor(1)).toBeNull();
    expect(opened.map((o) => o.partition).sort()).toEqual([0, 2]);
  });

  it('retries a take that fails (a coordinator still loading)', async () => {
    const { parts } = setup(new Map(), new Set([1]));
    parts.assign([1]);
    expect((await parts.ownerFor(1))?.partition).toBe(1);
  });

  it('releases lost partitions and drops their work', async () => {
    const { parts, released } = setup(new Map());
    parts.assign([0, 1]);
    const o1 = (await parts.ownerFor(1)) as unknown as FakeOwner;
    await parts.ownerFor(0);
    o1.startedAt.set(5n, Date.now());
    expect(parts.inFlight).toBe(1);
    parts.assign([0]);
    expect(o1.closed).toBe(true);
    expect(released).toEqual([1]);
    expect(await parts.ownerFor(1)).toBeNull();
    expect(parts.inFlight).toBe(0);
  });

  it('keeps the work of a kept partition when nobody committed meanwhile, drops it otherwise', async () => {
    const marks = new Map([[0, 7], [1, 7]]);
    const { parts } = setup(marks);
    parts.assign([0, 1]);
    const first0 = (await parts.ownerFor(0)) as unknown as FakeOwner;
    const first1 = (await parts.ownerFor(1)) as unknown as FakeOwner;
    // Someone else committed partition 1 while we were away.
    marks.set(1, 8);
    parts.assign([0, 1]);
    const again0 = (await parts.ownerFor(0)) as unknown as FakeOwner;
    const again1 = (await parts.ownerFor(1)) as unknown as FakeOwner;
    expect(again0).toBe(first0);
    expect(first0.adopted).not.toBeNull();
    expect(again1).not.toBe(first1);
    expect(first1.closed).toBe(true);
  });

  it('lets a fenced partition go until a join hands it back', async () => {
    const { parts, released } = setup(new Map());
    parts.assign([3]);
    const o = (await parts.ownerFor(3)) as unknown as PartitionOwner;
    parts.release(o);
    expect(released).toEqual([3]);
    expect(await parts.ownerFor(3)).toBeNull();
    parts.assign([3]);
    expect((await parts.ownerFor(3))?.partition).toBe(3);
  });
});
