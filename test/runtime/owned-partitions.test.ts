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
  /** Commits wait for this (a broker that does not answer), one after the other like the real ones. */
  gate: Promise<void> = Promise.resolve();
  commits = 0;
  private chain: Promise<unknown> = Promise.resolve();
  commit(): Promise<{ outcome: 'nothing' }> {
    const next = this.chain.then(() => this.gate).then(() => {
      this.commits++;
      return { outcome: 'nothing' as const };
    });
    this.chain = next;
    return next;
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

  it('a join while an older join still flushes the previous owner takes that owner over: no second owner beside it', async () => {
    const { parts, opened } = setup(new Map([[0, 7]]));
    parts.assign([0]);
    const first = (await parts.ownerFor(0)) as unknown as FakeOwner;
    let answer!: () => void;
    first.gate = new Promise((resolve) => (answer = resolve));
    parts.assign([0]); // the broker came back: the flush of `first` waits on it
    await new Promise((r) => setTimeout(r, 10));
    parts.assign([0]); // the consume loop gave up waiting, kafkajs rejoined
    await new Promise((r) => setTimeout(r, 10));
    // Nobody ran InitProducerId for partition 0 while `first` may still replace its producer.
    expect(opened).toHaveLength(1);
    answer();
    const owner = (await parts.ownerFor(0)) as unknown as FakeOwner;
    // Flushed once per join, in turn; the newest join took it again, and nobody committed meanwhile.
    expect(first.commits).toBe(2);
    expect(owner).toBe(first);
    expect(first.closed).toBe(false);
    expect(opened).toHaveLength(2);
    expect(opened[1]?.closed).toBe(false); // its producer adopted
    expect(first.adopted).toBe(opened[1]);
  });

  it('a partition lost while an older join still flushes its previous owner: that owner is closed and released', async () => {
    const { parts, opened, released } = setup(new Map([[0, 7]]));
    parts.assign([0]);
    const first = (await parts.ownerFor(0)) as unknown as FakeOwner;
    let answer!: () => void;
    first.gate = new Promise((resolve) => (answer = resolve));
    parts.assign([0]);
    await new Promise((r) => setTimeout(r, 10));
    parts.assign([1]);
    expect(first.closed).toBe(true);
    expect(released).toEqual([0]);
    answer();
    expect(await parts.ownerFor(0)).toBeNull();
    await parts.ownerFor(1);
    expect(opened.map((o) => o.partition)).toEqual([0, 1]);
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
