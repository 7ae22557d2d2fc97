/**
 * The one error type of webscale-rl. Every failure that crosses a module boundary is a
 * `WebscaleError` with a stable `code` from `ERROR_CODES`, a `retryable` flag and context fields
 * that end up in logs. Foreign errors (undici, kafkajs, JSON.parse...) are converted once, at the
 * boundary where they are caught; everything inside classifies by `code`, never by message text.
 */

export const ERROR_CODES = [
  'CONFIG_INVALID',
  'USAGE',
  'LLM_UNREACHABLE',
  'LLM_TIMEOUT',
  'LLM_NETWORK',
  'LLM_RATE_LIMITED',
  'LLM_SERVER',
  'LLM_CLIENT',
  /** The prompt plus the completion do not fit the model's context (the server said so, or the local model would not hold it). */
  'LLM_CONTEXT_EXCEEDED',
  'LLM_AUTH',
  /** The endpoint cannot serve this request at all: no such route (404/405/501) or unknown model. */
  'LLM_UNAVAILABLE',
  'LLM_QUOTA',
  'LLM_BAD_RESPONSE',
  'LLM_INVALID_OUTPUT',
  'LLM_ABORTED',
  'INPUT_INVALID',
  'CODEC',
  /** A record whose bytes declare more (items, length, nesting) than they can hold: refused before decoding. */
  'DECODE_LIMITS',
  'KAFKA',
  /**
   * The schema registry cannot serve right now (unreachable, TLS refused, 5xx, 429, 401/403): not
   * the record's fault, so a worker waits for it and never dead-letters for it.
   */
  'SCHEMA_REGISTRY',
  /**
   * A record's writer schema is not known yet (not bundled, not in the schemas topic, an id the
   * registry does not have): waited for up to kafka.unknownSchemaWait (its writer may be racing),
   * then a dead letter.
   */
  'SCHEMA_UNKNOWN',
  /** No configured broker answered within kafka.connectTimeout at start-up. */
  'KAFKA_UNREACHABLE',
  'KAFKA_FENCED',
  /** The broker refused our SASL login (wrong user or password, a bad token), or the mechanism or listener does not match. */
  'KAFKA_AUTH',
  /** TLS failed: the broker's certificate is not trusted or not for this host, or one side does not speak TLS. */
  'KAFKA_TLS',
  /** The broker authenticated us but an ACL denies the operation (topic, group, transactional id, cluster). */
  'KAFKA_DENIED',
  /** The user interrupted (Ctrl-C) before the command got going. */
  'INTERRUPTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface WebscaleErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Extra fields for logs (status code, stage, url...). Never secrets. */
  context?: Record<string, unknown>;
  /** For rate limits and 503s: how long the server asked us to wait. */
  retryAfterMs?: number;
}

export class WebscaleError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: WebscaleErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebscaleError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Wrap anything thrown into a WebscaleError, keeping an existing one as is. */
  static from(err: unknown, code: ErrorCode = 'INTERNAL', context: Record<string, unknown> = {}): WebscaleError {
    if (err instanceof WebscaleError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new WebscaleError(code, message, { cause: err, context });
  }
}

export function isWebscaleError(err: unknown, code?: ErrorCode): err is WebscaleError {
  return err instanceof WebscaleError && (code === undefined || err.code === code);
}
