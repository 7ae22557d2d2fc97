/**
 * The fix for kafkajs' idle request queue (src/kafka/request-queue-fix.ts): an idle connection
 * schedules no check of its queue, while requests held back by the in-flight limit or a
 * client-side throttle are still sent; and on the real broker an idle consumer made by
 * `createKafka` (via testKafka) no longer checks its queues about a thousand times a second per connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_PENDING_INTERVAL_MS, installRequestQueueFix, nextCheckDelay, requestQueueClass, type RequestQueueLike } from '../../src/kafka/request-queue-fix.js';
import { cleanupKafka, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Sent {
  correlationId: number;
  at: number;
}

function queue(maxInFlightRequests: number): RequestQueueLike & { push(r: unknown): void; fulfillRequest(r: unknown): void; maybeThrottle(ms: number): void; destroy(): void } {
  installRequestQueueFix();
  const RequestQueue = requestQueueClass();
  return new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: 'b:1', logger: quiet }) as never;
}

function request(correlationId: number, sent: Sent[]): { pushed: unknown; done: Promise<unknown> } {
  let resolve!: (v: unknown) => void;
  const done = new Promise((r) => (resolve = r));
  const pushed = {
    entry: { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve, reject: () => undefined },
    expectResponse: true,
    sendRequest: () => sent.push({ correlationId, at: performance.now() }),
  };
  return { pushed, done };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('kafkajs request queue fix (unit)', () => {
  it('schedules a check only while requests wait, at the end of a throttle or after the interval', () => {
    expect(nextCheckDelay(0, -1, 1_000)).toBeNull();
    expect(nextCheckDelay(0, 5_000, 1_000)).toBeNull();
    expect(nextCheckDelay(2, -1, 1_000)).toBe(CHECK_PENDING_INTERVAL_MS);
    expect(nextCheckDelay(1, 1_000, 1_000)).toBe(CHECK_PENDING_INTERVAL_MS);
    expect(nextCheckDelay(1, 1_250, 1_000)).toBe(250);
  });

  it('an idle queue keeps no timer; a request held by the in-flight limit goes when the first reply comes', async () => {
    const q = queue(1);
    const sent: Sent[] = [];
    const a = request(1, sent);
    const b = request(2, sent);
    q.push(a.pushed);
    q.push(b.pushed);
    expect(sent.map((s) => s.correlationId)).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    await a.done;
    expect(sent.map((s) => s.correlationId)).toEqual([1, 2]);
    q.fulfillRequest({ correlationId: 2, payload: Buffer.alloc(0), size: 0 });
    await b.done;
    // The check scheduled while b waited runs once, finds nothing and schedules no other:
    // nothing in flight, nothing pending, no timer (kafkajs 2.2.4 kept a 1 ms loop going).
    await sleep(3 * CHECK_PENDING_INTERVAL_MS);
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.destroy();
  });

  it('a request pushed during a client-side throttle is sent when the throttle ends, with no reply to wake it', async () => {
    const q = queue(10);
    const sent: Sent[] = [];
    q.maybeThrottle(120);
    const started = performance.now();
    const a = request(7, sent);
    q.push(a.pushed);
    expect(sent).toHaveLength(0);
    expect(q.throttleCheckTimeoutId).not.toBeNull();
    await sleep(400);
    expect(sent.map((s) => s.correlationId)).toEqual([7]);
    expect((sent[0]?.at ?? 0) - started).toBeGreaterThanOrEqual(100);
    q.fulfillRequest({ correlationId: 7, payload: Buffer.alloc(0), size: 0 });
    await a.done;
    await sleep(3 * CHECK_PENDING_INTERVAL_MS);
    expect(q.throttleCheckTimeoutId).toBeNull();
    q.destroy();
  });
});

describe('kafkajs request queue fix (real broker)', () => {
  beforeAll(async () => {
    await ensureBroker();
  }, 600_000);
  afterAll(async () => {
    await cleanupKafka();
  });

  it('an idle consumer from createKafka checks its queues a few times a second, not ~1,000 per connection', async () => {
    const prefix = freshPrefix('rqfix');
    const { names } = await createTestTopics(prefix, undefined, { partitions: 4 });
    const kafka = testKafka('rqfix');
    const proto = requestQueueClass().prototype;
    const original = proto.checkPendingRequests;
    let checks = 0;
    proto.checkPendingRequests = function (this: RequestQueueLike): void {
      checks++;
      original.call(this);
    };
    const consumer = kafka.consumer({ groupId: `${prefix}idle`, maxWaitTimeInMs: 500 });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: names['docs.raw'] as string, fromBeginning: true });
      let fetches = 0;
      consumer.on(consumer.events.FETCH, () => fetches++);
      await consumer.run({ eachMessage: async () => undefined });
      await sleep(3_000);
      const from = checks;
      const fetchesFrom = fetches;
      await sleep(3_000);
      const perSecond = (checks - from) / 3;
      const fetchesPerSecond = (fetches - fetchesFrom) / 3;
      process.stderr.write(`idle consumer: ${perSecond.toFixed(1)} queue checks/s, ${fetchesPerSecond.toFixed(1)} fetches/s\n`);
      // The consumer keeps fetching (a check runs on each reply), and that is all.
      expect(fetchesPerSecond).toBeGreaterThan(0.5);
      expect(perSecond).toBeLessThan(50);
    } finally {
      await consumer.disconnect();
      proto.checkPendingRequests = original;
    }
  }, 120_000);
});
