import { describe, expect, it } from 'vitest';
import { WebscaleError } from '../../src/core/errors.js';
import { CommitSchedule, type CommitHooks } from '../../src/runtime/commit-schedule.js';
import type { CommitOutcome } from '../../src/runtime/partition-owner.js';

/** A partition owner whose commits the test resolves by hand. */
class FakeOwner {
  active = true;
  started = 0;
  private pending: ((o: CommitOutcome | Error) => void)[] = [];
  constructor(readonly partition: number) {}
  commit(): Promise<CommitOutcome> {
    this.started++;
    return new Promise((resolve, reject) => this.pending.push((o) => (o instanceof Error ? reject(o) : resolve(o))));
  }
  finish(o: CommitOutcome | Error): void {
    this.pending.shift()?.(o);
  }
}

function recorder(): { hooks: CommitHooks<FakeOwner>; events: string[] } {
  const events: string[] = [];
  return {
    events,
    hooks: {
      ok: (o, r) => events.push(`ok ${o.partition} ${[...r.produced.values()].join(',')}`),
      fenced: (o, r) => events.push(`fenced ${o.partition} ${r.error.code}`),
      failed: (o, err) => events.push(`failed ${o.partition} ${(err as Error).message}`),
      settled: (o) => events.push(`settled ${o.partition}`),
    },
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CommitSchedule', () => {
  it('gives each partition its own phase within the first interval, then commits it once per interval', () => {
    const { hooks } = recorder();
    const phases = [0.25, 0.75];
    const schedule = new CommitSchedule<FakeOwner>(1000, hooks, () => phases.shift() ?? 0);
    const a = new FakeOwner(0);
    const b = new FakeOwner(1);
    schedule.tick([a, b], 0);
    expect([a.started, b.started]).toEqual([0, 0]);
    schedule.tick([a, b], 249);
    expect([a.started, b.started]).toEqual([0, 0]);
    schedule.tick([a, b], 250);
    expect([a.started, b.started]).toEqual([1, 0]);
    schedule.tick([a, b], 750);
    expect([a.started, b.started]).toEqual([1, 1]);
  });

  it('never starts a second commit of a partition while one runs, and resumes its rhythm after', async () => {
    const { hooks, events } = recorder();
    const schedule = new CommitSchedule<FakeOwner>(100, hooks, () => 0);
    const a = new FakeOwner(3);
    schedule.tick([a], 0);
    schedule.tick([a], 0);
    expect(a.started).toBe(1);
    expect(schedule.committing(a)).toBe(true);
    // Long past its next due time: still one commit at a time.
    schedule.tick([a], 500);
    expect(a.started).toBe(1);
    a.finish({ outcome: 'ok', seconds: 0.01, produced: new Map([['out', 4]]) });
    await flush();
    expect(events).toEqual(['ok 3 4', 'settled 3']);
    schedule.tick([a], 500);
    expect(a.started).toBe(2);
  });

  it('skips inactive partitions and reports each outcome through its hook, settled after every one', async () => {
    const { hooks, events } = recorder();
    const schedule = new CommitSchedule<FakeOwner>(100, hooks);
    const [a, b, c, gone] = [new FakeOwner(0), new FakeOwner(1), new FakeOwner(2), new FakeOwner(9)];
    gone.active = false;
    const all = schedule.all([a, b, c, gone]);
    expect(gone.started).toBe(0);
    a.finish({ outcome: 'nothing' });
    b.finish({ outcome: 'fenced', seconds: 0.02, error: new WebscaleError('KAFKA', 'fenced by a newer owner') });
    c.finish(new Error('broker went away'));
    await all;
    expect(events).toEqual(['settled 0', 'fenced 1 KAFKA', 'settled 1', 'failed 2 broker went away', 'settled 2']);
    expect([a, b, c].map((o) => schedule.committing(o))).toEqual([false, false, false]);
  });
});
