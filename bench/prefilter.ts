/**
 * `npm run bench -- --only prefilter`: the cost of what runs before any LLM call on one document,
 * in one process with no I/O: the heuristic pre-filter (word segmentation, letter share, line
 * repetition, crawl-quality rules) and language detection, on long documents in English, Chinese,
 * Thai and Arabic, and one huge Chinese document (bounded work: only a prefix is segmented).
 * Prints documents/s, MB/s and CPU per document; it never fails on a slow figure.
 */
import { readFileSync } from 'node:fs';
import { configSchema, type PipelineConfig } from '../src/config/schema.js';
import type { DocumentRecord } from '../src/core/records.js';
import { prefilter } from '../src/stages/prefilter.js';
import { detectLanguage } from '../src/text/index.js';
import { machineFacts } from './format.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';

/** Sentences of our multilingual sample, by language (test/text/language-sample.jsonl). */
function sampleSentences(): Map<string, string[]> {
  const path = new URL('../../test/text/language-sample.jsonl', import.meta.url);
  const out = new Map<string, string[]>();
  for (const line of readFileSync(path, 'utf8').trim().split('\n')) {
    const { lang, text } = JSON.parse(line) as { lang: string; text: string };
    out.set(lang, [...(out.get(lang) ?? []), text]);
  }
  return out;
}

/**
 * A document of about `chars` characters in one language: numbered lines of the sample's
 * sentences, so no two lines are the same and every rule runs to the end.
 */
export function benchDocument(sentences: readonly string[], chars: number, id: string, language: string | null = null): DocumentRecord {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const line = `${i + 1}. ${sentences[i % sentences.length] ?? ''}`;
    lines.push(line);
    length += line.length + 1;
  }
  return { id, text: lines.join('\n'), url: null, source: 'bench', ingested_at: 0, language };
}

interface Figure {
  case: string;
  chars: number;
  docs: number;
  docsPerSec: number;
  mbPerSec: number;
  cpuMsPerDoc: number;
  outcome: string;
}

/** Run `fn` on the document for about `budgetMs` and report the rate. */
async function measure(name: string, doc: DocumentRecord, budgetMs: number, fn: (d: DocumentRecord) => unknown): Promise<Figure> {
  await fn(doc); // warm up (and load the language model once)
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  let outcome = '';
  while (performance.now() - t0 < budgetMs) {
    const r = await fn(doc);
    outcome = typeof r === 'string' ? r : outcome;
    n++;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    case: name,
    chars: doc.text.length,
    docs: n,
    docsPerSec: (n * 1000) / ms,
    mbPerSec: (n * Buffer.byteLength(doc.text)) / 1e6 / (ms / 1000),
    cpuMsPerDoc: (cpu.user + cpu.system) / 1000 / n,
    outcome,
  };
}

function prefilterOutcome(cfg: PipelineConfig) {
  return (d: DocumentRecord): string => {
    const r = prefilter(d, cfg);
    return r.ok ? 'pass' : r.rejection.reason;
  };
}

function row(f: Figure): string {
  return `  ${f.case.padEnd(34)} ${String(f.chars).padStart(9)} chars  ${f.docsPerSec.toFixed(0).padStart(7)} docs/s  ${f.mbPerSec.toFixed(2).padStart(6)} MB/s  ${f.cpuMsPerDoc.toFixed(3).padStart(8)} ms CPU/doc  ${f.outcome}`;
}

export const prefilterMode: BenchMode = {
  name: 'prefilter',
  description: 'pre-filter rules and language detection per document (no LLM, no I/O)',
  implemented: true,
  async run(ctx: BenchContext): Promise<ModeResult> {
    const sentences = sampleSentences();
    const cfg = configSchema.parse({}).pipeline;
    const allRules = configSchema.parse({ pipeline: { qualityRules: { repeatedNgrams: true } } }).pipeline;
    const huge = configSchema.parse({ pipeline: { maxDocumentChars: 10_000_000 } }).pipeline;
    const budget = 1500;
    const figures: Figure[] = [];
    const report: string[] = ['pre-filter (default rules), one document at a time:'];
    const push = (f: Figure, into: string[]): void => {
      figures.push(f);
      into.push(row(f));
      ctx.progress(row(f).trim());
    };
    for (const lang of ['en', 'zh', 'th', 'ar']) {
      const s = sentences.get(lang) ?? [];
      for (const chars of [2_000, 20_000, 200_000]) {
        push(await measure(`prefilter ${lang} ${chars / 1000}k`, benchDocument(s, chars, `${lang}-${chars}`, lang), budget, prefilterOutcome(cfg)), report);
      }
    }
    report.push('', 'pre-filter with every rule on (repeatedNgrams too):');
    for (const lang of ['en', 'zh']) {
      push(await measure(`all rules ${lang} 200k`, benchDocument(sentences.get(lang) ?? [], 200_000, `${lang}-all`, lang), budget, prefilterOutcome(allRules)), report);
    }
    report.push('', 'a huge document (maxDocumentChars 10M): word rules read pipeline.ruleSampleChars only:');
    const heap0 = process.memoryUsage().heapUsed;
    push(await measure('prefilter zh 5M', benchDocument(sentences.get('zh') ?? [], 5_000_000, 'zh-huge', 'zh'), 3000, prefilterOutcome(huge)), report);
    report.push(`  heap used after: ${((process.memoryUsage().heapUsed - heap0) / 2 ** 20).toFixed(1)} MiB more than before`);
    report.push('', 'language detection (fastText lid.176, first 2,000 characters):');
    for (const lang of ['en', 'zh', 'th', 'ar']) {
      const doc = benchDocument(sentences.get(lang) ?? [], 20_000, `${lang}-lid`);
      push(await measure(`detect ${lang} 20k`, doc, budget, async (d) => (await detectLanguage(d.text, 0.5)).language ?? 'und'), report);
    }
    return { report, json: { machine_at_start: machineFacts(), figures } };
  },
};
