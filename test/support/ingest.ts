/**
 * Helpers for the tests of `ingest --from-topic` and `ingest --follow`: the CLI's node process
 * itself (so SIGKILL and SIGSTOP hit the bridge, not a wrapper), a read_committed look at a topic
 * decoded with our Avro codecs, and a crawler's producer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Kafka, Message } from 'kafkajs';
import { TopicCodecs } from '../../src/codec/index.js';
import type { RecordTypeName } from '../../src/codec/record-types.js';
import { readToEnd } from '../../src/kafka/index.js';
import { brokers } from './kafka.js';
import { CLI } from './cli.js';

export interface IngestProcess {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

const running = new Set<ChildProcess>();

export function spawnIngest(args: string[], prefix: string, env: Record<string, string> = {}): IngestProcess {
  const proc = spawn(process.execPath, [CLI, 'ingest', ...args], {
    env: { ...process.env, KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  running.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.on('close', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  return { proc, exited, stderr: () => err };
}

/** Kills every ingest process a test started and left running (afterEach). */
export function killIngests(): void {
  for (const p of running) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
  }
  running.clear();
}

/** Everything committed on a topic now (read_committed), decoded. */
export async function readCommitted<T = Record<string, unknown>>(kafka: Kafka, topic: string, type: RecordTypeName): Promise<T[]> {
  const codec = new TopicCodecs().for(type, topic);
  const out: T[] = [];
  await readToEnd(kafka, topic, async (m) => {
    if (m.value) out.push((await codec.decode(m.value)) as T);
  }, { groupPrefix: 'test-read-' });
  return out;
}

/** Raw values committed on a topic now (read_committed). */
export async function readCommittedRaw(kafka: Kafka, topic: string): Promise<{ key: string | null; value: Buffer | null }[]> {
  const out: { key: string | null; value: Buffer | null }[] = [];
  await readToEnd(kafka, topic, (m) => {
    out.push({ key: m.key?.toString() ?? null, value: m.value });
  }, { groupPrefix: 'test-read-' });
  return out;
}

export { waitFor } from './wait.js';

/** A crawler: sends messages to its topic, plain (not transactional), acks=all. */
export async function publish(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    // At most 200 messages or about 512 kB a request: one partition's batch stays under the broker's limit.
    let batch: Message[] = [];
    let bytes = 0;
    for (const m of messages) {
      const size = m.value === null ? 0 : Buffer.byteLength(m.value as Buffer | string);
      if (batch.length > 0 && (batch.length >= 200 || bytes + size > 512 * 1024)) {
        await producer.send({ topic, messages: batch, acks: -1 });
        batch = [];
        bytes = 0;
      }
      batch.push(m);
      bytes += size;
    }
    if (batch.length > 0) await producer.send({ topic, messages: batch, acks: -1 });
  } finally {
    await producer.disconnect();
  }
}
