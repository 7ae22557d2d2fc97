/**
 * The rate limiter of one LLM endpoint (base URL + model) in one process. Every HTTP attempt to
 * the endpoint (first tries and retries alike) is admitted here first, in arrival order, once each
 * limited dimension's bucket has room: requests per minute (`rpm`), tokens per minute (`tpm`,
 * prompt + completion) and, where a provider limits them apart, input (`itpm`) and output
 * (`otpm`) tokens per minute.
 *
 * A bucket's rate is the endpoint's limit x this process's share of it (set by the coordinator
 * from the live members that use the endpoint, see `quota-board.ts`) x `target` (headroom) x the
 * AIMD factor. The factor halves on a 429 (at most once per `cooldownMs`, floor `minFactor`) and
 * grows back by `recoverPerSecond` each second without one. A 429 also holds every bucket for
 * the server's Retry-After. The `x-ratelimit-*` headers of each answer teach the limit when none
 * is configured (or a lower one than configured), and a `remaining` of 0 holds that dimension
 * briefly.
 *
 * Tokens are estimated before the call (prompt characters at `charsPerToken`, scaled by what the
 * server has counted so far; completion by a running mean per request kind, at most
 * `max_tokens`) and corrected from the answer's `usage`.
 */
import { WebscaleError } from '../../core/errors.js';
import { estimateTokens, MESSAGE_OVERHEAD_TOKENS, PROMPT_OVERHEAD_TOKENS } from '../context.js';
import { TokenBucket } from './bucket.js';
import type { AttemptGate, AttemptPermit, GateAnswer } from './gate.js';
import { readRateLimitHeaders, type LimitDimension } from './headers.js';

export interface RateLimits {
  rpm?: number | undefined;
  tpm?: number | undefined;
  itpm?: number | undefined;
  otpm?: number | undefined;
}

export interface EndpointLimiterOptions {
  /** Names the endpoint in logs, metrics and the coordination topic. */
  key: string;
  limits: RateLimits;
  /** Share of the limit aimed at (0-1]: headroom for estimate error and other clients. */
  target: number;
  /** Bucket capacity, as this much refill time (ms). */
  burstMs: number;
  charsPerToken: number;
  minFactor?: number;
  recoverPerSecond?: number;
  cooldownMs?: number;
  now?: () => number;
  /** Called on each 429 seen, for metrics. */
  onRateLimited?: () => void;
}

interface Cost {
  requests: number;
  tokens: number;
  inputTokens: number;
  outputTokens: number;
}

interface Waiter {
  cost: Cost;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

const DIMENSIONS: readonly LimitDimension[] = ['requests', 'tokens', 'inputTokens', 'outputTokens'];
const CONFIG_KEY: Record<LimitDimension, keyof RateLimits> = { requests: 'rpm', tokens: 'tpm', inputTokens: 'itpm', outputTokens: 'otpm' };
/** Completion estimate before anything was learnt for a request kind. */
const INITIAL_COMPLETION_TOKENS = 256;
const EWMA = 0.1;

export interface EndpointLimiterStats {
  key: string;
  share: number;
  factor: number;
  /** Effective per-minute rate of each limited dimension in this process. */
  rates: Partial<Record<LimitDimension, number>>;
  /** The endpoint's limit per dimension (configured, or learnt from headers). */
  limits: Partial<Record<LimitDimension, number>>;
  waiting: number;
  admitted: number;
  rateLimited: number;
  /** Seconds during which at least one call waited for room (this worker had more work than its share). */
  heldBackSeconds: number;
  /** Refill per dimension thrown away at a full bucket with no call waiting: share left unused. */
  unused: Partial<Record<LimitDimension, number>>;
}

function rateLimitedWait(): WebscaleError {
  return new WebscaleError('LLM_ABORTED', 'aborted while waiting for the rate limit', { retryable: false });
}

/** What a chat request body will probably cost; `kind` is its JSON schema's name. */
export function estimateRequest(body: string | undefined, charsPerToken: number): { input: number; maxTokens: number | undefined; kind: string } {
  if (body === undefined) return { input: 0, maxTokens: undefined, kind: 'default' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { input: Math.ceil(body.length / charsPerToken), maxTokens: undefined, kind: 'default' };
  }
  const obj = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  let input = PROMPT_OVERHEAD_TOKENS;
  const messages = Array.isArray(obj['messages']) ? (obj['messages'] as unknown[]) : [];
  for (const m of messages) {
    const content = (m as { content?: unknown } | null)?.content;
    input += MESSAGE_OVERHEAD_TOKENS + (typeof content === 'string' ? estimateTokens(content, charsPerToken) : 0);
  }
  const maxTokens = typeof obj['max_tokens'] === 'number' ? obj['max_tokens'] : typeof obj['max_completion_tokens'] === 'number' ? obj['max_completion_tokens'] : undefined;
  const format = obj['response_format'] as { json_schema?: { name?: unknown } } | undefined;
  const name = format?.json_schema?.name;
  return { input, maxTokens, kind: typeof name === 'string' ? name : 'default' };
}

export class EndpointRateLimiter implements AttemptGate {
  readonly key: string;
  private readonly opts: EndpointLimiterOptions;
  private readonly now: () => number;
  private readonly buckets = new Map<LimitDimension, TokenBucket>();
  private readonly learnt: Partial<Record<LimitDimension, number>> = {};
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private shareValue = 1;
  /** AIMD: the factor right after the last decrease, and when that was. */
  private factorFloor = 1;
  private decreasedAt = -Infinity;
  private inputScale = 1;
  private readonly completionMean = new Map<string, number>();
  private admitted = 0;
  private rateLimited = 0;
  private heldBack = false;
  /** When the queue last became non-empty (null: empty), and the time it was non-empty before. */
  private waitingSince: number | null = null;
  private heldBackMs = 0;

  constructor(opts: EndpointLimiterOptions) {
    this.opts = opts;
    this.key = opts.key;
    this.now = opts.now ?? (() => performance.now());
    this.refreshRates();
  }

  /** The endpoint's limit of a dimension: the configured one, lowered by what the server says. */
  limitOf(dim: LimitDimension): number | undefined {
    const configured = this.opts.limits[CONFIG_KEY[dim]];
    const learnt = this.learnt[dim];
    if (configured === undefined) return learnt;
    return learnt === undefined ? configured : Math.min(configured, learnt);
  }

  get share(): number {
    return this.shareValue;
  }

  /** This process's share of the endpoint's limits, (0, 1]; set by the coordinator. */
  setShare(share: number): void {
    const s = Math.min(1, Math.max(1e-3, share));
    if (s === this.shareValue) return;
    this.shareValue = s;
    this.refreshRates();
    this.pump();
  }

  factor(now = this.now()): number {
    const recover = this.opts.recoverPerSecond ?? 0.05;
    const seconds = Math.max(0, (now - this.decreasedAt) / 1000);
    return Math.min(1, this.factorFloor + recover * seconds);
  }

  /** True when no dimension is limited (nothing configured, nothing learnt yet). */
  get unlimited(): boolean {
    return this.buckets.size === 0;
  }

  admit(body: string | undefined, signal?: AbortSignal): Promise<AttemptPermit> {
    if (signal?.aborted) return Promise.reject(rateLimitedWait());
    // Nothing limited (yet): no estimate to make; the answer's headers may still teach a limit.
    if (this.buckets.size === 0) {
      this.admitted++;
      return Promise.resolve(this.permit({ requests: 1, tokens: 0, inputTokens: 0, outputTokens: 0 }, 'default', 0));
    }
    const est = estimateRequest(body, this.opts.charsPerToken);
    const input = Math.ceil(est.input * this.inputScale);
    const mean = this.completionMean.get(est.kind) ?? INITIAL_COMPLETION_TOKENS;
    const output = Math.ceil(est.maxTokens === undefined ? mean : Math.min(est.maxTokens, mean));
    const cost: Cost = { requests: 1, tokens: input + output, inputTokens: input, outputTokens: output };
    const permit = (): AttemptPermit => this.permit(cost, est.kind, est.input);
    if (this.queue.length === 0 && this.canTake(cost)) {
      this.take(cost);
      return Promise.resolve(permit());
    }
    return new Promise<AttemptPermit>((resolve, reject) => {
      const waiter: Waiter = {
        cost,
        resolve: () => {
          signal?.removeEventListener('abort', waiter.onAbort);
          resolve(permit());
        },
        reject,
        signal,
        onAbort: () => {
          const at = this.queue.indexOf(waiter);
          if (at >= 0) this.queue.splice(at, 1);
          reject(rateLimitedWait());
          this.pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waitingSince ??= this.now();
      this.queue.push(waiter);
      this.heldBack = true;
      this.pump();
    });
  }

  stats(): EndpointLimiterStats {
    this.refreshRates();
    const now = this.now();
    const rates: Partial<Record<LimitDimension, number>> = {};
    const limits: Partial<Record<LimitDimension, number>> = {};
    const unused: Partial<Record<LimitDimension, number>> = {};
    for (const dim of DIMENSIONS) {
      const b = this.buckets.get(dim);
      if (b !== undefined) {
        rates[dim] = b.ratePerMinute;
        unused[dim] = b.unused(now);
      }
      const l = this.limitOf(dim);
      if (l !== undefined) limits[dim] = l;
    }
    const heldBackMs = this.heldBackMs + (this.waitingSince === null ? 0 : now - this.waitingSince);
    return {
      key: this.key,
      share: this.shareValue,
      factor: this.factor(now),
      rates,
      limits,
      waiting: this.queue.length,
      admitted: this.admitted,
      rateLimited: this.rateLimited,
      heldBackSeconds: heldBackMs / 1000,
      unused,
    };
  }

  /** Whether a call had to wait for room since the last time this was asked (the coordinator's "busy"). */
  takeHeldBack(): boolean {
    const was = this.heldBack || this.queue.length > 0;
    this.heldBack = false;
    return was;
  }

  /** Stop waiting callers (shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(rateLimitedWait());
    }
    this.queueEmptied();
  }

  private costOf(cost: Cost, dim: LimitDimension): number {
    return cost[dim];
  }

  private canTake(cost: Cost): boolean {
    return this.waitMs(cost) === 0;
  }

  private waitMs(cost: Cost): number {
    const now = this.now();
    let wait = 0;
    for (const [dim, bucket] of this.buckets) wait = Math.max(wait, bucket.waitFor(this.costOf(cost, dim), now));
    return wait;
  }

  private take(cost: Cost): void {
    const now = this.now();
    for (const [dim, bucket] of this.buckets) bucket.take(this.costOf(cost, dim), now);
    this.admitted++;
  }

  private refreshRates(): void {
    const now = this.now();
    const scale = this.shareValue * this.opts.target * this.factor(now);
    for (const dim of DIMENSIONS) {
      const limit = this.limitOf(dim);
      if (limit === undefined) continue;
      const rate = limit * scale;
      const bucket = this.buckets.get(dim);
      if (bucket === undefined) this.buckets.set(dim, new TokenBucket(rate, this.opts.burstMs, now));
      else if (Math.abs(bucket.ratePerMinute - rate) > 1e-9) bucket.setRate(rate, now);
    }
  }

  /** Admit waiters in order while the buckets allow; else wake up when the head can go. */
  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.refreshRates();
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      this.waitingFor(head.cost);
      const wait = this.waitMs(head.cost);
      if (wait > 0) {
        // A recovering AIMD factor raises the rate as time passes: look again at least every second.
        this.timer = setTimeout(() => this.pump(), Math.min(wait, 1000));
        this.timer.unref?.();
        return;
      }
      this.queue.shift();
      this.take(head.cost);
      head.resolve();
    }
    this.queueEmptied();
  }

  /** Tell each bucket what the head of the queue waits for, so a late wake-up loses no refill. */
  private waitingFor(cost: Cost | null): void {
    const now = this.now();
    for (const [dim, bucket] of this.buckets) bucket.waitingFor(cost === null ? 0 : this.costOf(cost, dim), now);
  }

  private queueEmptied(): void {
    this.waitingFor(null);
    if (this.waitingSince !== null) {
      this.heldBackMs += this.now() - this.waitingSince;
      this.waitingSince = null;
    }
  }

  private permit(cost: Cost, kind: string, rawInput: number): AttemptPermit {
    let settled = false;
    return {
      settle: (answer: GateAnswer) => {
        if (settled) return;
        settled = true;
        this.settle(cost, kind, rawInput, answer);
      },
    };
  }

  private settle(cost: Cost, kind: string, rawInput: number, answer: GateAnswer): void {
    const now = this.now();
    if (answer.headers !== undefined) this.learn(answer.headers, cost, now);
    const tokensOnly = (delta: Cost): void => {
      for (const dim of ['tokens', 'inputTokens', 'outputTokens'] as const) this.buckets.get(dim)?.adjust(delta[dim], now);
    };
    if (answer.status === 429) {
      this.rateLimited++;
      this.opts.onRateLimited?.();
      if (now - this.decreasedAt >= (this.opts.cooldownMs ?? 2000)) {
        this.factorFloor = Math.max(this.opts.minFactor ?? 0.1, this.factor(now) / 2);
        this.decreasedAt = now;
      }
      const hold = now + (answer.retryAfterMs ?? 1000);
      for (const bucket of this.buckets.values()) bucket.holdUntil(hold);
      // A refused request used no tokens (it still counts as a request, as providers count it).
      tokensOnly({ requests: 0, tokens: -cost.tokens, inputTokens: -cost.inputTokens, outputTokens: -cost.outputTokens });
    } else if (answer.status >= 200 && answer.status < 300) {
      const usage = usageOf(answer.json);
      if (usage !== undefined) {
        tokensOnly({
          requests: 0,
          tokens: usage.prompt + usage.completion - cost.tokens,
          inputTokens: usage.prompt - cost.inputTokens,
          outputTokens: usage.completion - cost.outputTokens,
        });
        if (rawInput > 0 && usage.prompt > 0) this.inputScale += EWMA * (usage.prompt / rawInput - this.inputScale);
        const mean = this.completionMean.get(kind) ?? INITIAL_COMPLETION_TOKENS;
        this.completionMean.set(kind, mean + EWMA * (usage.completion - mean));
      }
    } else if (answer.status > 0) {
      // Refused before generating (4xx, most 5xx): no completion was produced.
      tokensOnly({ requests: 0, tokens: -cost.outputTokens, inputTokens: 0, outputTokens: -cost.outputTokens });
    }
    // status 0 (no answer: timeout, reset): the server may have done the work; keep the charge.
    this.refreshRates();
    this.pump();
  }

  private learn(headers: GateAnswer['headers'] & object, cost: Cost, now: number): void {
    const state = readRateLimitHeaders(headers);
    for (const dim of DIMENSIONS) {
      const s = state[dim];
      if (s === undefined) continue;
      if (s.limit !== undefined && s.limit > 0) this.learnt[dim] = s.limit;
      if (s.remaining === 0) {
        // None left for the whole key: hold this dimension for about the time one more call's
        // worth takes to come back, at most until the server's reset.
        const limit = this.limitOf(dim);
        const oneCall = limit === undefined || limit <= 0 ? 1000 : Math.ceil((60_000 * Math.max(1, cost[dim])) / limit);
        this.buckets.get(dim)?.holdUntil(now + Math.min(s.resetMs ?? oneCall, oneCall));
      }
    }
  }
}

function usageOf(json: unknown): { prompt: number; completion: number } | undefined {
  const usage = (json as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | undefined)?.usage;
  if (usage === undefined || usage === null) return undefined;
  const prompt = typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : 0;
  const completion = typeof usage.completion_tokens === 'number' ? usage.completion_tokens : 0;
  return { prompt, completion };
}
