import { describe, expect, it } from 'vitest';
import { decideFailure, decideSchemaWait, RECORD_BACKOFF, type RecordFailure, type RecordFailurePolicy } from '../../src/runtime/record-policy.js';

const policy: RecordFailurePolicy = { maxRecordAttempts: 3, maxRecordAgeMs: 60_000, outageThreshold: 3, backoff: RECORD_BACKOFF };
const base: RecordFailure = { code: 'LLM_SERVER', attempts: 1, ageMs: 1000, othersSucceeded: false, consecutiveFailures: 1, shuttingDown: false };
const maxRandom = (): number => 0.999999;

describe('decideFailure', () => {
  it('leaves a record for the next owner on shutdown or abort', () => {
    expect(decideFailure({ ...base, shuttingDown: true }, policy)).toEqual({ action: 'abandon' });
    expect(decideFailure({ ...base, code: 'LLM_ABORTED' }, policy)).toEqual({ action: 'abandon' });
  });

  it('dead-letters record-specific failures at once', () => {
    for (const code of ['LLM_CLIENT', 'LLM_INVALID_OUTPUT', 'CODEC', 'INTERNAL', 'INPUT_INVALID'] as const) {
      expect(decideFailure({ ...base, code }, policy)).toEqual({ action: 'dead-letter', why: 'record-specific' });
    }
  });

  it('retries transient failures with the LLM layer backoff, growing and capped', () => {
    const d1 = decideFailure({ ...base, attempts: 1 }, policy, maxRandom);
    const d3 = decideFailure({ ...base, attempts: 3 }, policy, maxRandom);
    const d20 = decideFailure({ ...base, attempts: 20 }, policy, maxRandom);
    expect(d1).toMatchObject({ action: 'retry', outage: false });
    if (d1.action !== 'retry' || d3.action !== 'retry' || d20.action !== 'retry') throw new Error('expected retries');
    expect(d1.delayMs).toBeLessThanOrEqual(RECORD_BACKOFF.backoffInitial);
    expect(d3.delayMs).toBeGreaterThan(d1.delayMs);
    expect(d20.delayMs).toBeLessThanOrEqual(RECORD_BACKOFF.backoffMax);
  });

  it('never dead-letters in an outage, however many attempts or however old', () => {
    const d = decideFailure({ ...base, attempts: 50, ageMs: 10 * 60 * 60_000, consecutiveFailures: 50 }, policy);
    expect(d).toMatchObject({ action: 'retry', outage: true });
  });

  it('treats endpoint faults (auth, quota, unreachable, 404/405/501) as an outage, not as the record', () => {
    for (const code of ['LLM_AUTH', 'LLM_QUOTA', 'LLM_UNREACHABLE', 'LLM_UNAVAILABLE'] as const) {
      expect(decideFailure({ ...base, code, consecutiveFailures: 3 }, policy)).toMatchObject({ action: 'retry', outage: true });
    }
  });

  it('dead-letters a record that keeps failing while others succeed, by attempts or by age', () => {
    expect(decideFailure({ ...base, othersSucceeded: true, attempts: 3 }, policy)).toEqual({ action: 'dead-letter', why: 'attempts' });
    expect(decideFailure({ ...base, othersSucceeded: true, attempts: 1, ageMs: 60_000 }, policy)).toEqual({ action: 'dead-letter', why: 'age' });
    expect(decideFailure({ ...base, othersSucceeded: true, attempts: 2, ageMs: 59_000 }, policy)).toMatchObject({ action: 'retry' });
  });

  it('never waits past the age limit while others succeed', () => {
    const d = decideFailure({ ...base, othersSucceeded: true, attempts: 2, ageMs: 59_500 }, { ...policy, maxRecordAttempts: 100 }, maxRandom);
    expect(d).toMatchObject({ action: 'retry' });
    if (d.action === 'retry') expect(d.delayMs).toBeLessThanOrEqual(500);
  });
});

describe('decideSchemaWait (schema infrastructure on a record path)', () => {
  const wait = { unknownSchemaWaitMs: 10_000, backoff: { backoffInitial: 250, backoffMax: 10_000 } };
  const f = { retryable: true, attempts: 1, ageMs: 0, shuttingDown: false };

  it('waits out a registry that cannot serve however long it takes, with growing capped backoff', () => {
    expect(decideSchemaWait({ ...f, code: 'SCHEMA_REGISTRY', ageMs: 3_600_000, attempts: 50 }, wait, () => 1)).toEqual({ action: 'retry', delayMs: 10_000 });
    expect(decideSchemaWait({ ...f, code: 'SCHEMA_REGISTRY', attempts: 2 }, wait, () => 1)).toEqual({ action: 'retry', delayMs: 500 });
    // The schemas topic failing to answer is the same kind of wait; a non-retryable Kafka error is not.
    expect(decideSchemaWait({ ...f, code: 'KAFKA' }, wait, () => 1).action).toBe('retry');
    expect(decideSchemaWait({ ...f, code: 'KAFKA', retryable: false }, wait).action).toBe('not-waitable');
  });

  it('waits for an unknown writer schema until unknownSchemaWait, never sleeping past it, then dead-letters', () => {
    expect(decideSchemaWait({ ...f, code: 'SCHEMA_UNKNOWN', attempts: 9, ageMs: 9_900 }, wait, () => 1)).toEqual({ action: 'retry', delayMs: 100 });
    expect(decideSchemaWait({ ...f, code: 'SCHEMA_UNKNOWN', ageMs: 10_000 }, wait)).toEqual({ action: 'dead-letter' });
  });

  it('leaves bad values to the DLQ and abandons on shutdown', () => {
    expect(decideSchemaWait({ ...f, code: 'CODEC', retryable: false }, wait)).toEqual({ action: 'not-waitable' });
    expect(decideSchemaWait({ ...f, code: 'DECODE_LIMITS', retryable: false }, wait)).toEqual({ action: 'not-waitable' });
    expect(decideSchemaWait({ ...f, code: 'SCHEMA_REGISTRY', shuttingDown: true }, wait)).toEqual({ action: 'abandon' });
  });
});
