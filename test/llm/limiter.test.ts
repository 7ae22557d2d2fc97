import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { ConcurrencyLimiter, limitRouter } from '../../src/llm/limiter.js';
import { createLlmRouter } from '../../src/llm/router.js';
import { LLM_STAGES } from '../../src/core/records.js';
import { startStandInLlm } from '../support/stand-in-llm.js';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ConcurrencyLimiter', () => {
  it('never runs more than N at once and runs everything', async () => {
    const limiter = new ConcurrencyLimiter(3);
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          running++;
          peak = Math.max(peak, running);
          expect(limiter.inFlight).toBeLessThanOrEqual(3);
          await wait(1 + ((i * 7) % 5));
          running--;
          done.push(i);
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(done).toHaveLength(20);
    const stats = limiter.stats();
    expect(stats).toMatchObject({ calls: 20, failures: 0, inFlight: 0, maxInFlight: 3, waiting: 0, concurrency: 3 });
  });

  it('computes utilisation = busy / (wall x concurrency) on a controlled clock', async () => {
    let now = 0;
    const limiter = new ConcurrencyLimiter(2, () => now);
    const r1 = await limiter.acquire();
    const r2 = await limiter.acquire();
    now = 100;
    r1();
    now = 200;
    r2(true);
    now = 400;
    const stats = limiter.stats();
    expect(stats.busyMs).toBe(300);
    expect(stats.wallMs).toBe(400);
    expect(stats.utilisation).toBeCloseTo(300 / (400 * 2));
    expect(stats.failures).toBe(1);
    limiter.resetStats();
    expect(limiter.stats()).toMatchObject({ calls: 0, busyMs: 0, wallMs: 0, utilisation: null });
  });

  it('lets a waiter give up when its signal fires, and serves the others in order', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const order: string[] = [];
    const abandoned = limiter.acquire(controller.signal).then(
      () => order.push('abandoned got a slot'),
      (err: { code: string }) => order.push(err.code),
    );
    const next = limiter.acquire().then((r) => {
      order.push('next');
      r();
    });
    expect(limiter.waiting).toBe(2);
    controller.abort();
    await abandoned;
    expect(limiter.waiting).toBe(1);
    release();
    await next;
    expect(order).toEqual(['LLM_ABORTED', 'next']);
    expect(limiter.inFlight).toBe(0);
  });

  it('counts a thrown call as a failure and frees its slot', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(limiter.stats()).toMatchObject({ calls: 1, failures: 1, inFlight: 0 });
    await limiter.run(async () => 1);
    expect(limiter.stats().calls).toBe(2);
  });
});

describe('limitRouter', () => {
  it('caps LLM calls across all stages of the process, end to end over HTTP', async () => {
    const server = await startStandInLlm({ latencyMs: 50 });
    const config = configSchema.parse({ concurrency: 64, llm: { url: server.url, stages: { check: { model: 'other' } } } });
    const router = createLlmRouter(config);
    const limiter = new ConcurrencyLimiter(5);
    const llm = limitRouter(router, limiter);
    try {
      expect(llm.forStage('filter')).toBe(llm.forStage('generate'));
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => {
          const stage = LLM_STAGES[i % 4]!;
          return llm.forStage(stage).complete({
            stage,
            messages: [{ role: 'user', content: `document ${i}` }],
            jsonSchema: OUTPUT_JSON_SCHEMAS[stage],
            temperature: 0,
            maxTokens: 32,
          });
        }),
      );
      const wall = performance.now() - started;
      expect(server.stats().maxInFlight).toBe(5);
      expect(server.stats().total).toBe(40);
      const stats = limiter.stats();
      expect(stats.calls).toBe(40);
      expect(stats.maxInFlight).toBe(5);
      // 40 calls of >= 50 ms through 5 slots: at least 8 rounds, and the slots were mostly busy.
      expect(wall).toBeGreaterThanOrEqual(400);
      expect(stats.busyMs).toBeGreaterThanOrEqual(40 * 50);
      expect(stats.utilisation).toBeGreaterThan(0.5);
      expect(stats.utilisation).toBeLessThanOrEqual(1);
    } finally {
      await router.close();
      await server.close();
    }
  });
});
