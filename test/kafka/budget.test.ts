/**
 * A budget shared through Kafka, on the real broker: five stage workers started with the same
 * `--budget-usd` sum their spend through the `llm.quota` topic. Once the total reaches it, every
 * worker pauses intake and says so (`/readyz` 503 with `budget: false`,
 * `webscale_rl_budget_exhausted` 1), the records in flight finish, and spending stops within one
 * in-flight window of the limit. A worker started afterwards reads the spend back and never
 * consumes a record.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { sleep, usePipelineSuite, type Worker } from '../support/pipeline.js';
import { freePort, metric } from '../support/worker-metrics.js';

const s = usePipelineSuite('budget', { latencyMs: 300, maxLog: 100 });
const CONCURRENCY = 2;
const HEARTBEAT_MS = 500;

interface Member {
  worker: Worker;
  port: number;
}

async function member(stage: string, prefix: string, cfg: string, instance: string, budget: number): Promise<Member> {
  const port = await freePort();
  const worker = s.h.startWorker(stage, prefix, {
    args: ['--config', cfg, '--metrics-port', String(port), '--concurrency', String(CONCURRENCY), '--budget-usd', String(budget)],
    instance,
  });
  return { worker, port };
}

describe('budget shared through Kafka (real broker)', () => {
  it('pauses every worker at the budget, says so on /readyz and /metrics, and stops spending within one in-flight window', async () => {
    const prefix = freshPrefix('budget');
    await createTestTopics(prefix, undefined, { partitions: 4 });
    const cfg = join(s.h.dir, 'budget.yaml');
    await writeFile(cfg, `llm:\n  prices:\n    stand-in: { input: 100, output: 400 }\nkafka:\n  quotaHeartbeat: ${HEARTBEAT_MS}ms\n`);
    const docs = 120;
    const input = await s.h.writeInput('budget', docs);
    // What the whole input costs, from an embedded run with the same prices.
    const summaryPath = join(s.h.dir, 'full.summary.json');
    const full = await runCli(['run', '--input', input, '--output', join(s.h.dir, 'full.jsonl'), '--summary', summaryPath, '--llm-url', s.llm.url, '--llm-model', 'stand-in', '--config', cfg, '--no-progress']);
    expect(full.code, full.stderr).toBe(0);
    const cost = (JSON.parse(await readFile(summaryPath, 'utf8')) as { cost: { usd: number; calls: number } }).cost;
    const perCall = cost.usd / cost.calls;
    const budget = Number((cost.usd / 3).toFixed(4));

    const members = [
      await member('dedup', prefix, cfg, 'dedup-1', budget),
      await member('filter', prefix, cfg, 'filter-1', budget),
      await member('identify', prefix, cfg, 'identify-1', budget),
      await member('generate', prefix, cfg, 'generate-1', budget),
      await member('check', prefix, cfg, 'check-1', budget),
    ];
    const llmWorkers = members.slice(1);
    await s.h.ingest(prefix, input);

    const deadline = Date.now() + 180_000;
    for (;;) {
      const exhausted = await Promise.all(llmWorkers.map((m) => metric(m.port, 'webscale_rl_budget_exhausted')));
      if (exhausted.every((v) => v === 1)) break;
      if (Date.now() > deadline) {
        const spends = await Promise.all(llmWorkers.map((m) => metric(m.port, 'webscale_rl_llm_spend_usd')));
        throw new Error(`the budget never stopped every worker: exhausted ${JSON.stringify(exhausted)}, spend ${JSON.stringify(spends)}, budget ${budget}, stand-in calls ${s.llm.stats().total}`);
      }
      await sleep(500);
    }
    // Work in flight finishes; then no more calls.
    let calls = s.llm.stats().total;
    for (;;) {
      await sleep(3000);
      const now = s.llm.stats().total;
      if (now === calls) break;
      calls = now;
    }
    await sleep(2 * HEARTBEAT_MS + 500);
    const spends = await Promise.all(llmWorkers.map((m) => metric(m.port, 'webscale_rl_llm_spend_usd')));
    const spent = Math.max(...spends.map((v) => v ?? 0));
    // Every worker agrees on the total once the last heartbeats are read.
    for (const v of spends) expect(v).toBeCloseTo(spent, 9);
    // One in-flight window: each LLM worker's records in flight (3 x concurrency, one call each),
    // plus what the others spent between two heartbeats (their calls at the stand-in's latency).
    const inFlight = llmWorkers.length * 3 * CONCURRENCY;
    const perHeartbeat = llmWorkers.length * CONCURRENCY * (HEARTBEAT_MS / 300 + 1);
    const window = (inFlight + perHeartbeat) * perCall * 1.5;
    process.stderr.write(`budget figures: ${JSON.stringify({ budget, spent, overshoot: spent - budget, window, per_call: perCall, full_run: cost.usd })}\n`);
    expect(spent).toBeGreaterThanOrEqual(budget);
    expect(spent - budget).toBeLessThanOrEqual(window);
    expect(spent).toBeLessThan(cost.usd);

    const ready = await fetch(`http://127.0.0.1:${(llmWorkers[0] as Member).port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/"budget":\s*false/);

    // A worker that starts now reads the spend back from the quota topic and takes nothing.
    const late = await member('check', prefix, cfg, 'check-late', budget);
    const lateDeadline = Date.now() + 60_000;
    while ((await metric(late.port, 'webscale_rl_budget_exhausted')) !== 1) {
      if (Date.now() > lateDeadline) throw new Error('the late worker did not see the budget');
      await sleep(500);
    }
    await sleep(3000);
    expect(await metric(late.port, 'webscale_rl_records_consumed_total')).toBe(0);
    expect(late.worker.stderr()).toMatch(/budget reached: intake paused/);
  }, 420_000);
});
