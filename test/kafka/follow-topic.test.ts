/**
 * `followTopic` (src/kafka/follow-topic.ts): a reader of an internal topic that cannot start
 * (here: its topic does not exist yet, as when another process is still creating it) keeps trying
 * and then reads the topic from its beginning, instead of staying down without a word; and an
 * abort stops the attempts.
 */
import pino from 'pino';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followTopic } from '../../src/kafka/follow-topic.js';
import { cleanupKafka, ensureBroker, freshPrefix, testKafka, withAdmin } from '../support/kafka.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A logger that keeps what it was told, to count the warnings. */
function recordingLog(): { log: pino.Logger; lines: { msg: string; attempt?: number }[] } {
  const lines: { msg: string; attempt?: number }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; attempt?: number }) });
  return { log, lines };
}

describe('followTopic (unit)', () => {
  it('stops trying, without running, once the signal aborts', async () => {
    const calls: string[] = [];
    const consumer = {
      connect: () => (calls.push('connect'), Promise.resolve()),
      subscribe: () => (calls.push('subscribe'), Promise.reject(new Error('This server does not host this topic-partition'))),
      run: () => (calls.push('run'), Promise.resolve()),
    };
    const ac = new AbortController();
    const { log, lines } = recordingLog();
    const started = followTopic(consumer as never, { topic: 't', signal: ac.signal, log, what: 'test reader', run: {}, delay: () => 50 });
    await sleep(130);
    ac.abort();
    expect(await started).toBe(false);
    expect(calls).not.toContain('run');
    expect(calls.filter((c) => c === 'subscribe').length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((l) => l.msg === 'test reader could not start; retrying').length).toBe(calls.filter((c) => c === 'subscribe').length);
  });
});

describe('followTopic (real broker)', () => {
  beforeAll(ensureBroker, 600_000);
  afterAll(cleanupKafka);

  it('reads a topic that is created only after the reader began trying, from its first record', async () => {
    const topic = `${freshPrefix('follow')}late`;
    const kafka = testKafka('follow');
    const consumer = kafka.consumer({ groupId: `${topic}-reader`, allowAutoTopicCreation: false, maxWaitTimeInMs: 100, retry: { retries: 1, restartOnFailure: () => Promise.resolve(true) } });
    const seen: KafkaMessage[] = [];
    const ac = new AbortController();
    const { log, lines } = recordingLog();
    const running = followTopic(consumer, {
      topic,
      signal: ac.signal,
      log,
      what: 'late reader',
      delay: () => 300,
      run: { eachMessage: ({ message }) => (seen.push(message), Promise.resolve()) },
    });
    try {
      await sleep(1_500);
      const warned = lines.filter((l) => l.msg === 'late reader could not start; retrying').length;
      expect(warned, 'the reader should have failed while the topic did not exist').toBeGreaterThanOrEqual(1);
      await withAdmin((admin) => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] }));
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: [{ value: 'first' }, { value: 'second' }] });
      await producer.disconnect();
      expect(await running).toBe(true);
      const deadline = Date.now() + 30_000;
      while (seen.length < 2 && Date.now() < deadline) await sleep(100);
      expect(seen.map((m) => m.value?.toString())).toEqual(['first', 'second']);
      expect(lines.some((l) => l.msg === 'late reader started')).toBe(true);
    } finally {
      ac.abort();
      await consumer.disconnect().catch(() => undefined);
    }
  }, 90_000);
});
