/**
 * When each input partition commits. Every partition commits its finished work in a transaction
 * of its own once per `commitInterval`, each at its own phase (a random start within the first
 * interval), so one partition's slow commit never holds the others back and the broker sees the
 * transactions spread out rather than in bursts. A partition whose commit is still running is
 * not committed again until it ends. What an outcome means for the worker (counts, metrics, a
 * fenced partition) is the worker's: it comes back through `CommitHooks`.
 */
import type { CommitOutcome } from './partition-owner.js';

/** What the schedule needs of a partition owner. */
export interface Committable {
  readonly active: boolean;
  commit(): Promise<CommitOutcome>;
}

export interface CommitHooks<O> {
  ok(owner: O, outcome: Extract<CommitOutcome, { outcome: 'ok' }>): void;
  fenced(owner: O, outcome: Extract<CommitOutcome, { outcome: 'fenced' }>): void;
  /** The commit threw (its outcome is unknown to the owner, which resolves it on the next one). */
  failed(owner: O, err: unknown): void;
  /** After every commit, whatever its outcome. */
  settled(owner: O): void;
}

export class CommitSchedule<O extends Committable> {
  private readonly dueAt = new WeakMap<O, number>();
  private readonly running = new Set<O>();

  constructor(
    private readonly intervalMs: number,
    private readonly hooks: CommitHooks<O>,
    private readonly random: () => number = Math.random,
  ) {}

  /** Starts the commits that are due at `now` (called on a timer a few times per interval). */
  tick(owners: Iterable<O>, now = Date.now()): void {
    for (const owner of owners) {
      if (!owner.active || this.running.has(owner)) continue;
      const due = this.dueAt.get(owner);
      if (due === undefined) {
        this.dueAt.set(owner, now + this.random() * this.intervalMs);
        continue;
      }
      if (now < due) continue;
      this.dueAt.set(owner, now + this.intervalMs);
      void this.now(owner);
    }
  }

  /** Commits every active owner now, each its own transaction, and waits for them all. */
  async all(owners: Iterable<O>): Promise<void> {
    await Promise.all([...owners].filter((o) => o.active).map((o) => this.now(o)));
  }

  /** Whether `owner` has a commit running. */
  committing(owner: O): boolean {
    return this.running.has(owner);
  }

  /** Commits `owner` now (a partition about to be released flushes its finished work). */
  async now(owner: O): Promise<void> {
    this.running.add(owner);
    try {
      const r = await owner.commit();
      if (r.outcome === 'ok') this.hooks.ok(owner, r);
      else if (r.outcome === 'fenced') this.hooks.fenced(owner, r);
    } catch (err) {
      this.hooks.failed(owner, err);
    } finally {
      this.running.delete(owner);
      this.hooks.settled(owner);
    }
  }
}
