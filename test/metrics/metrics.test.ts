// Metrics and health endpoints over real HTTP: counters move and show up in the Prometheus text,
// probes flip with the worker's state, and the latency buckets fit LLM calls.
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import {
  createMetrics,
  LLM_LATENCY_BUCKETS,
  startHealthServer,
} from '../../src/metrics/index.js';
import type { HealthServer, ReadinessReport } from '../../src/metrics/index.js';
import { WebscaleError } from '../../src/core/errors.js';

const servers: HealthServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(opts: Omit<Parameters<typeof startHealthServer>[0], 'port' | 'host'>): Promise<HealthServer> {
  const server = await startHealthServer({ port: 0, host: '127.0.0.1', ...opts });
  servers.push(server);
  return server;
}

/** The value of one sample line in Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const found: Record<string, string> = {};
    if (open >= 0) {
      for (const m of line.slice(open + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
        found[m[1] ?? ''] = m[2] ?? '';
      }
    }
    if (Object.entries(labels).every(([k, v]) => found[k] === v) && Object.keys(found).length === Object.keys(labels).length) {
      return Number(line.slice((close >= 0 ? close : line.indexOf(' ')) + 1).trim());
    }
  }
  return undefined;
}

describe('createMetrics', () => {
  it('counts records, rejections, dead letters, LLM calls and tokens, visible over /metrics', async () => {
    const metrics = createMetrics({ stage: 'filter' });
    const filter = metrics.forStage();
    const server = await serve({ metrics, isAlive: () => true, isReady: async () => ({ ready: true, checks: {} }) });

    filter.consumed('webscale-rl.docs.raw');
    filter.consumed('webscale-rl.docs.raw', 4);
    filter.produced('webscale-rl.docs.filtered', 3);
    filter.rejected('filter.too_short');
    filter.rejected('filter.unqualified', 2);
    filter.deadLettered('CODEC');
    filter.llmRequest({ model: 'qwen', outcome: 'ok', seconds: 1.5, promptTokens: 700, completionTokens: 40 });
    filter.llmRequest({ model: 'qwen', outcome: 'LLM_TIMEOUT', seconds: 120 });
    filter.llmRetry('LLM_RATE_LIMITED');
    filter.llmRetry('LLM_RATE_LIMITED');
    filter.setCommittedLag('webscale-rl.docs.raw', 3, 1234);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();

    const p = 'webscale_rl_';
    expect(sample(text, `${p}records_consumed_total`, { stage: 'filter', topic: 'webscale-rl.docs.raw' })).toBe(5);
    expect(sample(text, `${p}records_produced_total`, { stage: 'filter', topic: 'webscale-rl.docs.filtered' })).toBe(3);
    expect(sample(text, `${p}records_rejected_total`, { stage: 'filter', reason: 'filter.too_short' })).toBe(1);
    expect(sample(text, `${p}records_rejected_total`, { stage: 'filter', reason: 'filter.unqualified' })).toBe(2);
    expect(sample(text, `${p}records_dead_lettered_total`, { stage: 'filter', error_code: 'CODEC' })).toBe(1);
    expect(sample(text, `${p}llm_request_duration_seconds_count`, { stage: 'filter', model: 'qwen', outcome: 'ok' })).toBe(1);
    expect(sample(text, `${p}llm_request_duration_seconds_sum`, { stage: 'filter', model: 'qwen', outcome: 'ok' })).toBe(1.5);
    expect(sample(text, `${p}llm_request_duration_seconds_count`, { stage: 'filter', model: 'qwen', outcome: 'LLM_TIMEOUT' })).toBe(1);
    expect(sample(text, `${p}llm_prompt_tokens_total`, { stage: 'filter', model: 'qwen' })).toBe(700);
    expect(sample(text, `${p}llm_completion_tokens_total`, { stage: 'filter', model: 'qwen' })).toBe(40);
    expect(sample(text, `${p}llm_retries_total`, { stage: 'filter', code: 'LLM_RATE_LIMITED' })).toBe(2);
    expect(sample(text, `${p}committed_offset_lag`, { stage: 'filter', topic: 'webscale-rl.docs.raw', partition: '3' })).toBe(1234);
    // Gauges for the default stage exist from the start, so alerts see a series at 0.
    expect(sample(text, `${p}in_flight_records`, { stage: 'filter' })).toBe(0);
    expect(sample(text, `${p}oldest_in_flight_age_seconds`, { stage: 'filter' })).toBe(0);
    // Default process metrics are there too.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);

    // Counters keep moving between scrapes.
    filter.consumed('webscale-rl.docs.raw', 10);
    const again = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(again, `${p}records_consumed_total`, { stage: 'filter', topic: 'webscale-rl.docs.raw' })).toBe(15);
  });

  it('reads the oldest in-flight age and in-flight count from callbacks at scrape time', async () => {
    let oldestStartedAt: number | undefined;
    let inFlight = 0;
    const metrics = createMetrics({
      stage: 'generate',
      defaultMetrics: false,
      oldestInFlightAgeSeconds: () => (oldestStartedAt === undefined ? undefined : (Date.now() - oldestStartedAt) / 1000),
      inFlightCount: () => inFlight,
    });
    const text0 = await metrics.metricsText();
    expect(sample(text0, 'webscale_rl_oldest_in_flight_age_seconds', { stage: 'generate' })).toBe(0);
    expect(sample(text0, 'webscale_rl_in_flight_records', { stage: 'generate' })).toBe(0);

    oldestStartedAt = Date.now() - 42_000;
    inFlight = 17;
    const text1 = await metrics.metricsText();
    const age = sample(text1, 'webscale_rl_oldest_in_flight_age_seconds', { stage: 'generate' });
    expect(age).toBeGreaterThanOrEqual(42);
    expect(age).toBeLessThan(50);
    expect(sample(text1, 'webscale_rl_in_flight_records', { stage: 'generate' })).toBe(17);

    // Back to idle: the gauge falls back to 0 instead of keeping the last age.
    oldestStartedAt = undefined;
    inFlight = 0;
    const text2 = await metrics.metricsText();
    expect(sample(text2, 'webscale_rl_oldest_in_flight_age_seconds', { stage: 'generate' })).toBe(0);
  });

  it('keeps stages apart on a shared registry (embedded mode) and forgets revoked partitions', async () => {
    const registry = new Registry();
    const metrics = createMetrics({ registry, defaultMetrics: false });
    expect(() => metrics.forStage()).toThrow(WebscaleError);
    const identify = metrics.forStage('identify');
    const check = metrics.forStage('check');
    identify.consumed('t', 2);
    check.consumed('t', 5);
    identify.setInFlight(3);
    check.onOldestInFlightAge(() => 7);
    check.setCommittedLag('t', 0, 9);
    let text = await registry.metrics();
    expect(sample(text, 'webscale_rl_records_consumed_total', { stage: 'identify', topic: 't' })).toBe(2);
    expect(sample(text, 'webscale_rl_records_consumed_total', { stage: 'check', topic: 't' })).toBe(5);
    expect(sample(text, 'webscale_rl_in_flight_records', { stage: 'identify' })).toBe(3);
    expect(sample(text, 'webscale_rl_oldest_in_flight_age_seconds', { stage: 'check' })).toBe(7);
    expect(sample(text, 'webscale_rl_committed_offset_lag', { stage: 'check', topic: 't', partition: '0' })).toBe(9);
    check.clearCommittedLag('t', 0);
    text = await registry.metrics();
    expect(sample(text, 'webscale_rl_committed_offset_lag', { stage: 'check', topic: 't', partition: '0' })).toBeUndefined();
  });

  it('uses latency buckets that span fast and slow LLM calls', async () => {
    expect(LLM_LATENCY_BUCKETS[0]).toBe(0.05);
    expect(LLM_LATENCY_BUCKETS.at(-1)).toBe(120);
    for (let i = 1; i < LLM_LATENCY_BUCKETS.length; i++) {
      const prev = LLM_LATENCY_BUCKETS[i - 1] ?? 0;
      const cur = LLM_LATENCY_BUCKETS[i] ?? 0;
      expect(cur).toBeGreaterThan(prev);
      // No gap wider than 2.5x, so a quantile estimate is never off by more than that factor.
      expect(cur / prev).toBeLessThanOrEqual(2.5);
    }
    const metrics = createMetrics({ stage: 'check', defaultMetrics: false });
    const check = metrics.forStage();
    check.llmRequest({ model: 'm', outcome: 'ok', seconds: 0.07 });
    check.llmRequest({ model: 'm', outcome: 'ok', seconds: 4 });
    check.llmRequest({ model: 'm', outcome: 'ok', seconds: 200 });
    const text = await metrics.metricsText();
    const le = (bound: string): number | undefined =>
      sample(text, 'webscale_rl_llm_request_duration_seconds_bucket', { stage: 'check', model: 'm', outcome: 'ok', le: bound });
    expect(le('0.05')).toBe(0);
    expect(le('0.1')).toBe(1);
    expect(le('3')).toBe(1);
    expect(le('5')).toBe(2);
    expect(le('120')).toBe(2);
    expect(le('+Inf')).toBe(3);
  });
});

describe('startHealthServer', () => {
  it('flips /healthz and /readyz with the worker state and lists failing checks', async () => {
    let alive = true;
    let report: ReadinessReport = { ready: false, checks: { group: false, broker: true, llm: 'connect ECONNREFUSED 127.0.0.1:8000' } };
    const metrics = createMetrics({ stage: 'identify', defaultMetrics: false });
    const server = await serve({ metrics, isAlive: () => alive, isReady: async () => report });
    expect(server.port).toBeGreaterThan(0);

    let res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ alive: true });

    res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ ready: false, checks: { group: false, llm: 'connect ECONNREFUSED 127.0.0.1:8000' } });

    report = { ready: true, checks: { group: true, broker: true, llm: true } };
    res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(report);

    alive = false;
    res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ alive: false });
  });

  it('answers 503 when the readiness check throws or hangs, 404/405 for other requests', async () => {
    let mode: 'throw' | 'hang' = 'throw';
    const metrics = createMetrics({ defaultMetrics: false });
    const server = await serve({
      metrics,
      isAlive: () => true,
      isReady: () => (mode === 'throw' ? Promise.reject(new Error('admin client closed')) : new Promise(() => {})),
      readinessTimeoutMs: 200,
    });
    let res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, checks: { readiness: 'admin client closed' } });

    mode = 'hang';
    res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as ReadinessReport).checks['readiness']).toMatch(/no answer within 200 ms/);

    res = await fetch(`${server.url}/nope`);
    expect(res.status).toBe(404);
    await res.body?.cancel();
    res = await fetch(`${server.url}/metrics`, { method: 'POST' });
    expect(res.status).toBe(405);
    await res.body?.cancel();
  });

  it('reports a busy port as a config error and frees the port on close()', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const first = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, isAlive: () => true, isReady: async () => ({ ready: true, checks: {} }) });
    const port = first.port;
    await expect(
      startHealthServer({ port, host: '127.0.0.1', metrics, isAlive: () => true, isReady: async () => ({ ready: true, checks: {} }) }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    // Hold a keep-alive connection open: close() must still finish promptly.
    const res = await fetch(`${first.url}/healthz`);
    await res.text();
    await first.close();
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();
    const second = await startHealthServer({ port, host: '127.0.0.1', metrics, isAlive: () => true, isReady: async () => ({ ready: true, checks: {} }) });
    servers.push(second);
    expect(second.port).toBe(port);
  });
});
