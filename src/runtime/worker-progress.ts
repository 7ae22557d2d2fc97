/**
 * A stage worker's periodic progress line (`progress-log.ts` writes it): the counts, as log
 * fields, and the same counts in words for a person reading `kubectl logs`.
 */
import type { PauseReason } from './backpressure.js';
import { count } from './progress-log.js';

export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** The counts of a worker's progress line (snake_case: they are log fields). */
export interface WorkerProgress {
  state: WorkerState;
  consumed: number;
  /** Committed to the output topic. */
  produced: number;
  rejected: number;
  dead_letters: number;
  records_in_flight: number;
  llm_calls_in_flight: number;
  partitions: number;
  /** Records of the owned partitions not committed yet; null when the broker did not answer. */
  lag: number | null;
  paused: PauseReason | null;
}

/** The line's message: "filter: consumed 1,200, produced 950 to docs.filtered, ...". */
export function describeWorkerProgress(stage: string, outputTopic: string, s: WorkerProgress): string {
  const lag = s.lag === null ? 'lag unknown' : `lag ${count(s.lag)}`;
  return (
    `${stage}${s.state === 'running' ? '' : ` (${s.state})`}: consumed ${count(s.consumed)}, ` +
    `produced ${count(s.produced)} to ${outputTopic}, rejected ${count(s.rejected)}, dead letters ${count(s.dead_letters)}; ` +
    `in flight ${count(s.records_in_flight)} records, ${count(s.llm_calls_in_flight)} LLM calls; ` +
    `${lag} on ${s.partitions} partition${s.partitions === 1 ? '' : 's'}${s.paused ? `; intake paused (${s.paused})` : ''}`
  );
}
