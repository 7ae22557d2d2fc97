/**
 * Exactly-once against the failure kill -9 does not show: a worker frozen (SIGSTOP) past its
 * session timeout while it holds results, whose partitions move to the other worker of its stage,
 * and which then wakes (SIGCONT) believing it still owns them. Two workers per stage for generate
 * and check, three rounds alternating between them; then a rolling replacement of pods with new
 * instance ids mid-run. And the converse: a worker fenced while the group still assigns it the
 * partition (the broker aborted its transaction, or a zombie of an older generation ran
 * InitProducerId) takes the partition back instead of leaving it idle until some later rebalance.
 * The read_committed sink must hold every expected QA record exactly once.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { groupName, topicName } from '../../src/kafka/index.js';
import { transactionalIdFor } from '../../src/runtime/partition-owner.js';
import { createTestTopics, freshPrefix, testKafka } from '../support/kafka.js';
import { sleep, usePipelineSuite, type Worker } from '../support/pipeline.js';
import { freePort, metric } from '../support/worker-metrics.js';

// Slow calls and few slots, so every freeze and every replacement lands with work in flight.
const s = usePipelineSuite('zombie', { latencyMs: 1200, maxLog: 100 });

interface Member {
  worker: Worker;
  port: number;
}

async function member(stage: string, prefix: string, cfg: string, instance: string): Promise<Member> {
  const port = await freePort();
  const worker = s.h.startWorker(stage, prefix, { args: ['--config', cfg, '--concurrency', '4', '--metrics-port', String(port)], instance });
  return { worker, port };
}

/** Waits until the worker holds records in flight (results pending when it is frozen). */
async function busy(m: Member, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (((await metric(m.port, 'webscale_rl_in_flight_records')) ?? 0) > 0) return true;
    await sleep(100);
  }
  return false;
}

describe('zombies and replaced pods (real broker)', () => {
  it('fences workers frozen past their session timeout: no duplicate, nothing lost', async () => {
    const prefix = freshPrefix('zombie');
    await createTestTopics(prefix, undefined, { partitions: 4 });
    const input = await s.h.writeInput('zombie', 160);
    const expected = await s.h.embeddedExpectation(input);
    const cfg = join(s.h.dir, 'zombie.yaml');
    // The broker's minimum session timeout; commits often, so a woken zombie tries to commit at once.
    await writeFile(cfg, 'kafka:\n  sessionTimeout: 6s\n  commitInterval: 250ms\n');
    await member('dedup', prefix, cfg, 'dedup-1');
    await member('filter', prefix, cfg, 'filter-1');
    await member('identify', prefix, cfg, 'identify-1');
    const pairs = {
      generate: [await member('generate', prefix, cfg, 'generate-a'), await member('generate', prefix, cfg, 'generate-b')],
      check: [await member('check', prefix, cfg, 'check-a'), await member('check', prefix, cfg, 'check-b')],
    };
    await s.h.ingest(prefix, input);
    let frozenBusy = 0;
    for (let round = 0; round < 3; round++) {
      const victims = [pairs.generate[round % 2] as Member, pairs.check[round % 2] as Member];
      for (const v of victims) if (await busy(v, 60_000)) frozenBusy++;
      for (const v of victims) v.worker.proc.kill('SIGSTOP');
      // Past the session timeout: the group evicts them and the other member takes their partitions.
      await sleep(12_000);
      for (const v of victims) v.worker.proc.kill('SIGCONT');
      await sleep(4000);
    }
    expect(frozenBusy, 'workers frozen with results pending').toBeGreaterThanOrEqual(4);
    const sinkBefore = (await s.h.exportJsonl(prefix, 'qa.verified')).length;
    expect(sinkBefore, 'the freezes must land mid-run').toBeLessThan(expected.qa.size);
    await s.h.waitForCompletion(prefix, expected, 300_000);
    await sleep(3000);
    await s.h.assertExactlyOnce(prefix, expected);
    // The zombies did try: some of their partitions were taken over while they were frozen.
    let fenced = 0;
    for (const m of [...pairs.generate, ...pairs.check]) fenced += (await metric(m.port, 'webscale_rl_partitions_fenced_total')) ?? 0;
    expect(fenced, 'zombie commits refused by fencing').toBeGreaterThan(0);
    for (const m of [...pairs.generate, ...pairs.check]) expect(m.worker.proc.exitCode, m.worker.stderr().slice(-2000)).toBeNull();
  }, 600_000);

  it('survives a rolling replacement of pods with new instance ids mid-run', async () => {
    const prefix = freshPrefix('rolling');
    await createTestTopics(prefix, undefined, { partitions: 4 });
    const input = await s.h.writeInput('rolling', 120);
    const expected = await s.h.embeddedExpectation(input);
    const cfg = join(s.h.dir, 'rolling.yaml');
    await writeFile(cfg, 'kafka:\n  sessionTimeout: 6s\n  shutdownGrace: 5s\n');
    await member('dedup', prefix, cfg, 'dedup-1');
    await member('filter', prefix, cfg, 'filter-1');
    await member('identify', prefix, cfg, 'identify-1');
    const current = { generate: await member('generate', prefix, cfg, 'generate-pod-0'), check: await member('check', prefix, cfg, 'check-pod-0') };
    await s.h.ingest(prefix, input);
    for (let rollout = 1; rollout <= 2; rollout++) {
      for (const stage of ['generate', 'check'] as const) {
        const old = current[stage];
        expect(await busy(old, 60_000), `${stage} busy before rollout ${rollout}`).toBe(true);
        // As a Deployment rolls: the new pod (a new identity) starts, then the old one gets SIGTERM.
        current[stage] = await member(stage, prefix, cfg, `${stage}-pod-${rollout}`);
        await sleep(3000);
        old.worker.proc.kill('SIGTERM');
        expect(await old.worker.exited).toBe(0);
      }
    }
    expect((await s.h.exportJsonl(prefix, 'qa.verified')).length, 'the rollouts must land mid-run').toBeLessThan(expected.qa.size);
    await s.h.waitForCompletion(prefix, expected, 300_000);
    await sleep(3000);
    await s.h.assertExactlyOnce(prefix, expected);
  }, 600_000);

  it('takes back a partition fenced while the group still assigns it here, and finishes it exactly once', async () => {
    const prefix = freshPrefix('refence');
    await createTestTopics(prefix, undefined, { partitions: 2 });
    const input = await s.h.writeInput('refence', 80);
    const expected = await s.h.embeddedExpectation(input);
    const cfg = join(s.h.dir, 'refence.yaml');
    await writeFile(cfg, 'kafka:\n  commitInterval: 250ms\n');
    await member('dedup', prefix, cfg, 'dedup-1');
    await member('filter', prefix, cfg, 'filter-1');
    await member('identify', prefix, cfg, 'identify-1');
    const generate = await member('generate', prefix, cfg, 'generate-1');
    await member('check', prefix, cfg, 'check-1');
    await s.h.ingest(prefix, input);
    expect(await busy(generate, 60_000), 'generate must hold work when it is fenced').toBe(true);
    // What the broker does to a transaction that outlived its timeout, done from outside: a
    // producer with the partition's transactional id runs InitProducerId, bumping its epoch. No
    // member joins or leaves, so no rebalance will ever hand the partition back.
    const generateInput = topicName(prefix, 'qa.tasks');
    const intruders = [0, 1].map((p) => testKafka('refence').producer({ transactionalId: transactionalIdFor(groupName(prefix, 'generate'), generateInput, p), idempotent: true, maxInFlightRequests: 1 }));
    for (const producer of intruders) {
      await producer.connect();
      await (await producer.transaction()).abort();
    }
    for (const producer of intruders) await producer.disconnect();
    const sinkBefore = (await s.h.exportJsonl(prefix, 'qa.verified')).length;
    expect(sinkBefore, 'the fencing must land mid-run').toBeLessThan(expected.qa.size);
    await s.h.waitForCompletion(prefix, expected, 180_000);
    await sleep(3000);
    await s.h.assertExactlyOnce(prefix, expected);
    expect(await metric(generate.port, 'webscale_rl_partitions_fenced_total')).toBeGreaterThanOrEqual(1);
    expect(generate.worker.stderr()).toMatch(/taken again, reading from its committed offset/);
  }, 300_000);
});
