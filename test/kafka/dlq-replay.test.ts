/**
 * `dlq replay` and `dlq stats` on the real broker, through the CLI's node process:
 * - poison records: a check worker whose LLM refuses (400) every request for marked candidates
 *   dead-letters them; the refusal is switched off (the cause removed) and the replay puts them
 *   back: each candidate ends in the sink or as a rejection exactly once, a second replay does
 *   nothing, `--since` and `--reason` select, `--dry-run` changes nothing, and a record that
 *   fails again comes back as a new dead letter with its replay count until the cap holds it;
 * - kill -9 of the replay process between its transactions, then a rerun: every dead letter is
 *   back in its source topic once (key, value, headers), none twice, none missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { TopicCodecs } from '../../src/codec/index.js';
import type { DeadLetter, QaCandidate } from '../../src/core/records.js';
import { REPLAYED_FROM_HEADER, REPLAYS_HEADER } from '../../src/dlq/index.js';
import { readToEnd } from '../../src/kafka/index.js';
import { CLI, runCli, type CliResult } from '../support/cli.js';
import { readCommitted, publish, waitFor } from '../support/ingest.js';
import { brokers, createTestTopics, freshPrefix, testKafka, withAdmin } from '../support/kafka.js';
import { sleep, usePipelineSuite } from '../support/pipeline.js';

const POISON = '[[poison]]';
const s = usePipelineSuite('dlq', { refuseMarked: { marker: POISON, status: 400 }, maxLog: 100 });

afterEach(() => s.llm.setRefuseMarked({ marker: POISON, status: 400 }));

function candidate(id: string, marks: string): QaCandidate {
  const text = `The survey team mapped the valley of ${id} over three summers. Their notes describe the river, the orchards and the old mill. ${marks}`;
  return {
    task: {
      doc: { id, text, url: null, source: 'test', ingested_at: Date.now(), crawl_date: null, language: 'en' },
      domain: 'Natural Science',
      persona: 'curious student',
      persona_index: 0,
      persona_count: 1,
      truncated_chars: 0,
      trace: [],
    },
    question: `Which building did the survey team describe beside the river in that valley?`,
    answer: 'the old mill',
    generate_reasoning: 'Stated in the notes.',
    fewshot_ids: [],
    trace: [],
  };
}

async function sendCandidates(kafka: Kafka, topic: string, list: QaCandidate[], garbage = 0): Promise<void> {
  const codec = new TopicCodecs().for('QaCandidate', topic);
  const messages = await Promise.all(list.map(async (c) => ({ key: c.task.doc.id, value: await codec.encode(c) })));
  for (let i = 0; i < garbage; i++) messages.push({ key: `garbage-${i}`, value: Buffer.from(`not an Avro record ${i}`) });
  await publish(kafka, topic, messages);
}

/** How many times each document id ended in the sink or as a rejection, and how. */
async function outcomes(kafka: Kafka, prefix: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const add = (id: string, what: string): void => {
    out.set(id, [...(out.get(id) ?? []), what]);
  };
  for (const q of await readCommitted<{ doc_id: string }>(kafka, `${prefix}qa.verified`, 'QaRecord')) add(q.doc_id, 'sink');
  for (const r of await readCommitted<{ doc_id: string; reason: string }>(kafka, `${prefix}rejections`, 'Rejection')) add(r.doc_id, r.reason);
  return out;
}

async function deadLetters(kafka: Kafka, prefix: string): Promise<{ letter: DeadLetter; headers: KafkaMessage['headers'] }[]> {
  const topic = `${prefix}dlq`;
  const codec = new TopicCodecs().for('DeadLetter', topic);
  const out: { letter: DeadLetter; headers: KafkaMessage['headers'] }[] = [];
  await readToEnd(kafka, topic, async (m) => {
    if (m.value) out.push({ letter: (await codec.decode(m.value)) as DeadLetter, headers: m.headers });
  }, { groupPrefix: 'test-read-' });
  return out;
}

function dlqCli(prefix: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['dlq', ...args], { env: { KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn', ...env }, timeoutMs: 120_000 });
}

/** The cells of the table line of (stage, reason), or undefined when it has none. */
function row(stdout: string, stage: string, reason: string): string[] | undefined {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/))
    .find((cells) => cells[0] === stage && cells[1] === reason);
}

async function endOffsets(topic: string): Promise<string[]> {
  return withAdmin(async (admin) => (await admin.fetchTopicOffsets(topic)).map((o) => `${o.partition}:${o.high}`).sort());
}

describe('dlq replay: poison records back through the check stage', () => {
  it('every poison record reaches the sink or a rejection exactly once; a second replay does nothing; --since, --reason, --dry-run, the replay cap', async () => {
    const prefix = freshPrefix('dlq');
    await createTestTopics(prefix);
    const kafka = testKafka();
    const input = `${prefix}qa.candidates`;
    const worker = s.h.startWorker('check', prefix);

    // Wave A: 20 good candidates (4 the checker finds incorrect), 6 poison ones (3 incorrect) and a
    // record that is not Avro at all. Wave B, a little later: 6 more poison ones.
    const good = Array.from({ length: 20 }, (_, i) => candidate(`good-${i}`, i % 5 === 0 ? '[[incorrect]]' : ''));
    const poisonA = Array.from({ length: 6 }, (_, i) => candidate(`poison-a-${i}`, `${POISON} ${i % 2 === 0 ? '[[incorrect]]' : ''}`));
    const poisonB = Array.from({ length: 6 }, (_, i) => candidate(`poison-b-${i}`, `${POISON} ${i % 2 === 0 ? '[[incorrect]]' : ''}`));
    await sendCandidates(kafka, input, [...good, ...poisonA], 1);
    await waitFor('wave A decided', async () => (await deadLetters(kafka, prefix)).length === 7 && (await outcomes(kafka, prefix)).size === 20, 120_000, 1000);
    await sleep(1500);
    const since = new Date().toISOString();
    await sleep(500);
    await sendCandidates(kafka, input, poisonB);
    await waitFor('wave B dead-lettered', async () => (await deadLetters(kafka, prefix)).length === 13, 60_000, 1000);
    expect(worker.stderr()).not.toMatch(/worker failed/);

    // stats: one line per (stage, reason), all pending.
    const stats = await dlqCli(prefix, ['stats']);
    expect(stats.code, stats.stderr).toBe(0);
    expect(row(stats.stdout, 'check', 'LLM_CLIENT')?.slice(2, 7)).toEqual(['12', '12', '0', '0', '0']);
    expect(row(stats.stdout, 'check', 'CODEC')?.slice(2, 7)).toEqual(['1', '1', '0', '0', '0']);
    expect(stats.stderr).toMatch(new RegExp(`${prefix.replace(/\./g, '\\.')}dlq: 13 dead letters, 13 not replayed, oldest \\d+s old`));
    const statsJson = JSON.parse((await dlqCli(prefix, ['stats', '--json'])).stdout) as { total: number; pending: number; groups: { reason: string; dead_letters: number; by_age: Record<string, number> }[] };
    expect(statsJson).toMatchObject({ total: 13, pending: 13 });
    expect(statsJson.groups.map((g) => [g.reason, g.dead_letters, g.by_age])).toEqual([
      ['CODEC', 1, { '1h': 1, '1d': 0, '7d': 0, older: 0 }],
      ['LLM_CLIENT', 12, { '1h': 12, '1d': 0, '7d': 0, older: 0 }],
    ]);

    // --dry-run: says what it would do, changes nothing (no replay log, no record in the input topic).
    const before = await endOffsets(input);
    const dry = await dlqCli(prefix, ['replay', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(row(dry.stdout, 'check', 'LLM_CLIENT')?.slice(2)).toEqual(['12', '0', '0', '0', '0']);
    expect(row(dry.stdout, 'check', 'CODEC')?.slice(2)).toEqual(['1', '0', '0', '0', '0']);
    expect(dry.stderr).toContain(`dry run: would re-publish 13 dead letters (13 to ${input})`);
    await sleep(2000);
    expect(await endOffsets(input)).toEqual(before);
    expect(await withAdmin((a) => a.listTopics())).not.toContain(`${prefix}dlq.replayed`);
    expect(await deadLetters(kafka, prefix)).toHaveLength(13);

    // The cause removed. --since takes wave B only, --reason leaves the undecodable record alone.
    s.llm.setRefuseMarked(undefined);
    const first = await dlqCli(prefix, ['replay', '--reason', 'LLM_CLIENT', '--since', since]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`re-published 6 dead letters (6 to ${input}) in 1 transactions, recorded in ${prefix}dlq.replayed`);
    expect(row(first.stdout, 'check', 'LLM_CLIENT')?.slice(2)).toEqual(['6', '0', '0', '0', '6']);
    expect(row(first.stdout, 'check', 'CODEC')?.slice(2)).toEqual(['0', '0', '0', '0', '1']);
    await waitFor('wave B decided', async () => [...(await outcomes(kafka, prefix)).keys()].filter((id) => id.startsWith('poison-b-')).length === 6, 60_000, 1000);
    expect([...(await outcomes(kafka, prefix)).keys()].filter((id) => id.startsWith('poison-a-'))).toEqual([]);

    // Without --since: wave A now, wave B skipped as replayed before.
    const second = await dlqCli(prefix, ['replay', '--reason', 'llm_client']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('re-published 6 dead letters');
    expect(row(second.stdout, 'check', 'LLM_CLIENT')?.slice(2)).toEqual(['6', '6', '0', '0', '0']);
    await waitFor('wave A decided', async () => (await outcomes(kafka, prefix)).size === 32, 60_000, 1000);
    await sleep(3000);

    // Exactly once: every candidate one outcome; poison ones as the checker judges them now.
    const final = await outcomes(kafka, prefix);
    expect(final.size).toBe(32);
    for (const c of [...good, ...poisonA, ...poisonB]) {
      const id = c.task.doc.id;
      expect(final.get(id), id).toEqual([c.task.doc.text.includes('[[incorrect]]') ? 'check.incorrect' : 'sink']);
    }
    expect(await deadLetters(kafka, prefix)).toHaveLength(13);

    // A second replay does nothing.
    const again = await dlqCli(prefix, ['replay', '--reason', 'LLM_CLIENT']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('re-published 0 dead letters in 0 transactions');
    expect(row(again.stdout, 'check', 'LLM_CLIENT')?.slice(2)).toEqual(['0', '12', '0', '0', '0']);
    await sleep(2000);
    expect((await outcomes(kafka, prefix)).size).toBe(32);
    const after = await dlqCli(prefix, ['stats']);
    expect(row(after.stdout, 'check', 'LLM_CLIENT')?.slice(2, 7)).toEqual(['12', '0', '12', '0', '0']);

    // The undecodable record fails again each time: a new dead letter with its replay count,
    // until the cap (--max-replays 2) holds it back.
    for (let n = 1; n <= 2; n++) {
      const loop = await dlqCli(prefix, ['replay', '--reason', 'CODEC', '--max-replays', '2']);
      expect(loop.stderr).toContain('re-published 1 dead letters');
      await waitFor(`dead letter of replay ${n}`, async () => (await deadLetters(kafka, prefix)).length === 13 + n, 60_000, 1000);
    }
    const codecLetters = (await deadLetters(kafka, prefix)).filter((d) => d.letter.error_code === 'CODEC');
    expect(codecLetters.map((d) => d.headers?.[REPLAYS_HEADER]?.toString() ?? '0')).toEqual(['0', '1', '2']);
    expect(codecLetters.map((d) => d.letter.key?.toString())).toEqual(['garbage-0', 'garbage-0', 'garbage-0']);
    const capped = await dlqCli(prefix, ['replay', '--reason', 'CODEC', '--max-replays', '2']);
    expect(capped.code, capped.stderr).toBe(0);
    expect(capped.stderr).toContain('re-published 0 dead letters');
    expect(capped.stderr).toContain('1 held back after 2 replays');
    const loopStats = JSON.parse((await dlqCli(prefix, ['stats', '--json'])).stdout) as { groups: Record<string, unknown>[] };
    expect(loopStats.groups.find((g) => g['reason'] === 'CODEC')).toMatchObject({ dead_letters: 3, replayed: 2, pending: 1, from_replays: 2 });
  }, 600_000);
});

describe('dlq replay: kill -9 mid-replay, then a rerun', () => {
  it('leaves every dead letter in its source topic exactly once, key, value and headers intact', async () => {
    const prefix = freshPrefix('dlqkill');
    await createTestTopics(prefix);
    const kafka = testKafka();
    const source = `${prefix}docs.raw`;
    const dlqTopic = `${prefix}dlq`;
    // Records of 64 KiB, 60 to a transaction: each transaction takes four produce requests, and
    // the kill comes right after the first, while the transaction is open.
    const n = 600;
    const pad = 'x'.repeat(64 * 1024);
    // Dead letters as a stage writes them (raw bytes of the failed record, its headers kept).
    const codec = new TopicCodecs().for('DeadLetter', dlqTopic);
    const letters = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const letter: DeadLetter = {
          source_topic: source,
          partition: i % 3,
          offset: String(i),
          key: Buffer.from(`key-${i}`),
          value: Buffer.from(`raw record ${i} ${pad}`),
          error_code: 'LLM_CLIENT',
          error: 'refused',
          stage: 'dedup',
          created_at: Date.now(),
        };
        return { key: letter.key, value: await codec.encode(letter), headers: { trace: `t-${i}` } };
      }),
    );
    await publish(kafka, dlqTopic, letters);
    const config = join(s.h.dir, 'dlq-small-batches.yaml');
    await writeFile(config, 'dlq:\n  batchRecords: 60\n  batchBytes: 16777216\n');

    // Kill -9 the replay right after a transaction's first records reached the broker; again
    // (each run resumes) until one kill lands in an open transaction, which the broker then holds
    // aborted records of.
    let abortedSeen = 0;
    let rounds = 0;
    let logged: string[] = [];
    for (; rounds < 6 && abortedSeen === 0; rounds++) {
      await killReplayMidway(prefix, config, 2);
      // A transaction the kill left open stays open (read_committed readers wait at it) until the
      // next replay takes the id; a commit the broker had been asked for completes. Take the id
      // here, as the next replay would, so what follows looks at the final state.
      await takeTransactionalId(kafka, `${prefix}dlq-replay`);
      logged = await readLog(kafka, `${prefix}dlq.replayed`);
      const partial = await readSource(kafka, source);
      abortedSeen = (await countUncommitted(kafka, source)) - partial.length;
      // What is in the source topic is exactly what the replay log says, each once.
      expect(partial.length).toBe(logged.length);
      expect(new Set(partial.map((r) => r.key)).size).toBe(partial.length);
      expect(new Set(logged).size).toBe(logged.length);
    }
    expect(abortedSeen, 'no kill landed inside an open transaction').toBeGreaterThan(0);
    expect(logged.length).toBeLessThan(n);

    // Once more, and this time the rerun alone deals with whatever the kill left behind.
    await killReplayMidway(prefix, config, 2);
    const rerun = await dlqCli(prefix, ['replay']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const [now, before] = (row(rerun.stdout, 'dedup', 'LLM_CLIENT') ?? []).slice(2, 4).map(Number);
    expect((now ?? 0) + (before ?? 0)).toBe(n);
    expect(before).toBeGreaterThanOrEqual(logged.length + 60);
    expect(rerun.stderr).toContain(`re-published ${now} dead letters`);

    const all = await readSource(kafka, source);
    expect(all).toHaveLength(n);
    const byKey = new Map(all.map((r) => [r.key, r]));
    expect(byKey.size).toBe(n);
    for (let i = 0; i < n; i++) {
      const r = byKey.get(`key-${i}`);
      expect(r, `key-${i}`).toMatchObject({ value: `raw record ${i} ${pad}`, partition: i % 3, trace: `t-${i}`, replays: '1' });
      expect(r?.from).toMatch(new RegExp(`^${dlqTopic.replace(/\./g, '\\.')}/\\d@\\d+$`));
    }
    const log = await readLog(kafka, `${prefix}dlq.replayed`);
    expect(log).toHaveLength(n);
    expect(new Set(log).size).toBe(n);
    // Records the killed transaction had sent were aborted: counted here for the README.
    const uncommitted = await countUncommitted(kafka, source);
    console.log(`kill -9 of ${rounds + 1} runs: ${before} replayed before the rerun, ${now} by it; ${uncommitted - n} aborted records in ${source}`);
    const again = await dlqCli(prefix, ['replay']);
    expect(again.stderr).toContain('re-published 0 dead letters');
    expect(await readSource(kafka, source)).toHaveLength(n);
  }, 300_000);
});

describe('dlq replay: interrupted, and frozen while another replay takes over', () => {
  it('SIGTERM stops after the transaction under way (exit 130); a frozen replay woken after another finished is fenced (exit 1); every record once', async () => {
    const prefix = freshPrefix('dlqzombie');
    await createTestTopics(prefix);
    const kafka = testKafka();
    const source = `${prefix}docs.raw`;
    const dlqTopic = `${prefix}dlq`;
    const n = 400;
    const codec = new TopicCodecs().for('DeadLetter', dlqTopic);
    const letters = await Promise.all(
      Array.from({ length: n }, async (_, i) => ({
        key: `key-${i}`,
        value: await codec.encode({
          source_topic: source,
          partition: i % 3,
          offset: String(i),
          key: Buffer.from(`key-${i}`),
          value: Buffer.from(`raw record ${i}`),
          error_code: 'CODEC',
          error: 'bad bytes',
          stage: 'dedup',
          created_at: Date.now(),
        } satisfies DeadLetter),
      })),
    );
    await publish(kafka, dlqTopic, letters);
    const config = join(s.h.dir, 'dlq-zombie.yaml');
    await writeFile(config, 'dlq:\n  batchRecords: 20\n');

    // SIGTERM in the middle of the second transaction: it commits, nothing after it starts.
    const stopped = startReplay(prefix, config);
    await stopped.sent(2);
    stopped.proc.kill('SIGTERM');
    expect(await stopped.exited, stopped.stderr()).toBe(130);
    expect(stopped.stderr()).toContain('interrupted: run it again to replay the rest');
    const afterStop = await readLog(kafka, `${prefix}dlq.replayed`);
    expect(afterStop.length).toBeGreaterThanOrEqual(40);
    expect(afterStop.length).toBeLessThan(n);
    expect(await readSource(kafka, source)).toHaveLength(afterStop.length);

    // Frozen (SIGSTOP) with a transaction open; another replay takes the id and finishes; the
    // frozen one, woken, is refused by the broker and says so.
    const zombie = startReplay(prefix, config);
    await zombie.sent(2);
    zombie.proc.kill('SIGSTOP');
    const other = await dlqCli(prefix, ['replay']);
    expect(other.code, other.stderr).toBe(0);
    const [now, before] = (row(other.stdout, 'dedup', 'CODEC') ?? []).slice(2, 4).map(Number);
    expect((now ?? 0) + (before ?? 0)).toBe(n);
    zombie.proc.kill('SIGCONT');
    expect(await zombie.exited, zombie.stderr()).toBe(1);
    expect(zombie.stderr()).toMatch(/another `dlq replay` \(transactional id .*dlq-replay\) took over/);

    const all = await readSource(kafka, source);
    expect(all).toHaveLength(n);
    expect(new Set(all.map((r) => r.key)).size).toBe(n);
    const log = await readLog(kafka, `${prefix}dlq.replayed`);
    expect(new Set(log).size).toBe(n);
    expect(log).toHaveLength(n);
  }, 300_000);
});

/** A `dlq replay` process (the node process itself) at log level debug, to see its produce requests. */
function startReplay(prefix: string, config: string): { proc: ChildProcess; exited: Promise<number | null>; stderr: () => string; sent: (nth: number) => Promise<void> } {
  const proc = spawn(process.execPath, [CLI, 'dlq', 'replay', '--config', config], {
    env: { ...process.env, KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  s.h.workers.add(proc);
  let err = '';
  const listeners = new Set<() => void>();
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const l of listeners) l();
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.on('close', (code) => {
      s.h.workers.delete(proc);
      resolve(code);
    }),
  );
  /** Resolves once the first produce request of transaction `nth` has been sent. */
  const sent = (nth: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if ((err.match(/"request":1,.*dlq replay: produce request sent/g) ?? []).length >= nth) {
          listeners.delete(check);
          resolve();
        }
      };
      listeners.add(check);
      check();
      void exited.then(() => reject(new Error(`replay exited before its transaction ${nth}: ${err.slice(-2000)}`)));
    });
  return { proc, exited, stderr: () => err, sent };
}

/** Starts `dlq replay` and kills it (SIGKILL) once the first produce request of its `nth` transaction is sent. */
async function killReplayMidway(prefix: string, config: string, nth: number): Promise<void> {
  const proc = spawn(process.execPath, [CLI, 'dlq', 'replay', '--config', config], {
    env: { ...process.env, KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  s.h.workers.add(proc);
  let err = '';
  const exited = new Promise<number | null>((resolve) => proc.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    proc.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if ((err.match(/"transaction":(\d+),"request":1,.*dlq replay: produce request sent/g) ?? []).length >= nth) {
        proc.kill('SIGKILL');
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`replay exited before its transaction ${nth}: ${err.slice(-2000)}`)));
  });
  await exited;
  s.h.workers.delete(proc);
}

/** InitProducerId for `id`: aborts the transaction a killed producer left open. */
async function takeTransactionalId(kafka: Kafka, id: string): Promise<void> {
  const producer = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await (await producer.transaction()).abort();
  await producer.disconnect();
}

async function readLog(kafka: Kafka, topic: string): Promise<string[]> {
  const keys: string[] = [];
  await readToEnd(kafka, topic, (m) => {
    keys.push(m.key?.toString() ?? '');
  }, { groupPrefix: 'test-read-' });
  return keys;
}

async function readSource(kafka: Kafka, topic: string): Promise<{ key: string; value: string; partition: number; trace?: string; replays?: string; from?: string }[]> {
  const out: { key: string; value: string; partition: number; trace?: string; replays?: string; from?: string }[] = [];
  await readToEnd(kafka, topic, (m, partition) => {
    const h = m.headers ?? {};
    out.push({
      key: m.key?.toString() ?? '',
      value: m.value?.toString() ?? '',
      partition,
      ...(h['trace'] ? { trace: h['trace'].toString() } : {}),
      ...(h[REPLAYS_HEADER] ? { replays: h[REPLAYS_HEADER].toString() } : {}),
      ...(h[REPLAYED_FROM_HEADER] ? { from: h[REPLAYED_FROM_HEADER].toString() } : {}),
    });
  }, { groupPrefix: 'test-read-' });
  return out;
}

/**
 * Data records in a topic read_uncommitted, aborted ones and those of a transaction still open
 * included, up to the high watermark each fetch reports (admin offsets stop at the last stable one).
 */
async function countUncommitted(kafka: Kafka, topic: string): Promise<number> {
  const partitions = (await withAdmin((a) => a.fetchTopicOffsets(topic))).map((o) => o.partition);
  const pending = new Set(partitions);
  const consumer = kafka.consumer({ groupId: `test-read-uncommitted-${Date.now()}-${Math.random().toString(36).slice(2)}`, readUncommitted: true, maxWaitTimeInMs: 200 });
  let count = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    // A batch of transaction markers alone reaches no eachBatch, only this event.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { partition, lastOffset, highWatermark } = e.payload;
      if (lastOffset !== null && Number(lastOffset) + 1 >= Number(highWatermark)) pending.delete(partition);
      if (pending.size === 0) resolve();
    });
    setTimeout(resolve, 30_000).unref();
    void consumer.run({
      eachBatch: async ({ batch }) => {
        count += batch.messages.length;
        await Promise.resolve();
      },
    });
    // A partition with nothing in it reports no batch.
    void withAdmin((a) => a.fetchTopicOffsets(topic)).then((o) => {
      for (const p of o) if (Number(p.high) === 0 && Number(p.low) === 0) pending.delete(p.partition);
      if (pending.size === 0) resolve();
    });
  });
  await consumer.disconnect();
  return count;
}
