import { describe, expect, it } from 'vitest';
import { intakeLimits, pauseReason, type IntakeLoad } from '../../src/runtime/backpressure.js';

const limits = intakeLimits(30, 3000);
const idle: IntakeLoad = { inFlight: 0, uncommittedBytes: 0, draining: false, outage: false, llmReady: true };

describe('pauseReason', () => {
  it('takes records again in an outage once none is left in flight (that is how it sees the LLM back)', () => {
    expect(pauseReason({ ...idle, outage: true, inFlight: 0 }, limits, true)).toBeNull();
  });

  it('runs when idle', () => {
    expect(pauseReason(idle, limits, false)).toBeNull();
    expect(pauseReason(idle, limits, true)).toBeNull();
  });

  it('pauses outright while draining, in an outage, or before the LLM proved it can serve', () => {
    expect(pauseReason({ ...idle, draining: true }, limits, false)).toBe('draining');
    expect(pauseReason({ ...idle, outage: true, inFlight: 1 }, limits, false)).toBe('outage');
    expect(pauseReason({ ...idle, llmReady: false }, limits, false)).toBe('llm-not-ready');
  });

  it('pauses for good once the budget is reached, whatever the load (draining still named first)', () => {
    expect(pauseReason({ ...idle, budgetExhausted: true }, limits, false)).toBe('budget');
    expect(pauseReason({ ...idle, budgetExhausted: true, inFlight: 5 }, limits, true)).toBe('budget');
    expect(pauseReason({ ...idle, budgetExhausted: true, draining: true }, limits, false)).toBe('draining');
  });

  it('pauses at the in-flight high-water mark and resumes only at the low-water mark', () => {
    expect(limits.lowWater).toBe(20);
    expect(pauseReason({ ...idle, inFlight: 30 }, limits, false)).toBe('in-flight');
    expect(pauseReason({ ...idle, inFlight: 25 }, limits, false)).toBeNull();
    expect(pauseReason({ ...idle, inFlight: 25 }, limits, true)).toBe('in-flight');
    expect(pauseReason({ ...idle, inFlight: 20 }, limits, true)).toBeNull();
  });

  it('pauses on bytes of finished outputs held for their commit, with the same hysteresis', () => {
    expect(pauseReason({ ...idle, uncommittedBytes: 3000 }, limits, false)).toBe('uncommitted-bytes');
    expect(pauseReason({ ...idle, uncommittedBytes: 2500 }, limits, false)).toBeNull();
    expect(pauseReason({ ...idle, uncommittedBytes: 2500 }, limits, true)).toBe('uncommitted-bytes');
    expect(pauseReason({ ...idle, uncommittedBytes: 2000 }, limits, true)).toBeNull();
  });
});
