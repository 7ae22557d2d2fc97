/**
 * Fencing on the real broker: the per-partition transactional producer of `PartitionOwner`.
 * Taking a partition fences every earlier owner (its commit fails, nothing of it reaches a
 * read_committed reader), aborts a transaction an earlier owner left open at once (not after the
 * transaction timeout), and starts from exactly what the last owner committed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka, ProducerConfig } from 'kafkajs';
import { createProducer, readToEnd } from '../../src/kafka/index.js';
import { pino } from 'pino';
import { OwnedPartitions } from '../../src/runtime/owned-partitions.js';
import { PartitionOwner, transactionalIdFor, type OutMessage } from '../../src/runtime/partition-owner.js';
import { cleanupKafka, committedOffsetOnce, createTestTopics, ensureBroker, freshPrefix, testKafka } from '../support/kafka.js';
import { readOnceShown } from '../support/wait.js';

const kafka = testKafka('owner');
let admin: Admin;

beforeAll(async () => {
  await ensureBroker();
  admin = kafka.admin();
  await admin.connect();
}, 600_000);

afterAll(async () => {
  await admin.disconnect();
  await cleanupKafka();
});

async function topics(): Promise<{ input: string; output: string; group: string }> {
  const prefix = freshPrefix('owner');
  const { names } = await createTestTopics(prefix, undefined, { partitions: 1 });
  return { input: names['docs.raw'] as string, output: names['docs.filtered'] as string, group: `${prefix}filter` };
}

function open(t: { input: string; group: string }, transactionTimeout = 60_000): Promise<PartitionOwner> {
  return PartitionOwner.open({ kafka, admin, groupId: t.group, topic: t.input, partition: 0, transactionTimeout, metadataBudget: 4000 });
}

function out(topic: string, text: string): OutMessage[] {
  return [{ topic, message: { key: text, value: Buffer.from(text) } }];
}

async function readCommitted(topic: string): Promise<string[]> {
  const got: string[] = [];
  await readToEnd(kafka, topic, (m) => void got.push(m.value?.toString() ?? ''));
  return got;
}

/**
 * What a read_committed reader finds in `topic` once at least `atLeast` records are there (or
 * after 15 s), read again after a pause. EndTxn is answered before the transaction's markers move
 * the last stable offset, so a read right after a commit can miss it; the second read lets a
 * record that should not be there (a duplicate) show up too.
 */
function committed(topic: string, atLeast: number): Promise<string[]> {
  return readOnceShown(`${atLeast} records in ${topic}`, () => readCommitted(topic), atLeast, { timeoutMs: 15_000, everyMs: 50, settleMs: 300 });
}

describe('PartitionOwner (real broker)', () => {
  it('commits outputs with the offset, and a newer owner fences the older one', async () => {
    const t = await topics();
    const a = await open(t);
    for (const o of [0n, 1n, 2n]) expect(a.accept(o)).toBe(true);
    a.finish(0n, out(t.output, 'a0'));
    a.finish(2n, out(t.output, 'a2'));
    expect(a.heldBytes).toBeGreaterThan(0);
    expect(await a.commit()).toMatchObject({ outcome: 'ok' });
    expect(a.heldBytes).toBe(0); // a2 went out too, listed beyond offset 1 in the commit metadata
    // The new owner (another pod, or the same one after a rebalance) takes the partition.
    const b = await open(t);
    expect(b.committedOffset).toBe(1n);
    expect(b.accept(0n)).toBe(false); // committed
    expect(b.accept(2n)).toBe(false); // finished beyond the committed offset (metadata)
    expect(b.accept(1n)).toBe(true);
    // The old owner wakes up with a result for offset 1: it must not reach the topic.
    a.finish(1n, out(t.output, 'a1-zombie'));
    const zombie = await a.commit();
    expect(zombie.outcome).toBe('fenced');
    expect(a.active).toBe(false);
    expect(a.heldBytes).toBe(0);
    b.finish(1n, out(t.output, 'b1'));
    expect(await b.commit()).toMatchObject({ outcome: 'ok' });
    expect((await committed(t.output, 3)).sort()).toEqual(['a0', 'a2', 'b1']);
    const c = await open(t);
    expect(c.committedOffset).toBe(3n);
    await Promise.all([a.close(), b.close(), c.close()]);
  }, 120_000);

  /**
   * A Kafka client whose producers' EndTxn can be made to fail as a lost answer looks: after the
   * broker committed (`after`) or before the request left (`before`), or whose produce and then
   * abort fail as the broker goes away (`send-and-abort`: nothing in doubt, the producer stuck), and whose next producer's
   * connect (where kafkajs runs InitProducerId) can be held until released, as when the broker
   * does not answer. Fault injection on the real broker; everything else is kafkajs as is.
   */
  function faultyKafka(): { kafka: Kafka; failNextCommit: (when: 'before' | 'after' | 'send-and-abort') => void; holdNextConnect: () => () => void } {
    let fault: 'before' | 'after' | 'send-and-abort' | null = null;
    let hold: Promise<void> | null = null;
    const wrapped = new Proxy(kafka, {
      get(target, prop, receiver) {
        if (prop !== 'producer') return Reflect.get(target, prop, receiver) as unknown;
        return (cfg: ProducerConfig) => {
          const producer = target.producer(cfg);
          const connect = producer.connect.bind(producer);
          producer.connect = async () => {
            const held = hold;
            hold = null;
            if (held) await held;
            await connect();
          };
          const transaction = producer.transaction.bind(producer);
          producer.transaction = async () => {
            const tx = await transaction();
            const sendBatch = tx.sendBatch.bind(tx);
            const abort = tx.abort.bind(tx);
            let failAbort = false;
            tx.sendBatch = async (batch) => {
              if (fault === 'send-and-abort') {
                fault = null;
                failAbort = true;
                throw new Error('Connection error: socket hang up (injected before Produce)');
              }
              return sendBatch(batch);
            };
            tx.abort = async () => {
              if (failAbort) throw new Error('Connection error: connect ECONNREFUSED (injected before EndTxn abort)');
              await abort();
            };
            const commit = tx.commit.bind(tx);
            tx.commit = async () => {
              const when = fault;
              fault = null;
              if (when === 'before') throw new Error('Connection error: socket hang up (injected before EndTxn)');
              await commit();
              if (when === 'after') throw new Error('Request EndTxn timed out (injected after the broker committed)');
            };
            return tx;
          };
          return producer;
        };
      },
    });
    return {
      kafka: wrapped,
      failNextCommit: (when) => (fault = when),
      holdNextConnect: () => {
        let release!: () => void;
        hold = new Promise((resolve) => (release = resolve));
        return release;
      },
    };
  }

  for (const when of ['after', 'before'] as const) {
    it(`resolves a commit whose answer was lost (${when} the broker committed) without repeating or losing outputs`, async () => {
      const t = await topics();
      const faulty = faultyKafka();
      const a = await PartitionOwner.open({ kafka: faulty.kafka, admin, groupId: t.group, topic: t.input, partition: 0, transactionTimeout: 60_000, metadataBudget: 4000 });
      for (const o of [0n, 1n, 2n]) expect(a.accept(o)).toBe(true);
      for (const o of [0n, 1n, 2n]) a.finish(o, out(t.output, `r${o}`));
      faulty.failNextCommit(when);
      await expect(a.commit()).rejects.toThrow(/injected/);
      expect(a.heldBytes).toBeGreaterThan(0); // kept until the outcome is known
      expect(await a.commit()).toMatchObject({ outcome: 'ok' });
      expect(a.heldBytes).toBe(0);
      expect((await committed(t.output, 3)).sort()).toEqual(['r0', 'r1', 'r2']);
      const b = await open(t);
      expect(b.committedOffset).toBe(3n);
      await Promise.all([a.close(), b.close()]);
    }, 120_000);
  }

  it('an owner whose commit was in doubt, superseded meanwhile, re-takes its producer and finds another commit: it drops its work, never repeats it', async () => {
    const t = await topics();
    const faulty = faultyKafka();
    const a = await PartitionOwner.open({ kafka: faulty.kafka, admin, groupId: t.group, topic: t.input, partition: 0, transactionTimeout: 60_000, metadataBudget: 4000 });
    for (const o of [0n, 1n, 2n]) expect(a.accept(o)).toBe(true);
    for (const o of [0n, 1n, 2n]) a.finish(o, out(t.output, `a${o}`));
    // The broker goes away as A ends its transaction: A must replace its producer before its next commit.
    faulty.failNextCommit('before');
    await expect(a.commit()).rejects.toThrow(/injected/);
    // Meanwhile the partition is taken again (a newer join in the same worker, or another pod),
    // whose owner processes the first two records again and commits them.
    const b = await open(t);
    expect(b.committedOffset).toBeNull();
    for (const o of [0n, 1n]) expect(b.accept(o)).toBe(true);
    for (const o of [0n, 1n]) b.finish(o, out(t.output, `b${o}`));
    expect(await b.commit()).toMatchObject({ outcome: 'ok' });
    // EndTxn is answered once the commit is decided; the group coordinator shows the offset once
    // the commit markers are written, a moment later (longer on a loaded broker). A retry inside
    // that moment cannot see B's commit and fences B (which takes the partition back and redoes its
    // uncommitted records; nothing is repeated). This test is about the retry after it.
    expect(await committedOffsetOnce(admin, t.group, t.input, 0, '2')).toBe('2');
    // A retries: the committed offset is neither A's last commit nor its plan in doubt, so A's held
    // outputs are somebody else's business now; A lets go without a new producer, which would fence B.
    const late = await a.commit();
    expect(late.outcome).toBe('fenced');
    expect(a.active).toBe(false);
    expect(a.heldBytes).toBe(0);
    expect(b.accept(2n)).toBe(true);
    b.finish(2n, out(t.output, 'b2'));
    expect(await b.commit()).toMatchObject({ outcome: 'ok' });
    // Each input record's output once: B's, and nothing of A.
    expect((await committed(t.output, 3)).sort()).toEqual(['b0', 'b1', 'b2']);
    const c = await open(t);
    expect(c.committedOffset).toBe(3n);
    await Promise.all([a.close(), b.close(), c.close()]);
  }, 120_000);

  /**
   * A's commit fails with `fault`; A retries with a new producer whose InitProducerId is held
   * while B takes the partition and commits 0 and 1; then A's start goes through (fencing B) and
   * A must find B's commit and send nothing: only B's records are in the output.
   */
  async function supersededWhileStarting(fault: 'before' | 'send-and-abort', failure: RegExp): Promise<void> {
    const t = await topics();
    const faulty = faultyKafka();
    const a = await PartitionOwner.open({ kafka: faulty.kafka, admin, groupId: t.group, topic: t.input, partition: 0, transactionTimeout: 60_000, metadataBudget: 4000 });
    for (const o of [0n, 1n, 2n]) expect(a.accept(o)).toBe(true);
    for (const o of [0n, 1n, 2n]) a.finish(o, out(t.output, `a${o}`));
    faulty.failNextCommit(fault);
    await expect(a.commit()).rejects.toThrow(failure);
    // A retries: nobody has committed yet, so it starts a new producer, whose InitProducerId hangs.
    const release = faulty.holdNextConnect();
    const late = a.commit();
    await new Promise((r) => setTimeout(r, 500));
    const b = await open(t);
    for (const o of [0n, 1n]) expect(b.accept(o)).toBe(true);
    for (const o of [0n, 1n]) b.finish(o, out(t.output, `b${o}`));
    expect(await b.commit()).toMatchObject({ outcome: 'ok' });
    release();
    // A's InitProducerId fences B now; what A then finds committed is B's, so A sends nothing.
    expect(await late).toMatchObject({ outcome: 'fenced' });
    expect(a.heldBytes).toBe(0);
    expect((await committed(t.output, 2)).sort()).toEqual(['b0', 'b1']);
    await Promise.all([a.close(), b.close()]);
  }

  it('an owner whose new producer is superseded while it starts (another owner commits meanwhile) drops its work after InitProducerId', async () => {
    await supersededWhileStarting('before', /injected/);
  }, 120_000);

  it('an owner stuck in a transaction it could not abort (nothing in doubt) checks the committed offset after its new producer starts', async () => {
    await supersededWhileStarting('send-and-abort', /injected before Produce/);
  }, 120_000);

  it('two joins in a row while an owner whose commit failed is flushed: one owner at a time, each record out once', async () => {
    const t = await topics();
    const faulty = faultyKafka();
    const parts = new OwnedPartitions({
      open: (partition) => PartitionOwner.open({ kafka: faulty.kafka, admin, groupId: t.group, topic: t.input, partition, transactionTimeout: 60_000, metadataBudget: 4000 }),
      signal: new AbortController().signal,
      log: pino({ level: 'silent' }),
    });
    parts.assign([0]);
    const a = (await parts.ownerFor(0)) as PartitionOwner;
    for (const o of [0n, 1n, 2n]) expect(a.accept(o)).toBe(true);
    for (const o of [0n, 1n, 2n]) a.finish(o, out(t.output, `a${o}`));
    // The broker goes away as A ends its transaction; its producer must be replaced.
    faulty.failNextCommit('before');
    await expect(a.commit()).rejects.toThrow(/injected/);
    // The broker is back and the group rejoins: the take flushes A, whose new producer's
    // InitProducerId hangs; the consume loop gives up waiting and the group rejoins again.
    const release = faulty.holdNextConnect();
    parts.assign([0]);
    await new Promise((r) => setTimeout(r, 300));
    parts.assign([0]);
    // Whatever owner the worker hands records to now processes the ones it is given and commits.
    const early = await Promise.race([parts.ownerFor(0), new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
    if (early !== null && early !== a) {
      for (const o of [0n, 1n]) if (early.accept(o)) early.finish(o, out(t.output, `b${o}`));
      await early.commit().catch(() => undefined);
    }
    release();
    // A's commits run one after the other: this one ends after the flush held above.
    await a.commit().catch(() => undefined);
    const owner = (await parts.ownerFor(0)) as PartitionOwner;
    await owner.commit().catch(() => undefined);
    const got = await committed(t.output, 3);
    for (const r of ['0', '1', '2']) expect(got.filter((v) => v.endsWith(r)), `outputs of record ${r}: ${got.join(' ')}`).toHaveLength(1);
    await parts.closeAll();
  }, 120_000);

  it('aborts a transaction an earlier owner left open at once, not after the transaction timeout', async () => {
    const t = await topics();
    const old = createProducer(kafka, { transactionalId: transactionalIdFor(t.group, t.input, 0), maxInFlightRequests: 1, transactionTimeout: 120_000 });
    await old.connect();
    const tx = await old.transaction();
    await tx.send({ topic: t.output, messages: [{ key: 'x', value: Buffer.from('left-open') }] });
    // The old owner freezes here with its transaction open; a read_committed reader is held back.
    const t0 = Date.now();
    const fresh = await open(t);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(15_000);
    expect(await committed(t.output, 0)).toEqual([]);
    expect(fresh.accept(0n)).toBe(true);
    fresh.finish(0n, out(t.output, 'fresh'));
    expect(await fresh.commit()).toMatchObject({ outcome: 'ok' });
    expect(await committed(t.output, 1)).toEqual(['fresh']);
    // The frozen owner wakes and tries to finish its transaction: refused.
    await expect(tx.commit()).rejects.toThrow();
    await old.disconnect();
    await fresh.close();
  }, 120_000);

  it('knows whether anybody committed since its own last commit (taken again after a rebalance)', async () => {
    const t = await topics();
    const a = await open(t);
    a.accept(0n);
    a.finish(0n, out(t.output, 'a0'));
    expect(await a.commit()).toMatchObject({ outcome: 'ok' });
    a.accept(1n);
    const again = await open(t);
    expect(a.sameCommitAs(again)).toBe(true);
    a.adoptProducerOf(again);
    a.finish(1n, out(t.output, 'a1'));
    expect(await a.commit()).toMatchObject({ outcome: 'ok' });
    // Somebody else commits; a stale owner then finds a different commit.
    const other = await open(t);
    other.accept(2n);
    other.finish(2n, out(t.output, 'o2'));
    expect(await other.commit()).toMatchObject({ outcome: 'ok' });
    const probe = await open(t);
    expect(a.sameCommitAs(probe)).toBe(false);
    expect((await committed(t.output, 3)).sort()).toEqual(['a0', 'a1', 'o2']);
    await Promise.all([a.close(), other.close(), probe.close()]);
  }, 120_000);

  it('taken back with nothing committed, starts at the offset it was told, even when a later record arrives first', async () => {
    const t = await topics();
    // Without a start, the first record fetched is where the partition begins: an earlier one is
    // then taken for committed and skipped.
    const plain = await open(t);
    expect(plain.accept(5n)).toBe(true);
    expect(plain.accept(0n)).toBe(false);
    await plain.close();
    // Taken back and read again from the partition's first record (the consumer seeks there),
    // while a record of the fetch before the seek comes in first.
    const retaken = await open(t);
    retaken.startFrom(0n);
    expect(retaken.committedOffset).toBe(0n);
    expect(retaken.accept(5n)).toBe(true);
    expect(retaken.accept(0n)).toBe(true);
    // Once something is committed, that is where it starts, whatever it is told: 0 finished, the
    // lowest record in flight is 5 (1-4 were never fetched: gaps are normal on a transactional topic).
    retaken.finish(0n, out(t.output, 'r0'));
    expect(await retaken.commit()).toMatchObject({ outcome: 'ok' });
    const later = await open(t);
    later.startFrom(0n);
    expect(later.committedOffset).toBe(5n);
    expect(later.accept(0n)).toBe(false);
    expect(later.accept(5n)).toBe(true);
    await Promise.all([retaken.close(), later.close()]);
  }, 120_000);
});
