/**
 * Decode bombs on the real broker: a record of a few bytes that declares far more than it holds
 * (10^8 array items, a 1 TB string) reaches the DLQ as DECODE_LIMITS within a second of reaching
 * the worker, and the records behind it on the same partition are processed. Before decode
 * limits, the 24-byte array bomb held avsc (and the consume loop, and its heartbeats) for over a
 * minute and then ran the worker out of heap.
 *
 * The array bomb is a FilteredDocument on the internal topic docs.filtered (the identify stage's
 * input): a Document has no array or map field, so the filter stage's input can only carry a
 * length bomb, which is the second bomb here, on docs.raw.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import kafkajs from 'kafkajs';
import type { Consumer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSingleObjectCodec } from '../../src/codec/index.js';
import type { DeadLetter, DocumentRecord } from '../../src/core/records.js';
import { brokers, cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { CLI } from '../support/cli.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let llm: StandInLlm;
const workers = new Set<ChildProcess>();

beforeAll(async () => {
  await ensureBroker();
  llm = await startStandInLlm({ latencyMs: 20, maxLog: 100 });
}, 600_000);

afterEach(() => {
  for (const w of workers) w.kill('SIGKILL');
  workers.clear();
});

afterAll(async () => {
  await llm.close();
  await cleanupKafka();
});

/** A stage worker: the node process itself, never an npm/npx wrapper. */
function startWorker(stage: string, prefix: string): { stderr: () => string } {
  const proc = spawn(process.execPath, [CLI, 'stage', stage, '--concurrency', '4', '--instance-id', `${stage}-1`], {
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers().join(','),
      WEBSCALE_TOPIC_PREFIX: prefix,
      WEBSCALE_LLM_URL: llm.url,
      WEBSCALE_LLM_MODEL: 'stand-in',
      WEBSCALE_LOG_LEVEL: 'warn',
      // The filter alone, reading docs.raw.
      WEBSCALE_DEDUP_ENABLED: 'false',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  workers.add(proc);
  proc.on('close', () => workers.delete(proc));
  return { stderr: () => err };
}

function zz(n: number): number[] {
  let v = BigInt(n) * 2n;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const documents = createSingleObjectCodec('Document');
const filtered = createSingleObjectCodec('FilteredDocument');
const deadLetters = createSingleObjectCodec('DeadLetter');

/** FilteredDocument {doc {id "b0m", text "", url null, source null, ingested_at 0}, "", 0, trace: 10^8 items}. */
const ARRAY_BOMB = Buffer.concat([Buffer.from([0xc3, 0x01]), filtered.writer.fingerprint, Buffer.from([6, ...Buffer.from('b0m'), 0, 0, 0, 0, 0, 0, ...zz(1e8)])]);
/** Document whose id claims 2^40 bytes, padded to 24 bytes. */
const LENGTH_BOMB = Buffer.concat([Buffer.from([0xc3, 0x01]), documents.writer.fingerprint, Buffer.from([...zz(2 ** 40), ...Buffer.from('padding!')])]);

function doc(id: string): DocumentRecord {
  const sentence = `Document ${id} follows the river delta and the people who measured how its channels moved across many seasons of field work.`;
  return { id, text: Array.from({ length: 5 }, () => sentence).join(' '), url: null, source: 'test', ingested_at: Date.now() };
}

/** Collects what is committed on some topics (read_committed), as it arrives. */
async function observe(prefix: string, topics: string[]): Promise<{ consumer: Consumer; seen: Map<string, { key: string; value: Buffer; at: number }[]> }> {
  const seen = new Map<string, { key: string; value: Buffer; at: number }[]>(topics.map((t) => [t, []]));
  const consumer = testKafka('observer').consumer({ groupId: `${prefix}observer`, readUncommitted: false, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      if (message.value) seen.get(topic)?.push({ key: message.key?.toString() ?? '', value: message.value, at: Date.now() });
    },
  });
  return { consumer, seen };
}

async function until(what: string, cond: () => boolean, timeoutMs: number, details: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${details()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('decode bombs on the real broker', () => {
  it('sends a 24-byte array bomb and a length bomb to the DLQ within a second, and the partitions move on', async () => {
    expect(ARRAY_BOMB.length).toBe(24);
    expect(LENGTH_BOMB.length).toBe(24);
    const prefix = freshPrefix('bomb');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
    const [raw, filteredTopic, tasks, dlq] = ['docs.raw', 'docs.filtered', 'qa.tasks', 'dlq'].map((s) => names[s] as string) as [string, string, string, string];
    const obs = await observe(prefix, [tasks, dlq]);
    const producer = testKafka('bomb-producer').producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      const filter = startWorker('filter', prefix);
      const identify = startWorker('identify', prefix);
      const logs = (): string => `filter: ${filter.stderr().slice(-2000)}\nidentify: ${identify.stderr().slice(-2000)}`;
      const taskDocs = (): Set<string> => new Set(obs.seen.get(tasks)?.map((m) => m.key));

      // Both workers up and flowing: a first document makes it through filter and identify.
      await producer.send({ topic: raw, messages: [{ key: 'warm-up', value: documents.encode(doc('warm-up')) }] });
      await until('the warm-up document in qa.tasks', () => taskDocs().has('warm-up'), 90_000, logs);

      // The bombs, each first in line on its (single) partition, then good documents behind them:
      // the good ones pass filter into docs.filtered after the array bomb, so identify must get
      // past the bomb to produce their tasks.
      const good = Array.from({ length: 5 }, (_, i) => `after-bomb-${i}`);
      const sentAt = Date.now();
      const [arrayAt] = await producer.send({ topic: filteredTopic, messages: [{ key: 'array-bomb', value: ARRAY_BOMB }] });
      const [lengthAt] = await producer.send({
        topic: raw,
        messages: [{ key: 'length-bomb', value: LENGTH_BOMB }, ...good.map((id) => ({ key: id, value: documents.encode(doc(id)) }))],
      });

      await until('both bombs in the DLQ and every good document in qa.tasks', () => (obs.seen.get(dlq)?.length ?? 0) >= 2 && good.every((id) => taskDocs().has(id)), 60_000, () =>
        `dlq ${obs.seen.get(dlq)?.length}, tasks for ${[...taskDocs()].join(',')}\n${logs()}`,
      );

      const letters = (obs.seen.get(dlq) ?? []).map((m) => deadLetters.decode(m.value));
      expect(letters).toHaveLength(2);
      const byStage = new Map<string, DeadLetter>(letters.map((l) => [l.stage, l]));

      const a = byStage.get('identify');
      expect(a).toMatchObject({ source_topic: filteredTopic, partition: 0, offset: arrayAt?.baseOffset, error_code: 'DECODE_LIMITS' });
      expect(a?.error).toMatch(/^decode\.limits: array block count exceeded: .*100000000 items/);
      expect(a?.value).toEqual(ARRAY_BOMB);
      expect(a?.key?.toString()).toBe('array-bomb');

      const l = byStage.get('filter');
      expect(l).toMatchObject({ source_topic: raw, partition: 0, offset: lengthAt?.baseOffset, error_code: 'DECODE_LIMITS' });
      expect(l?.error).toMatch(/^decode\.limits: string length exceeded/);
      expect(l?.value).toEqual(LENGTH_BOMB);

      // Dead-lettered by the worker (created_at) within a second of being produced, which bounds
      // the time from the worker fetching it (fetch waits are 100 ms) to the DLQ record.
      for (const letter of letters) expect(letter.created_at - sentAt, `${letter.stage} dead-lettered after`).toBeLessThan(1000);

      // Nothing else went to the DLQ, and the good documents behind the bombs were processed.
      expect(good.every((id) => taskDocs().has(id))).toBe(true);
      expect(`${filter.stderr()}${identify.stderr()}`).not.toMatch(/heap|FATAL/);
    } finally {
      await producer.disconnect();
      await obs.consumer.disconnect();
    }
  }, 240_000);
});
