/**
 * The Python trainer client on the real broker, against a sink filled by the real TypeScript
 * pipeline (ingest + four stage worker processes + the stand-in LLM): QaStream reads exactly the
 * records `webscale-rl export` reads, reports an undecodable value and goes on; a consumer killed
 * with SIGKILL mid-batch resumes at its committed offset (nothing lost, only the uncommitted batch
 * again); a consumer frozen (SIGSTOP) past its session timeout while a second member of its group
 * takes over, then woken, loses nothing and its stale commit is refused; two ranks of the datasets
 * adapter split the sink without overlap; the worked example trains on it and commits.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { WORKER_STAGES } from '../../src/core/records.js';
import { brokers, createTestTopics, freshPrefix, testKafka } from '../support/kafka.js';
import { usePipelineSuite } from '../support/pipeline.js';
import { batchIds, clientPython, runPython, startPython, STREAM_READER, TRAIN_LOOP, type PyEvent } from './python.js';

const suite = usePipelineSuite('pyclient', { latencyMs: 5 });
const DOCS = 36;
let prefix: string;
let sinkTopic: string;
let sink: Record<string, unknown>[];
let sinkIds: string[];
let garbageOffset: string;

/**
 * Every few words carry this entry's numbers, so no two entries share enough word 5-grams for the
 * dedup stage to call them near duplicates.
 */
function prose(i: number): string {
  return Array.from(
    { length: 5 },
    (_, k) => `Entry ${i} part ${k} reports how the river delta shifted across ${i + k + 2} flood seasons, measured by ${i * 3 + k} survey teams with ${i * 7 + k} boats and careful notes.`,
  ).join(' ');
}

async function writeInput(dir: string): Promise<string> {
  const lines = Array.from({ length: DOCS }, (_, i) => {
    let text = prose(i);
    if (i % 3 === 0) text += ' [[domain:Math]]';
    // Each short text differs, so the dedup stage rejects none of them as another's copy.
    if (i % 9 === 4) text = `too short ${i}`;
    return JSON.stringify({ id: `py-${i}`, text, source: 'test' });
  });
  const path = join(dir, 'pyclient.jsonl');
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

function readerArgs(group: string, ...more: string[]): string[] {
  return ['--brokers', brokers().join(','), '--prefix', prefix, '--group', `${prefix}${group}`, ...more];
}

function endOf(events: PyEvent[]): { end: Record<string, number>; undecodable: unknown[][] } {
  const last = events.at(-1) as { end?: Record<string, number>; undecodable?: unknown[][] } | undefined;
  expect(last?.end, 'the reader reached the end').toBeDefined();
  return { end: last?.end ?? {}, undecodable: last?.undecodable ?? [] };
}

beforeAll(async () => {
  clientPython();
  const { h } = suite;
  prefix = freshPrefix('pyclient');
  const { names } = await createTestTopics(prefix);
  sinkTopic = names['qa.verified'] as string;
  const input = await writeInput(h.dir);
  const expected = await h.embeddedExpectation(input);
  await h.ingest(prefix, input);
  for (const s of WORKER_STAGES) h.startWorker(s, prefix);
  await h.waitForCompletion(prefix, expected, 180_000);
  await h.assertExactlyOnce(prefix, expected);
  h.killAll();
  sink = await h.exportJsonl(prefix, 'qa.verified');
  sinkIds = sink.map((r) => String(r['id']));
  // A value no decoder can read, after the pipeline's records (export would stop on it).
  const producer = testKafka('pyclient-garbage').producer();
  await producer.connect();
  const [meta] = await producer.send({ topic: sinkTopic, messages: [{ key: 'garbage', value: Buffer.from('not avro at all'), partition: 0 }] });
  await producer.disconnect();
  garbageOffset = String(meta?.baseOffset);
}, 600_000);

describe('Python QaStream on a sink filled by the TypeScript pipeline', () => {
  it('reads exactly the records export reads, and reports the undecodable value with its place', async () => {
    expect(sinkIds.length).toBeGreaterThan(DOCS);
    const events = await runPython(STREAM_READER, ['stream', ...readerArgs('all')]);
    const ids = batchIds(events);
    expect([...ids].sort()).toEqual([...sinkIds].sort());
    const { end, undecodable } = endOf(events);
    expect(end['delivered']).toBe(sinkIds.length);
    expect(end['undecodable']).toBe(1);
    expect(undecodable[0]?.slice(0, 3)).toEqual([sinkTopic, 0, Number(garbageOffset)]);
  });

  it('filters by domain and language and starts from a timestamp', async () => {
    const math = sink.filter((r) => r['domain'] === 'Math').map((r) => String(r['id']));
    expect(math.length).toBeGreaterThan(0);
    expect(math.length).toBeLessThan(sinkIds.length);
    const events = await runPython(STREAM_READER, ['stream', ...readerArgs('math', '--domain', 'Math')]);
    expect(batchIds(events).sort()).toEqual([...math].sort());
    expect(endOf(events).end['filtered']).toBe(sinkIds.length - math.length);

    // The filter stage records each document's language in the sink's provenance.
    const languageOf = (r: Record<string, unknown>): unknown => (r['provenance'] as { language?: unknown } | undefined)?.language ?? null;
    const english = sink.filter((r) => languageOf(r) === 'en').map((r) => String(r['id']));
    expect(english.length).toBeGreaterThan(0);
    const en = await runPython(STREAM_READER, ['stream', ...readerArgs('english', '--language', 'en')]);
    expect(batchIds(en).sort()).toEqual([...english].sort());
    const none = await runPython(STREAM_READER, ['stream', ...readerArgs('nolang', '--language', 'xx')]);
    expect(batchIds(none)).toEqual([]);

    const future = await runPython(STREAM_READER, ['stream', ...readerArgs('future', '--from-timestamp', String(Date.now() + 3_600_000))]);
    expect(batchIds(future)).toEqual([]);
    const past = await runPython(STREAM_READER, ['stream', ...readerArgs('past', '--from-timestamp', '0')]);
    expect(batchIds(past).sort()).toEqual([...sinkIds].sort());
  });

  it('resumes after SIGKILL mid-batch at the committed offset: nothing lost, only the uncommitted batch again', async () => {
    // A short session (librdkafka settings pass through), so the group drops the killed member soon.
    const session = ['--kafka', 'session.timeout.ms=6000', '--kafka', 'heartbeat.interval.ms=1000'];
    const args = readerArgs('killed', '--batch-size', '4', '--train-seconds', '1', ...session);
    const first = startPython(STREAM_READER, ['stream', ...args]);
    // Kill while the fourth batch is being "trained on" (handed out, not yet committed).
    await first.waitFor((ev) => ev.filter((e) => 'batch' in e).length >= 4, 120_000);
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    const before = first.events;
    const lastCommitted = Math.max(...before.filter((e) => 'committed' in e).map((e) => Number(e['committed'])));
    expect(lastCommitted).toBe(2);
    const uncommitted = before.filter((e) => 'batch' in e && Number(e['n']) > lastCommitted).flatMap((e) => e['batch'] as string[]);
    expect(uncommitted).toHaveLength(4);

    const second = await runPython(STREAM_READER, ['stream', ...readerArgs('killed', '--batch-size', '4', ...session)]);
    const firstIds = batchIds(before);
    const secondIds = batchIds(second);
    expect(new Set([...firstIds, ...secondIds])).toEqual(new Set(sinkIds));
    expect(new Set(secondIds).size).toBe(secondIds.length);
    const again = secondIds.filter((id) => firstIds.includes(id));
    expect(again.sort()).toEqual([...uncommitted].sort());
    expect(firstIds.length + secondIds.length).toBe(sinkIds.length + uncommitted.length);
  }, 240_000);

  it('loses nothing when a trainer is frozen past its session timeout (SIGSTOP) while its partner takes over, then woken', async () => {
    const session = ['--kafka', 'session.timeout.ms=6000', '--kafka', 'heartbeat.interval.ms=1000'];
    const args = ['stream', ...readerArgs('frozen', '--batch-size', '3', '--train-seconds', '0.5', ...session)];
    const a = startPython(STREAM_READER, args);
    await a.waitFor((ev) => ev.filter((e) => 'batch' in e).length >= 2, 120_000);
    a.proc.kill('SIGSTOP'); // most likely while it "trains" on its second batch, not yet committed
    const b = startPython(STREAM_READER, args);
    try {
      // B is handed the partitions once A's session has expired; wake A while B is mid-stream.
      await b.waitFor((ev) => ev.filter((e) => 'committed' in e).length >= 2, 120_000);
    } finally {
      a.proc.kill('SIGCONT');
    }
    const [codeA, codeB] = await Promise.all([a.exited, b.exited]);
    expect([codeA, codeB], a.stderr() + b.stderr()).toEqual([0, 0]);
    const idsA = batchIds(a.events);
    const idsB = batchIds(b.events);
    expect(new Set([...idsA, ...idsB])).toEqual(new Set(sinkIds));
    // Only records handed out but not committed when the group moved are delivered twice.
    const twice = idsA.filter((id) => idsB.includes(id));
    expect(twice.length).toBeLessThanOrEqual(3 * 3);
    expect(idsA.length + idsB.length).toBe(sinkIds.length + twice.length);
    const endA = endOf(a.events).end;
    expect(endA['commits_refused'], 'the woken trainer\'s commit was refused by the group').toBeGreaterThanOrEqual(1);
    // Everything is committed: the group has nothing left to deliver.
    const after = await runPython(STREAM_READER, args);
    expect(batchIds(after)).toEqual([]);
  }, 240_000);

  it('two ranks of the datasets IterableDataset see disjoint records whose union is the sink', async () => {
    const ranks = await Promise.all([0, 1].map((rank) => runPython(STREAM_READER, ['hf', ...readerArgs('ranks', '--rank', String(rank), '--world-size', '2')])));
    const [a, b] = ranks.map(batchIds) as [string[], string[]];
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    expect(a.filter((id) => b.includes(id))).toEqual([]);
    expect([...a, ...b].sort()).toEqual([...sinkIds].sort());
  }, 240_000);

  it('runs the worked example: trains on every record, scores with the reward, commits', async () => {
    const args = ['--brokers', brokers().join(','), '--prefix', prefix, '--group', `${prefix}example`, '--until-end'];
    const events = await runPython(TRAIN_LOOP, args);
    const summary = events.at(-1)?.['summary'] as { records: number; mean_reward: number; undecodable: number };
    expect(summary.records).toBe(sinkIds.length);
    expect(summary.mean_reward).toBeCloseTo(Math.ceil(sinkIds.length / 2) / sinkIds.length, 6);
    expect(summary.undecodable).toBe(1);
    const rewards = events.flatMap((e) => (Array.isArray(e['rewards']) ? (e['rewards'] as number[]) : []));
    expect(rewards.every((r, i) => r === (i % 2 === 0 ? 1 : 0))).toBe(true);
    // Everything was committed: the same group has nothing left.
    const rerun = await runPython(TRAIN_LOOP, args);
    expect((rerun.at(-1)?.['summary'] as { records: number }).records).toBe(0);
  }, 240_000);
});
