import { describe, expect, it } from 'vitest';
import { PartitionTracker, decodeFinished, encodeFinished } from '../../src/runtime/offset-tracker.js';

describe('commit metadata', () => {
  it('round-trips finished offsets beyond the base', () => {
    const set = [105n, 107n, 130n, 1000n];
    const meta = encodeFinished(100n, set);
    expect([...decodeFinished(meta)].sort()).toEqual(set.sort());
  });
  it('ignores metadata it did not write', () => {
    expect(decodeFinished('')).toEqual(new Set());
    expect(decodeFinished('something else')).toEqual(new Set());
    expect(decodeFinished(null)).toEqual(new Set());
  });
});

describe('PartitionTracker', () => {
  it('commits only below the lowest unfinished offset and lists the rest in metadata', () => {
    const t = new PartitionTracker(0n);
    for (const o of [0n, 1n, 2n, 3n, 4n]) expect(t.accept(o)).toBe(true);
    t.finish(0n);
    t.finish(1n);
    t.finish(3n);
    const plan = t.plan();
    expect(plan?.offset).toBe(2n);
    expect(plan?.covered.sort()).toEqual([0n, 1n, 3n]);
    expect([...decodeFinished(plan?.metadata)]).toEqual([3n]);
    t.committedPlan(plan!);
    expect(t.plan()).toBeNull();
    t.finish(2n);
    t.finish(4n);
    const next = t.plan();
    expect(next?.offset).toBe(5n);
    expect(next?.metadata).toBe('');
    expect(next?.covered.sort()).toEqual([2n, 4n]);
  });

  it('after a restart, skips records finished in an earlier life and still moves the offset', () => {
    // Earlier life committed offset 2 with 3 finished.
    const t = new PartitionTracker(2n, encodeFinished(2n, [3n]));
    expect(t.accept(1n)).toBe(false); // below committed
    expect(t.accept(2n)).toBe(true);
    expect(t.accept(3n)).toBe(false); // finished before: not processed again
    expect(t.accept(4n)).toBe(true);
    expect(t.accept(4n)).toBe(false); // refetched while in flight
    t.finish(2n);
    const plan = t.plan();
    expect(plan?.offset).toBe(4n);
    expect(plan?.covered.sort()).toEqual([2n, 3n]);
  });

  it('keeps finished-before offsets in the metadata until they are seen again', () => {
    const t = new PartitionTracker(10n, encodeFinished(10n, [12n, 15n]));
    expect(t.accept(10n)).toBe(true);
    t.finish(10n);
    const plan = t.plan()!;
    expect(plan.offset).toBe(11n);
    expect([...decodeFinished(plan.metadata)].sort()).toEqual([12n, 15n]);
  });

  it('leaves finished work that does not fit the metadata budget for a later commit', () => {
    const t = new PartitionTracker(0n);
    for (let o = 0n; o < 20_000n; o++) t.accept(o);
    t.finish(5n);
    t.finish(19_999n);
    const plan = t.plan(100)!;
    expect(plan.offset).toBe(0n);
    expect(plan.covered).toEqual([5n]);
    expect(plan.metadata.length).toBeLessThanOrEqual(100);
    t.committedPlan(plan);
    expect(t.uncommitted).toBe(1);
  });
});
