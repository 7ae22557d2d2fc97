/**
 * CPU a stage worker spends per record, without its start-up: one `stage dedup` worker is
 * started on empty topics and left to join its group, then the documents are produced and the
 * worker's CPU (utime + stime from /proc) is read before and after it commits them all.
 * `node dist/bench/worker-cpu.js [docs] [--cpu-prof dir]`; prints one JSON line.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import { createKafka } from '../src/kafka/client.js';
import { applyTopics, loadTopicSpecs } from '../src/topics/index.js';
import { plantedCorpus } from './dedup-corpus.js';
import { committed, cpuSecondsOf, produceDocuments } from './dedup-kafka.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const TOPICS = ['docs.raw', 'docs.unique', 'dedup.claims', 'rejections', 'dlq'];

const args = process.argv.slice(2);
const profAt = args.indexOf('--cpu-prof');
const profDir = profAt >= 0 ? args[profAt + 1] : undefined;
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 6000);
const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092').split(',');
const config = configSchema.parse({ kafka: { brokers }, logLevel: 'silent' });
const kafka = createKafka(config, { clientIdSuffix: 'bench-workercpu' });
const prefix = `bench.workercpu.${Date.now().toString(36)}.`;
const admin = kafka.admin();
await admin.connect();
const corpus = plantedCorpus({ seed: 7, distinct: Math.max(1, n - Math.floor(n / 6)), exact: Math.floor(n / 24), near: Math.floor(n / 24), jaccards: [0.85, 0.9, 0.95], prefix: 'bench' });
const docs = corpus.docs.slice(0, n);
const specs = loadTopicSpecs().filter((s) => TOPICS.includes(s.suffix));
await applyTopics(admin, specs, prefix, { replicationFactorOverride: 1, partitionsOverride: 8 });
const raw = `${prefix}docs.raw`;
const group = `${prefix}dedup`;
const node = profDir ? [`--cpu-prof`, `--cpu-prof-dir=${profDir}`] : [];
const proc = spawn(process.execPath, [...node, CLI, 'stage', 'dedup', '--concurrency', '64', '--instance-id', 'bench-workercpu'], {
  env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', KAFKA_BROKERS: brokers.join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn', ...(process.env['WEBSCALE_CONFIG'] ? { WEBSCALE_CONFIG: process.env['WEBSCALE_CONFIG'] } : {}), ...(process.env['NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['NODE_OPTIONS'] } : {}) },
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  // Joined when the group is Stable with a member; then let start-up settle.
  for (let i = 0; ; i++) {
    if (i > 300) throw new Error('worker did not join');
    await new Promise((r) => setTimeout(r, 200));
    const d = await admin.describeGroups([group]);
    if (d.groups[0]?.state === 'Stable' && d.groups[0].members.length > 0) break;
  }
  await new Promise((r) => setTimeout(r, 3000));
  const idle0 = cpuSecondsOf(proc.pid!);
  await new Promise((r) => setTimeout(r, 3000));
  const idlePerSecond = (cpuSecondsOf(proc.pid!) - idle0) / 3;
  const producer = kafka.producer();
  await producer.connect();
  const c0 = cpuSecondsOf(proc.pid!);
  const t0 = performance.now();
  await produceDocuments(producer, raw, docs);
  await producer.disconnect();
  let done = 0;
  while (done < docs.length) {
    if (performance.now() - t0 > 600_000) throw new Error(`timed out at ${done}`);
    await new Promise((r) => setTimeout(r, 100));
    done = await committed(admin, group, raw);
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSecondsOf(proc.pid!) - c0;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(JSON.stringify({ docs: docs.length, wall: +wall.toFixed(2), workerCpuS: cpu, cpuMsPerDoc: +((cpu / docs.length) * 1000).toFixed(3), idleCpuPerS: +idlePerSecond.toFixed(3), docsPerCpuS: Math.round(docs.length / cpu), load }));
} finally {
  proc.kill('SIGTERM');
  await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('close', r)));
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  await admin.deleteTopics({ topics }).catch(() => undefined);
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
}
