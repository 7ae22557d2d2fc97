/**
 * kafkajs against the real broker (the version scripts/kafka.sh starts): Avro records through a
 * topic and back, and exactly-once transactions (outputs + consumer offsets committed together,
 * aborted output invisible to read_committed readers), the pattern the stage workers use.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { pino } from 'pino';
import { createCodec } from '../../src/codec/index.js';
import type { RecordTypeMap } from '../../src/codec/index.js';
import { isWebscaleError } from '../../src/core/errors.js';
import { createKafka, createProducer, kafkaError, kafkaLogLevel } from '../../src/kafka/index.js';
import { loadTopicSpecs } from '../../src/topics/index.js';
import { SAMPLES } from '../codec/samples.js';
import { cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testConfig, testKafka, withAdmin } from '../support/kafka.js';

/**
 * Reads from the beginning of `topic` with a fresh group until `count` messages arrived, then
 * keeps listening `settleMs` longer so unexpected extra messages are caught too.
 */
async function readAll(topic: string, groupId: string, count: number, opts: { readUncommitted?: boolean; settleMs?: number } = {}): Promise<KafkaMessage[]> {
  const consumer: Consumer = testKafka('reader').consumer({ groupId, readUncommitted: opts.readUncommitted ?? false });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${got.length} of ${count} from ${topic}`)), 30_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        got.push(message);
        if (got.length === count) {
          clearTimeout(timer);
          setTimeout(resolve, opts.settleMs ?? 0);
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

describe('client factory', () => {
  it('maps our log levels onto kafkajs levels', () => {
    expect(kafkaLogLevel('silent')).toBe(kafkajs.logLevel.NOTHING);
    expect(kafkaLogLevel('fatal')).toBe(kafkajs.logLevel.ERROR);
    expect(kafkaLogLevel('warn')).toBe(kafkajs.logLevel.WARN);
    expect(kafkaLogLevel('trace')).toBe(kafkajs.logLevel.DEBUG);
  });

  it('sends kafkajs logs to the pino logger it is given, and converts errors to KAFKA', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const logger = pino({ level: 'debug' }, sink);
    const config = { ...testConfig(), logLevel: 'error' as const };
    // Nothing listens on port 1: the connection fails and kafkajs logs it.
    const admin = createKafka(config, { logger, brokers: ['127.0.0.1:1'], overrides: { retry: { retries: 0 } } }).admin();
    const err = await admin.connect().catch((e: unknown) => kafkaError(e, { op: 'connect' }));
    expect(isWebscaleError(err, 'KAFKA')).toBe(true);
    expect((err as { context: Record<string, unknown> }).context.op).toBe('connect');
    const logged = lines.map((l) => JSON.parse(l) as { component?: string; level: number; msg: string });
    expect(logged.some((l) => l.component === 'kafkajs' && l.level === 50)).toBe(true);
  });
});

describe('against the real broker', () => {
  const prefix = freshPrefix('kafka');
  let names: Record<string, string> = {};

  beforeAll(async () => {
    await ensureBroker();
    const specs = loadTopicSpecs().filter((s) => ['docs.raw', 'qa.candidates', 'qa.verified', 'dlq'].includes(s.suffix));
    names = (await createTestTopics(prefix, specs, { partitions: 2 })).names;
  });
  afterAll(cleanupKafka);

  it('round-trips Avro records through a topic', async () => {
    const topic = names['qa.verified'] ?? '';
    const qa = createCodec('QaRecord', { topic });
    const dlq = createCodec('DeadLetter', { topic: names.dlq ?? '' });
    const records: RecordTypeMap['QaRecord'][] = [SAMPLES.QaRecord, { ...SAMPLES.QaRecord, id: 'qa-2', source_text: null, persona: 'a chef' }];
    const producer = createProducer(testKafka('rt'));
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: await Promise.all(records.map(async (r) => ({ key: r.doc_id, value: await qa.encode(r) }))) });
    await producer.send({ topic: names.dlq ?? '', acks: -1, messages: [{ key: null, value: await dlq.encode(SAMPLES.DeadLetter) }] });
    await producer.disconnect();

    const got = await readAll(topic, `${prefix}rt`, 2);
    const decoded = await Promise.all(got.map((m) => qa.decode(m.value ?? Buffer.alloc(0))));
    expect(decoded.sort((a, b) => a.id.localeCompare(b.id))).toStrictEqual([...records].sort((a, b) => a.id.localeCompare(b.id)));
    // Same key, same partition: both records of one document sit together.
    expect(new Set(got.map((m) => m.key?.toString()))).toEqual(new Set([SAMPLES.QaRecord.doc_id]));
    const [dead] = await readAll(names.dlq ?? '', `${prefix}rt-dlq`, 1);
    expect(await dlq.decode(dead?.value ?? Buffer.alloc(0))).toStrictEqual(SAMPLES.DeadLetter);
  });

  it('commits outputs and consumer offsets in one transaction; aborted output stays invisible', async () => {
    const input = names['docs.raw'] ?? '';
    const output = names['qa.candidates'] ?? '';
    const group = `${prefix}stage`;
    const docCodec = createCodec('Document');
    const outCodec = createCodec('QaCandidate');

    const plain = createProducer(testKafka('ingest'));
    await plain.connect();
    const docs = [0, 1, 2].map((i) => ({ ...SAMPLES.Document, id: `doc-${i}` }));
    await plain.send({ topic: input, acks: -1, messages: await Promise.all(docs.map(async (d) => ({ key: d.id, value: await docCodec.encode(d) }))) });
    await plain.disconnect();

    const inputs = await readAll(input, `${prefix}peek`, 3);
    const tx = createProducer(testKafka('tx'), { transactionalId: `${prefix}tx-1`, maxInFlightRequests: 1 });
    await tx.connect();

    // Transaction 1: one output per input plus the group's offsets, committed together.
    const t1 = await tx.transaction();
    for (const m of inputs) {
      const doc = await docCodec.decode(m.value ?? Buffer.alloc(0));
      const candidate = { ...SAMPLES.QaCandidate, task: { ...SAMPLES.QaCandidate.task, doc } };
      await t1.send({ topic: output, messages: [{ key: doc.id, value: await outCodec.encode(candidate) }] });
    }
    const partitions = await withAdmin((admin) => admin.fetchTopicOffsets(input));
    await t1.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic: input, partitions: partitions.map((p) => ({ partition: p.partition, offset: p.high })) }],
    });
    await t1.commit();

    // Transaction 2: aborted, so neither its record nor anything else of it is visible.
    const t2 = await tx.transaction();
    await t2.send({ topic: output, messages: [{ key: 'doc-aborted', value: await outCodec.encode({ ...SAMPLES.QaCandidate, question: 'aborted?' }) }] });
    await t2.abort();
    await tx.disconnect();

    const committed = await readAll(output, `${prefix}rc`, 3, { settleMs: 1500 });
    const ids = (await Promise.all(committed.map((m) => outCodec.decode(m.value ?? Buffer.alloc(0))))).map((c) => c.task.doc.id).sort();
    expect(ids).toEqual(['doc-0', 'doc-1', 'doc-2']);
    const uncommitted = await readAll(output, `${prefix}ru`, 4, { readUncommitted: true });
    expect(uncommitted.map((m) => m.key?.toString())).toContain('doc-aborted');

    const offsets = await withAdmin((admin) => admin.fetchOffsets({ groupId: group, topics: [input] }));
    const committedOffsets = Object.fromEntries(offsets[0]?.partitions.map((p) => [p.partition, p.offset]) ?? []);
    expect(committedOffsets).toEqual(Object.fromEntries(partitions.map((p) => [p.partition, p.high])));
  });
});
