/**
 * The export command end to end on the broker: a sink topic filled with generated QA records,
 * then `webscale-rl export --format verl` run under /usr/bin/time for its peak RSS. Sizes from
 * BENCH_EXPORT_KAFKA_RECORDS (default 30000,300000; 0 skips). Topics live under a fresh prefix
 * and are deleted afterwards.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../src/codec/index.js';
import { createProducer } from '../src/kafka/index.js';
import { loadTopicSpecs } from '../src/topics/index.js';
import { brokers, createTestTopics, deletePrefix, ensureBroker, testKafka } from '../test/support/kafka.js';
import { benchQaRecord } from './qa-records.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface KafkaExportRun {
  records: number;
  produceMs: number;
  exportWallMs: number;
  peakRssKb: number | null;
  fileBytes: number;
  stderr: string;
  /** The same export again with V8's old space capped: does it finish, and in what RSS. */
  capped: { maxOldSpaceMb: number; ok: boolean; wallMs: number; peakRssKb: number | null; error?: string };
}

/** Old-space cap of the second export: far below the whole export's size, above one row group. */
const CAPPED_OLD_SPACE_MB = 96;

async function fillSink(prefix: string, records: number): Promise<void> {
  const specs = loadTopicSpecs().filter((s) => s.suffix === 'qa.verified');
  const topic = (await createTestTopics(prefix, specs, { partitions: 3 })).names['qa.verified'] ?? '';
  const codec = createCodec('QaRecord', { topic });
  const producer = createProducer(testKafka('bench-export'));
  await producer.connect();
  try {
    for (let start = 0; start < records; start += 1000) {
      const batch = [];
      for (let i = start; i < Math.min(records, start + 1000); i++) {
        const r = benchQaRecord(i);
        batch.push({ key: r.doc_id, value: await codec.encode(r) });
      }
      await producer.send({ topic, acks: -1, messages: batch });
    }
  } finally {
    await producer.disconnect();
  }
}

function timedExport(prefix: string, output: string, nodeFlags: string[] = []): Promise<{ wallMs: number; peakRssKb: number | null; stderr: string }> {
  const env = { ...process.env, KAFKA_BROKERS: brokers().join(','), WEBSCALE_TOPIC_PREFIX: prefix, WEBSCALE_LOG_LEVEL: 'warn' };
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-f', 'maxrss_kb=%M', process.execPath, ...nodeFlags, CLI, 'export', '--format', 'verl', '--output', output], { env, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`export failed: ${stderr}`));
      const m = /maxrss_kb=(\d+)/.exec(stderr);
      resolve({ wallMs: performance.now() - started, peakRssKb: m?.[1] === undefined ? null : Number(m[1]), stderr: stderr.trim() });
    });
  });
}

export async function kafkaExportRun(workDir: string, records: number, progress: (line: string) => void): Promise<KafkaExportRun> {
  await ensureBroker();
  const prefix = `bench.${Date.now().toString(36)}.export.`;
  try {
    progress(`kafka: filling ${prefix}qa.verified with ${records} records`);
    const produceStart = performance.now();
    await fillSink(prefix, records);
    const produceMs = performance.now() - produceStart;
    progress(`kafka: export --format verl of ${records} records`);
    const output = join(workDir, `kafka-${records}.parquet`);
    const run = await timedExport(prefix, output);
    const fileBytes = (await stat(output)).size;
    progress(`kafka: the same export with --max-old-space-size=${CAPPED_OLD_SPACE_MB}`);
    const capped = await timedExport(prefix, join(workDir, `kafka-${records}-capped.parquet`), [`--max-old-space-size=${CAPPED_OLD_SPACE_MB}`]).then(
      (r) => ({ maxOldSpaceMb: CAPPED_OLD_SPACE_MB, ok: true, wallMs: r.wallMs, peakRssKb: r.peakRssKb }),
      (err: unknown) => ({ maxOldSpaceMb: CAPPED_OLD_SPACE_MB, ok: false, wallMs: 0, peakRssKb: null, error: String(err).slice(-300) }),
    );
    return { records, produceMs, exportWallMs: run.wallMs, peakRssKb: run.peakRssKb, fileBytes, stderr: run.stderr.split('\n')[0] ?? '', capped };
  } finally {
    await deletePrefix(prefix).catch((err: unknown) => progress(`could not delete topics under ${prefix}: ${String(err)}`));
  }
}
