/**
 * Memory bounded by configuration, not by one stuck record: a document the LLM can never answer
 * sits at offset 100 of a single partition, followed by 10,000 others. The others flow; their
 * outputs wait behind the stuck offset only as far as the commit metadata can list them and the
 * byte bound allows (intake pauses there); the stuck record reaches the DLQ once it is
 * `maxRecordAge` old, and everything behind it is committed.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { sleep, usePipelineSuite } from '../support/pipeline.js';
import { freePort, metric, rssKb } from '../support/worker-metrics.js';

const s = usePipelineSuite('membound', { latencyMs: 5, maxLog: 10 });

const DOCS = 10_000;
const STUCK = 100;
const MAX_BYTES = 4 * 1024 * 1024;
const MAX_AGE_MS = 20_000;
/** The stated bound for the worker's resident memory in this test. */
const RSS_BOUND_MB = 350;

describe('bounded memory behind a stuck record (real broker)', () => {
  it('keeps the others flowing, holds at most maxUncommittedBytes, dead-letters the stuck one after maxRecordAge', async () => {
    const prefix = freshPrefix('membound');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    const lines: string[] = [];
    for (let i = 0; i < DOCS; i++) {
      const sentence = `Entry ${i} records how the river delta near station ${i % 97} shifted its channels after the spring floods of year ${1900 + (i % 120)}.`;
      let text = Array.from({ length: 12 }, (_, k) => `${sentence} Survey ${k} confirmed it.`).join(' ');
      if (i === STUCK) text += ' [[fail500]]';
      lines.push(JSON.stringify({ id: `mb-${i}`, text }));
    }
    const input = join(s.h.dir, 'membound.jsonl');
    await writeFile(input, lines.join('\n') + '\n');
    const cfg = join(s.h.dir, 'membound.yaml');
    await writeFile(
      cfg,
      [
        'llm:',
        '  maxRetries: 1',
        '  backoffInitial: 10ms',
        '  backoffMax: 50ms',
        'kafka:',
        `  maxUncommittedBytes: ${MAX_BYTES}`,
        `  maxRecordAge: ${MAX_AGE_MS}ms`,
        '  maxRecordAttempts: 1000',
        // A small metadata window (about a thousand offsets), so outputs soon wait in memory.
        '  commitMetadataBytes: 200',
        '',
      ].join('\n'),
    );
    await s.h.ingest(prefix, input);
    const port = await freePort();
    const started = Date.now();
    const w = s.h.startWorker('filter', prefix, { args: ['--config', cfg, '--concurrency', '32', '--metrics-port', String(port)], instance: 'membound-1', env: { WEBSCALE_DEDUP_ENABLED: 'false' } });
    const pid = w.proc.pid as number;
    let maxHeld = 0;
    let maxRss = 0;
    const deadline = Date.now() + 240_000;
    for (;;) {
      maxHeld = Math.max(maxHeld, (await metric(port, 'webscale_rl_uncommitted_output_bytes')) ?? 0);
      maxRss = Math.max(maxRss, rssKb(pid));
      const produced = (await metric(port, 'webscale_rl_records_produced_total')) ?? 0;
      if (produced >= DOCS) break; // 9,999 filtered documents and 1 dead letter, all committed
      if (Date.now() > deadline) throw new Error(`timed out with ${produced} records committed; held max ${maxHeld} B`);
      await sleep(200);
    }
    const dlq = await s.h.exportJsonl(prefix, 'dlq');
    const filtered = await s.h.exportJsonl(prefix, 'docs.filtered');
    const ids = filtered.map((f) => (f['doc'] as { id: string }).id);
    expect(ids.length - new Set(ids).size, 'duplicates').toBe(0);
    expect(new Set(ids).size).toBe(DOCS - 1);
    expect(ids).not.toContain(`mb-${STUCK}`);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]).toMatchObject({ offset: String(STUCK), stage: 'filter', error_code: 'LLM_SERVER' });
    expect(String(dlq[0]?.['error'])).toContain('maxRecordAge');
    expect(Number(dlq[0]?.['created_at']) - started).toBeGreaterThanOrEqual(MAX_AGE_MS);
    // The bound held, and was reached (intake paused on it rather than never needing it).
    // Records already in flight when intake pauses still finish: at most highWater (3 x 32) of them.
    expect(maxHeld).toBeLessThanOrEqual(MAX_BYTES + 96 * 4096);
    expect(maxHeld).toBeGreaterThan(MAX_BYTES / 2);
    expect(w.stderr()).toContain('pausing intake: finished outputs wait behind a record still in flight');
    expect(maxRss / 1024, `peak RSS ${Math.round(maxRss / 1024)} MB`).toBeLessThan(RSS_BOUND_MB);
    console.log(`memory-bound: peak RSS ${Math.round(maxRss / 1024)} MB, held outputs max ${maxHeld} B of ${MAX_BYTES}, stuck record dead-lettered after ${Number(dlq[0]?.['created_at']) - started} ms`);
  }, 300_000);
});
