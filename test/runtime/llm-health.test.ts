import { describe, expect, it } from 'vitest';
import { LlmHealth } from '../../src/runtime/record-runner.js';

describe('LlmHealth', () => {
  it('counts distinct failing records since the last success, not repeated failures of one', () => {
    const changes: boolean[] = [];
    const h = new LlmHealth((o) => changes.push(o));
    for (let i = 0; i < 10; i++) h.failure('LLM_SERVER', '0:100');
    expect(h.consecutiveFailures).toBe(1);
    h.failure('LLM_TIMEOUT', '0:101');
    h.failure('LLM_UNAVAILABLE', '1:7');
    expect(h.consecutiveFailures).toBe(3);
    h.failure('LLM_CLIENT', '1:8'); // record-specific: not a sign of an outage
    expect(h.consecutiveFailures).toBe(3);
    expect(h.enterOutage()).toBe(true);
    expect(h.enterOutage()).toBe(false);
    h.success();
    expect(h.outage).toBe(false);
    expect(h.consecutiveFailures).toBe(0);
    expect(changes).toEqual([true, false]);
  });
});
