/**
 * What a stage worker does when processing one record fails: a pure decision, so every branch is
 * unit-tested without Kafka or an LLM.
 *
 * - Record-specific failures (the server refused this request, the record's content is invalid, a
 *   stage bug) go to the DLQ at once: retrying would fail the same way.
 * - Transient failures (timeouts, resets, 429, 5xx, an endpoint that cannot serve right now) are
 *   retried with the same full-jitter backoff the LLM layer uses (`backoffDelay`), and count
 *   towards an outage: after `outageThreshold` of them in a row with no success in between, the
 *   worker pauses intake instead of dead-lettering its backlog.
 * - A record that keeps failing while OTHER records succeed is the record's fault after all: it
 *   goes to the DLQ after `maxRecordAttempts` attempts or once it is `maxRecordAgeMs` old,
 *   whichever comes first. In an outage (nothing succeeds) neither applies: nothing is the
 *   record's fault, and it waits with everything else.
 */
import type { ErrorCode } from '../core/errors.js';
import { ENDPOINT_FAULT_CODES } from '../llm/probe.js';
import { backoffDelay, type RetryPolicy } from '../llm/retry.js';

/**
 * Failures that say nothing about the record: the endpoint is slow, overloaded, unreachable or
 * cannot serve anyone right now (a bad key, a model the server does not know, quota gone). These
 * never dead-letter while nothing else succeeds either.
 */
export const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'LLM_TIMEOUT',
  'LLM_NETWORK',
  'LLM_RATE_LIMITED',
  'LLM_SERVER',
  'LLM_BAD_RESPONSE',
  'KAFKA',
  // A wrong key, a model the server does not know, quota gone, nobody listening: never the record's fault.
  ...ENDPOINT_FAULT_CODES,
]);

export interface RecordFailurePolicy {
  /** Attempts after which a record that fails while others succeed is dead-lettered. */
  maxRecordAttempts: number;
  /** Age (ms since the record was taken) after which such a record is dead-lettered. */
  maxRecordAgeMs: number;
  /** Distinct records failing transiently, with no success between, that make an outage. */
  outageThreshold: number;
  /** The worker-level backoff between attempts of one record (the LLM layer's shape). */
  backoff: Pick<RetryPolicy, 'backoffInitial' | 'backoffMax'>;
}

/** Worker-level waits between attempts of one record: the LLM layer already retried inside. */
export const RECORD_BACKOFF = { backoffInitial: 1000, backoffMax: 60_000 } as const;

export interface RecordFailure {
  code: ErrorCode;
  /** Attempts made so far, this failed one included (1 after the first failure). */
  attempts: number;
  /** ms since the record was taken from the topic. */
  ageMs: number;
  /** Whether other LLM calls of this worker succeeded since this record first failed, with no outage now. */
  othersSucceeded: boolean;
  /** Distinct records with transient failures since the worker's last LLM success, this one included. */
  consecutiveFailures: number;
  /** Whether the worker is shutting down (its own abort): leave the record for the next owner. */
  shuttingDown: boolean;
}

export type RecordDecision =
  | { action: 'abandon' }
  | { action: 'dead-letter'; why: 'record-specific' | 'attempts' | 'age' }
  | { action: 'retry'; delayMs: number; outage: boolean };

export function decideFailure(f: RecordFailure, policy: RecordFailurePolicy, random: () => number = Math.random): RecordDecision {
  if (f.shuttingDown || f.code === 'LLM_ABORTED') return { action: 'abandon' };
  if (!TRANSIENT_CODES.has(f.code)) return { action: 'dead-letter', why: 'record-specific' };
  if (f.othersSucceeded) {
    if (f.attempts >= policy.maxRecordAttempts) return { action: 'dead-letter', why: 'attempts' };
    if (f.ageMs >= policy.maxRecordAgeMs) return { action: 'dead-letter', why: 'age' };
  }
  const delayMs = backoffDelay(Math.max(0, f.attempts - 1), { maxRetries: 0, ...policy.backoff }, random);
  // Never sleep past the record's age limit while others succeed: it is due for the DLQ then.
  const untilAge = policy.maxRecordAgeMs - f.ageMs;
  const capped = f.othersSucceeded && untilAge > 0 ? Math.min(delayMs, untilAge) : delayMs;
  return { action: 'retry', delayMs: capped, outage: f.consecutiveFailures >= policy.outageThreshold };
}

/**
 * Schema infrastructure on a record's path (decoding its input, encoding its outputs): the
 * registry, the `<prefix>schemas` topic, and writer schemas not found yet. None of these is the
 * record's fault, so none dead-letters the record like a bad value does:
 * - `SCHEMA_REGISTRY` (unreachable, TLS refused, 5xx, 401/403) and a retryable `KAFKA` failure of
 *   the schemas topic: waited for as long as it takes, with backoff;
 * - `SCHEMA_UNKNOWN` (a fingerprint or id not found): waited for until the record is
 *   `unknownSchemaWaitMs` old, since its writer may be a moment ahead of its schema's publication,
 *   then a dead letter naming the schema;
 * - anything else: not a wait (the caller dead-letters a bad value, or fails on a bug).
 */
export interface SchemaWaitPolicy {
  unknownSchemaWaitMs: number;
  backoff: Pick<RetryPolicy, 'backoffInitial' | 'backoffMax'>;
}

/** Waits between attempts while schema infrastructure is away: short at first, 10 s at most. */
export const SCHEMA_BACKOFF = { backoffInitial: 250, backoffMax: 10_000 } as const;

export type SchemaWaitDecision =
  | { action: 'abandon' }
  | { action: 'not-waitable' }
  | { action: 'dead-letter' }
  | { action: 'retry'; delayMs: number };

export function decideSchemaWait(
  f: { code: ErrorCode; retryable: boolean; attempts: number; ageMs: number; shuttingDown: boolean },
  policy: SchemaWaitPolicy,
  random: () => number = Math.random,
): SchemaWaitDecision {
  if (f.shuttingDown) return { action: 'abandon' };
  const waitable = f.code === 'SCHEMA_REGISTRY' || f.code === 'SCHEMA_UNKNOWN' || (f.code === 'KAFKA' && f.retryable);
  if (!waitable) return { action: 'not-waitable' };
  if (f.code === 'SCHEMA_UNKNOWN' && f.ageMs >= policy.unknownSchemaWaitMs) return { action: 'dead-letter' };
  let delayMs = backoffDelay(Math.max(0, f.attempts - 1), { maxRetries: 0, ...policy.backoff }, random);
  if (f.code === 'SCHEMA_UNKNOWN') delayMs = Math.max(1, Math.min(delayMs, policy.unknownSchemaWaitMs - f.ageMs));
  return { action: 'retry', delayMs };
}
