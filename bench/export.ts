/**
 * The export mode: memory and speed of writing parquet exports of growing size. Each run is a
 * child process (export-child.ts) that streams generated QA records through `openExportSink`,
 * so peak RSS is the writer's own. The figure to look at is peak RSS against the number of
 * records at a fixed row-group size (flat: one row group in memory), and against the row-group
 * size at a fixed number of records (grows with the group). "Live heap" is the largest heap
 * still reachable after a full GC at each tenth of the run; "peak" includes garbage not yet
 * collected. Sizes from BENCH_EXPORT_RECORDS
 * (default 10000,100000,300000) and BENCH_EXPORT_ROW_GROUPS (default 1000,10000,100000). Then
 * the export command itself from the broker (export-kafka.ts), BENCH_EXPORT_KAFKA_RECORDS
 * (default 30000,300000; 0 skips it).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafkaExportRun, type KafkaExportRun } from './export-kafka.js';
import type { BenchMode, ModeResult } from './modes.js';

const CHILD = fileURLToPath(new URL('./export-child.js', import.meta.url));

interface ExportRun {
  format: string;
  records: number;
  rowGroupRows: number;
  wallMs: number;
  fileBytes: number;
  peakRssKb: number | null;
  peakHeapBytes: number;
  peakLiveHeapBytes: number;
  heapAfterGcBytes: number;
}

function sizes(env: string | undefined, fallback: number[]): number[] {
  return env ? env.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0) : fallback;
}

function runChild(workDir: string, format: string, records: number, rowGroupRows: number): ExportRun {
  const out = join(workDir, `${format}-${records}-${rowGroupRows}.parquet`);
  const line = execFileSync(process.execPath, ['--expose-gc', CHILD, out, format, String(records), String(rowGroupRows)], { encoding: 'utf8' });
  return { format, rowGroupRows, ...(JSON.parse(line) as Omit<ExportRun, 'format' | 'rowGroupRows'>) };
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function line(r: ExportRun): string {
  const rss = r.peakRssKb === null ? 'n/a' : mb(r.peakRssKb * 1024);
  const rate = Math.round(r.records / (r.wallMs / 1000));
  return `  ${r.format.padEnd(8)} ${String(r.records).padStart(8)} records  row group ${String(r.rowGroupRows).padStart(6)}  peak RSS ${rss.padStart(9)}  live heap ${mb(r.peakLiveHeapBytes).padStart(8)} (peak ${mb(r.peakHeapBytes).padStart(8)})  file ${mb(r.fileBytes).padStart(8)}  ${rate} records/s`;
}

function kafkaLine(r: KafkaExportRun): string {
  const rss = r.peakRssKb === null ? 'n/a' : mb(r.peakRssKb * 1024);
  const rate = Math.round(r.records / (r.exportWallMs / 1000));
  const c = r.capped;
  const capped = c.ok ? `finished, peak RSS ${c.peakRssKb === null ? 'n/a' : mb(c.peakRssKb * 1024)}, ${(c.wallMs / 1000).toFixed(1)} s` : `FAILED: ${c.error ?? ''}`;
  return `  ${String(r.records).padStart(8)} records  peak RSS ${rss.padStart(9)}  wall ${(r.exportWallMs / 1000).toFixed(1)} s (${rate} records/s, spawn to exit)  file ${mb(r.fileBytes)}; with --max-old-space-size=${c.maxOldSpaceMb}: ${capped}`;
}

export const exportMode: BenchMode = {
  name: 'export',
  description: 'parquet export memory and speed (verl rows and QA records, growing sizes)',
  implemented: true,
  async run({ workDir, progress }): Promise<ModeResult> {
    const recordSizes = sizes(process.env['BENCH_EXPORT_RECORDS'], [10_000, 100_000, 300_000]);
    const groupSizes = sizes(process.env['BENCH_EXPORT_ROW_GROUPS'], [1000, 10_000, 100_000]);
    const largest = Math.max(...recordSizes);
    const runs: ExportRun[] = [];
    for (const format of ['verl', 'parquet']) {
      for (const records of recordSizes) {
        progress(`${format}: ${records} records, row group 10000`);
        runs.push(runChild(workDir, format, records, 10_000));
      }
    }
    for (const group of groupSizes.filter((g) => g !== 10_000)) {
      progress(`verl: ${largest} records, row group ${group}`);
      runs.push(runChild(workDir, 'verl', largest, group));
    }
    const report = ['Peak RSS by export size (row groups of 10000 rows), then by row-group size:', ...runs.map(line)];
    const kafkaRuns: KafkaExportRun[] = [];
    for (const records of sizes(process.env['BENCH_EXPORT_KAFKA_RECORDS'], [30_000, 300_000])) {
      kafkaRuns.push(await kafkaExportRun(workDir, records, progress));
    }
    if (kafkaRuns.length > 0) report.push('', '`webscale-rl export --format verl` from the broker (3 partitions), whole process:', ...kafkaRuns.map(kafkaLine));
    return { report, json: { runs, kafka: kafkaRuns } };
  },
};
