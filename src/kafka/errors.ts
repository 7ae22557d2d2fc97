/**
 * Converts kafkajs errors to `WebscaleError`s with code `KAFKA` at the boundary, keeping kafkajs'
 * own judgement of whether a retry can help (`retriable`) and the broker's error type.
 */
import { WebscaleError } from '../core/errors.js';

export function kafkaError(err: unknown, context: Record<string, unknown> = {}): WebscaleError {
  if (err instanceof WebscaleError) return err;
  const e = err as { name?: unknown; message?: unknown; retriable?: unknown; type?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return new WebscaleError('KAFKA', message, {
    cause: err,
    retryable: e?.retriable === true,
    context: {
      ...(typeof e?.name === 'string' ? { kafkaError: e.name } : {}),
      ...(typeof e?.type === 'string' ? { kafkaType: e.type } : {}),
      ...context,
    },
  });
}
