/**
 * The lines of a batch: the custom_id a request gets (a hash of the endpoint and the exact body,
 * so the same work has the same id in every run) and how one line of an output or error file is
 * read into an answer or a reason to retry online.
 */
import { createHash } from 'node:crypto';
import { WebscaleError } from '../../core/errors.js';
import type { LlmCompletion } from '../types.js';
import { parseChatCompletion } from '../wire.js';

/** What a batch said about one request. */
export type LineOutcome = { kind: 'answer'; completion: LlmCompletion } | { kind: 'retry'; reason: string; detail: string };

/** A custom_id: stable for the same endpoint and request body, at most 64 characters as OpenAI requires. */
export function customIdFor(url: string, body: string): string {
  return 'wsrl-' + createHash('sha256').update(url).update('\n').update(body).digest('hex').slice(0, 48);
}

/**
 * Read one line of an output or error file. Output lines carry `response.status_code` 200 and a
 * chat completion body; error lines carry a non-200 status with the error body, or `error.code`
 * (`batch_expired`, `batch_cancelled`, `request_timeout`) and no response.
 */
export function readResultLine(line: string, fallbackModel: string, context: Record<string, unknown>): { customId: string; outcome: LineOutcome } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const customId = v['custom_id'];
  if (typeof customId !== 'string') return undefined;
  const error = v['error'] as Record<string, unknown> | null | undefined;
  const response = v['response'] as Record<string, unknown> | null | undefined;
  if (typeof error === 'object' && error !== null) {
    const code = typeof error['code'] === 'string' ? error['code'] : 'error';
    const reason = code === 'batch_expired' ? 'expired' : code === 'batch_cancelled' ? 'cancelled' : 'failed';
    return { customId, outcome: { kind: 'retry', reason, detail: `${code}: ${typeof error['message'] === 'string' ? error['message'] : ''}` } };
  }
  if (typeof response !== 'object' || response === null) {
    return { customId, outcome: { kind: 'retry', reason: 'failed', detail: 'line without a response' } };
  }
  const status = response['status_code'];
  if (status !== 200) {
    const body = response['body'] as Record<string, unknown> | undefined;
    const message = (body?.['error'] as Record<string, unknown> | undefined)?.['message'];
    return { customId, outcome: { kind: 'retry', reason: 'failed', detail: `status ${String(status)}${typeof message === 'string' ? `: ${message.slice(0, 200)}` : ''}` } };
  }
  try {
    return { customId, outcome: { kind: 'answer', completion: parseChatCompletion(response['body'], fallbackModel, context) } };
  } catch (err) {
    return { customId, outcome: { kind: 'retry', reason: 'failed', detail: WebscaleError.from(err).message } };
  }
}
