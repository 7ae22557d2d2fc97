/**
 * A real stage worker on the real broker, scraped over HTTP: /metrics counters move as records
 * flow, /readyz turns ready once the worker has joined its group, /healthz answers.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokers, cleanupKafka, createTestTopics, ensureBroker, freshPrefix } from '../support/kafka.js';
import { CLI, runCli } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;

beforeAll(async () => {
  await ensureBroker();
  llm = await startStandInLlm({ latencyMs: 20 });
}, 600_000);
afterAll(async () => {
  await llm.close();
  await cleanupKafka();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('stage worker metrics and health', () => {
  it('exposes counters that move, and readiness after joining the group', async () => {
    const prefix = freshPrefix('metrics');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 2 });
    const env = { KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LLM_URL: llm.url, WEBSCALE_LLM_MODEL: 'stand-in', WEBSCALE_LOG_LEVEL: 'warn', WEBSCALE_DEDUP_ENABLED: 'false' };
    const port = await freePort();
    const worker = spawn(process.execPath, [CLI, 'stage', 'filter', '--metrics-port', String(port), '--instance-id', 'metrics-1'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 60_000;
      let ready = 0;
      while (Date.now() < deadline) {
        ready = await fetch(`${base}/readyz`).then((r) => r.status, () => 0);
        if (ready === 200) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(ready).toBe(200);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const before = await (await fetch(`${base}/metrics`)).text();
      expect(metricValue(before, 'webscale_rl_records_consumed_total', { stage: 'filter' })).toBe(0);

      const dir = await mkdtemp(join(tmpdir(), 'wsrl-metrics-'));
      const input = join(dir, 'docs.jsonl');
      const long = 'The harbour was rebuilt after the storm by engineers who measured the tides for many years. '.repeat(8);
      await writeFile(input, [1, 2, 3, 4, 5].map((i) => JSON.stringify({ id: `m${i}`, text: long })).concat([JSON.stringify({ id: 'tiny', text: 'too short' })]).join('\n'));
      expect((await runCli(['ingest', input], { env })).code).toBe(0);

      let text = '';
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        text = await (await fetch(`${base}/metrics`)).text();
        const produced = metricValue(text, 'webscale_rl_records_produced_total', { stage: 'filter', topic: names['docs.filtered'] as string });
        // The lag gauge is refreshed just after each commit; wait for both.
        if (produced >= 5 && text.includes(`topic="${names['docs.raw']}",partition=`)) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(metricValue(text, 'webscale_rl_records_consumed_total', { stage: 'filter' })).toBe(6);
      expect(metricValue(text, 'webscale_rl_records_produced_total', { stage: 'filter', topic: names['docs.filtered'] as string })).toBe(5);
      expect(metricValue(text, 'webscale_rl_records_rejected_total', { stage: 'filter', reason: 'filter.too_short' })).toBe(1);
      expect(metricValue(text, 'webscale_rl_llm_request_duration_seconds_count', { stage: 'filter', outcome: 'ok' })).toBe(5);
      expect(metricValue(text, 'webscale_rl_llm_prompt_tokens_total', { stage: 'filter' })).toBeGreaterThan(0);
      expect(text).toMatch(new RegExp(`webscale_rl_committed_offset_lag\\{[^}]*topic="${names['docs.raw']}"`));
      expect(text).toMatch(/webscale_rl_in_flight_records\{stage="filter"\} 0/);
    } finally {
      worker.kill('SIGTERM');
      await new Promise((r) => worker.on('close', r));
    }
  }, 180_000);
});
