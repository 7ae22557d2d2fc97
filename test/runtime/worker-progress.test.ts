import { describe, expect, it } from 'vitest';
import { describeWorkerProgress, type WorkerProgress } from '../../src/runtime/worker-progress.js';

const base: WorkerProgress = {
  state: 'running',
  consumed: 12_345,
  produced: 9_000,
  rejected: 3_300,
  dead_letters: 0,
  records_in_flight: 45,
  llm_calls_in_flight: 32,
  partitions: 1,
  lag: 1_200,
  paused: null,
};

describe('describeWorkerProgress', () => {
  it('says the counts in words, with thousands separators', () => {
    expect(describeWorkerProgress('filter', 'p.docs.filtered', base)).toBe(
      'filter: consumed 12,345, produced 9,000 to p.docs.filtered, rejected 3,300, dead letters 0; in flight 45 records, 32 LLM calls; lag 1,200 on 1 partition',
    );
  });

  it('names a state other than running, an unknown lag and a paused intake', () => {
    const line = describeWorkerProgress('check', 'p.qa.verified', { ...base, state: 'draining', lag: null, partitions: 6, paused: 'outage' });
    expect(line.startsWith('check (draining): ')).toBe(true);
    expect(line.endsWith('lag unknown on 6 partitions; intake paused (outage)')).toBe(true);
  });
});
