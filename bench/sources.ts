/**
 * `npm run bench -- --only sources`: how fast the input sources turn files into documents, in
 * this process (no LLM, no pipeline): documents/s and CPU ms per document for WARC main-content
 * extraction (Readability, and the plain `body` extractor beside it), WET text, parquet rows and
 * gzipped JSON lines. The target is >= 200 WARC pages/s per core (issue 9): pages/s per core is
 * documents per CPU second.
 *
 * Pages are made by pages.ts: a news-like layout (header, a 120-link menu, a 40-story sidebar,
 * footer, inline script, style and SVG sprite) around 6-14 paragraphs of seeded pseudo-text with
 * links and emphasis, about 950 elements and 73 KB of HTML: the element count, not the bytes, is
 * what costs (see README, Performance). The input tests check extraction quality on the same
 * pages. The default extractor is measured twice: on pages whose article sits in `main` and
 * `article` (taken from the markup) and on the same pages written with `div`s only (found as the
 * one element holding the paragraphs); `readability` forces Readability on the first kind.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { WARCRecord, WARCSerializer } from 'warcio';
import { readFile, type InputOptions } from '../src/input/index.js';
import { countStartTags, stripNonText } from '../src/input/html.js';
import type { BenchContext, BenchMode, ModeResult } from './modes.js';
import { newsPage, paragraph, prng } from './pages.js';

async function writeCrawl(dir: string, pages: number, markup = true): Promise<{ warc: string; wet: string; htmlBytes: number; elements: number }> {
  const rand = prng(42);
  const warcParts: Uint8Array[] = [];
  const wetParts: Uint8Array[] = [];
  let htmlBytes = 0;
  let elements = 0;
  for (let i = 0; i < pages; i++) {
    const { html } = newsPage(i, rand, { markup });
    htmlBytes += Buffer.byteLength(html);
    elements += countStartTags(stripNonText(html));
    const url = `https://valley.example/story/${i}`;
    const response = WARCRecord.create(
      { url, type: 'response', warcVersion: 'WARC/1.1', httpHeaders: { 'Content-Type': 'text/html; charset=utf-8' }, warcHeaders: { 'WARC-Record-ID': `<urn:uuid:bench-${i}>` } },
      [new TextEncoder().encode(html)],
    );
    warcParts.push(await WARCSerializer.serialize(response, { gzip: true }));
    const text = Array.from({ length: 10 }, () => paragraph(rand)).join('\n');
    const conversion = WARCRecord.create(
      { url, type: 'conversion', warcVersion: 'WARC/1.1', warcHeaders: { 'WARC-Refers-To': `<urn:uuid:bench-${i}>`, 'Content-Type': 'text/plain' } },
      [new TextEncoder().encode(text)],
    );
    wetParts.push(await WARCSerializer.serialize(conversion, { gzip: true }));
  }
  const warc = join(dir, markup ? 'bench.warc.gz' : 'bench-divs.warc.gz');
  const wet = join(dir, markup ? 'bench.warc.wet.gz' : 'bench-divs.warc.wet.gz');
  await writeFile(warc, Buffer.concat(warcParts));
  await writeFile(wet, Buffer.concat(wetParts));
  return { warc, wet, htmlBytes, elements };
}

function rowsText(n: number): string[] {
  const rand = prng(7);
  return Array.from({ length: n }, () => Array.from({ length: 6 }, () => paragraph(rand)).join('\n'));
}

/** Parquet through pyarrow in the interop venv (test/interop/setup.sh); null when it cannot be set up. */
function writeParquet(dir: string, texts: string[]): string | null {
  try {
    const python = execFileSync('bash', [resolve('test/interop/setup.sh')], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
    const rowsPath = join(dir, 'rows.json');
    execFileSync('tee', [rowsPath], { input: JSON.stringify(texts.map((text, i) => ({ id: `row-${i}`, text, url: `https://rows.example/${i}` }))), stdio: ['pipe', 'ignore', 'pipe'] });
    const out = join(dir, 'bench.parquet');
    execFileSync(python, ['-c', 'import json,sys,pyarrow as pa,pyarrow.parquet as pq; pq.write_table(pa.Table.from_pylist(json.load(open(sys.argv[1]))), sys.argv[2], row_group_size=1000, compression="zstd")', rowsPath, out]);
    return out;
  } catch {
    return null;
  }
}

interface Figure {
  name: string;
  documents: number;
  other: number;
  wallMs: number;
  cpuMs: number;
}

async function measure(name: string, path: string, options: InputOptions = {}): Promise<Figure> {
  global.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let documents = 0;
  let other = 0;
  for await (const item of readFile(path, options)) {
    if (item.kind === 'document') documents++;
    else other++;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { name, documents, other, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function line(f: Figure): string {
  const perCore = f.documents / (f.cpuMs / 1000);
  return `${f.name.padEnd(32)} ${String(f.documents).padStart(6)} docs  ${(f.documents / (f.wallMs / 1000)).toFixed(0).padStart(7)} docs/s  ${(f.cpuMs / f.documents).toFixed(3).padStart(7)} CPU ms/doc  ${perCore.toFixed(0).padStart(7)} docs/CPU-s${f.other ? `  (${f.other} not documents)` : ''}`;
}

async function run(ctx: BenchContext): Promise<ModeResult> {
  const pages = Number(process.env['BENCH_SOURCE_PAGES'] ?? 1000);
  ctx.progress(`writing ${pages} pages as WARC and WET`);
  const crawl = await writeCrawl(ctx.workDir, pages);
  const divs = await writeCrawl(ctx.workDir, pages, false);
  const texts = rowsText(pages * 5);
  const jsonl = join(ctx.workDir, 'bench.jsonl.gz');
  await writeFile(jsonl, gzipSync(texts.map((text, i) => JSON.stringify({ id: `l${i}`, text })).join('\n') + '\n'));
  ctx.progress('writing parquet with pyarrow');
  const parquet = writeParquet(ctx.workDir, texts);

  const figures: Figure[] = [];
  // A warm-up pass so JIT compilation is not billed to the first format.
  await measure('warm-up', crawl.warc);
  figures.push(await measure('WARC, default (article markup)', crawl.warc));
  figures.push(await measure('WARC, default (divs only)', divs.warc));
  figures.push(await measure('WARC, readability', crawl.warc, { extractor: 'readability' }));
  figures.push(await measure('WARC, body extractor', crawl.warc, { extractor: 'body' }));
  figures.push(await measure('WET', crawl.wet));
  figures.push(await measure('JSON lines, gzip', jsonl));
  if (parquet) figures.push(await measure('parquet (zstd, pyarrow)', parquet));
  const report = [
    `${pages} HTML pages, ${(crawl.htmlBytes / pages / 1024).toFixed(1)} KB of HTML and ${crawl.elements / pages} elements each on average; ${texts.length} text rows`,
    ...figures.map(line),
    parquet ? '' : 'parquet: skipped (the pyarrow venv could not be set up)',
  ].filter((l) => l !== '');
  return { report, json: { pages, html_bytes_per_page: crawl.htmlBytes / pages, elements_per_page: crawl.elements / pages, figures } };
}

export const sourcesMode: BenchMode = {
  name: 'sources',
  description: 'input sources: WARC extraction, WET, parquet, gzip JSON lines (documents/s, CPU ms per document)',
  implemented: true,
  run,
};
