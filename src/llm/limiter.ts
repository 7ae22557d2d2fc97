/**
 * The process-wide cap on LLM calls in flight (`concurrency`), shared by every stage of the
 * process, and the figures that show whether the LLM is the bottleneck: LLM utilisation =
 * busy time (sum of call latencies) / (wall time x concurrency). Near 1, the LLM slots are always
 * full and only a faster or wider LLM helps; well below 1, we are not feeding it enough.
 * A call holds its slot through its own retries and backoff waits: a rate-limited server should
 * not be sent more work by other callers in the meantime. Waiting for a slot is abortable.
 */
import { WebscaleError } from '../core/errors.js';
import type { LlmStage } from '../core/records.js';
import type { LlmClient, LlmCompletion, LlmRequest, LlmRouter } from './types.js';

export interface LimiterStats {
  concurrency: number;
  /** Calls that finished (successfully or not) since the start or the last reset. */
  calls: number;
  failures: number;
  /** Sum of the time slots were held, in ms. */
  busyMs: number;
  inFlight: number;
  /** Highest `inFlight` seen. */
  maxInFlight: number;
  waiting: number;
  /** Time since the limiter was created or reset, in ms. */
  wallMs: number;
  /** busyMs / (wallMs x concurrency), or null before any time has passed. */
  utilisation: number | null;
}

interface Waiter {
  grant: () => void;
  reject: (err: unknown) => void;
}

export type Release = () => void;

function abortedWhileWaiting(): WebscaleError {
  return new WebscaleError('LLM_ABORTED', 'aborted while waiting for an LLM slot', { retryable: false });
}

export class ConcurrencyLimiter {
  readonly concurrency: number;
  private active = 0;
  private readonly queue: Waiter[] = [];
  private readonly now: () => number;
  private startedAt: number;
  private calls = 0;
  private failures = 0;
  private busyMs = 0;
  private peak = 0;

  constructor(concurrency: number, now: () => number = () => performance.now()) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new WebscaleError('CONFIG_INVALID', `concurrency must be a positive integer, got ${concurrency}`);
    }
    this.concurrency = concurrency;
    this.now = now;
    this.startedAt = now();
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Wait for a slot. The returned function gives it back (idempotent); the time in between counts
   * as busy. Pass `failed` = true to count the call as a failure.
   */
  acquire(signal?: AbortSignal): Promise<(failed?: boolean) => void> {
    if (signal?.aborted) return Promise.reject(abortedWhileWaiting());
    if (this.active < this.concurrency) {
      this.take();
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        reject,
      };
      const onAbort = (): void => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(abortedWhileWaiting());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** Run `fn` in a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    let failed = true;
    try {
      const result = await fn();
      failed = false;
      return result;
    } finally {
      release(failed);
    }
  }

  stats(): LimiterStats {
    const wallMs = this.now() - this.startedAt;
    return {
      concurrency: this.concurrency,
      calls: this.calls,
      failures: this.failures,
      busyMs: this.busyMs,
      inFlight: this.active,
      maxInFlight: this.peak,
      waiting: this.queue.length,
      wallMs,
      utilisation: wallMs > 0 ? this.busyMs / (wallMs * this.concurrency) : null,
    };
  }

  /** Start a new measuring window (calls in flight keep their slots). */
  resetStats(): void {
    this.startedAt = this.now();
    this.calls = 0;
    this.failures = 0;
    this.busyMs = 0;
    this.peak = this.active;
  }

  private take(): void {
    this.active++;
    if (this.active > this.peak) this.peak = this.active;
  }

  private releaser(): (failed?: boolean) => void {
    const started = this.now();
    let done = false;
    return (failed = false) => {
      if (done) return;
      done = true;
      this.busyMs += Math.max(0, this.now() - started);
      this.calls++;
      if (failed) this.failures++;
      this.active--;
      const next = this.queue.shift();
      if (next !== undefined) {
        this.take();
        next.grant();
      }
    };
  }
}

/** A client whose calls go through the limiter; other members (probe...) pass through. */
function limitClient(inner: LlmClient, limiter: ConcurrencyLimiter): LlmClient {
  const limited: LlmClient & { probe?: (signal?: AbortSignal) => Promise<void> } = {
    backend: inner.backend,
    // A getter: the local client learns its model name only once the model has loaded.
    get model() {
      return inner.model;
    },
    complete: (request: LlmRequest): Promise<LlmCompletion> => limiter.run(() => inner.complete(request), request.signal),
    close: () => inner.close(),
  };
  // Reading the context window is not an LLM call: it does not wait for a slot.
  if (inner.contextWindow !== undefined) limited.contextWindow = (signal?: AbortSignal) => inner.contextWindow?.(signal) ?? Promise.resolve(undefined);
  const probe = (inner as { probe?: unknown }).probe;
  if (typeof probe === 'function') limited.probe = (signal?: AbortSignal) => (probe as (s?: AbortSignal) => Promise<void>).call(inner, signal);
  return limited;
}

/** Wrap every client of `router` so that at most `limiter.concurrency` calls run at once, all stages together. */
export function limitRouter(router: LlmRouter, limiter: ConcurrencyLimiter): LlmRouter {
  const wrapped = new Map<LlmClient, LlmClient>();
  return {
    forStage(stage: LlmStage): LlmClient {
      const inner = router.forStage(stage);
      let client = wrapped.get(inner);
      if (client === undefined) {
        client = limitClient(inner, limiter);
        wrapped.set(inner, client);
      }
      return client;
    },
    close: () => router.close(),
  };
}
