/**
 * The hook through which every HTTP attempt to an LLM endpoint passes (`http.ts` calls it around
 * each attempt, retries included): `admit` waits until the endpoint's rate limit has room for the
 * request, and the permit it returns is settled with what came back, so the limiter can correct
 * its token estimate from `usage` and adapt to 429s and the `x-ratelimit-*` headers.
 */
import type { HeaderBag } from './headers.js';

export interface GateAnswer {
  /** HTTP status; 0 when no answer came (timeout, connection reset). */
  status: number;
  headers?: HeaderBag | undefined;
  /** The parsed body of a 2xx answer. */
  json?: unknown;
  /** What the server asked us to wait (Retry-After, retry-after-ms), in ms. */
  retryAfterMs?: number | undefined;
}

export interface AttemptPermit {
  /** Report the attempt's outcome (idempotent). */
  settle(answer: GateAnswer): void;
}

export interface AttemptGate {
  /** Resolves once the request may be sent; rejects with LLM_ABORTED when `signal` fires first. */
  admit(body: string | undefined, signal?: AbortSignal): Promise<AttemptPermit>;
}
