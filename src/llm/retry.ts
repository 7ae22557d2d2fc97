/**
 * Retry policy for LLM calls: which failures are worth another attempt, how long to wait, and the
 * loop that does it. Waits are capped exponential backoff with full jitter (a random delay between
 * 0 and min(max, initial * 2^attempt)), so a fleet of workers hit by the same 429 does not come
 * back in lockstep; a server's `Retry-After` / `retry-after-ms` is a floor we never go under.
 * Failures are classified once, here, into `WebscaleError` codes; everything above switches on the
 * code and the `retryable` flag.
 */
import { WebscaleError, type ErrorCode } from '../core/errors.js';
import { redactString } from '../core/redact.js';
import type { LlmStage } from '../core/records.js';
import { overflowContext, parseContextOverflow } from './context.js';

export interface RetryPolicy {
  /** Extra attempts after the first one. */
  maxRetries: number;
  /** Backoff ceiling for the first retry, in ms. */
  backoffInitial: number;
  /** Upper bound of any one backoff, in ms. */
  backoffMax: number;
}

/** Hooks for metrics and logs. Called synchronously; they must not throw. */
export interface LlmEvents {
  /** A failed attempt that will be retried after `delayMs`. */
  onRetry?(stage: LlmStage | undefined, code: ErrorCode, detail: RetryDetail): void;
  /** A call that failed for good (retries exhausted, or not retryable). */
  onFailure?(stage: LlmStage | undefined, code: ErrorCode, error: WebscaleError): void;
}

export interface RetryDetail {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  error: WebscaleError;
}

/** A server asking us to wait longer than this is treated as asking for this (a stuck header). */
const MAX_SERVER_WAIT_MS = 10 * 60_000;

/** The policy and events one request runs under: a probe request gets no retries and no events. */
export function requestRetry(
  policy: RetryPolicy,
  events: LlmEvents | undefined,
  probe: boolean | undefined,
): { policy: RetryPolicy; events: LlmEvents | undefined } {
  return probe === true ? { policy: { ...policy, maxRetries: 0 }, events: undefined } : { policy, events };
}

/** Full-jitter backoff for retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.backoffMax, policy.backoffInitial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

type HeaderBag = Record<string, string | string[] | undefined> | Headers;

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * How long the server asked us to wait: `retry-after-ms` (OpenAI's, milliseconds) wins over
 * `Retry-After` (seconds, or an HTTP-date). Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: HeaderBag, now: number = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0) {
    return Math.min(Math.ceil(Number(ms)), MAX_SERVER_WAIT_MS);
  }
  const value = header(headers, 'retry-after');
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.min(Math.ceil(Number(value) * 1000), MAX_SERVER_WAIT_MS);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - now), MAX_SERVER_WAIT_MS);
}

/** The server's own words from an error body: OpenAI `{error:{message,code,type}}`, TGI `{error, error_type}`. */
export interface ServerErrorInfo {
  message: string | undefined;
  type: string | undefined;
  code: string | undefined;
  /** HF endpoints say how long a cold model needs to load (seconds). */
  estimatedTimeMs: number | undefined;
}

export function readErrorBody(body: string): ServerErrorInfo {
  const info: ServerErrorInfo = { message: undefined, type: undefined, code: undefined, estimatedTimeMs: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const text = body.trim();
    if (text !== '') info.message = text.slice(0, 300);
    return info;
  }
  if (typeof parsed !== 'object' || parsed === null) return info;
  const obj = parsed as Record<string, unknown>;
  const error = obj['error'];
  if (typeof error === 'string') {
    info.message = error;
  } else if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    if (typeof e['message'] === 'string') info.message = e['message'];
    if (typeof e['type'] === 'string') info.type = e['type'];
    if (typeof e['code'] === 'string') info.code = e['code'];
  }
  if (typeof obj['error_type'] === 'string') info.type = obj['error_type'];
  if (info.message === undefined && typeof obj['message'] === 'string') info.message = obj['message'];
  if (info.message === undefined && typeof obj['detail'] === 'string') info.message = obj['detail'];
  if (typeof obj['estimated_time'] === 'number' && obj['estimated_time'] >= 0) {
    info.estimatedTimeMs = Math.ceil(obj['estimated_time'] * 1000);
  }
  return info;
}

/** Strip credentials and the query string from a URL before it goes into an error or a log. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

export interface HttpFailure {
  status: number;
  body: string;
  headers: HeaderBag;
  url: string;
  /** Backoff cap: a cold-model estimate is bounded by it. */
  backoffMax?: number;
}

/**
 * Does an error body say the model is unknown? OpenAI `code: "model_not_found"` ("The model `x`
 * does not exist or you do not have access to it."), vLLM's NotFoundError ("The model `x` does not
 * exist."), Ollama's `model "x" not found, try pulling it first`. Read once, here, at the boundary.
 */
export function saysModelNotFound(info: ServerErrorInfo): boolean {
  if (info.code === 'model_not_found' || info.type === 'model_not_found') return true;
  return info.message !== undefined && /\bmodel\b[^\n]{0,200}?\b(does not exist|not found|is not available)/i.test(info.message);
}

/**
 * Turn a non-2xx response into a `WebscaleError`. Retryable: 408, 429 (unless the body says the
 * quota is gone), 424 (TGI's "generation failed", usually transient), every 5xx but 501. Not
 * retryable: the other 4xx, which would fail the same way again. LLM_UNAVAILABLE (not retryable)
 * when the endpoint cannot serve anyone: 404/405/501 (wrong URL, a server without this API) or a
 * model name the server does not know, whatever the status.
 */
export function classifyHttpError(failure: HttpFailure): WebscaleError {
  const { status } = failure;
  const info = readErrorBody(failure.body);
  const retryAfterMs =
    parseRetryAfter(failure.headers) ??
    (info.estimatedTimeMs === undefined ? undefined : Math.min(info.estimatedTimeMs, failure.backoffMax ?? info.estimatedTimeMs));
  const context: Record<string, unknown> = { status, url: safeUrl(failure.url) };
  if (info.type !== undefined) context['errorType'] = info.type;
  if (info.code !== undefined) context['errorCode'] = info.code;
  // Servers echo credentials back ("Incorrect API key provided: sk-..."); this text reaches dead letters and rejections.
  const said = info.message === undefined ? '' : `: ${redactString(info.message.slice(0, 300))}`;
  const quota = info.code === 'insufficient_quota' || info.type === 'insufficient_quota' || /insufficient_quota/.test(failure.body);
  const make = (code: ErrorCode, what: string, retryable: boolean): WebscaleError =>
    new WebscaleError(code, `LLM server answered ${status} (${what})${said}`, {
      retryable,
      context,
      ...(retryable && retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });

  if (quota) return make('LLM_QUOTA', 'quota exhausted', false);
  if (status === 429) return make('LLM_RATE_LIMITED', 'rate limited', true);
  if (status === 408) return make('LLM_TIMEOUT', 'request timeout', true);
  if (status === 401 || status === 403) return make('LLM_AUTH', 'not authorised; check the API key or token', false);
  if (status === 402) return make('LLM_QUOTA', 'payment required', false);
  if (status >= 400 && status < 500 && saysModelNotFound(info)) return make('LLM_UNAVAILABLE', 'model not found; check the model name', false);
  if (status === 404) return make('LLM_UNAVAILABLE', 'not found; check the URL: an OpenAI-compatible base URL ends in /v1', false);
  if (status === 405) return make('LLM_UNAVAILABLE', 'method not allowed; check the URL', false);
  if (status === 501) return make('LLM_UNAVAILABLE', 'not implemented by this server', false);
  if (status === 424) return make('LLM_SERVER', 'generation failed', true);
  if (status >= 500) return make('LLM_SERVER', 'server error', true);
  // 400 (OpenAI, vLLM, llama.cpp), 422 (TGI), 413 (some proxies): the prompt is too long for the
  // model. Not retried as is; the stage shortens the document and asks once more.
  const overflow = parseContextOverflow(failure.body);
  if (overflow !== undefined) {
    Object.assign(context, overflowContext(overflow));
    return make('LLM_CONTEXT_EXCEEDED', 'context length exceeded', false);
  }
  return make('LLM_CLIENT', 'request rejected', false);
}

/** Error codes of Node/undici network failures that mean "try again, maybe elsewhere". */
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** Convert a thrown transport error (undici, node:net) into LLM_TIMEOUT or LLM_NETWORK, retryable. */
export function classifyNetworkError(err: unknown, url: string): WebscaleError {
  if (err instanceof WebscaleError) return err;
  const code = networkErrorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const context = { url: safeUrl(url), ...(code === undefined ? {} : { errno: code }) };
  if (code !== undefined && TIMEOUT_ERROR_CODES.has(code)) {
    return new WebscaleError('LLM_TIMEOUT', `LLM request timed out (${code})`, { retryable: true, cause: err, context });
  }
  return new WebscaleError('LLM_NETWORK', `LLM request failed: ${code ?? message}`, { retryable: true, cause: err, context });
}

/** The `code` of an error or of its causes (undici wraps socket errors). */
export function networkErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function abortedError(url?: string): WebscaleError {
  return new WebscaleError('LLM_ABORTED', 'LLM call aborted by the caller', {
    retryable: false,
    context: url === undefined ? {} : { url: safeUrl(url) },
  });
}

/** Wait `ms`, or reject with LLM_ABORTED as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryLoopOptions {
  policy: RetryPolicy;
  signal?: AbortSignal | undefined;
  stage?: LlmStage | undefined;
  events?: LlmEvents | undefined;
  /** For tests: a deterministic jitter source. */
  random?: () => number;
}

/**
 * Run `attempt` until it succeeds, fails with a non-retryable error, or the retries run out.
 * `attempt` must throw `WebscaleError`s (anything else is classified as INTERNAL, not retried).
 * The caller's abort is final: never retried, and it interrupts a backoff wait.
 */
export async function withRetries<T>(attempt: (attemptNo: number) => Promise<T>, options: RetryLoopOptions): Promise<T> {
  const { policy, signal, stage, events } = options;
  for (let attemptNo = 0; ; attemptNo++) {
    if (signal?.aborted) throw abortedError();
    try {
      return await attempt(attemptNo);
    } catch (thrown) {
      const err = thrown instanceof WebscaleError ? thrown : WebscaleError.from(thrown, 'INTERNAL');
      const giveUp = !err.retryable || err.code === 'LLM_ABORTED' || attemptNo >= policy.maxRetries || signal?.aborted === true;
      if (giveUp) {
        const final = signal?.aborted === true && err.code !== 'LLM_ABORTED' ? abortedError() : err;
        if (attemptNo > 0) final.context['attempts'] = attemptNo + 1;
        events?.onFailure?.(stage, final.code, final);
        throw final;
      }
      const jittered = backoffDelay(attemptNo, policy, options.random);
      const delayMs = Math.max(jittered, err.retryAfterMs ?? 0);
      events?.onRetry?.(stage, err.code, { attempt: attemptNo + 1, delayMs, error: err });
      await sleep(delayMs, signal);
    }
  }
}
