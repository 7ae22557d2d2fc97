/**
 * A token bucket for one dimension of a rate limit (requests, tokens, input or output tokens per
 * minute). It refills continuously at `perMinute / 60000` units per millisecond up to `capacity`,
 * and may go into debt: a call larger than what is left is admitted once the bucket holds at
 * least `min(cost, capacity)`, and the next calls wait until the debt is paid back. That keeps
 * the long-run rate exact without refusing a call bigger than the burst, and lets a call's token
 * estimate be corrected afterwards (`adjust`) from the `usage` the server reports.
 *
 * While a caller waits for a call larger than the capacity (`waitingFor`), the bucket fills up to
 * that call's cost instead of stopping at the capacity. The call may go as soon as the capacity
 * is there, so this changes nothing when it does; but a wake-up that comes late (a timer fired
 * late on a busy machine, an event loop blocked for a moment) no longer throws away the refill of
 * the delay: the call takes it, and its debt is that much smaller. After the call the level is at
 * most what it would have been had it gone on time, so the burst stays within the capacity. Refill
 * that does get thrown away (a full bucket, nobody waiting) is counted in `unused`.
 */

export class TokenBucket {
  private level: number;
  private at: number;
  private perMs: number;
  private capacityUnits: number;
  private heldUntil = 0;
  /** Cost of the call waiting for room (0: none); the bucket fills up to it when above capacity. */
  private waiting = 0;
  private unusedUnits = 0;

  /**
   * @param perMinute refill rate (units per minute)
   * @param burstMs the capacity, as this many milliseconds of refill
   */
  constructor(
    perMinute: number,
    private readonly burstMs: number,
    now: number,
  ) {
    this.perMs = perMinute / 60_000;
    this.capacityUnits = Math.max(1, this.perMs * burstMs);
    // Start full of one burst only: a fresh worker does not send a minute's worth at once.
    this.level = this.capacityUnits;
    this.at = now;
  }

  get capacity(): number {
    return this.capacityUnits;
  }

  get ratePerMinute(): number {
    return this.perMs * 60_000;
  }

  /** Refill thrown away so far because the bucket was full and no call waited for it. */
  unused(now: number): number {
    this.refill(now);
    return this.unusedUnits;
  }

  /**
   * A call of `cost` waits for room from `now` on (0: nobody waits any more); until then the level
   * may reach that cost, above the capacity.
   */
  waitingFor(cost: number, now: number): void {
    this.refill(now);
    this.waiting = Math.max(0, cost);
    this.clip();
  }

  /** Change the refill rate (a new share, a learnt limit, an AIMD step); the level carries over. */
  setRate(perMinute: number, now: number): void {
    this.refill(now);
    this.perMs = perMinute / 60_000;
    this.capacityUnits = Math.max(1, this.perMs * this.burstMs);
    this.clip();
  }

  /** Nothing is admitted before `until` (a 429's Retry-After, a header saying none is left). */
  holdUntil(until: number): void {
    if (until > this.heldUntil) this.heldUntil = until;
  }

  /** Units available now (negative while in debt). */
  available(now: number): number {
    this.refill(now);
    return this.level;
  }

  /** Milliseconds until `cost` may be taken; 0 = now. */
  waitFor(cost: number, now: number): number {
    this.refill(now);
    const hold = Math.max(0, this.heldUntil - now);
    const need = Math.min(cost, this.capacityUnits);
    if (this.level >= need) return hold;
    if (this.perMs <= 0) return Math.max(hold, 60_000);
    return Math.max(hold, Math.ceil((need - this.level) / this.perMs));
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.level -= cost;
  }

  /** Correct an earlier `take`: positive = the call cost more than taken, negative = less. */
  adjust(delta: number, now: number): void {
    this.refill(now);
    this.level -= delta;
    this.clip();
  }

  /** The most the level may reach now. */
  private top(): number {
    return Math.max(this.capacityUnits, this.waiting);
  }

  private clip(): void {
    const top = this.top();
    if (this.level > top) {
      this.unusedUnits += this.level - top;
      this.level = top;
    }
  }

  private refill(now: number): void {
    const elapsed = now - this.at;
    if (elapsed > 0) {
      this.level += elapsed * this.perMs;
      this.at = now;
      this.clip();
    }
  }
}
