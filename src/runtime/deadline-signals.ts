/**
 * Abort signals for record deadlines, shared by the records whose deadlines fall in the same
 * short slot. A signal of its own per record (`AbortSignal.any` over the worker's shutdown signal
 * and an `AbortSignal.timeout`) cost a timer, two signals and a registration on the shutdown
 * signal per record and per attempt, all kept until `maxRecordAge` passed: about 3% of a dedup
 * worker's profile. A slot's signal fires at the slot's end, at most one granule after the
 * deadline it stands for (a thousandth of `maxRecordAge`, at most 1 s), or when the parent fires.
 */
import { setMaxListeners } from 'node:events';

export class DeadlineSignals {
  /** Slot end (epoch ms) -> its signal; ends increase with insertion order, nearly always. */
  private readonly slots = new Map<number, AbortSignal>();

  constructor(
    private readonly parent: AbortSignal,
    /** Deadlines are rounded up to a multiple of this many ms. */
    readonly granuleMs: number,
  ) {}

  /** A signal that fires when `parent` does, or at `deadline` (epoch ms) rounded up to the granule. */
  until(deadline: number, now = Date.now()): AbortSignal {
    if (deadline <= now || this.parent.aborted) return this.parent;
    this.prune(now);
    const end = Math.ceil(deadline / this.granuleMs) * this.granuleMs;
    let signal = this.slots.get(end);
    if (!signal) {
      signal = AbortSignal.any([this.parent, AbortSignal.timeout(end - now)]);
      // Every record of the slot (and each of its LLM calls) listens on it.
      setMaxListeners(0, signal);
      this.slots.set(end, signal);
    }
    return signal;
  }

  /** Slots in use, for tests. */
  get size(): number {
    return this.slots.size;
  }

  private prune(now: number): void {
    for (const [end] of this.slots) {
      if (end > now) break;
      this.slots.delete(end);
    }
  }
}
