/**
 * The Kafka pipeline end to end on the real broker: `ingest`, five `stage` worker processes, and
 * the read_committed sink, checked against the embedded run of the same input (the same stage
 * code, so the same QA ids). Under kill -9, a poison record and SIGTERM, every
 * document stays accounted for exactly once and the sink holds no duplicate.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TopicCodecs } from '../../src/codec/index.js';
import { WORKER_STAGES } from '../../src/core/records.js';
import { readToEnd } from '../../src/kafka/index.js';
import { cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { CLI } from '../support/cli.js';
import { PipelineHarness, type Worker } from '../support/pipeline.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { fastavroDecode } from '../interop/fastavro.js';

let llm: StandInLlm;
let dir: string;
let h: PipelineHarness;

beforeAll(async () => {
  await ensureBroker();
  llm = await startStandInLlm({ latencyMs: 40, maxLog: 100 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-kafka-'));
  h = new PipelineHarness(dir, llm.url);
}, 600_000);

afterEach(() => h.killAll());

afterAll(async () => {
  await llm.close();
  await cleanupKafka();
});

/** Everything committed on a topic right now (read_committed), as raw values. */
async function readTopic(topic: string): Promise<{ key: string | null; value: Buffer; partition: number }[]> {
  const out: { key: string | null; value: Buffer; partition: number }[] = [];
  await readToEnd(testKafka('reader'), topic, (m, partition) => {
    if (m.value) out.push({ key: m.key?.toString() ?? null, value: m.value, partition });
  });
  return out;
}

describe('Kafka pipeline (real broker, five worker processes)', () => {
  it('processes every document exactly once, and the sink decodes with fastavro', async () => {
    const prefix = freshPrefix('e2e');
    const { names } = await createTestTopics(prefix);
    const input = await h.writeInput('e2e', 40);
    const expected = await h.embeddedExpectation(input);
    expect(expected.qa.size).toBeGreaterThan(40);
    await h.ingest(prefix, input);
    for (const s of WORKER_STAGES) h.startWorker(s, prefix);
    await h.waitForCompletion(prefix, expected, 120_000);
    await h.assertExactlyOnce(prefix, expected);

    // Every document is accounted for: QA in the sink, or a rejection with a reason.
    const qa = await h.exportJsonl(prefix, 'qa.verified');
    const rej = await h.exportJsonl(prefix, 'rejections');
    const accounted = new Set([...qa.map((q) => q['doc_id']), ...rej.map((r) => r['doc_id'])]);
    for (let i = 0; i < 40; i++) expect(accounted.has(`e2e-${i}`)).toBe(true);
    // The filter worker's detected language travels through docs.filtered, qa.tasks and
    // qa.candidates to the sink record's provenance.
    for (const q of qa) expect((q['provenance'] as { language?: unknown }).language).toBe('en');

    // Record key = document id; values decode with an independent Avro implementation.
    const raw = await readTopic(names['qa.verified'] as string);
    expect(raw.length).toBe(expected.qa.size);
    const decoded = fastavroDecode(raw.map((r) => r.value));
    for (const [i, d] of decoded.entries()) {
      expect(d.type).toContain('QaRecord');
      expect((d.value as { doc_id: string }).doc_id).toBe(raw[i]?.key);
      expect(expected.qa.has((d.value as { id: string }).id)).toBe(true);
    }
  }, 240000);

  it('survives kill -9 of workers mid-run: no duplicate in the sink, nothing lost', async () => {
    const prefix = freshPrefix('kill');
    await createTestTopics(prefix);
    const input = await h.writeInput('kill', 150);
    const expected = await h.embeddedExpectation(input);
    await h.ingest(prefix, input);
    // A short session timeout, so the group notices a killed member quickly; a slower LLM and
    // fewer slots, so the kills land while every stage still has work in flight.
    const cfg = join(dir, 'kill.yaml');
    await writeFile(cfg, 'concurrency: 4\nkafka:\n  sessionTimeout: 8s\n');
    const slow = await startStandInLlm({ latencyMs: 150, maxLog: 100 });
    const start = (s: string): Worker => h.startWorker(s, prefix, { args: ['--config', cfg, '--concurrency', '4'], env: { WEBSCALE_LLM_URL: slow.url } });
    const running = new Map(WORKER_STAGES.map((s) => [s, start(s)]));
    // Let work flow, then kill every stage worker without warning, twice.
    try {
      for (let round = 0; round < 2; round++) {
        const deadline = Date.now() + 60_000;
        let sink = 0;
        for (;;) {
          sink = (await h.exportJsonl(prefix, 'qa.verified')).length;
          if (sink >= (round + 1) * 20 || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 300));
        }
        // Kill while LLM calls are in flight (workers that just restarted may still be rejoining).
        const busy = Date.now() + 15_000;
        while (slow.stats().inFlight === 0 && Date.now() < busy) await new Promise((r) => setTimeout(r, 50));
        expect(sink, 'the kill must land mid-run').toBeLessThan(expected.qa.size);
        for (const s of WORKER_STAGES) {
          running.get(s)?.proc.kill('SIGKILL');
          await running.get(s)?.exited;
          running.set(s, start(s));
        }
      }
      await h.waitForCompletion(prefix, expected, 240_000);
    } finally {
      await slow.close().catch(() => undefined);
    }
    // Give a late duplicate (if any) the chance to show up before we look.
    await new Promise((r) => setTimeout(r, 3000));
    await h.assertExactlyOnce(prefix, expected);
  }, 420000);

  it('sends a poison record to the DLQ and moves its partition on', async () => {
    const prefix = freshPrefix('poison');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
    const input = await h.writeInput('poison', 10);
    const expected = await h.embeddedExpectation(input);
    const producer = testKafka('poison').producer();
    await producer.connect();
    // A known writer schema (the current Document's fingerprint) with a body whose first string
    // declares more bytes than the record holds: a DECODE_LIMITS dead letter at once. (An unknown fingerprint would wait kafka.unknownSchemaWait for
    // its writer to publish it first: test/kafka/schema-upgrade.test.ts.)
    const valid = await new TopicCodecs().for('Document', names['docs.raw'] as string).encode({ id: 'x', text: 'x', url: null, source: null, ingested_at: 0, crawl_date: null, language: null });
    const garbage = Buffer.concat([valid.subarray(0, 10), Buffer.alloc(10, 0xff)]);
    await producer.send({ topic: names['docs.raw'] as string, messages: [{ key: 'poison', value: garbage }, { key: 'not-avro', value: Buffer.from('{"text": "json, not avro"}') }] });
    await producer.disconnect();
    await h.ingest(prefix, input); // after the poison, on the same (only) partition
    for (const s of WORKER_STAGES) h.startWorker(s, prefix);
    await h.waitForCompletion(prefix, expected, 120_000);
    const dlq = await h.exportJsonl(prefix, 'dlq');
    expect(dlq).toHaveLength(2);
    expect(dlq[0]).toMatchObject({ source_topic: names['docs.raw'], partition: 0, offset: '0', stage: 'dedup', error_code: 'DECODE_LIMITS' });
    expect(Buffer.from(String(dlq[0]?.['value']), 'base64')).toEqual(garbage);
    const qa = await h.exportJsonl(prefix, 'qa.verified');
    expect(new Set(qa.map((q) => q['id']))).toEqual(expected.qa);
  }, 240000);

  it('drains on SIGTERM within the grace period and commits what it finished', async () => {
    const prefix = freshPrefix('drain');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    const slow = await startStandInLlm({ latencyMs: 1500 });
    try {
      const input = await h.writeInput('drain', 6);
      await h.ingest(prefix, input);
      const cfg = join(dir, 'drain.yaml');
      await writeFile(cfg, 'kafka:\n  shutdownGrace: 10s\n');
      // The filter reads what dedup kept.
      h.startWorker('dedup', prefix, { instance: 'drain-dedup' });
      const proc = spawn(process.execPath, [CLI, 'stage', 'filter', '--config', cfg, '--instance-id', 'drain-1'], {
        env: { ...process.env, ...h.env(prefix), WEBSCALE_LLM_URL: slow.url },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      h.workers.add(proc);
      const exited = new Promise<number | null>((resolve) => proc.on('close', resolve));
      // Wait until filter calls are in flight, then ask it to stop.
      const deadline = Date.now() + 30_000;
      while (slow.stats().inFlight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(slow.stats().inFlight).toBeGreaterThan(0);
      const t0 = Date.now();
      proc.kill('SIGTERM');
      const code = await exited;
      const took = Date.now() - t0;
      expect(code).toBe(0);
      expect(took).toBeLessThan(10_000 + 5000);
      // The calls in flight finished and were committed: filtered docs are in the next topic.
      const filtered = await h.exportJsonl(prefix, 'docs.filtered');
      const rejected = await h.exportJsonl(prefix, 'rejections');
      expect(filtered.length + rejected.length).toBeGreaterThan(0);
      // A second worker takes over from the committed offset: no document is processed twice.
      const again = h.startWorker('filter', prefix, { instance: 'drain-2' });
      const deadline2 = Date.now() + 60_000;
      for (;;) {
        const f = await h.exportJsonl(prefix, 'docs.filtered');
        const r = await h.exportJsonl(prefix, 'rejections');
        if (f.length + r.length >= 6 || Date.now() > deadline2) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
      again.proc.kill('SIGTERM');
      await again.exited;
      const f = await h.exportJsonl(prefix, 'docs.filtered');
      const ids = f.map((x) => (x['doc'] as { id: string }).id);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await slow.close();
    }
  }, 180000);

  it('pauses on an LLM outage instead of dead-lettering, and resumes when the LLM is back', async () => {
    const prefix = freshPrefix('outage');
    await createTestTopics(prefix, undefined, { partitions: 1 });
    const first = await startStandInLlm({ latencyMs: 5 });
    const port = first.port;
    const cfg = join(dir, 'outage.yaml');
    await writeFile(cfg, 'llm:\n  maxRetries: 1\n  backoffInitial: 10ms\n  backoffMax: 50ms\n  timeout: 2s\n');
    // The filter reads what dedup kept; dedup makes no LLM call, so the outage does not touch it.
    h.startWorker('dedup', prefix, { instance: 'outage-dedup' });
    const proc = spawn(process.execPath, [CLI, 'stage', 'filter', '--config', cfg, '--instance-id', 'outage-1', '--concurrency', '4'], {
      env: { ...process.env, ...h.env(prefix), WEBSCALE_LLM_URL: `http://127.0.0.1:${port}/v1`, WEBSCALE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    h.workers.add(proc);
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    // The worker proves its LLM and joins; then the LLM goes away and the input arrives.
    const joined = Date.now() + 60_000;
    while (!stderr.includes('joined group') && Date.now() < joined) await new Promise((r) => setTimeout(r, 200));
    expect(stderr).toContain('joined group');
    await first.close();
    const input = await h.writeInput('outage', 10);
    await h.ingest(prefix, input);
    await new Promise((r) => setTimeout(r, 8000));
    expect(await h.exportJsonl(prefix, 'dlq')).toEqual([]);
    expect(await h.exportJsonl(prefix, 'docs.filtered')).toEqual([]);
    expect(stderr).toContain('LLM outage: pausing consumption');
    const back = await startStandInLlm({ latencyMs: 5, port });
    try {
      const deadline = Date.now() + 90_000;
      let done = 0;
      while (Date.now() < deadline) {
        done = (await h.exportJsonl(prefix, 'docs.filtered')).length + (await h.exportJsonl(prefix, 'rejections')).length;
        if (done >= 11) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      // 10 documents and the one malformed line: all filtered or rejected, none dead-lettered.
      const filtered = await h.exportJsonl(prefix, 'docs.filtered');
      const rejections = await h.exportJsonl(prefix, 'rejections');
      const accounted = new Set([...filtered.map((f) => (f['doc'] as { id: string }).id), ...rejections.map((r) => String(r['doc_id']))]);
      for (let i = 0; i < 10; i++) expect(accounted.has(`outage-${i}`)).toBe(true);
      expect(await h.exportJsonl(prefix, 'dlq')).toEqual([]);
      expect(proc.exitCode).toBeNull();
    } finally {
      proc.kill('SIGTERM');
      await back.close();
    }
  }, 240000);
});

