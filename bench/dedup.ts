/**
 * `npm run bench -- --only dedup`: the dedup stage's cost without Kafka, on the planted corpus of
 * `dedup-corpus.ts`:
 * - documents per CPU second (one core) through the stage function, English-like prose and
 *   Chinese, with the share spent on fingerprints (normal form, words, MinHash, band keys);
 * - how often an edited copy is caught, by Jaccard similarity, against the LSH S-curve;
 * - recall and false positives on a corpus like the tests';
 * - the index's memory in bytes per document remembered: the embedded run's index, and a Kafka
 *   worker's (index plus its decision per input record), measured as live heap after a full GC;
 * - on the broker, one and two `stage dedup` workers: documents per second and per CPU second.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomBytes } from 'node:crypto';
import { configSchema } from '../src/config/schema.js';
import type { DocumentRecord } from '../src/core/records.js';
import { DedupIndex, LocalDedup, dedupParams, fingerprintOf, matchProbability } from '../src/dedup/index.js';
import type { DedupMatch } from '../src/dedup/index.js';
import { dedupStage } from '../src/stages/dedup.js';
import type { StageContext } from '../src/stages/types.js';
import { mulberry32 } from '../src/stages/common.js';
import { plantedCorpus, scoreDedup } from './dedup-corpus.js';
import { dedupKafkaRun, type DedupKafkaResult } from './dedup-kafka.js';
import { fixed, int, machineFacts, pct, row } from './format.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';

const config = configSchema.parse({ logLevel: 'silent' });
const params = dedupParams(config.pipeline.dedup);

function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

/** Runs the stage over the documents; CPU seconds and the rejections (doc -> duplicate_of). */
async function runStage(docs: readonly { id: string; text: string }[]): Promise<{ cpu: number; wall: number; rejected: Map<string, string> }> {
  const ctx = { config, dedup: new LocalDedup(config.pipeline.dedup) } as unknown as StageContext;
  const rejected = new Map<string, string>();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const d of docs) {
    const doc: DocumentRecord = { id: d.id, text: d.text, url: null, source: null, ingested_at: 0 };
    const r = await dedupStage(doc, ctx);
    for (const x of r.rejections) rejected.set(x.doc_id, String(x.duplicate_of));
  }
  return { cpu: cpuSeconds(c0), wall: (performance.now() - t0) / 1000, rejected };
}

function fingerprintCpu(docs: readonly { id: string; text: string }[]): number {
  const c0 = process.cpuUsage();
  for (const d of docs) fingerprintOf(d.id, d.text, params);
  return cpuSeconds(c0);
}

const ZH_SENTENCES = [
  '光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖的过程。',
  '长城东起山海关，西至嘉峪关，是古代的军事防御工程。',
  '研究人员在实验室里测量了样品的温度和压力变化。',
  '这座城市的港口每年吸引大量游客和商船。',
  '数学家用归纳法证明了这个关于整数的命题。',
  '冰川在数千年间缓慢移动，塑造了山谷的形状。',
  '医生建议每天保持充足的睡眠和适量的运动。',
  '这条河流的三角洲由上游带来的泥沙沉积而成。',
  '程序员修复了数据库查询中的一个性能问题。',
  '经济学家分析了通货膨胀对家庭消费的影响。',
];

function chineseDocs(n: number, seed: number): { id: string; text: string }[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `zh-${i}`,
    text: Array.from({ length: 30 }, () => ZH_SENTENCES[Math.floor(rand() * ZH_SENTENCES.length)] as string).join(''),
  }));
}

/** Live heap after full GCs (the bench enables gc for itself). */
function liveHeap(gc: () => void): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** A document id as the readers make them by default: `sha256:` and 64 hex digits. */
function contentId(): string {
  return `sha256:${randomBytes(32).toString('hex')}`;
}

function syntheticEntry(docId: string): { docId: string; exact: string; bands: Float64Array } {
  const bands = new Float64Array(params.bands);
  for (let b = 0; b < params.bands; b++) bands[b] = b * 2 ** 48 + randomBytes(6).readUIntBE(0, 6);
  return { docId, exact: randomBytes(16).toString('latin1'), bands };
}

/** Bytes per document remembered: the embedded index, and a Kafka worker's index plus decisions. */
function indexBytesPerDoc(n: number): { embedded: number; kafkaWorker: number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const before = liveHeap(gc);
  const index = new DedupIndex(n);
  for (let i = 0; i < n; i++) index.add(syntheticEntry(contentId()));
  const withIndex = liveHeap(gc);
  // What ClaimLog keeps per input record besides the index: its decision, by partition:offset.
  const decisions = new Map<string, DedupMatch | null>();
  for (let i = 0; i < n; i++) decisions.set(`${i % 12}:${1_000_000_000 + i}`, null);
  const withDecisions = liveHeap(gc);
  const embedded = (withIndex - before) / n;
  const kafkaWorker = (withDecisions - before) / n;
  if (index.size !== n || decisions.size !== n) throw new Error('index lost entries');
  return { embedded, kafkaWorker };
}

async function run(ctx: BenchContext): Promise<ModeResult> {
  const machine = machineFacts();
  const corpus = plantedCorpus({ seed: 7, distinct: 5000, exact: 250, near: 250, jaccards: [0.85, 0.9, 0.95], prefix: 'bench' });
  const words = corpus.docs.reduce((n, d) => n + d.text.split(/\s+/).length, 0) / corpus.docs.length;
  const bytes = corpus.docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0) / corpus.docs.length;
  await runStage(corpus.docs.slice(0, 500)); // warm-up: JIT
  const stage = await runStage(corpus.docs);
  const fpCpu = fingerprintCpu(corpus.docs);
  const score = scoreDedup(corpus, stage.rejected);
  const zh = chineseDocs(2000, 3);
  const zhBytes = zh.reduce((n, d) => n + Buffer.byteLength(d.text), 0) / zh.length;
  await runStage(zh.slice(0, 200));
  const zhRun = await runStage(zh);

  const targets = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];
  const curveCorpus = plantedCorpus({ seed: 13, distinct: 2000, exact: 0, near: 200, jaccards: targets, prefix: 'curve' });
  const curveRun = await runStage(curveCorpus.docs);
  const curve = targets.map((t, i) => {
    const pairs = curveCorpus.pairs.slice(i * 200, (i + 1) * 200);
    const caught = pairs.filter((p) => curveRun.rejected.get(p.copy) === p.original || curveRun.rejected.get(p.original) === p.copy).length;
    const meanJ = pairs.reduce((n, p) => n + p.jaccard, 0) / pairs.length;
    const expected = pairs.reduce((n, p) => n + matchProbability(p.jaccard, params), 0) / pairs.length;
    return { target: t, meanJaccard: meanJ, caught: caught / pairs.length, expected };
  });
  const memDocs = 200_000;
  const memory = indexBytesPerDoc(memDocs);
  // On the broker (KAFKA_BROKERS or the dev broker): one and two workers on the same corpus.
  const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092').split(',');
  const kafka: DedupKafkaResult[] = [];
  let kafkaError: string | null = null;
  try {
    for (const workers of [1, 2]) {
      kafka.push(await dedupKafkaRun(corpus.docs, { workers, partitions: 8, concurrency: ctx.options.concurrency, brokers, progress: ctx.progress }));
    }
  } catch (err) {
    kafkaError = err instanceof Error ? err.message : String(err);
  }

  const docsPerCpuSecond = corpus.docs.length / stage.cpu;
  const report = [
    row('machine', `${machine.cpus} x ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAvg1m}`),
    row('scheme', `word ${params.ngram}-grams, ${params.bands} bands x ${params.rows} rows, 32-bit hashes`),
    row('corpus', `${int(corpus.docs.length)} docs, ${int(words)} words / ${int(bytes)} bytes each on average`),
    row('dedup stage, docs per CPU second (1 core)', `${int(docsPerCpuSecond)} (${fixed((stage.cpu / corpus.docs.length) * 1e6, 0)} µs per doc; wall ${fixed(stage.wall, 2)} s)`),
    row('  fingerprints alone (normalise, words, MinHash)', `${fixed((fpCpu / corpus.docs.length) * 1e6, 0)} µs per doc (a separate run)`),
    row('dedup stage, Chinese docs per CPU second', `${int(zh.length / zhRun.cpu)} (${int(zhBytes)} bytes each; Intl.Segmenter)`),
    row('recall of planted pairs (J >= 0.85 and exact)', `${fixed(score.recall, 3)} (${score.caught} / ${score.pairs})`),
    row('false positives on distinct documents', `${score.falsePositives} / ${int(score.distinct)} (${pct(score.falsePositiveRate, 2)})`),
    '  caught by Jaccard of the copy (200 pairs each):',
    ...curve.map((c) => row(`    J ~ ${fixed(c.meanJaccard, 3)} (target ${c.target})`, `${pct(c.caught)} caught; S-curve predicts ${pct(c.expected)}`)),
    row(`index memory, embedded (${int(memDocs)} docs)`, `${int(memory.embedded)} bytes per document`),
    row('index memory, Kafka worker (index + decisions)', `${int(memory.kafkaWorker)} bytes per document`),
    ...(kafkaError === null
      ? kafka.map((k) =>
          row(
            `on Kafka, ${k.workers} worker(s), ${k.partitions} partitions, --concurrency ${k.concurrency}`,
            `${int(k.docsPerSecond)} docs/s (${fixed(k.seconds, 1)} s); ${int(k.steadyDocsPerCpuSecond)} docs per worker CPU second from the first commit (${int(k.docsPerCpuSecond)} with start-up)`,
          ),
        )
      : [row('on Kafka', `not measured: ${kafkaError}`)]),
  ];
  return {
    report,
    json: {
      machine,
      params,
      corpus: { docs: corpus.docs.length, meanWords: words, meanBytes: bytes },
      stage: { cpuSeconds: stage.cpu, wallSeconds: stage.wall, docsPerCpuSecond, fingerprintShare: fpCpu / stage.cpu },
      chinese: { docs: zh.length, meanBytes: zhBytes, docsPerCpuSecond: zh.length / zhRun.cpu },
      score,
      curve,
      memory: { docs: memDocs, embeddedBytesPerDoc: memory.embedded, kafkaWorkerBytesPerDoc: memory.kafkaWorker },
      kafka,
      kafkaError,
    },
  };
}

export const dedupMode: BenchMode = {
  name: 'dedup',
  description: 'dedup stage: docs per CPU second, detection by Jaccard, recall / false positives, index bytes per document',
  implemented: true,
  run,
};
