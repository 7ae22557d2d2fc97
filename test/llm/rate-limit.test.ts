import { afterEach, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { acquireAgent } from '../../src/llm/http.js';
import { OpenAiClient } from '../../src/llm/openai.js';
import { TokenBucket } from '../../src/llm/rate-limit/bucket.js';
import { EndpointRateLimiter, estimateRequest } from '../../src/llm/rate-limit/endpoint-limiter.js';
import { parseResetDuration, readRateLimitHeaders } from '../../src/llm/rate-limit/headers.js';
import { shareOf, type MemberRecord } from '../../src/llm/rate-limit/quota-board.js';
import { RateLimitRegistry } from '../../src/llm/rate-limit/registry.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

describe('x-ratelimit headers', () => {
  it('reads OpenAI reset durations', () => {
    expect(parseResetDuration('1s')).toBe(1000);
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('20ms')).toBe(20);
    expect(parseResetDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseResetDuration('0.5')).toBe(500);
    expect(parseResetDuration('soon')).toBeUndefined();
    expect(parseResetDuration('')).toBeUndefined();
  });

  it('reads limits, remaining and resets per dimension, input and output tokens too', () => {
    const h = readRateLimitHeaders({
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '100ms',
      'x-ratelimit-limit-tokens': '60000',
      'x-ratelimit-limit-output-tokens': '8000',
      'x-ratelimit-remaining-tokens': 'lots',
    });
    expect(h.requests).toEqual({ limit: 600, remaining: 0, resetMs: 100 });
    expect(h.tokens).toEqual({ limit: 60000 });
    expect(h.outputTokens).toEqual({ limit: 8000 });
    expect(h.inputTokens).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('refills at its rate, admits a call larger than the burst by going into debt, and pays it back', () => {
    const b = new TokenBucket(600, 1000, 0); // 10/s, capacity 10
    expect(b.waitFor(1, 0)).toBe(0);
    b.take(10, 0);
    expect(b.waitFor(1, 0)).toBe(100);
    expect(b.waitFor(50, 1000)).toBe(0); // full again: a call of 50 (> capacity) may go
    b.take(50, 1000);
    expect(b.available(1000)).toBe(-40);
    // debt of 40 plus the capacity-capped need of 10 = 50 units = 5 s
    expect(b.waitFor(50, 1000)).toBe(5000);
    b.adjust(-30, 1000); // the call cost 30 less than estimated
    expect(b.available(1000)).toBe(-10);
  });

  it('holds until a given time and changes rate keeping its level', () => {
    const b = new TokenBucket(60, 1000, 0);
    b.holdUntil(700);
    expect(b.waitFor(1, 0)).toBe(700);
    b.setRate(120, 0);
    expect(b.ratePerMinute).toBe(120);
    expect(b.capacity).toBe(2);
  });

  it('keeps filling up to the cost of a waiting call larger than the burst, and counts refill lost at a full bucket', () => {
    const b = new TokenBucket(600, 1000, 0); // 10/s, capacity 10
    b.take(10, 0);
    b.waitingFor(50, 0);
    expect(b.waitFor(50, 0)).toBe(1000); // may go once the capacity is there
    // Woken 400 ms late: the refill of the delay was kept for the call, its debt is smaller.
    expect(b.available(1400)).toBeCloseTo(14);
    b.take(50, 1400);
    b.waitingFor(0, 1400);
    expect(b.available(1400)).toBeCloseTo(-36);
    expect(b.unused(1400)).toBe(0);
    // Nobody waiting: refill past the capacity is thrown away, and counted.
    expect(b.available(10_000)).toBe(10);
    expect(b.unused(10_000)).toBeCloseTo(40);
    // Waiting or not, the level never passes the waiting call's cost.
    b.waitingFor(50, 10_000);
    expect(b.available(20_000)).toBe(50);
    b.waitingFor(0, 20_000);
    expect(b.available(20_000)).toBe(10);
    expect(b.unused(20_000)).toBeCloseTo(140);
  });
});

describe('estimateRequest', () => {
  it('counts message characters, max_tokens and the schema name', () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(300) }], max_tokens: 64, response_format: { type: 'json_schema', json_schema: { name: 'question_answer', schema: {} } } });
    const e = estimateRequest(body, 3);
    expect(e.input).toBeGreaterThanOrEqual(100);
    expect(e.maxTokens).toBe(64);
    expect(e.kind).toBe('question_answer');
  });
});

describe('shareOf', () => {
  const rec = (member: string, busy: boolean, at: number, left = false, key = 'e'): MemberRecord => ({
    v: 1,
    member,
    stage: 'generate',
    at,
    left,
    endpoints: [{ key, busy }],
    budget: 'default',
    spend: { usd: 0, inputTokens: 0, outputTokens: 0, calls: 0 },
    pairs: 0,
  });

  it('splits evenly among busy live members and ignores the stale, the departed and other endpoints', () => {
    const others = [rec('b', true, 1000), rec('c', true, 1000), rec('d', true, 1000), rec('old', true, 0), rec('gone', true, 1000, true), rec('x', true, 1000, false, 'other')];
    const r = shareOf('e', { member: 'a', busy: true }, others, 1500, 1000);
    expect(r.members).toBe(4);
    expect(r.share).toBeCloseTo(0.25);
  });

  it('gives an idle member a tenth of a busy one', () => {
    const r = shareOf('e', { member: 'a', busy: false }, [rec('b', true, 1000)], 1000, 5000);
    expect(r.share).toBeCloseTo(0.1 / 1.1);
    const busy = shareOf('e', { member: 'b2', busy: true }, [rec('a', false, 1000)], 1000, 5000);
    expect(busy.share).toBeCloseTo(1 / 1.1);
  });
});

describe('EndpointRateLimiter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('uses its whole rate when every wake-up comes late (a busy machine), and says it was held back throughout', async () => {
    vi.useFakeTimers({ now: 0 });
    // 6,000 tokens/min = 100/s with a bucket of 1 s (100 tokens); each call is estimated at 256
    // tokens (nothing known about it yet), so every call waits for the bucket to fill.
    const l = new EndpointRateLimiter({ key: 'e', limits: { tpm: 6000 }, target: 1, burstMs: 1000, charsPerToken: 3, now: () => Date.now() });
    let admitted = 0;
    let open = true;
    const caller = async (): Promise<void> => {
      while (open) {
        await l.admit(undefined);
        admitted++;
      }
    };
    const callers = [caller(), caller()].map((c) => c.catch(() => undefined));
    const seconds = 300;
    while (Date.now() < seconds * 1000) {
      // The event loop is busy for 400 ms before each timer gets to run.
      vi.setSystemTime(Date.now() + 400);
      await vi.advanceTimersToNextTimerAsync();
    }
    const elapsed = Date.now() / 1000;
    const stats = l.stats();
    open = false;
    l.close();
    await Promise.all(callers);
    // The bucket's first fill (100) plus the rate over the time, within one call.
    const allowed = 100 + 100 * elapsed;
    expect(admitted * 256).toBeLessThanOrEqual(allowed + 256);
    expect(admitted * 256).toBeGreaterThanOrEqual(allowed - 256);
    expect(stats.heldBackSeconds).toBeGreaterThan(0.99 * elapsed);
    expect(stats.unused.tokens).toBe(0);
  });

  it('halves its rate on a 429 (once per cooldown), holds for Retry-After, recovers additively', async () => {
    let now = 0;
    const l = new EndpointRateLimiter({ key: 'e', limits: { rpm: 600 }, target: 1, burstMs: 1000, charsPerToken: 3, now: () => now });
    const p = await l.admit(undefined);
    p.settle({ status: 429, retryAfterMs: 1000 });
    expect(l.factor()).toBeCloseTo(0.5);
    // The bucket still holds capacity, but the 429's hold applies to the next call: it waits.
    let admitted = false;
    const second = l.admit(undefined).then((permit) => {
      admitted = true;
      return permit;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(admitted).toBe(false);
    now = 1100;
    const p2 = await second;
    p2.settle({ status: 429 });
    expect(l.factor()).toBeCloseTo(0.555); // within the 2 s cooldown: not halved again, still recovering
    now = 4000;
    expect(l.factor()).toBeCloseTo(0.7);
    expect(l.stats().rates.requests).toBeCloseTo(600 * 0.7);
    expect(l.stats().rateLimited).toBe(2);
    l.close();
  });

  it('rejects a waiting caller whose signal fires', async () => {
    const l = new EndpointRateLimiter({ key: 'e', limits: { rpm: 60 }, target: 1, burstMs: 1000, charsPerToken: 3 });
    await l.admit(undefined);
    const ac = new AbortController();
    const waiting = l.admit(undefined, ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'LLM_ABORTED' });
    l.close();
  });
});

describe('rate limits against an enforcing stand-in', () => {
  let llm: StandInLlm | undefined;
  afterEach(async () => {
    await llm?.close();
    llm = undefined;
  });

  async function drive(limiter: EndpointRateLimiter, calls: number, concurrency: number): Promise<number> {
    const lease = acquireAgent(64);
    const client = new OpenAiClient({
      url: (llm as StandInLlm).url,
      timeoutMs: 10_000,
      retry: { maxRetries: 6, backoffInitial: 100, backoffMax: 2000 },
      responseFormat: 'openai',
      dispatcher: lease.dispatcher,
      gate: limiter,
    });
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < calls) {
          next++;
          await client.complete({
            stage: 'generate',
            messages: [{ role: 'user', content: `Write about harbours. ${'word '.repeat(40)}` }],
            jsonSchema: { name: 'question_answer', schema: { type: 'object' } },
            temperature: 0,
            maxTokens: 200,
          });
        }
      }),
    );
    await lease.release();
    return Date.now() - started;
  }

  it('learns the limit from x-ratelimit headers when none is configured and keeps 429s rare', async () => {
    llm = await startStandInLlm({ rateLimit: { rpm: 1200, tpm: 1_000_000, burstSeconds: 1 } });
    const registry = new RateLimitRegistry(configSchema.parse({}));
    const limiter = registry.forStage('generate', llm.url, undefined);
    const ms = await drive(limiter, 80, 16);
    const stats = llm.rateStats();
    expect(limiter.limitOf('requests')).toBe(1200);
    // 80 calls at 20/s (x 0.95 target) after a burst of about 20: at least ~2.5 s.
    expect(ms).toBeGreaterThan(2500);
    expect(stats.admitted.length).toBe(80);
    // Before the first answer taught the limit, the first burst may overrun the server's bucket.
    expect(stats.refused.length).toBeLessThanOrEqual(16);
    registry.close();
  }, 30_000);

  it('paces to configured rpm and tpm, correcting token estimates from usage, with no 429', async () => {
    llm = await startStandInLlm({ rateLimit: { rpm: 6000, tpm: 30_000, burstSeconds: 2 } });
    const limiter = new EndpointRateLimiter({ key: 'e', limits: { rpm: 6000, tpm: 30_000 }, target: 0.95, burstMs: 1000, charsPerToken: 3 });
    const ms = await drive(limiter, 60, 8);
    const stats = llm.rateStats();
    expect(stats.refused.length).toBe(0);
    const tokens = stats.admitted.reduce((n, a) => n + a.tokens, 0);
    // tokens bind: 500 tokens/s x 0.95; minus one second of burst
    const tokenSeconds = tokens / 475 - 1;
    expect(ms / 1000).toBeGreaterThan(tokenSeconds * 0.85);
    expect(ms / 1000).toBeLessThan(tokenSeconds * 1.5 + 1);
  }, 60_000);
});
