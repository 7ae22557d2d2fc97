/**
 * Rate limits shared through Kafka, on the real broker: a stand-in endpoint that enforces 600
 * requests/min and 60,000 tokens/min with 429s (token buckets holding 10 s of refill, stricter
 * than OpenAI's minute) serves the generate and check stages, two worker processes each, which
 * coordinate through the `llm.quota` topic alone. Over a 2-minute window the four stay under the
 * limit (429s under 1% of calls) and use at least 90% of the binding limit. Dedup, filter and
 * identify fill the task backlog from a second stand-in, which no limit holds back (per-stage URLs
 * and limits), and a generate worker on that one makes a backlog of candidates for check before
 * the four start: the window measures the limiter only if every worker has more work than its
 * share all along, which each one's `llm_rate_held_back_seconds_total` shows and the test asserts.
 * Then membership: a worker leaving with SIGTERM, and one killed with SIGKILL.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { sleep, usePipelineSuite, type Worker } from '../support/pipeline.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { freePort, metric } from '../support/worker-metrics.js';

const RPM = 600;
const TPM = 60_000;
const WINDOW_MS = 120_000;

// The limited endpoint: generate and check call it.
const s = usePipelineSuite('ratelimit', { latencyMs: 300, maxLog: 100, rateLimit: { rpm: RPM, tpm: TPM, burstSeconds: 10 } });
let upstream: StandInLlm;

beforeAll(async () => {
  upstream = await startStandInLlm({ maxLog: 100 });
});
afterAll(async () => {
  await upstream.close();
});

interface Member {
  worker: Worker;
  port: number;
}

async function member(stage: string, prefix: string, cfg: string, instance: string, extra: string[] = []): Promise<Member> {
  const port = await freePort();
  const worker = s.h.startWorker(stage, prefix, { args: ['--config', cfg, '--metrics-port', String(port), ...extra], instance });
  return { worker, port };
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number, explain: () => Promise<string> = () => Promise.resolve('')): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${await explain()}`);
    await sleep(500);
  }
}

function upstreamStages(url: string, stages: string[], unlimited: boolean): string {
  const limits = unlimited ? `      rateLimit: { rpm: 1000000, tpm: 1000000000 }\n` : '';
  return stages.map((st) => `    ${st}:\n      url: ${url}\n${limits}`).join('');
}

/** Documents ingested: 7 in 10 reach generate, with two personas each (1,050 tasks). */
const DOCUMENTS = 750;
/**
 * Candidates made before the limited workers start, by a generate worker on the unlimited
 * endpoint. Check must have more work than its share for the whole window: at its share it
 * takes at most ~80 a minute (about 3 minutes from its start to the window's end), and
 * generate's live output is not enough to keep it busy (held back only 31-46% of the window when
 * it had to live on it). The remaining ~750 tasks keep generate busy just as long.
 */
const PREFILLED_CANDIDATES = 300;

describe('rate limits shared through Kafka (real broker)', () => {
  it('four workers of two stages stay under 600 rpm / 60,000 tpm (429s < 1%) and use >= 90% over 2 minutes', async () => {
    const prefix = freshPrefix('ratelimit');
    await createTestTopics(prefix, undefined, { partitions: 4 });
    const cfg = join(s.h.dir, 'limits.yaml');
    // Filter and identify call the other endpoint, unlimited, so the backlog builds fast.
    await writeFile(cfg, `llm:\n  rateLimit:\n    rpm: ${RPM}\n    tpm: ${TPM}\n  stages:\n${upstreamStages(upstream.url, ['filter', 'identify'], true)}`);
    const input = await s.h.writeInput('rl', DOCUMENTS);
    await member('dedup', prefix, cfg, 'dedup-1');
    await member('filter', prefix, cfg, 'filter-1');
    await member('identify', prefix, cfg, 'identify-1');
    await s.h.ingest(prefix, input);
    // A backlog for check first: a generate worker on the unlimited endpoint makes candidates,
    // then leaves the rest of the tasks to the limited generate workers.
    const prefillCfg = join(s.h.dir, 'prefill.yaml');
    await writeFile(prefillCfg, `llm:\n  rateLimit:\n    rpm: ${RPM}\n    tpm: ${TPM}\n  stages:\n${upstreamStages(upstream.url, ['generate'], true)}`);
    const prefill = await member('generate', prefix, prefillCfg, 'generate-prefill');
    const made = async (): Promise<number> => (await metric(prefill.port, 'webscale_rl_records_produced_total', { topic: `${prefix}qa.candidates` })) ?? 0;
    await waitFor(`${PREFILLED_CANDIDATES} candidates from the unlimited generate worker`, async () => (await made()) >= PREFILLED_CANDIDATES, 180_000, async () => `(made ${await made()})`);
    prefill.worker.proc.kill('SIGTERM');
    expect(await prefill.worker.exited).toBe(0);
    const gens = [await member('generate', prefix, cfg, 'generate-a'), await member('generate', prefix, cfg, 'generate-b')];
    const checks = [await member('check', prefix, cfg, 'check-a'), await member('check', prefix, cfg, 'check-b')];
    const four = [...gens, ...checks];
    // Every worker sees the four members of the endpoint (the two upstream ones use the other one).
    const membersSeen = async (): Promise<(number | null)[]> => Promise.all(four.map((m) => metric(m.port, 'webscale_rl_llm_rate_members')));
    await waitFor('four members on the limited endpoint', async () => (await membersSeen()).every((n) => n === 4), 90_000, async () =>
      `(members seen: ${JSON.stringify(await membersSeen())}; check-a log: ${checks[0]?.worker.stderr().slice(-1500) ?? ''})`,
    );
    // Shares are weighted by backlog but always add up to the whole limit.
    const shareSum = async (): Promise<number> => (await Promise.all(four.map((m) => metric(m.port, 'webscale_rl_llm_rate_share')))).reduce<number>((a, b) => a + (b ?? 0), 0);
    await waitFor('shares adding up to 1', async () => Math.abs((await shareSum()) - 1) < 0.02, 30_000);
    await sleep(5000);

    // What each worker's limiter says of itself: seconds it had a call waiting for room (more
    // work than its share) and tokens of its share it threw away with nothing to send.
    const own = async (): Promise<{ held: number; unused: number }[]> =>
      Promise.all(
        four.map(async (m) => ({
          held: (await metric(m.port, 'webscale_rl_llm_rate_held_back_seconds_total')) ?? NaN,
          unused: (await metric(m.port, 'webscale_rl_llm_rate_unused_total', { dimension: 'tokens' })) ?? NaN,
        })),
      );
    const before = await own();
    const start = Date.now();
    await sleep(WINDOW_MS);
    const end = Date.now();
    const after = await own();
    const stats = s.llm.rateStats();
    const admitted = stats.admitted.filter((a) => a.at >= start && a.at < end);
    const refused = stats.refused.filter((t) => t >= start && t < end);
    const tokens = admitted.reduce((n, a) => n + a.tokens, 0);
    const minutes = (end - start) / 60_000;
    const requestShare = admitted.length / (RPM * minutes);
    const tokenShare = tokens / (TPM * minutes);
    const refusedShare = refused.length / (admitted.length + refused.length);
    const figures = {
      window_s: (end - start) / 1000,
      calls: admitted.length,
      refused_429: refused.length,
      refused_share: Number(refusedShare.toFixed(4)),
      requests_per_min: Math.round(admitted.length / minutes),
      tokens_per_min: Math.round(tokens / minutes),
      rpm_used: Number(requestShare.toFixed(3)),
      tpm_used: Number(tokenShare.toFixed(3)),
      refused_429_whole_run: stats.refused.length,
      // Per worker (generate-a, generate-b, check-a, check-b): share of the window it was held
      // back by its share, and the tokens/min of its share it left unused.
      held_back: after.map((a, i) => Number(((a.held - (before[i]?.held ?? NaN)) / ((end - start) / 1000)).toFixed(3))),
      unused_tokens_per_min: after.map((a, i) => Math.round((a.unused - (before[i]?.unused ?? NaN)) / minutes)),
    };
    process.stderr.write(`rate-limit figures: ${JSON.stringify(figures)}\n`);
    // Every worker had more work than its share all along: else a shortfall below would be the
    // workload running dry, not the limiter.
    figures.held_back.forEach((held, i) => expect(held, `worker ${i} (generate-a, generate-b, check-a, check-b) held back by its share`).toBeGreaterThanOrEqual(0.9));
    expect(refusedShare).toBeLessThan(0.01);
    // The binding limit (tokens, with the stand-in's prompts) is what can be used to 90%.
    expect(Math.max(requestShare, tokenShare)).toBeGreaterThanOrEqual(0.9);
    // The server let nothing over its limit through (its buckets hold 10 s of refill).
    expect(admitted.length).toBeLessThanOrEqual(RPM * minutes + RPM / 6);
    expect(tokens).toBeLessThanOrEqual(TPM * minutes + TPM / 6);
    // Both stages got work through the shared limit.
    for (const m of four) expect(await metric(m.port, 'webscale_rl_llm_request_duration_seconds_count')).toBeGreaterThan(10);

    // Membership converges: a worker leaving with SIGTERM is dropped by the others at once (its
    // last record says so); one killed with SIGKILL holds its share until its TTL (5 s) passes.
    // The SIGTERM'd worker first drains its records in flight, which wait for its share: with a
    // backlog that takes up to kafka.shutdownGrace (30 s); it says goodbye after that.
    const [gA, gB, cA, cB] = four as [Member, Member, Member, Member];
    let t = Date.now();
    let exitedAt = 0;
    const exited = cB.worker.exited.then((code) => {
      exitedAt = Date.now();
      return code;
    });
    cB.worker.proc.kill('SIGTERM');
    await waitFor('three members after a SIGTERM', async () => (await Promise.all([gA, gB, cA].map((m) => metric(m.port, 'webscale_rl_llm_rate_members')))).every((n) => n === 3), 60_000);
    const sawThree = Date.now();
    expect(await exited).toBe(0);
    const drained = exitedAt - t;
    // Its last record goes out just before it exits; seen before the exit counts as 0.
    const afterLeave = Math.max(0, sawThree - exitedAt);
    t = Date.now();
    gB.worker.proc.kill('SIGKILL');
    await waitFor('two members after a SIGKILL', async () => (await Promise.all([gA, cA].map((m) => metric(m.port, 'webscale_rl_llm_rate_members')))).every((n) => n === 2), 30_000);
    const afterKill = Date.now() - t;
    const sum = (await Promise.all([gA, cA].map((m) => metric(m.port, 'webscale_rl_llm_rate_share')))).reduce<number>((a, b) => a + (b ?? 0), 0);
    process.stderr.write(`membership figures: ${JSON.stringify({ sigterm_drain_ms: drained, after_leaving_ms: afterLeave, sigkill_ms: afterKill, share_sum_after: sum })}\n`);
    expect(drained).toBeLessThan(30_000 + 10_000);
    expect(afterLeave).toBeLessThan(5000);
    expect(afterKill).toBeGreaterThanOrEqual(3000);
    expect(afterKill).toBeLessThan(10_000);
    expect(sum).toBeCloseTo(1, 1);
  }, 420_000);
});
