/**
 * `ingest --follow <dir>` on the real broker: a crawler closes files in a folder over time (one
 * renamed into place, one written in place in several steps, temporary names that must never be
 * read); the follower (the node process itself) is killed with SIGKILL in the middle of a file,
 * more files are closed while it is down, and it is started again. docs.raw read read_committed
 * holds each document exactly once, the bad line is one rejection, and the progress topic says
 * every file is done.
 */
import { mkdir, mkdtemp, rename, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DocumentRecord, Rejection } from '../../src/core/records.js';
import { parseProgress, type FileProgress } from '../../src/ingest/follow-progress.js';
import { loadTopicSpecs } from '../../src/topics/index.js';
import { cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { killIngests, readCommitted, readCommittedRaw, spawnIngest, waitFor } from '../support/ingest.js';
import { freePort, metric } from '../support/worker-metrics.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function lines(file: string, from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += JSON.stringify({ id: `${file}-${i}`, text: `Line ${i} of ${file}: the harbour master logged ${i % 17} ships before noon.` }) + '\n';
  return out;
}

/** Latest progress per file, as committed. */
async function progressOf(kafka: Kafka, topic: string): Promise<Map<string, FileProgress>> {
  const latest = new Map<string, FileProgress>();
  for (const m of await readCommittedRaw(kafka, topic).catch(() => [])) {
    const p = parseProgress(m.value);
    if (p) latest.set(p.file, p);
  }
  return latest;
}

describe('ingest --follow (real broker)', () => {
  beforeAll(ensureBroker, 600_000);
  afterEach(killIngests);
  afterAll(cleanupKafka);

  it('reads each closed file exactly once across a kill -9 mid-file, and files closed while it was down', async () => {
    const prefix = freshPrefix('follow');
    await createTestTopics(prefix, loadTopicSpecs().filter((s) => ['docs.raw', 'rejections', 'dlq'].includes(s.suffix)));
    const kafka = testKafka('follow-test');
    const raw = `${prefix}docs.raw`;
    const progressTopic = `${prefix}ingest.progress`;
    const root = await mkdtemp(join(tmpdir(), 'wsrl-follow-'));
    const crawl = join(root, 'crawl');
    await mkdir(crawl);
    const cfg = join(root, 'follow.yaml');
    await writeFile(cfg, `ingest:\n  follow:\n    settle: 500ms\n    pollInterval: 200ms\n    batchRecords: 40\n    name: ${prefix}follower\n`);

    // Renamed into place when complete, with one malformed line in the middle.
    await writeFile(join(crawl, 'a.jsonl.part'), lines('a', 0, 2500) + '{"id": "a-broken", "text": \n' + lines('a', 2500, 5000));
    await rename(join(crawl, 'a.jsonl.part'), join(crawl, 'a.jsonl'));
    // Names that are never closed: still being written, or hidden.
    await writeFile(join(crawl, 'z.jsonl.tmp'), lines('tmp', 0, 10));
    await writeFile(join(crawl, '.hidden.jsonl'), lines('hidden', 0, 10));

    const port = await freePort();
    const args = ['--follow', crawl, '--config', cfg, '--metrics-port', String(port)];
    let follower = spawnIngest(args, prefix);
    // Written in place in steps, while the follower runs: read only once quiet for `settle`.
    for (let step = 0; step < 5; step++) {
      await appendFile(join(crawl, 'b.jsonl'), lines('b', step * 1000, (step + 1) * 1000));
      await sleep(150);
    }
    // Killed with one file done (its progress must survive the restart) and the next one begun.
    const midway = (p: Map<string, FileProgress>): boolean => p.get('a.jsonl')?.done === true && [...p.values()].some((f) => !f.done && f.records > 0);
    await waitFor('the follower done with a.jsonl and in the middle of the next file', async () => midway(await progressOf(kafka, progressTopic)), 120_000, 100);
    expect(await metric(port, 'webscale_rl_records_produced_total')).toBeGreaterThan(0);
    follower.proc.kill('SIGKILL');
    expect(await follower.exited).toBeNull();
    expect(midway(await progressOf(kafka, progressTopic)), 'killed in the middle of a file, after a whole one').toBe(true);

    // Closed while the follower is down.
    await writeFile(join(crawl, 'c.jsonl.part'), lines('c', 0, 1000));
    await rename(join(crawl, 'c.jsonl.part'), join(crawl, 'c.jsonl'));
    await writeFile(join(crawl, 'd.txt'), 'A plain text page the crawler saved whole, about tides and the harbour.');

    follower = spawnIngest(args, prefix);
    await waitFor('a, b, c and d done', async () => {
      const p = await progressOf(kafka, progressTopic);
      return ['a.jsonl', 'b.jsonl', 'c.jsonl', 'd.txt'].every((f) => p.get(f)?.done === true);
    }, 180_000, 1000);
    // And one closed while it runs.
    await writeFile(join(crawl, 'e.jsonl.part'), lines('e', 0, 300));
    await rename(join(crawl, 'e.jsonl.part'), join(crawl, 'e.jsonl'));
    await waitFor('e done', async () => (await progressOf(kafka, progressTopic)).get('e.jsonl')?.done === true, 60_000, 500);

    const docs = await readCommitted<DocumentRecord>(kafka, raw, 'Document');
    const ids = docs.map((d) => d.id);
    expect(ids.length - new Set(ids).size, 'duplicates in docs.raw').toBe(0);
    const expected = new Set<string>();
    for (const [f, n] of [['a', 5000], ['b', 5000], ['c', 1000], ['e', 300]] as const) for (let i = 0; i < n; i++) expected.add(`${f}-${i}`);
    const textDoc = docs.find((d) => d.source === 'd.txt');
    expect(textDoc?.text).toMatch(/tides and the harbour/);
    expect(new Set(ids.filter((id) => id !== textDoc?.id))).toEqual(expected);

    const rejections = await readCommitted<Rejection>(kafka, `${prefix}rejections`, 'Rejection');
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ reason: 'input.invalid_json', line: 2501 });
    expect(rejections[0]?.detail).toMatch(/^a\.jsonl: line 2501: /);

    const progress = await progressOf(kafka, progressTopic);
    expect([...progress.keys()].sort()).toEqual(['a.jsonl', 'b.jsonl', 'c.jsonl', 'd.txt', 'e.jsonl']);
    expect(progress.get('a.jsonl')).toMatchObject({ done: true, records: 5001 });
    expect(progress.get('b.jsonl')).toMatchObject({ done: true, records: 5000 });
    follower.proc.kill('SIGTERM');
    expect(await follower.exited).toBe(0);
  }, 400_000);

  it('fences a follower frozen mid-file once another of the same name takes over', async () => {
    const prefix = freshPrefix('followz');
    await createTestTopics(prefix, loadTopicSpecs().filter((s) => ['docs.raw', 'rejections', 'dlq'].includes(s.suffix)));
    const kafka = testKafka('follow-zombie');
    const progressTopic = `${prefix}ingest.progress`;
    const root = await mkdtemp(join(tmpdir(), 'wsrl-followz-'));
    const crawl = join(root, 'crawl');
    await mkdir(crawl);
    const cfg = join(root, 'follow.yaml');
    await writeFile(cfg, `ingest:\n  follow:\n    settle: 300ms\n    pollInterval: 200ms\n    batchRecords: 20\n    name: ${prefix}follower\n`);
    await writeFile(join(crawl, 'big.jsonl.part'), lines('big', 0, 8000));
    await rename(join(crawl, 'big.jsonl.part'), join(crawl, 'big.jsonl'));

    const args = ['--follow', crawl, '--config', cfg];
    const a = spawnIngest(args, prefix);
    await waitFor('a in the middle of big.jsonl', async () => {
      const p = (await progressOf(kafka, progressTopic)).get('big.jsonl');
      return p !== undefined && !p.done && p.records > 0;
    }, 120_000, 100);
    // Frozen while it holds an open transaction or a batch in hand; a replacement takes its name.
    a.proc.kill('SIGSTOP');
    const b = spawnIngest(args, prefix);
    await waitFor('b done with big.jsonl', async () => (await progressOf(kafka, progressTopic)).get('big.jsonl')?.done === true, 120_000, 500);
    a.proc.kill('SIGCONT');
    expect(await a.exited, a.stderr()).toBe(1);
    expect(a.stderr()).toMatch(/took over/);

    await writeFile(join(crawl, 'next.jsonl.part'), lines('next', 0, 100));
    await rename(join(crawl, 'next.jsonl.part'), join(crawl, 'next.jsonl'));
    await waitFor('b done with next.jsonl', async () => (await progressOf(kafka, progressTopic)).get('next.jsonl')?.done === true, 60_000, 500);
    const ids = (await readCommitted<DocumentRecord>(kafka, `${prefix}docs.raw`, 'Document')).map((d) => d.id);
    expect(ids.length - new Set(ids).size, 'duplicates in docs.raw').toBe(0);
    expect(ids).toHaveLength(8100);
    b.proc.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 400_000);
});
