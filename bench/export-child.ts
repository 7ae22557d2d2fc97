/**
 * One export run in its own process, so its peak RSS is its own: writes `records` generated QA
 * records (never all in memory) through `openExportSink` and prints one JSON line of figures.
 * argv: <output> <format> <records> <rowGroupRows>. Started with --expose-gc by export.ts.
 */
import { stat } from 'node:fs/promises';
import { DOMAINS, type QaRecord } from '../src/core/records.js';
import { openExportSink, type ExportFormat } from '../src/export/index.js';
import { vmHwmKb } from './proc.js';

function record(i: number): QaRecord {
  const domain = DOMAINS[i % DOMAINS.length] ?? 'Other';
  return {
    id: `sha256:${i.toString(16).padStart(64, '0')}`,
    doc_id: `doc-${Math.floor(i / 3)}`,
    question: `In the survey described for site ${i}, how many distinct seasons of field measurements did the researchers record before publishing their ${domain} results?`,
    answer: `${(i * 7919) % 1000}`,
    domain,
    persona: ['a field hydrologist', 'a high-school teacher', 'a science journalist'][i % 3] ?? '',
    source_url: `https://example.org/articles/${i}`,
    source: 'common-crawl',
    source_text: null,
    checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: 'The passage states the count in its second paragraph.' },
    provenance: {
      pipeline_version: '0.1.0',
      prompt_versions: { filter: 'filter-v3', identify: 'identify-v2', generate: 'generate-v4', check: 'check-v3' },
      models: { filter: 'gpt-4.1-mini', identify: 'gpt-4.1-mini', generate: 'gpt-4.1', check: 'gpt-4.1-mini' },
      fewshot_ids: ['natsci-003', 'natsci-011'],
      truncated_chars: 0,
      language: i % 4 === 0 ? 'de' : 'en',
    },
    usage: { prompt_tokens: 5200, completion_tokens: 410, by_stage: { generate: { prompt_tokens: 2100, completion_tokens: 300 } } },
    created_at: 1_764_230_400_000 + i,
  };
}

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
