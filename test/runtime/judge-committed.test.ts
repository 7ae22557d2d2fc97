/**
 * The decision a partition owner takes after running InitProducerId again (its producer was
 * replaced after a commit the broker never answered): what the committed offset it reads then
 * says about the outputs it still holds.
 */
import { describe, expect, it } from 'vitest';
import { judgeCommitted, type CommitMark } from '../../src/runtime/partition-owner.js';

const mark = (offset: bigint | null, metadata = ''): CommitMark => ({ offset, metadata });

describe('judgeCommitted', () => {
  const last = mark(10n, 'f:12');
  const plan = mark(14n, '');

  it('the plan in doubt is what is committed: its transaction landed', () => {
    expect(judgeCommitted(mark(14n, ''), last, plan)).toBe('landed');
  });

  it("the owner's own last commit is still there: the plan in doubt was aborted, held outputs are still ours", () => {
    expect(judgeCommitted(mark(10n, 'f:12'), last, plan)).toBe('ours');
    expect(judgeCommitted(mark(10n, 'f:12'), last, null)).toBe('ours');
  });

  it('nothing committed ever, and still nothing: ours', () => {
    expect(judgeCommitted(mark(null), mark(null), null)).toBe('ours');
    expect(judgeCommitted(mark(null), mark(null), mark(3n))).toBe('ours');
  });

  it('another owner committed meanwhile: superseded, whatever the offset', () => {
    // Further than the plan, between the two, behind (the other owner started from our last commit
    // and finished fewer records), or the same offset with other finished offsets in its metadata.
    for (const found of [mark(20n), mark(12n), mark(11n, 'f:13'), mark(10n, ''), mark(14n, 'f:16')]) {
      expect(judgeCommitted(found, last, plan), `${String(found.offset)} ${found.metadata}`).toBe('superseded');
    }
    expect(judgeCommitted(mark(2n), mark(null), null)).toBe('superseded');
    expect(judgeCommitted(mark(2n), mark(null), mark(3n))).toBe('superseded');
  });

  it('no plan in doubt: only our last commit is ours', () => {
    expect(judgeCommitted(mark(14n, ''), last, null)).toBe('superseded');
  });
});
