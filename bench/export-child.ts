/**
 * One export run in its own process, so its peak RSS is its own: writes `records` generated QA
 * records (never all in memory) through `openExportSink` and prints one JSON line of figures.
 * argv: <output> <format> <records> <rowGroupRows>. Started with --expose-gc by export.ts.
 */
import { stat } from 'node:fs/promises';
import { openExportSink, type ExportFormat } from '../src/export/index.js';
import { vmHwmKb } from './proc.js';
import { benchQaRecord as record } from './qa-records.js';

async function main(): Promise<void> {
  const [output = '', format = 'verl', recordsArg = '0', rowGroupArg = '10000'] = process.argv.slice(2);
  const records = Number(recordsArg);
  const sink = await openExportSink(format as ExportFormat, output, { rowGroupRows: Number(rowGroupArg), rowGroupBytes: 64 * 1024 * 1024 });
  const started = performance.now();
  let peakHeap = 0;
  // The heap still reachable after a full GC, at each tenth of the run: what the export holds.
  let peakLiveHeap = 0;
  const tenth = Math.max(1, Math.floor(records / 10));
  for (let i = 0; i < records; i++) {
    await sink.write(record(i));
    if (i % 500 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    if (i % tenth === tenth - 1 && globalThis.gc) {
      globalThis.gc();
      peakLiveHeap = Math.max(peakLiveHeap, process.memoryUsage().heapUsed);
    }
  }
  await sink.close();
  const wallMs = performance.now() - started;
  globalThis.gc?.();
  process.stdout.write(
    JSON.stringify({
      records,
      wallMs,
      fileBytes: (await stat(output)).size,
      peakRssKb: vmHwmKb(),
      peakHeapBytes: peakHeap,
      peakLiveHeapBytes: peakLiveHeap,
      heapAfterGcBytes: process.memoryUsage().heapUsed,
    }) + '\n',
  );
}

void main();
