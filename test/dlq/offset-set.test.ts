import { describe, expect, it } from 'vitest';
import { OffsetSet } from '../../src/dlq/offset-set.js';

describe('OffsetSet', () => {
  it('holds what was added, per partition, and merges neighbours into one range', () => {
    const s = new OffsetSet();
    for (const o of [5n, 7n, 6n, 1n, 3n, 2n]) expect(s.add(0, o)).toBe(true);
    expect(s.add(0, 6n)).toBe(false);
    expect(s.size).toBe(6);
    // 1-3 and 5-7
    expect(s.ranges).toBe(2);
    expect(s.add(0, 4n)).toBe(true);
    expect(s.ranges).toBe(1);
    for (let o = 1n; o <= 7n; o++) expect(s.has(0, o)).toBe(true);
    expect(s.has(0, 0n)).toBe(false);
    expect(s.has(0, 8n)).toBe(false);
    expect(s.has(1, 3n)).toBe(false);
  });

  it('agrees with a plain Set on random inserts, with memory following the runs', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const s = new OffsetSet();
    const plain = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const p = rand(3);
      const o = BigInt(rand(2000));
      expect(s.add(p, o)).toBe(!plain.has(`${p}:${o}`));
      plain.add(`${p}:${o}`);
    }
    expect(s.size).toBe(plain.size);
    for (let p = 0; p < 3; p++) for (let o = 0n; o < 2100n; o++) expect(s.has(p, o)).toBe(plain.has(`${p}:${o}`));
    // A long run in order is one range, however many offsets.
    const run = new OffsetSet();
    for (let o = 0n; o < 100_000n; o++) run.add(2, o);
    expect(run.ranges).toBe(1);
    expect(run.size).toBe(100_000);
  });
});
