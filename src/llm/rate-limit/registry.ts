/**
 * One rate limiter per LLM endpoint (base URL + model) in this process, shared by every stage
 * that resolves to that endpoint. The router asks for the limiter when it builds a client; the
 * coordinator (`quota-board.ts`) sets each limiter's share from the live members using it.
 * Limits come from `llm.stages.<stage>.rateLimit`, else `llm.rateLimit`; stages that share an
 * endpoint must agree on them. A limiter with no configured limit still learns one from the
 * server's `x-ratelimit-limit-*` headers.
 */
import type { Config } from '../../config/schema.js';
import { WebscaleError } from '../../core/errors.js';
import type { LlmStage } from '../../core/records.js';
import { safeUrl } from '../retry.js';
import { EndpointRateLimiter, type RateLimits } from './endpoint-limiter.js';

export interface RegistryOptions {
  now?: () => number;
  /** A 429 seen on an endpoint (for metrics). */
  onRateLimited?: (endpoint: string) => void;
}

/** The name of an endpoint in limits, logs and the quota topic: URL without credentials, and model. */
export function endpointKey(url: string | undefined, model: string | undefined): string {
  return `${url === undefined ? '(none)' : safeUrl(url).replace(/\/+$/, '')}|${model ?? ''}`;
}

function same(a: RateLimits, b: RateLimits): boolean {
  return a.rpm === b.rpm && a.tpm === b.tpm && a.itpm === b.itpm && a.otpm === b.otpm;
}

export class RateLimitRegistry {
  private readonly byKey = new Map<string, { limiter: EndpointRateLimiter; limits: RateLimits; stage: LlmStage }>();

  constructor(
    private readonly config: Config,
    private readonly opts: RegistryOptions = {},
  ) {}

  /** The limiter of the endpoint `stage` calls (created on first use). */
  forStage(stage: LlmStage, url: string | undefined, model: string | undefined): EndpointRateLimiter {
    const key = endpointKey(url, model);
    const top = this.config.llm.rateLimit;
    const own = this.config.llm.stages[stage]?.rateLimit;
    const limits: RateLimits = own ?? { rpm: top.rpm, tpm: top.tpm, itpm: top.itpm, otpm: top.otpm };
    const known = this.byKey.get(key);
    if (known !== undefined) {
      if (!same(known.limits, limits)) {
        throw new WebscaleError(
          'CONFIG_INVALID',
          `stages ${known.stage} and ${stage} call the same endpoint (${key}) with different rate limits; a limit belongs to the endpoint, so set it once (llm.rateLimit) or give both stages the same llm.stages.<stage>.rateLimit`,
        );
      }
      return known.limiter;
    }
    const limiter = new EndpointRateLimiter({
      key,
      limits,
      target: top.target,
      burstMs: top.burst,
      charsPerToken: this.config.llm.charsPerToken,
      ...(this.opts.now === undefined ? {} : { now: this.opts.now }),
      onRateLimited: () => this.opts.onRateLimited?.(key),
    });
    this.byKey.set(key, { limiter, limits, stage });
    return limiter;
  }

  limiters(): EndpointRateLimiter[] {
    return [...this.byKey.values()].map((e) => e.limiter);
  }

  close(): void {
    for (const { limiter } of this.byKey.values()) limiter.close();
  }
}
