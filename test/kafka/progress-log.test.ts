/**
 * The counts line of the long-running Kafka commands, on the real broker with the CLI's own node
 * process: a stage worker logs consumed, produced, rejected, dead letters, records and LLM calls
 * in flight and lag every --progress-interval, and its last lines agree with what it did; the
 * folder follower logs files and documents the same way.
 */
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopicSpecs } from '../../src/topics/index.js';
import { createTestTopics, freshPrefix } from '../support/kafka.js';
import { killIngests, spawnIngest, waitFor } from '../support/ingest.js';
import { sleep, usePipelineSuite } from '../support/pipeline.js';

// Slow enough that LLM calls are seen in flight between two lines half a second apart.
const suite = usePipelineSuite('progress', { latencyMs: 400, maxLog: 100 });

interface ProgressLine {
  msg: string;
  stage?: string;
  progress: Record<string, number | string | null>;
}

function progressLines(stderr: string): ProgressLine[] {
  const out: ProgressLine[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Partial<ProgressLine>;
    if (entry.progress && typeof entry.msg === 'string') out.push(entry as ProgressLine);
  }
  return out;
}

describe('progress lines of long-running Kafka commands', () => {
  it('a stage worker logs its counts every interval, ending at what it did', async () => {
    const { h } = suite;
    const prefix = freshPrefix('progress');
    await createTestTopics(prefix);
    // 20 documents: 2 too short and 2 unqualified (rejected by filter), 16 pass; one broken line.
    const input = await h.writeInput('progress', 20);
    await h.ingest(prefix, input);
    // Without dedup the filter reads docs.raw itself.
    const worker = h.startWorker('filter', prefix, {
      args: ['--concurrency', '2', '--progress-interval', '0.5'],
      env: { WEBSCALE_LOG_LEVEL: 'info', WEBSCALE_DEDUP_ENABLED: 'false' },
    });
    const final = `filter: consumed 20, produced 16 to ${prefix}docs.filtered, rejected 4, dead letters 0; in flight 0 records, 0 LLM calls; lag 0 on 3 partitions`;
    await waitFor('the final progress line', () => Promise.resolve(progressLines(worker.stderr()).some((l) => l.msg === final)), 90_000, 250);
    const lines = progressLines(worker.stderr());
    expect(lines.every((l) => l.stage === 'filter')).toBe(true);
    const last = lines.find((l) => l.msg === final);
    expect(last?.progress).toMatchObject({ state: 'running', consumed: 20, produced: 16, rejected: 4, dead_letters: 0, records_in_flight: 0, llm_calls_in_flight: 0, partitions: 3, lag: 0, paused: null });
    // While it worked: LLM calls in flight (at most the concurrency) and records not yet committed.
    const busy = lines.filter((l) => Number(l.progress['llm_calls_in_flight']) > 0);
    expect(busy.length, lines.map((l) => l.msg).join('\n')).toBeGreaterThan(0);
    expect(Math.max(...busy.map((l) => Number(l.progress['llm_calls_in_flight'])))).toBeLessThanOrEqual(2);
    expect(lines.some((l) => Number(l.progress['lag']) > 0)).toBe(true);
    // Counts only grow.
    const consumed = lines.map((l) => Number(l.progress['consumed']));
    expect(consumed).toEqual([...consumed].sort((a, b) => a - b));
    // Spaced by the interval: a 0.5 s interval gives no burst of lines.
    await sleep(1200);
    const more = progressLines(worker.stderr()).length - lines.length;
    expect(more).toBeGreaterThanOrEqual(1);
    expect(more).toBeLessThanOrEqual(4);
  }, 180_000);

  it('the folder follower logs files and documents every interval', async () => {
    const prefix = freshPrefix('progress-follow');
    await createTestTopics(prefix, loadTopicSpecs().filter((s) => ['docs.raw', 'rejections', 'dlq'].includes(s.suffix)));
    const root = await mkdtemp(join(tmpdir(), 'wsrl-progress-follow-'));
    const crawl = join(root, 'crawl');
    await mkdir(crawl);
    const cfg = join(root, 'follow.yaml');
    await writeFile(cfg, `ingest:\n  follow:\n    settle: 300ms\n    pollInterval: 200ms\n    name: ${prefix}follower\n`);
    let text = '';
    for (let i = 0; i < 30; i++) text += JSON.stringify({ id: `f-${i}`, text: `Line ${i}: the ferry left the harbour with ${i} passengers aboard.` }) + '\n';
    text += '{"id": "broken", "text": \n';
    await writeFile(join(crawl, 'one.jsonl.part'), text);
    await rename(join(crawl, 'one.jsonl.part'), join(crawl, 'one.jsonl'));
    const follower = spawnIngest(['--follow', crawl, '--config', cfg, '--progress-interval', '0.5'], prefix, { WEBSCALE_LOG_LEVEL: 'info' });
    try {
      const final = `ingest-follow: 1 files done, 30 documents committed to ${prefix}docs.raw, 1 rejected, 0 records skipped (not content); waiting for closed files`;
      await waitFor('the follower progress line', () => Promise.resolve(progressLines(follower.stderr()).some((l) => l.msg === final)), 60_000, 250);
      const line = progressLines(follower.stderr()).find((l) => l.msg === final);
      expect(line?.stage).toBe('ingest-follow');
      expect(line?.progress).toMatchObject({ files: 1, documents: 30, rejected: 1, skipped: 0, reading: null });
    } finally {
      killIngests();
    }
  }, 120_000);
});
