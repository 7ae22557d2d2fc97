/**
 * Misconfiguration never eats data: a stage worker whose LLM cannot serve (an endpoint answering
 * 404 to everything, a model file that is not there) stays out of its group, unready, consuming
 * nothing and dead-lettering nothing; fixed, it proceeds and the output is complete. The same
 * answers arriving mid-run pause consumption like an outage instead of dead-lettering.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { sleep, usePipelineSuite } from '../support/pipeline.js';
import { freePort, metric } from '../support/worker-metrics.js';

const s = usePipelineSuite('misconf', { latencyMs: 5, maxLog: 100 });

afterEach(() => s.llm.setFailAll(undefined));

async function readyz(port: number): Promise<{ status: number; body: Record<string, unknown> } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return null;
  }
}

async function outcomes(prefix: string): Promise<{ filtered: number; rejected: number; dlq: number }> {
  return {
    filtered: (await s.h.exportJsonl(prefix, 'docs.filtered')).length,
    rejected: (await s.h.exportJsonl(prefix, 'rejections')).length,
    dlq: (await s.h.exportJsonl(prefix, 'dlq')).length,
  };
}

async function waitFor(what: () => Promise<boolean>, timeoutMs: number, label: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(1000);
  }
}

describe('a worker whose LLM cannot serve (real broker)', () => {
  it('an endpoint answering 404: unready, nothing consumed or dead-lettered; fixed, it completes; 404s mid-run pause it', async () => {
    const prefix = freshPrefix('misconf');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    s.llm.setFailAll(404);
    // 10 documents and one malformed line (rejected at ingest): 11 outcomes expected at the end.
    await s.h.ingest(prefix, await s.h.writeInput('misconf', 10));
    const port = await freePort();
    const w = s.h.startWorker('filter', prefix, { args: ['--metrics-port', String(port)], env: { WEBSCALE_DEDUP_ENABLED: 'false' } });
    await sleep(8000);
    const r = await readyz(port);
    expect(r?.status).toBe(503);
    expect((r?.body['checks'] as Record<string, unknown>)['llm']).toBe(false);
    expect(await metric(port, 'webscale_rl_records_consumed_total')).toBe(0);
    expect(await outcomes(prefix)).toEqual({ filtered: 0, rejected: 1, dlq: 0 });
    expect(w.stderr()).toMatch(/LLM cannot serve stage filter: .*404/);

    s.llm.setFailAll(undefined);
    await waitFor(async () => (await readyz(port))?.status === 200, 60_000, 'ready');
    await waitFor(async () => {
      const o = await outcomes(prefix);
      return o.filtered + o.rejected >= 11;
    }, 60_000, 'the first batch');

    // The endpoint breaks again while records arrive: an outage, not dead letters.
    s.llm.setFailAll(501);
    await s.h.ingest(prefix, await s.h.writeInput('misconf2', 10));
    await sleep(8000);
    expect((await outcomes(prefix)).dlq).toBe(0);
    s.llm.setFailAll(undefined);
    await waitFor(async () => {
      const o = await outcomes(prefix);
      return o.filtered + o.rejected >= 22;
    }, 120_000, 'the second batch');
    const o = await outcomes(prefix);
    expect(o.dlq).toBe(0);
    const filtered = await s.h.exportJsonl(prefix, 'docs.filtered');
    const ids = filtered.map((f) => (f['doc'] as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(w.proc.exitCode).toBeNull();
  }, 300_000);

  it('no model file: unready, nothing consumed, nothing dead-lettered', async () => {
    const prefix = freshPrefix('nomodel');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    await s.h.ingest(prefix, await s.h.writeInput('nomodel', 5));
    const cfg = join(s.h.dir, 'nomodel.yaml');
    await writeFile(cfg, `llm:\n  backend: local\n  local:\n    modelPath: ${join(s.h.dir, 'not-there.gguf')}\n`);
    const port = await freePort();
    const w = s.h.startWorker('identify', prefix, { args: ['--config', cfg, '--metrics-port', String(port)]});
    await s.h.ingest(prefix, await s.h.writeInput('nomodel-b', 1));
    await sleep(8000);
    const r = await readyz(port);
    expect(r?.status).toBe(503);
    expect(await metric(port, 'webscale_rl_records_consumed_total')).toBe(0);
    expect((await outcomes(prefix)).dlq).toBe(0);
    expect(w.stderr()).toMatch(/LLM cannot serve stage identify/);
    expect(w.proc.exitCode).toBeNull();
  }, 120_000);
});
