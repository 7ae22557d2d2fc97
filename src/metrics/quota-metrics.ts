/**
 * Metrics of the shared rate limits and the budget, read at scrape time from the limiters, the
 * budget and the quota board (all `webscale_rl_*`):
 * - `llm_rate_share{endpoint}`: this worker's share of the endpoint's limits;
 * - `llm_rate_members{endpoint}`: live workers sharing the endpoint (this one included);
 * - `llm_rate_per_minute{endpoint,dimension}`: this worker's effective rate (requests, tokens...);
 * - `llm_rate_factor{endpoint}`: the AIMD factor (1 = no recent 429);
 * - `llm_rate_limited_total{endpoint}`: 429 answers seen;
 * - `llm_rate_held_back_seconds_total{endpoint}`: time during which a call waited for room in
 *   this worker's share (it had more work than its share allowed);
 * - `llm_rate_unused_total{endpoint,dimension}`: share thrown away at a full bucket while no call
 *   waited (requests or tokens this worker could have sent but had nothing to send);
 * - `llm_spend_usd`, `llm_spend_tokens`: spend under the budget's name, all workers together;
 * - `budget_exhausted`: 1 once the budget is reached (intake paused);
 * - `cost_per_verified_qa_usd`: that spend over the verified QA pairs of all workers.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Budget } from '../llm/budget.js';
import type { RateLimitRegistry } from '../llm/rate-limit/registry.js';
import { METRIC_PREFIX } from './metrics.js';

export interface QuotaMetricSources {
  limits: RateLimitRegistry;
  budget: Budget;
  /** Live members per endpoint (the quota board); 1 when there is none. */
  membersOf?: (endpoint: string) => number;
  /** Verified QA pairs of all workers, for the cost per pair; omit when unknown. */
  verifiedPairs?: () => number;
}

export interface QuotaMetrics {
  rateLimited(endpoint: string): void;
}

export function registerQuotaMetrics(registry: Registry, src: QuotaMetricSources): QuotaMetrics {
  const p = METRIC_PREFIX;
  const registers = [registry];
  new Gauge({
    name: `${p}llm_rate_share`,
    help: "This worker's share of the endpoint's rate limits",
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const l of src.limits.limiters()) this.set({ endpoint: l.key }, l.share);
    },
  });
  new Gauge({
    name: `${p}llm_rate_members`,
    help: 'Live workers sharing the endpoint, this one included',
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const l of src.limits.limiters()) this.set({ endpoint: l.key }, src.membersOf?.(l.key) ?? 1);
    },
  });
  new Gauge({
    name: `${p}llm_rate_per_minute`,
    help: "This worker's effective rate per minute (share x target x AIMD factor of the endpoint's limit)",
    labelNames: ['endpoint', 'dimension'],
    registers,
    collect() {
      for (const l of src.limits.limiters()) {
        for (const [dimension, rate] of Object.entries(l.stats().rates)) this.set({ endpoint: l.key, dimension }, rate);
      }
    },
  });
  new Gauge({
    name: `${p}llm_rate_factor`,
    help: 'AIMD factor of the endpoint (halved on a 429, recovering to 1)',
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const l of src.limits.limiters()) this.set({ endpoint: l.key }, l.factor());
    },
  });
  const limited = new Counter({ name: `${p}llm_rate_limited_total`, help: '429 answers seen', labelNames: ['endpoint'], registers });
  // Totals kept by the limiters: each scrape moves the counter by what its total grew since.
  const seen = new Map<string, number>();
  const follow = (counter: Counter, metric: string, labels: Record<string, string>, total: number): void => {
    const id = JSON.stringify([metric, labels]);
    const grew = total - (seen.get(id) ?? 0);
    if (grew > 0) counter.inc(labels, grew);
    seen.set(id, total);
  };
  new Counter({
    name: `${p}llm_rate_held_back_seconds_total`,
    help: "Seconds during which a call waited for room in this worker's share of the endpoint's limits",
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const l of src.limits.limiters()) follow(this, 'held', { endpoint: l.key }, l.stats().heldBackSeconds);
    },
  });
  new Counter({
    name: `${p}llm_rate_unused_total`,
    help: "Share of the endpoint's limits this worker left unused: refill lost at a full bucket while no call waited",
    labelNames: ['endpoint', 'dimension'],
    registers,
    collect() {
      for (const l of src.limits.limiters()) {
        for (const [dimension, total] of Object.entries(l.stats().unused)) follow(this, 'unused', { endpoint: l.key, dimension }, total);
      }
    },
  });
  new Gauge({
    name: `${p}llm_spend_usd`,
    help: 'LLM spend in US dollars under the budget name, all workers together',
    registers,
    collect() {
      this.set(src.budget.total().usd);
    },
  });
  new Gauge({
    name: `${p}llm_spend_tokens`,
    help: 'LLM tokens (prompt + completion) under the budget name, all workers together',
    registers,
    collect() {
      const t = src.budget.total();
      this.set(t.inputTokens + t.outputTokens);
    },
  });
  new Gauge({
    name: `${p}budget_exhausted`,
    help: '1 once the budget is reached: intake is paused',
    registers,
    collect() {
      this.set(src.budget.exhausted ? 1 : 0);
    },
  });
  if (src.verifiedPairs !== undefined) {
    const pairs = src.verifiedPairs;
    new Gauge({
      name: `${p}cost_per_verified_qa_usd`,
      help: 'LLM spend over verified QA pairs, all workers together (0 before the first pair)',
      registers,
      collect() {
        const n = pairs();
        this.set(n > 0 ? src.budget.total().usd / n : 0);
      },
    });
  }
  return { rateLimited: (endpoint) => limited.inc({ endpoint }) };
}
