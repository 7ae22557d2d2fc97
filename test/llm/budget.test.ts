import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { Budget, budgetFromConfig, costOf, costPerPair, priceOf } from '../../src/llm/budget.js';

const prices = { 'gpt-x': { input: 0.15, output: 0.6, batchDiscount: 0.5 }, default: { input: 1, output: 2, batchDiscount: 0.5 } };

describe('costOf', () => {
  it('prices prompt and completion tokens per million, with the batch discount', () => {
    expect(costOf({ prompt_tokens: 1_000_000, completion_tokens: 500_000 }, 'gpt-x', prices)).toBeCloseTo(0.45, 12);
    expect(costOf({ prompt_tokens: 1_000_000, completion_tokens: 500_000 }, 'gpt-x', prices, { batch: true })).toBeCloseTo(0.225, 12);
    expect(costOf({ prompt_tokens: 1000, completion_tokens: 0 }, 'other', prices)).toBeCloseTo(0.001, 12);
    expect(costOf({ prompt_tokens: 1000, completion_tokens: 0 }, 'other', { 'gpt-x': prices['gpt-x'] })).toBeUndefined();
    expect(priceOf(prices, 'gpt-x')?.output).toBe(0.6);
  });

  it('cost per pair is null before the first pair', () => {
    expect(costPerPair(1, 0)).toBeNull();
    expect(costPerPair(1, 4)).toBe(0.25);
  });
});

describe('Budget', () => {
  it('is exhausted once its own and the others\' spend reach the dollars, and says so once', () => {
    const b = new Budget({ usd: 1, prices });
    const seen: string[] = [];
    b.onExhausted((s) => seen.push(`${s.reason}:${s.spent.usd.toFixed(2)}`));
    b.record('default', { prompt_tokens: 300_000, completion_tokens: 100_000 }); // $0.50
    expect(b.exhausted).toBe(false);
    b.setOthers({ usd: 0.4, inputTokens: 1, outputTokens: 1, calls: 1 });
    expect(b.exhausted).toBe(false);
    b.record('default', { prompt_tokens: 100_000, completion_tokens: 0 }); // $0.10 -> 1.00
    expect(b.exhausted).toBe(true);
    b.record('default', { prompt_tokens: 100_000, completion_tokens: 0 });
    expect(seen).toEqual(['usd:1.00']);
    expect(b.ownSpend().calls).toBe(3);
  });

  it('counts tokens for a token budget and nothing for free models', () => {
    const b = new Budget({ tokens: 100, prices: {}, free: (m) => m === 'local' });
    b.record('local', { prompt_tokens: 60, completion_tokens: 30 });
    expect(b.total().usd).toBe(0);
    expect(b.exhausted).toBe(false);
    b.record('local', { prompt_tokens: 10, completion_tokens: 0 });
    expect(b.status()).toMatchObject({ exhausted: true, reason: 'tokens', limitTokens: 100 });
  });

  it('refuses a dollar budget when a model has no price, naming it', () => {
    const config = configSchema.parse({ budget: { usd: 5 }, llm: { prices: { a: { input: 1, output: 1 } } } });
    expect(() => budgetFromConfig(config, [{ model: 'b', free: false }, { model: 'a', free: false }, { model: 'c', free: true }])).toThrow(/model b has no price/);
    expect(budgetFromConfig(config, [{ model: 'a', free: false }]).limited).toBe(true);
  });
});
