/**
 * `npm run bench -- --only ingest`: how fast documents get into `docs.raw` through the crawl
 * bridge (JSON and gzip WARC messages, backlog already on the crawler's topic) and through the
 * folder follower (closed JSON-lines files), each as its own CLI process on the shared broker.
 * Reported: documents/s from the process's start to the last document committed, and the
 * process's CPU ms per document (start-up included). Every run checks that docs.raw holds exactly the documents sent.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Message } from 'kafkajs';
import { loadTopicSpecs } from '../src/topics/index.js';
import { createTestTopics, deletePrefix, ensureBroker, brokers, testKafka, withAdmin } from '../test/support/kafka.js';
import { publish, readCommitted } from '../test/support/ingest.js';
import { htmlPage, warcBytes } from '../test/support/warc-fixtures.js';
import { fixed, int, row } from './format.js';
import { cliEnv, freePort, processCpuMs } from './kafka-cluster.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';
import { scrape, total } from './prom.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface IngestRun {
  name: string;
  documents: number;
  seconds: number;
  docsPerSecond: number;
  cpuMsPerDoc: number | null;
  exact: boolean;
}

/** Runs one ingest process until docs.raw holds `expected` documents; measures the span. */
async function measure(ctx: BenchContext, name: string, prefix: string, args: string[], expected: number): Promise<IngestRun> {
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, 'ingest', ...args, '--metrics-port', String(port)], {
    env: cliEnv({ KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const pid = proc.pid ?? -1;
  // From the process's start: a busy bridge may not answer a scrape until it is nearly done, so
  // the first record taken cannot be timed from outside. The span includes start-up (about 1 s of
  // connecting and joining the group), which makes the figures conservative.
  const t0 = performance.now();
  try {
    for (const deadline = Date.now() + 600_000; ; ) {
      if (proc.exitCode !== null) throw new Error(`${name}: ingest exited with ${proc.exitCode}:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`${name}: not done in 10 min:\n${stderr}`);
      const samples = await scrape(port, 5000);
      const produced = samples ? total(samples, 'webscale_rl_records_produced_total', { topic: `${prefix}docs.raw` }) : 0;
      if (produced >= expected) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = processCpuMs(pid);
    const docs = expected;
    const ids = (await readCommitted<{ id: string }>(testKafka('bench-ingest'), `${prefix}docs.raw`, 'Document')).map((d) => d.id);
    const run: IngestRun = {
      name,
      documents: expected,
      seconds,
      docsPerSecond: docs / seconds,
      cpuMsPerDoc: cpu === null ? null : cpu / docs,
      exact: ids.length === expected && new Set(ids).size === expected,
    };
    ctx.progress(`${name}: ${int(run.docsPerSecond)} docs/s`);
    return run;
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('close', r));
  }
}

async function freshTopics(name: string, partitions: number): Promise<string> {
  const prefix = `bench.${Date.now().toString(36)}.${name}.`;
  await createTestTopics(prefix, loadTopicSpecs().filter((s) => ['docs.raw', 'rejections', 'dlq'].includes(s.suffix)), { partitions });
  return prefix;
}

async function crawlerTopic(prefix: string, partitions: number, messages: Message[]): Promise<string> {
  const topic = `${prefix}crawler`;
  await withAdmin((admin) => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] }));
  await publish(testKafka('bench-crawler'), topic, messages);
  return topic;
}

function page(i: number): string {
  return `Page ${i}: the harbour authority rebuilt quay ${i % 40} in stone after the storm of ${1900 + (i % 120)}; ships unloaded timber, salt and grain there for a century. `.repeat(4);
}

async function run(ctx: BenchContext): Promise<ModeResult> {
  await ensureBroker();
  const partitions = ctx.options.kafkaPartitions;
  const n = Math.max(1000, ctx.options.docs * 20);
  const runs: IngestRun[] = [];
  const prefixes: string[] = [];
  try {
    let prefix = await freshTopics('bridgejson', partitions);
    prefixes.push(prefix);
    const json = Array.from({ length: n }, (_, i) => ({ key: `p${i}`, value: JSON.stringify({ id: `p${i}`, text: page(i), url: `https://h${i % 40}.example/${i}` }) }));
    let topic = await crawlerTopic(prefix, partitions, json);
    runs.push(await measure(ctx, 'bridge, JSON messages', prefix, ['--from-topic', topic], n));

    const w = Math.max(500, Math.floor(n / 4));
    prefix = await freshTopics('bridgewarc', partitions);
    prefixes.push(prefix);
    const warc: Message[] = [];
    for (let i = 0; i < w; i++) {
      const { bytes } = await warcBytes({ type: 'response', url: `https://h${i % 40}.example/${i}`, httpHeaders: { 'Content-Type': 'text/html; charset=utf-8' }, body: htmlPage(`Page ${i}`, page(i)), gzip: true });
      warc.push({ key: null, value: bytes });
    }
    topic = await crawlerTopic(prefix, partitions, warc);
    runs.push(await measure(ctx, 'bridge, gzip WARC responses', prefix, ['--from-topic', topic, '--format', 'warc'], w));

    prefix = await freshTopics('follow', partitions);
    prefixes.push(prefix);
    const dir = join(ctx.workDir, 'follow');
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 4; f++) {
      const lines: string[] = [];
      for (let i = f * (n / 4); i < (f + 1) * (n / 4); i++) lines.push(JSON.stringify({ id: `f${i}`, text: page(i) }));
      await writeFile(join(dir, `part-${f}.jsonl`), lines.join('\n') + '\n');
    }
    const cfg = join(ctx.workDir, 'follow.yaml');
    await writeFile(cfg, 'ingest:\n  follow:\n    settle: 200ms\n    pollInterval: 200ms\n');
    runs.push(await measure(ctx, 'follower, JSON-lines files', prefix, ['--follow', dir, '--config', cfg], n));
  } finally {
    for (const p of prefixes) await deletePrefix(p).catch((err: unknown) => ctx.progress(`could not delete ${p}: ${String(err)}`));
  }
  const report = [
    row('topics', `${partitions} partitions each (crawler topic and docs.raw)`),
    ...runs.map((r) => row(r.name, `${int(r.documents)} docs, ${int(r.docsPerSecond)} docs/s, ${r.cpuMsPerDoc === null ? 'n/a' : fixed(r.cpuMsPerDoc, 3)} CPU ms/doc${r.exact ? '' : ' INVALID (docs.raw not exact)'}`)),
  ];
  return { report, json: { runs } };
}

export const ingestMode: BenchMode = {
  name: 'ingest',
  description: 'crawl bridge (JSON, WARC) and folder follower into docs.raw',
  implemented: true,
  run,
};
