/**
 * Converts kafkajs errors to `WebscaleError`s with code `KAFKA` at the boundary, keeping kafkajs'
 * own judgement of whether a retry can help (`retriable`) and the broker's error type.
 */
import { WebscaleError } from '../core/errors.js';

/** Broker error types that mean a newer producer with our transactional id took over. */
const FENCED_TYPES = new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH']);

/**
 * The broker error type of a kafkajs error, looking through the wrappers kafkajs puts around it
 * (a retrier's `originalError`, a `cause`), so callers classify once, here.
 */
function brokerType(err: unknown): string | undefined {
  let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; e && depth < 6; depth++) {
    if (typeof e.type === 'string' && e.type !== 'UNKNOWN') return e.type;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return undefined;
}

/**
 * Converts a kafkajs error to a `WebscaleError`: `KAFKA_FENCED` when the broker says a newer
 * producer owns our transactional id (this instance lost the partition and must drop its work),
 * `KAFKA` otherwise.
 */
export function kafkaError(err: unknown, context: Record<string, unknown> = {}): WebscaleError {
  if (err instanceof WebscaleError) return err;
  const type = brokerType(err);
  if (type !== undefined && FENCED_TYPES.has(type)) {
    const message = err instanceof Error ? err.message : String(err);
    return new WebscaleError('KAFKA_FENCED', `fenced by a newer producer: ${message}`, { cause: err, context: { kafkaType: type, ...context } });
  }
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
