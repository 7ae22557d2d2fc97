/**
 * The dedup stage on the broker: documents already in `docs.raw`, N `stage dedup` worker processes
 * started at once, timed until the group's committed offsets reach the end of `docs.raw`. Reports
 * documents per second (wall, from the first commit seen to the last) and per CPU second of the
 * workers (read from /proc). The run's topics live under a private prefix, deleted afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Admin, Producer } from 'kafkajs';
import { TopicCodecs } from '../src/codec/index.js';
import { configSchema } from '../src/config/schema.js';
import type { DocumentRecord } from '../src/core/records.js';
import { createKafka } from '../src/kafka/client.js';
import { applyTopics, loadTopicSpecs } from '../src/topics/index.js';
import { workerNodeArgs } from './kafka-cluster.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const TOPICS = ['docs.raw', 'docs.unique', 'dedup.claims', 'rejections', 'dlq'];

export interface DedupKafkaResult {
  workers: number;
  docs: number;
  partitions: number;
  concurrency: number;
  /** First commit seen to the last document committed. */
  seconds: number;
  /** Documents committed after the first commit was seen, per second of that span. */
  docsPerSecond: number;
  /** CPU of the workers over their whole life: start-up (modules, connecting, joining) included. */
  workerCpuSeconds: number;
  docsPerCpuSecond: number;
  /** CPU of the workers from the first commit seen to the last: the steady-state cost. */
  steadyCpuSeconds: number;
  /** Documents committed in that span per CPU second of the workers in it. */
  steadyDocsPerCpuSecond: number;
}

/** utime + stime of a process, in seconds (Linux /proc; clock ticks of 100 Hz). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Records of a topic the group has committed, over all partitions. */
export async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return (entry?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
}

/** Sends the corpus's documents to docs.raw as Avro Document records, 500 a request, on a connected producer. */
export async function produceDocuments(producer: Producer, raw: string, docs: readonly { id: string; text: string }[]): Promise<void> {
  const codecs = new TopicCodecs();
  for (let i = 0; i < docs.length; i += 500) {
    const messages = await Promise.all(
      docs.slice(i, i + 500).map(async (d) => {
        const doc: DocumentRecord = { id: d.id, text: d.text, url: null, source: 'bench', ingested_at: Date.now() };
        return { key: d.id, value: await codecs.for('Document', raw).encode(doc) };
      }),
    );
    await producer.send({ topic: raw, messages });
  }
}

export async function dedupKafkaRun(
  docs: readonly { id: string; text: string }[],
  o: { workers: number; partitions: number; concurrency: number; brokers: string[]; progress(line: string): void },
): Promise<DedupKafkaResult> {
  const config = configSchema.parse({ kafka: { brokers: o.brokers }, logLevel: 'silent' });
  const kafka = createKafka(config, { clientIdSuffix: 'bench-dedup' });
  const prefix = `bench.dedup.${Date.now().toString(36)}.`;
  const admin = kafka.admin();
  await admin.connect();
  const procs: ChildProcess[] = [];
  try {
    const specs = loadTopicSpecs().filter((s) => TOPICS.includes(s.suffix));
    await applyTopics(admin, specs, prefix, { replicationFactorOverride: 1, partitionsOverride: o.partitions });
    const raw = `${prefix}docs.raw`;
    const producer = kafka.producer();
    await producer.connect();
    await produceDocuments(producer, raw, docs);
    await producer.disconnect();
    const end = (await admin.fetchTopicOffsets(raw)).reduce((n, p) => n + Number(p.high), 0);
    o.progress(`dedup kafka: ${docs.length} documents in ${raw}; starting ${o.workers} worker(s)`);
    for (let w = 0; w < o.workers; w++) {
      procs.push(
        spawn(process.execPath, [...workerNodeArgs(), CLI, 'stage', 'dedup', '--concurrency', String(o.concurrency), '--instance-id', `bench-dedup-${w}`], {
          env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', KAFKA_BROKERS: o.brokers.join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      );
    }
    const group = `${prefix}dedup`;
    let firstAt = 0;
    let doneAtFirst = 0;
    let cpuAtFirst = 0;
    let done = 0;
    const cpuNow = (): number => procs.reduce((n, p) => n + (p.pid === undefined ? 0 : cpuSecondsOf(p.pid)), 0);
    const deadline = Date.now() + 600_000;
    while (done < end) {
      if (Date.now() > deadline) throw new Error(`dedup kafka bench timed out at ${done} / ${end}`);
      await new Promise((r) => setTimeout(r, 200));
      done = await committed(admin, group, raw);
      if (done > 0 && firstAt === 0) {
        firstAt = performance.now();
        doneAtFirst = done;
        cpuAtFirst = cpuNow();
      }
    }
    const seconds = (performance.now() - firstAt) / 1000;
    const cpu = cpuNow();
    return {
      workers: o.workers,
      docs: docs.length,
      partitions: o.partitions,
      concurrency: o.concurrency,
      seconds,
      docsPerSecond: (end - doneAtFirst) / seconds,
      workerCpuSeconds: cpu,
      docsPerCpuSecond: docs.length / cpu,
      steadyCpuSeconds: cpu - cpuAtFirst,
      steadyDocsPerCpuSecond: (end - doneAtFirst) / (cpu - cpuAtFirst),
    };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('close', r)))));
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    await admin.deleteTopics({ topics }).catch(() => undefined);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    await admin.deleteGroups(groups).catch(() => undefined);
    await admin.disconnect();
  }
}
