/**
 * When a stage worker takes no more input: a pure decision with hysteresis, unit-tested apart
 * from Kafka.
 *
 * Two things grow while intake runs: records in flight (taken, not finished) and finished records
 * whose outputs wait in memory for their commit. The second is the dangerous one: a single record
 * stuck in retries pins its partition's committed offset, and every record finished behind it
 * (beyond what the offset-commit metadata can list) waits with its full outputs. Intake therefore
 * pauses above `highWater` records in flight OR above `maxUncommittedBytes` of held outputs, and
 * resumes only when both are back under their low-water marks (two thirds), so it does not flap.
 * Draining, an LLM outage and an LLM that has not proven it can serve pause it outright.
 */

export interface IntakeLimits {
  /** Records in flight at which intake pauses. */
  highWater: number;
  /** Records in flight at or below which a paused intake may resume. */
  lowWater: number;
  /** Bytes of finished, uncommitted outputs at which intake pauses. */
  maxUncommittedBytes: number;
}

export interface IntakeLoad {
  inFlight: number;
  uncommittedBytes: number;
  draining: boolean;
  outage: boolean;
  /** False until the LLM answered a real request (and while it cannot serve). */
  llmReady: boolean;
  /** The spending budget is reached: no new records, those in flight finish. */
  budgetExhausted?: boolean;
}

export type PauseReason = 'draining' | 'budget' | 'outage' | 'llm-not-ready' | 'in-flight' | 'uncommitted-bytes';

export function intakeLimits(highWater: number, maxUncommittedBytes: number): IntakeLimits {
  return { highWater, lowWater: Math.max(1, Math.floor((highWater * 2) / 3)), maxUncommittedBytes };
}

/**
 * Why intake should be paused now, or null to run. `paused` is the current state: a paused
 * intake stays paused until in-flight records and held bytes are under their low-water marks.
 */
export function pauseReason(load: IntakeLoad, limits: IntakeLimits, paused: boolean): PauseReason | null {
  if (load.draining) return 'draining';
  if (load.budgetExhausted === true) return 'budget';
  // In an outage the records in flight keep retrying and one success ends it; with none left in
  // flight, taking records again is how the worker finds out whether the LLM is back.
  if (load.outage && load.inFlight > 0) return 'outage';
  if (!load.llmReady) return 'llm-not-ready';
  if (load.inFlight >= limits.highWater) return 'in-flight';
  if (load.uncommittedBytes >= limits.maxUncommittedBytes) return 'uncommitted-bytes';
  if (paused) {
    if (load.inFlight > limits.lowWater) return 'in-flight';
    if (load.uncommittedBytes > (limits.maxUncommittedBytes * 2) / 3) return 'uncommitted-bytes';
  }
  return null;
}
