/**
 * `npm run bench -- --only resplog`: what the LLM response log costs per request and per response
 * on disk. A client that answers at once stands in for the LLM, so every microsecond measured is
 * the log's: the key (SHA-256 over the request), the lookup, and on a miss the write (LMDB
 * commit, or the produce acknowledged by the broker). Requests look like the pipeline's: a 3,000-
 * character document in the prompt, a ~400-character JSON reply.
 *
 * Embedded (LMDB beside the output): one request at a time (latency) and 32 at once (the default
 * concurrency), with `sync` off (default) and on. Kafka (the `llm.responses` topic on the broker
 * of KAFKA_BROKERS, 127.0.0.1:19092 by default): the same, plus how long a starting worker takes
 * to read the log. Size on disk: the LMDB file's allocated blocks, and the topic's segment files
 * in the development broker's data folder (when it is the one in ~/.cache/webscale-rl/kafka).
 */
import { randomUUID } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { TopicCodecs } from '../src/codec/index.js';
import { configSchema, type Config } from '../src/config/schema.js';
import { createKafka } from '../src/kafka/index.js';
import { KafkaResponseStore } from '../src/llm/response-log/kafka-store.js';
import { LmdbResponseStore } from '../src/llm/response-log/lmdb-store.js';
import { logRouter } from '../src/llm/response-log/logged-router.js';
import type { ResponseStore } from '../src/llm/response-log/store.js';
import type { LlmClient, LlmRequest, LlmRouter } from '../src/llm/types.js';
import { applyTopics, loadTopicSpecs } from '../src/topics/index.js';
import { fixed, int, machineFacts, row } from './format.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';

const silent = pino({ level: 'silent' });

const DOC = 'The glacier retreated two kilometres between 1950 and 2010, measured each autumn by the survey team. '.repeat(30);
const REPLY = JSON.stringify({
  reasoning: 'The pair asks for a figure the document states; the answer is that figure and the question does not give it away.',
  has_context: true,
  answer_correct: true,
  info_leakage: false,
  note: 'x'.repeat(180),
});

function request(i: number): LlmRequest {
  return {
    stage: 'check',
    messages: [
      { role: 'system', content: 'You review a question-answer pair written from a source document.' },
      { role: 'user', content: `<document>\n${DOC}\n</document>\nQuestion ${i}: how far did the glacier retreat?\nAnswer: two kilometres` },
    ],
    jsonSchema: { name: 'quality_verdicts', schema: { type: 'object', properties: { has_context: { type: 'boolean' } } } },
    temperature: 0,
    maxTokens: 512,
    seed: i,
  };
}

function instantRouter(): LlmRouter {
  const client: LlmClient = {
    backend: 'bench',
    model: 'bench-model',
    complete: () => Promise.resolve({ text: REPLY, model: 'bench-model', usage: { prompt_tokens: 900, completion_tokens: 110 }, finishReason: 'stop' }),
    close: () => Promise.resolve(),
  };
  return { forStage: () => client, close: () => Promise.resolve() };
}

/** Microseconds per request for `n` requests starting at `from`, `parallel` at a time. */
async function timeCalls(router: LlmRouter, from: number, n: number, parallel: number): Promise<number> {
  const client = router.forStage('check');
  let next = from;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < from + n) await client.complete(request(next++));
    }),
  );
  return ((performance.now() - started) * 1000) / n;
}

interface Pass {
  miss_us_sequential: number;
  miss_us_parallel32: number;
  hit_us_sequential: number;
  hit_us_parallel32: number;
}

async function passes(store: ResponseStore, config: Config, n: number): Promise<Pass> {
  const router = logRouter(instantRouter(), store, config, silent);
  const missSeq = await timeCalls(router, 0, n, 1);
  const missPar = await timeCalls(router, n, n, 32);
  const hitSeq = await timeCalls(router, 0, n, 1);
  const hitPar = await timeCalls(router, n, n, 32);
  if (router.counts.hits !== 2 * n || router.counts.writes !== 2 * n) throw new Error(`expected ${2 * n} hits and writes, got ${JSON.stringify(router.counts)}`);
  return { miss_us_sequential: missSeq, miss_us_parallel32: missPar, hit_us_sequential: hitSeq, hit_us_parallel32: hitPar };
}

async function allocatedBytes(path: string): Promise<number> {
  const s = await stat(path);
  return s.blocks * 512;
}

async function topicBytes(topic: string): Promise<number | null> {
  const data = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'webscale-rl', 'kafka', '4.4.0', 'data');
  const dirs = (await readdir(data).catch(() => [] as string[])).filter((d) => d.startsWith(`${topic}-`));
  if (dirs.length === 0) return null;
  let total = 0;
  for (const d of dirs) for (const f of await readdir(join(data, d))) if (f.endsWith('.log')) total += (await stat(join(data, d, f))).size;
  return total;
}

export const resplogMode: BenchMode = {
  name: 'resplog',
  description: 'the LLM response log: overhead per request (LMDB, Kafka) and size on disk per response',
  implemented: true,
  async run(ctx: BenchContext): Promise<ModeResult> {
    const n = Math.max(500, Math.min(ctx.options.docs, 5000));
    const config = configSchema.parse({ llm: { url: 'http://bench/v1', model: 'bench-model' } });
    const report: string[] = [`machine: ${JSON.stringify(machineFacts())}`, `${int(n)} distinct requests per pass (each pass: ${int(n)} one at a time, ${int(n)} 32 at once)`];
    const json: Record<string, unknown> = { requests: n };

    const baseline = await timeCalls(instantRouter(), 0, n, 1);
    report.push(row('no log (key not even computed)', `${fixed(baseline, 2)} us/request`));
    json['baseline_us'] = baseline;

    for (const sync of [false, true]) {
      const path = join(ctx.workDir, `responses-${sync ? 'sync' : 'nosync'}.mdb`);
      const store = LmdbResponseStore.open({ path, sync });
      ctx.progress(`lmdb sync=${sync}`);
      const p = await passes(store, config, n);
      const entries = store.count();
      await store.close();
      const bytes = await allocatedBytes(path);
      const label = `LMDB (sync ${sync ? 'on' : 'off'})`;
      report.push(row(`${label} miss, 1 / 32 at once`, `${fixed(p.miss_us_sequential)} / ${fixed(p.miss_us_parallel32)} us/request`));
      report.push(row(`${label} hit, 1 / 32 at once`, `${fixed(p.hit_us_sequential)} / ${fixed(p.hit_us_parallel32)} us/request`));
      report.push(row(`${label} on disk`, `${int(bytes / entries)} bytes/response (${int(entries)} responses, ${int(bytes / 1024)} KiB)`));
      json[`lmdb_${sync ? 'sync' : 'nosync'}`] = { ...p, entries, bytes, bytes_per_response: bytes / entries };
    }
    json['reply_chars'] = REPLY.length;

    const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092').split(',');
    const prefix = `bench-resplog-${randomUUID().slice(0, 8)}.`;
    const kconfig = configSchema.parse({ kafka: { brokers, topicPrefix: prefix } });
    const kafka = createKafka(kconfig, { logger: silent });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const specs = loadTopicSpecs().filter((s) => s.suffix === 'llm.responses');
      await applyTopics(admin, specs, prefix, { replicationFactorOverride: 1 });
    } catch (err) {
      report.push(`Kafka: skipped (no broker at ${brokers.join(',')}: ${(err as Error).message})`);
      await admin.disconnect().catch(() => undefined);
      return { report, json };
    }
    const topic = `${prefix}llm.responses`;
    try {
      const make = (): KafkaResponseStore => new KafkaResponseStore({ kafka, topic, codecs: new TopicCodecs(), groupPrefix: prefix, log: silent, fetchMaxWait: 100, cacheDir: ctx.workDir });
      const store = make();
      await store.start();
      ctx.progress('kafka');
      const p = await passes(store, config, n);
      await store.close();
      const reader = make();
      const started = performance.now();
      await reader.start();
      const replayMs = performance.now() - started;
      const replayed = reader.counts.replayed;
      await reader.close();
      const bytes = await topicBytes(topic);
      report.push(row('Kafka miss, 1 / 32 at once', `${fixed(p.miss_us_sequential)} / ${fixed(p.miss_us_parallel32)} us/request`));
      report.push(row('Kafka hit, 1 / 32 at once', `${fixed(p.hit_us_sequential)} / ${fixed(p.hit_us_parallel32)} us/request`));
      report.push(row('Kafka: a starting worker reads the log', `${int(replayMs)} ms for ${int(replayed)} responses (${fixed((replayMs * 1000) / Math.max(1, replayed))} us each, group join included)`));
      if (bytes !== null) report.push(row('Kafka on disk (segments, uncompressed)', `${int(bytes / (2 * n))} bytes/response`));
      json['kafka'] = { ...p, replay_ms: replayMs, replayed, segment_bytes: bytes, bytes_per_response: bytes === null ? null : bytes / (2 * n) };
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
    return { report, json };
  },
};
