/**
 * Batch mode on Kafka (`stage generate --batch`, `stage check --batch`) on the real broker,
 * against the stand-in's Batch API: the sink and the rejections equal the embedded run of the
 * same input, the generate and check calls are made only through batches, and a generate worker
 * killed (SIGKILL) while its batches are in progress, then started again, collects them from the
 * batch state topic and puts no request in two batches.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE_MARKER } from '../../src/llm/probe.js';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { sleep, usePipelineSuite } from '../support/pipeline.js';
import { detectStage } from '../support/stand-in-llm.js';

const s = usePipelineSuite('batch', { latencyMs: 5 });

describe('generate and check in batch mode (real broker)', () => {
  it('equals the embedded run; a generate worker killed mid-batch and restarted resubmits nothing', async () => {
    const prefix = freshPrefix('batch');
    await createTestTopics(prefix, undefined, { partitions: 3 });
    const input = await s.h.writeInput('batch', 30);
    const expected = await s.h.embeddedExpectation(input);
    const cfg = join(s.h.dir, 'batch.yaml');
    await writeFile(cfg, 'kafka:\n  commitInterval: 250ms\nllm:\n  batch:\n    window: 300ms\n    pollInterval: 100ms\n');
    const since = Date.now();
    const before = s.llm.batches.created().length;
    s.llm.batches.hold(true);
    for (const stage of ['dedup', 'filter', 'identify']) s.h.startWorker(stage, prefix, { args: ['--config', cfg, '--concurrency', '4'] });
    const generate = s.h.startWorker('generate', prefix, { args: ['--config', cfg, '--concurrency', '4', '--batch'], instance: 'generate-1' });
    s.h.startWorker('check', prefix, { args: ['--config', cfg, '--concurrency', '4', '--batch'], instance: 'check-1' });
    await s.h.ingest(prefix, input);

    // Let generate's batches be submitted (they stay in progress), then kill it.
    const deadline = Date.now() + 90_000;
    while (s.llm.batches.created().length === before) {
      if (Date.now() > deadline) throw new Error(`no batch submitted: ${generate.stderr()}`);
      await sleep(100);
    }
    await sleep(3000);
    const held = s.llm.batches.created().slice(before);
    expect(held.every((b) => b.status !== 'completed')).toBe(true);
    generate.proc.kill('SIGKILL');
    await generate.exited;

    const restarted = s.h.startWorker('generate', prefix, { args: ['--config', cfg, '--concurrency', '4', '--batch'], instance: 'generate-2' });
    s.llm.batches.hold(false);
    await s.h.waitForCompletion(prefix, expected, 120_000);
    await s.h.assertExactlyOnce(prefix, expected);

    const batches = s.llm.batches.created().slice(before);
    const ids = batches.flatMap((b) => b.customIds);
    expect(new Set(ids).size, `a request was submitted twice; generate-2 said: ${restarted.stderr()}`).toBe(ids.length);
    // Every batch held at the kill was collected by the restarted worker.
    for (const b of held) expect(s.llm.batches.created().find((c) => c.id === b.id)?.status).toBe('completed');
    // Check's batches came after generate's.
    expect(batches.length).toBeGreaterThan(held.length);
    // No generate or check call went online (none of their lines failed).
    const online = s.llm.requests.filter(
      (r) => r.receivedAt >= since && r.path === '/v1/chat/completions' && !JSON.stringify(r.body).includes(PROBE_MARKER) && ['generate', 'check'].includes(detectStage(r.body as Record<string, unknown>) ?? ''),
    );
    expect(online).toHaveLength(0);
  }, 300_000);

  it('a live worker that takes over a killed worker\'s partitions collects its batches, submitted after it started', async () => {
    const prefix = freshPrefix('batchmove');
    await createTestTopics(prefix, undefined, { partitions: 4 });
    const input = await s.h.writeInput('batchmove', 30);
    const expected = await s.h.embeddedExpectation(input);
    const cfg = join(s.h.dir, 'batchmove.yaml');
    await writeFile(cfg, 'kafka:\n  commitInterval: 250ms\n  sessionTimeout: 6s\nllm:\n  batch:\n    window: 300ms\n    pollInterval: 100ms\n');
    const before = s.llm.batches.created().length;
    s.llm.batches.hold(true);
    for (const stage of ['dedup', 'filter', 'identify']) s.h.startWorker(stage, prefix, { args: ['--config', cfg, '--concurrency', '4'] });
    // Both generate workers start (and read the empty state) before any batch exists.
    const info = { WEBSCALE_LOG_LEVEL: 'info' };
    const a = s.h.startWorker('generate', prefix, { args: ['--config', cfg, '--concurrency', '4', '--batch'], instance: 'generate-a', env: info });
    const b = s.h.startWorker('generate', prefix, { args: ['--config', cfg, '--concurrency', '4', '--batch'], instance: 'generate-b', env: info });
    s.h.startWorker('check', prefix, { args: ['--config', cfg, '--concurrency', '4', '--batch'], instance: 'check-1' });
    await sleep(8000);
    await s.h.ingest(prefix, input);
    const deadline = Date.now() + 90_000;
    while (s.llm.batches.created().length - before < 2) {
      if (Date.now() > deadline) throw new Error(`fewer than two batches: ${a.stderr()} ${b.stderr()}`);
      await sleep(100);
    }
    await sleep(3000);
    const held = s.llm.batches.created().slice(before);
    // Both workers own partitions and have batches in progress.
    expect(a.stderr()).toContain('"msg":"batch submitted"');
    expect(b.stderr()).toContain('"msg":"batch submitted"');
    a.proc.kill('SIGKILL');
    await a.exited;
    // generate-b takes generate-a's partitions after the session timeout and re-reads its records.
    await sleep(9000);
    s.llm.batches.hold(false);
    await s.h.waitForCompletion(prefix, expected, 120_000);
    await s.h.assertExactlyOnce(prefix, expected);
    const ids = s.llm.batches.created().slice(before).flatMap((x) => x.customIds);
    expect(new Set(ids).size, `a request was submitted twice; generate-b said: ${b.stderr()}`).toBe(ids.length);
    for (const x of held) expect(s.llm.batches.created().find((c) => c.id === x.id)?.status).toBe('completed');
  }, 300_000);

  it('refuses --batch for a stage other than generate and check', async () => {
    const prefix = freshPrefix('batchusage');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    const w = s.h.startWorker('filter', prefix, { args: ['--batch'] });
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toContain('--batch is for the generate and check stages');
  });
});
