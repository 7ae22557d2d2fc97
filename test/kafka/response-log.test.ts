/**
 * The response log on the real broker: the compacted topic `llm.responses`, read by one store
 * what another wrote, and a filter worker (the CLI's node process) killed with SIGKILL before it
 * committed anything, then restarted: it re-processes every record, and pays again only the calls
 * that were in flight at the kill; the rest come from the log, counted apart in its metrics.
 */
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TopicCodecs } from '../../src/codec/index.js';
import { PROBE_MARKER } from '../../src/llm/probe.js';
import { KafkaResponseStore } from '../../src/llm/response-log/kafka-store.js';
import type { LlmStage } from '../../src/core/records.js';
import type { StandInRequest } from '../support/stand-in-llm.js';
import { createTestTopics, freshPrefix, testKafka } from '../support/kafka.js';
import { sleep, usePipelineSuite } from '../support/pipeline.js';

const suite = usePipelineSuite('resplog', { latencyMs: 150 });
const silent = pino({ level: 'silent' });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function metric(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('LLM response log on Kafka', () => {
  it('one store reads what another logged, at start and while following', async () => {
    const prefix = freshPrefix('resplog-store');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 2 });
    const topic = names['llm.responses'] ?? '';
    const kafka = testKafka('resplog');
    const make = (): KafkaResponseStore => new KafkaResponseStore({ kafka, topic, codecs: new TopicCodecs(), groupPrefix: prefix, log: silent, fetchMaxWait: 100 });
    const value = (text: string) => ({ stage: 'check' as const, model: 'm', text, finishReason: 'stop', promptTokens: 12, completionTokens: 4, createdAt: 1_764_230_405_000 });
    const a = make();
    await a.start();
    const keys = Array.from({ length: 50 }, (_, i) => `${i.toString(16).padStart(2, '0')}${'ab'.repeat(31)}`);
    await Promise.all(keys.map((k, i) => a.put(k, value(`answer ${i} ✓`))));
    expect(await a.get(keys[7] ?? '')).toEqual(value('answer 7 ✓'));

    const b = make();
    await b.start();
    try {
      for (const [i, k] of keys.entries()) expect(await b.get(k)).toEqual(value(`answer ${i} ✓`));
      expect(await b.get('ff'.repeat(32))).toBeUndefined();
      // Logged by a after b started: b sees it once its reader fetches it.
      await a.put('ee'.repeat(32), value('later'));
      await until(async () => (await b.get('ee'.repeat(32))) !== undefined, 20_000, 'b to follow the topic');
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);

  it("a worker's store indexes only its own stages' entries, and never re-reads what it wrote", async () => {
    const prefix = freshPrefix('resplog-skip');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 2 });
    const topic = names['llm.responses'] ?? '';
    const kafka = testKafka('resplog-skip');
    const make = (stages?: LlmStage[]): KafkaResponseStore =>
      new KafkaResponseStore({ kafka, topic, codecs: new TopicCodecs(), groupPrefix: prefix, log: silent, fetchMaxWait: 100, ...(stages === undefined ? {} : { stages }) });
    const value = (stage: LlmStage, text: string) => ({ stage, model: 'm', text, finishReason: 'stop', promptTokens: 3, completionTokens: 2, createdAt: 1_764_230_405_000 });
    const key = (i: number): string => `${i.toString(16).padStart(2, '0')}${'cd'.repeat(31)}`;
    const writer = make();
    await writer.start();
    const checker = make(['check']);
    try {
      await Promise.all([0, 1, 2, 3, 4, 5].map((i) => writer.put(key(i), value(i % 2 === 0 ? 'check' : 'filter', `answer ${i}`))));
      // At start: the three check entries indexed, the three filter entries skipped unread.
      await checker.start();
      expect(await checker.get(key(0))).toEqual(value('check', 'answer 0'));
      expect(await checker.get(key(1))).toBeUndefined();
      expect(checker.counts).toMatchObject({ replayed: 3, skipped: 3, undecodable: 0 });
      // While following: likewise; and the checker's own writes are not indexed a second time.
      await checker.put(key(20), value('check', 'own'));
      await writer.put(key(21), value('filter', 'not mine'));
      await writer.put(key(22), value('check', 'mine to read'));
      await until(async () => (await checker.get(key(22))) !== undefined, 20_000, 'the checker to follow the topic');
      await until(() => checker.counts.skipped === 4, 20_000, 'the checker to pass over the filter entry');
      await sleep(1_000);
      expect(checker.counts).toMatchObject({ replayed: 4, skipped: 4, sent: 1 });
      expect(await checker.get(key(21))).toBeUndefined();
      expect(await checker.get(key(20))).toEqual(value('check', 'own'));
      // The writer (every stage) read the checker's entry and none of its own seven.
      await until(async () => (await writer.get(key(20))) !== undefined, 20_000, 'the writer to follow the topic');
      expect(writer.counts).toMatchObject({ replayed: 1, skipped: 0, sent: 8 });
    } finally {
      await writer.close();
      await checker.close();
    }
  }, 120_000);

  it('a filter worker killed with SIGKILL before any commit, restarted: calls re-paid only for those in flight at the kill', async () => {
    const { llm, h } = suite;
    const prefix = freshPrefix('resplog-kill');
    await createTestTopics(prefix, undefined, { partitions: 3 });
    const input = await h.writeInput('rl', 40);
    await h.ingest(prefix, input);
    // The first life never commits (60 s interval); the second commits every second.
    const never = join(h.dir, 'never-commit.yaml');
    await writeFile(never, 'kafka:\n  commitInterval: 60s\n');
    const env = { WEBSCALE_DEDUP_ENABLED: 'false' };
    const isCall = (r: StandInRequest): boolean => r.path.endsWith('/chat/completions') && !JSON.stringify(r.body).includes(PROBE_MARKER);
    const callsSince = (from: number): StandInRequest[] => llm.requests.slice(from).filter(isCall);
    // 40 documents: 4 too short (no call), 1 line broken at ingest; the filter calls the LLM for 36.
    const FILTER_CALLS = 36;

    const from = llm.requests.length;
    const first = h.startWorker('filter', prefix, { instance: 'filter-a', args: ['--concurrency', '4', '--config', never], env });
    await until(() => callsSince(from).length >= 12, 120_000, 'the first worker to make 12 calls');
    llm.script('hang', 'hang', 'hang', 'hang');
    await until(() => llm.pendingFaults() === 0, 60_000, 'every LLM slot of the first worker to hang');
    await sleep(700);
    const inFlightAtKill = llm.stats().inFlight;
    const paidBefore = new Set(callsSince(from).map((r) => JSON.stringify(r.body)));
    const answeredBefore = paidBefore.size - inFlightAtKill;
    first.proc.kill('SIGKILL');
    await first.exited;
    expect(inFlightAtKill).toBe(4);
    expect(await h.exportJsonl(prefix, 'docs.filtered')).toEqual([]);

    const port = await freePort();
    const restartFrom = llm.requests.length;
    const second = h.startWorker('filter', prefix, { instance: 'filter-b', args: ['--concurrency', '4', '--metrics-port', String(port)], env });
    await until(async () => (await h.exportJsonl(prefix, 'docs.filtered')).length >= 32, 120_000, 'the restarted worker to commit every kept document');
    const filtered = await h.exportJsonl(prefix, 'docs.filtered');
    const ids = filtered.map((d) => String((d['doc'] as Record<string, unknown> | undefined)?.['id'] ?? d['id']));
    expect(new Set(ids).size).toBe(32);

    const again = callsSince(restartFrom);
    const paidTwice = again.filter((r) => paidBefore.has(JSON.stringify(r.body))).length;
    expect(paidTwice).toBeLessThanOrEqual(inFlightAtKill);
    expect(paidBefore.size + again.length - paidTwice).toBe(FILTER_CALLS);

    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metric(text, 'webscale_rl_llm_responses_from_log_total', { stage: 'filter' })).toBe(answeredBefore);
    expect(metric(text, 'webscale_rl_llm_tokens_from_log_total', { stage: 'filter', kind: 'prompt' })).toBeGreaterThan(0);
    // Real calls only in the request histogram: the restarted worker's own.
    expect(metric(text, 'webscale_rl_llm_request_duration_seconds_count', { stage: 'filter', outcome: 'ok' })).toBe(again.length);
    second.proc.kill('SIGTERM');
    await second.exited;
  }, 300_000);
});
