/**
 * read_committed must never deliver a record of an aborted transaction. kafkajs 2.2.4 did, and our
 * fix is `patches/kafkajs+2.2.4.patch` (applied by `npm install` through patch-package):
 * - The broker lists a fetch's aborted transactions in the order they ended (its transaction
 *   index), and kafkajs took that for the order they began. A transaction that began before
 *   another and was aborted after it was delivered: with several owners writing to one output
 *   partition, each with its own transactional producer, that is any two aborts that overlap (a
 *   broker restart aborts many at once; the broker-restart test found it as duplicates in the sink).
 * - It entered at most one aborted transaction per record, so a fetch starting inside two of them
 *   delivered records of the second.
 * - Any record whose key is four zero bytes counted as an abort marker, control record or not.
 *
 * Unit cases drive kafkajs' own filter; the broker cases stage the interleaving for real and read
 * it back with our reader (`readToEnd`, used by export and the tests), a plain kafkajs consumer,
 * and a stage worker, which must not process an aborted input record.
 */
import { mkdtemp } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSingleObjectCodec } from '../../src/codec/index.js';
import type { DocumentRecord } from '../../src/core/records.js';
import { readToEnd } from '../../src/kafka/index.js';
import { cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { PipelineHarness } from '../support/pipeline.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { readOnceShown, waitFor } from '../support/wait.js';

const require = createRequire(import.meta.url);

interface FakeMessage {
  offset: string;
  key: Buffer | null;
  isControlRecord: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

type Filter = (args: { messages: FakeMessage[]; abortedTransactions: { producerId: string; firstOffset: string }[] }) => FakeMessage[];
const filterAborted = require('kafkajs/src/consumer/filterAbortedMessages.js') as Filter;

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const data = (offset: number, producerId: string, key: Buffer | null = Buffer.from('k')): FakeMessage => ({
  offset: String(offset),
  key,
  isControlRecord: false,
  batchContext: { producerId, inTransaction: true },
});
const marker = (offset: number, producerId: string, key: Buffer): FakeMessage => ({
  offset: String(offset),
  key,
  isControlRecord: true,
  batchContext: { producerId, inTransaction: true },
});
/** Offsets of the data records the filter lets through (control records are dropped after it). */
const kept = (messages: FakeMessage[], aborted: { producerId: string; firstOffset: string }[]): string[] =>
  filterAborted({ messages, abortedTransactions: aborted })
    .filter((m) => !m.isControlRecord)
    .map((m) => m.offset);

describe('kafkajs read_committed filter (patched)', () => {
  it('drops a transaction that began first and was aborted last (the broker lists them by end)', () => {
    const messages = [data(0, '1'), data(1, '2'), marker(2, '2', ABORT), marker(3, '1', ABORT), data(4, '3'), marker(5, '3', COMMIT)];
    // The broker's order: producer 2's abort was written first.
    expect(kept(messages, [{ producerId: '2', firstOffset: '1' }, { producerId: '1', firstOffset: '0' }])).toEqual(['4']);
  });

  it('drops records of every aborted transaction a fetch starts inside', () => {
    const messages = [data(5, '2'), data(6, '1'), marker(7, '1', ABORT), marker(8, '2', ABORT), data(9, '1'), marker(10, '1', COMMIT)];
    expect(kept(messages, [{ producerId: '1', firstOffset: '0' }, { producerId: '2', firstOffset: '1' }])).toEqual(['9']);
  });

  it('a data record keyed with four zero bytes does not end an aborted transaction', () => {
    const messages = [data(0, '1', ABORT), data(1, '1'), marker(2, '1', ABORT), data(3, '4', null), marker(4, '4', COMMIT)];
    expect(kept(messages, [{ producerId: '1', firstOffset: '0' }])).toEqual(['3']);
  });

  it('keeps the committed transactions of a producer around its aborted one', () => {
    const messages = [data(0, '1'), marker(1, '1', COMMIT), data(2, '1'), marker(3, '1', ABORT), data(4, '1'), marker(5, '1', COMMIT)];
    expect(kept(messages, [{ producerId: '1', firstOffset: '2' }])).toEqual(['0', '4']);
  });

  it('passes records that are not transactional, and everything when nothing was aborted', () => {
    const plain: FakeMessage = { ...data(1, '1'), batchContext: { producerId: '1', inTransaction: false } };
    expect(kept([data(0, '1'), plain, marker(2, '1', ABORT)], [{ producerId: '1', firstOffset: '0' }])).toEqual(['1']);
    expect(kept([data(0, '1'), marker(1, '1', COMMIT)], [])).toEqual(['0']);
  });
});

let llm: StandInLlm;
let h: PipelineHarness;

beforeAll(async () => {
  await ensureBroker();
  llm = await startStandInLlm({ latencyMs: 20, maxLog: 100 });
  h = new PipelineHarness(await mkdtemp(join(tmpdir(), 'wsrl-aborted-')), llm.url);
}, 600_000);

afterEach(() => h?.killAll());

afterAll(async () => {
  await llm?.close();
  await cleanupKafka();
});

async function transactional(kafka: Kafka, id: string): Promise<Producer> {
  const p = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await p.connect();
  return p;
}

/**
 * Two transactions on partition 0 of `topic` that overlap and are aborted in the other order than
 * they began (the first one last), then one committed transaction. Returns the keys written.
 */
async function interleavedAborts(kafka: Kafka, topic: string, value: (key: string) => Buffer): Promise<{ aborted: string[]; committed: string[] }> {
  const first = await transactional(kafka, `${topic}-first`);
  const second = await transactional(kafka, `${topic}-second`);
  const third = await transactional(kafka, `${topic}-third`);
  try {
    const aborted = ['aborted-began-first', 'aborted-began-second'] as const;
    const committed = ['committed-1', 'committed-2', 'committed-3'];
    const t1 = await first.transaction();
    await t1.send({ topic, messages: [{ key: aborted[0], value: value(aborted[0]), partition: 0 }] });
    const t2 = await second.transaction();
    await t2.send({ topic, messages: [{ key: aborted[1], value: value(aborted[1]), partition: 0 }] });
    await t2.abort();
    await t1.abort();
    const t3 = await third.transaction();
    await t3.send({ topic, messages: committed.map((key) => ({ key, value: value(key), partition: 0 })) });
    await t3.commit();
    return { aborted: [...aborted], committed };
  } finally {
    await Promise.all([first, second, third].map((p) => p.disconnect()));
  }
}

const documents = createSingleObjectCodec('Document');

function doc(id: string): DocumentRecord {
  const sentence = `Document ${id} follows the river delta and the people who measured how its channels moved across many seasons of field work.`;
  return { id, text: Array.from({ length: 5 }, () => sentence).join(' '), url: null, source: 'test', ingested_at: Date.now() };
}

describe('aborted transactions on the real broker', () => {
  it('readToEnd and a kafkajs consumer see only the committed records of overlapping aborted transactions', async () => {
    const prefix = freshPrefix('aborted');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
    const topic = names['docs.raw'] as string;
    const kafka = testKafka('aborted');
    const { committed } = await interleavedAborts(kafka, topic, (k) => Buffer.from(k));

    // EndTxn is answered before its markers move the last stable offset: read until the committed
    // records show (an aborted one that leaked shows with them), then compare.
    const readAll = async (): Promise<string[]> => {
      const keys: string[] = [];
      await readToEnd(kafka, topic, (m) => void keys.push(m.key?.toString() ?? ''));
      return keys;
    };
    expect(await readOnceShown('the committed transaction', readAll, committed.length, { timeoutMs: 15_000, everyMs: 200, settleMs: 0 })).toEqual(committed);

    const consumer = kafka.consumer({ groupId: `${prefix}plain`, readUncommitted: false, allowAutoTopicCreation: false });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.key?.toString() ?? '') });
      await waitFor('the committed records', () => Promise.resolve(seen.length >= committed.length), 30_000, 100).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      expect(seen).toEqual(committed);
    } finally {
      await consumer.disconnect();
    }
  }, 120_000);

  it('a stage worker never processes an aborted input record', async () => {
    const prefix = freshPrefix('aborted-worker');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
    const [raw, filtered, rejections] = ['docs.raw', 'docs.filtered', 'rejections'].map((s) => names[s] as string) as [string, string, string];
    const kafka = testKafka('aborted-worker');
    const { aborted, committed } = await interleavedAborts(kafka, raw, (k) => documents.encode(doc(k)));

    // The filter alone, reading docs.raw.
    const worker = h.startWorker('filter', prefix, { args: ['--concurrency', '4'], env: { WEBSCALE_DEDUP_ENABLED: 'false' } });
    const stderr = (): string => worker.stderr().slice(-2000);

    // Every committed document is accounted for (passed on or rejected), and nothing else is.
    const outcomes = async (): Promise<string[]> => {
      const keys: string[] = [];
      for (const t of [filtered, rejections]) await readToEnd(kafka, t, (m) => void keys.push(m.key?.toString() ?? ''));
      return keys.sort();
    };
    // Read again 2 s later: a worker that took the aborted records would have written them by then.
    const keys = await readOnceShown('an outcome for every committed document', outcomes, committed.length, { timeoutMs: 90_000, everyMs: 1000, settleMs: 2000 });
    expect(keys, stderr()).toEqual([...committed].sort());
    for (const id of aborted) expect(keys).not.toContain(id);
  }, 180_000);
});
