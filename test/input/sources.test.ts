import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { newsPage, prng } from '../../bench/pages.js';
import { extractMainText } from '../../src/input/html.js';
import type { InputItem } from '../../src/input/items.js';
import { documentFromWarcBytes, documentFromWarcRecord, languageFromHeader, openInput, parseWarcRecord, readFile } from '../../src/input/index.js';
import {
  ARTICLE_URL,
  CP1252_WORDS,
  FIXTURES,
  SHIFT_JIS_TEXT,
  crawlRecords,
  fixtureText,
  gzipFile,
  warcRecordBytes,
  wetRecords,
  writeParquet,
  writeWarc,
  writeZstd,
} from './make-fixtures.js';

async function collect(items: AsyncIterable<InputItem>): Promise<InputItem[]> {
  const out: InputItem[] = [];
  for await (const x of items) out.push(x);
  return out;
}

function summary(item: InputItem): string {
  if (item.kind === 'document') return `doc:${item.doc.id}`;
  if (item.kind === 'rejection') return `${item.rejection.reason}:${item.rejection.doc_id}`;
  return `skip:${item.reason}`;
}

function docs(items: InputItem[]): Extract<InputItem, { kind: 'document' }>['doc'][] {
  return items.flatMap((i) => (i.kind === 'document' ? [i.doc] : []));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsrl-sources-'));
});

const uuid = (n: string): string => `urn:uuid:00000000-0000-4000-8000-00000000000${n}`;
const EXPECTED_CRAWL = [
  'skip:warc.record_type',
  'skip:warc.record_type',
  `doc:${uuid('2')}`,
  `doc:${uuid('3')}`,
  `doc:${uuid('4')}`,
  `input.unsupported_content_type:${uuid('5')}`,
  'skip:http.redirect',
  `input.undecodable:${uuid('7')}`,
  'skip:warc.record_type',
];

function expectArticle(text: string): void {
  expect(text).toContain('Tide pools are shallow basins of sea water');
  expect(text).toContain('parts per thousand on calm, sunny days');
  expect(text).toContain('able to tolerate both extremes');
  for (const boilerplate of ['Subscribe to our newsletter', 'About us', 'Popular posts', 'kite surfing', 'All rights reserved', 'Cookie settings', 'analytics']) {
    expect(text).not.toContain(boilerplate);
  }
  // Paragraphs stay apart.
  expect(text.split('\n').filter((l) => l.length > 0).length).toBeGreaterThanOrEqual(4);
}

describe('WARC', () => {
  for (const gzip of [true, false]) {
    it(`reads a crawl ${gzip ? '(.warc.gz, one gzip member per record)' : '(.warc)'}: HTML in three charsets, a PDF, a redirect, request/warcinfo/metadata`, async () => {
      const path = join(dir, gzip ? 'crawl.warc.gz' : 'crawl.warc');
      await writeWarc(path, await crawlRecords(), gzip);
      const items = await collect(readFile(path));
      expect(items.map(summary)).toEqual(EXPECTED_CRAWL);
      // How each page's text was found, for the summary's input_extraction.
      expect(items.flatMap((i) => (i.kind === 'document' ? [i.extraction] : []))).toEqual(['markup', 'markup', 'readability']);
      const [article, cafe, fuji] = docs(items);
      expect(article).toMatchObject({ url: ARTICLE_URL, source: gzip ? 'crawl.warc.gz' : 'crawl.warc', crawl_date: Date.parse('2026-03-01T10:20:30Z'), language: 'en' });
      expectArticle(article?.text ?? '');
      for (const word of CP1252_WORDS) expect(cafe?.text).toContain(word);
      expect(cafe?.language).toBeNull();
      expect(fuji?.text).toContain(SHIFT_JIS_TEXT);
      expect(fuji?.language).toBe('ja');
      const pdf = items[5];
      expect(pdf?.kind === 'rejection' && pdf.rejection).toMatchObject({ stage: 'input', detail: expect.stringContaining('application/pdf') as string });
      const bad = items[7];
      expect(bad?.kind === 'rejection' && bad.rejection.detail).toContain('not valid UTF-8');
    });
  }

  it('turns one record given as bytes (a Kafka message value) into the same item as the file reader', async () => {
    const records = await crawlRecords();
    const fromFile = await collect(readFile(join(dir, 'crawl.warc.gz')));
    for (const [i, r] of records.entries()) {
      for (const gzip of [true, false]) {
        const parsed = await parseWarcRecord(await warcRecordBytes(r, gzip));
        expect('payload' in parsed).toBe(true);
        if (!('payload' in parsed)) continue;
        const item = documentFromWarcRecord(parsed, { source: 'crawl.warc.gz' });
        expect(summary(item)).toBe(summary(fromFile[i] as InputItem));
        if (item.kind === 'document') expect(item.doc.text).toBe((fromFile[i] as { doc: { text: string } }).doc.text);
      }
    }
  });

  it('turns message-value bytes into an item, rejecting bytes that are no WARC record and oversize payloads', async () => {
    const [, , article] = await crawlRecords();
    const bytes = await warcRecordBytes(article as Parameters<typeof warcRecordBytes>[0]);
    expect(await documentFromWarcBytes(bytes)).toMatchObject({ kind: 'document', doc: { id: uuid('2'), language: 'en' } });
    expect(await documentFromWarcBytes(bytes, { maxRecordBytes: 100 })).toMatchObject({ kind: 'rejection', rejection: { reason: 'input.too_large', doc_id: uuid('2') } });
    const garbage = await documentFromWarcBytes(new TextEncoder().encode('{"not": "a warc record"}'), { fallbackId: 'crawl-topic/0/17' });
    expect(garbage).toMatchObject({ kind: 'rejection', rejection: { reason: 'input.unreadable', doc_id: 'crawl-topic/0/17' } });
  });

  it('takes headers as a plain object or a Map, any case', () => {
    const html = '<html><body><article><p>' + 'Rivers carry sediment to the sea. '.repeat(30) + '</p></article></body></html>';
    const headers = { 'warc-type': 'response', 'WARC-RECORD-ID': '<urn:x:1>', 'WARC-Target-URI': 'https://r.example/', 'WARC-Date': '2026-01-02T03:04:05Z' };
    const http = { status: 200, headers: new Map([['content-type', 'text/html; charset=UTF-8']]) };
    const item = documentFromWarcRecord({ headers, http, payload: new TextEncoder().encode(html) });
    expect(item.kind === 'document' && item.doc).toMatchObject({ id: 'urn:x:1', url: 'https://r.example/', crawl_date: Date.parse('2026-01-02T03:04:05Z') });
    const notFound = documentFromWarcRecord({ headers: new Map(Object.entries(headers)), http: { status: 404, headers: {} }, payload: new Uint8Array() });
    expect(notFound).toMatchObject({ kind: 'skip', reason: 'http.status' });
    const image = documentFromWarcRecord({ headers, http: { status: 200, headers: { 'Content-Type': 'image/png' } }, payload: new Uint8Array(10) });
    expect(image.kind === 'rejection' && image.rejection.reason).toBe('input.unsupported_content_type');
  });

  it('rejects a record over maxRecordBytes without reading it, and reads on', async () => {
    const path = join(dir, 'big.warc.gz');
    const big = '<html><body><p>' + 'x'.repeat(50_000) + '</p></body></html>';
    const small = '<html><body><article><p>' + 'Small pages are fine. '.repeat(40) + '</p></article></body></html>';
    await writeWarc(path, [
      { type: 'response', url: 'https://a.example/', id: 'urn:big', httpHeaders: { 'Content-Type': 'text/html' }, payload: big },
      { type: 'response', url: 'https://b.example/', id: 'urn:small', httpHeaders: { 'Content-Type': 'text/html' }, payload: small },
    ]);
    const items = await collect(readFile(path, { maxRecordBytes: 10_000 }));
    expect(items.map(summary)).toEqual(['input.too_large:urn:big', 'doc:urn:small']);
  });

  it('a file named .warc that is not a WARC ends in input.unreadable, without buffering it', async () => {
    const path = join(dir, 'not-really.warc');
    await writeFile(path, Buffer.alloc(20 * 1024 * 1024, 0x61));
    const items = await collect(readFile(path));
    expect(items.map((i) => (i.kind === 'rejection' ? i.rejection.reason : i.kind))).toEqual(['input.unreadable']);
  });
});

describe('WET', () => {
  it('reads conversion records as text, id from WARC-Refers-To', async () => {
    const path = join(dir, 'crawl.warc.wet.gz');
    await writeWarc(path, wetRecords());
    const items = await collect(readFile(path));
    expect(items.map(summary)).toEqual(['skip:warc.record_type', 'doc:urn:uuid:20000000-0000-4000-8000-000000000001', 'doc:urn:uuid:20000000-0000-4000-8000-000000000002']);
    // Text as the crawler converted it: no extraction path to count.
    expect(items.some((i) => i.kind === 'document' && i.extraction !== undefined)).toBe(false);
    const [history, visit] = docs(items);
    expect(history).toMatchObject({
      text: 'Der Leuchtturm\nDer Leuchtturm wurde 1871 gebaut und ist 41 Meter hoch.',
      url: 'https://lighthouse.example/history',
      language: 'de',
      crawl_date: Date.parse('2026-02-10T08:00:00Z'),
      source: 'crawl.warc.wet.gz',
    });
    expect(visit?.language).toBeNull();
  });
});

describe('HTML files', () => {
  it('keeps the article and drops navigation, sidebar and footer', async () => {
    const items = await collect(readFile(join(FIXTURES, 'article.html')));
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'document', extraction: 'markup' });
    const [doc] = docs(items);
    expect(doc?.source).toBe('article.html');
    expectArticle(doc?.text ?? '');
  });

  it('a page without article markup: its text without navigation and footer, found by Readability', async () => {
    const noArticle = await collect(readFile(join(FIXTURES, 'no-article.htm')));
    expect(noArticle[0]).toMatchObject({ kind: 'document', extraction: 'readability' });
    const [doc] = docs(noArticle);
    expect(doc?.text).toContain('Write to the harbour office at the quay for mooring permits.');
    expect(doc?.text).not.toContain('Blog');
    expect(doc?.text).not.toContain('Footer links');
  });

  it('drops a sidebar, menu and footer that are only <div>s of links, and hidden text; the body extractor keeps them', async () => {
    const paragraphs = ['A lighthouse lens looks like a stack of glass rings', 'thinner and clearer and could be built in sections', 'more than eighty percent of the lamp', 'some have turned for more than a century'];
    const chrome = ['Trending now', 'Ferry timetable changes', 'Letters to the editor', 'Tide tables', 'Sign in', 'Advertise with us', 'Contact the newsroom', 'We use cookies'];
    const [doc] = docs(await collect(readFile(join(FIXTURES, 'div-sidebar.html'))));
    const text = doc?.text ?? '';
    for (const p of paragraphs) expect(text).toContain(p);
    for (const c of chrome) expect(text).not.toContain(c);
    expect(text.split('\n').filter((l) => l.length > 0).length).toBeGreaterThanOrEqual(4);
    // Why Readability stays the default: no tag marks this chrome as such.
    const [body] = docs(await collect(readFile(join(FIXTURES, 'div-sidebar.html'), { extractor: 'body' })));
    for (const p of paragraphs) expect(body?.text).toContain(p);
    for (const c of ['Trending now', 'Ferry timetable changes', 'Advertise with us']) expect(body?.text).toContain(c);
  });

  it('keeps every article paragraph and none of the menu, sidebar or footer on the bench pages', () => {
    const rand = prng(42);
    for (let i = 0; i < 40; i++) {
      const page = newsPage(i, rand);
      const extracted = extractMainText(page.html);
      // The page marks its one article: taken as it is, headline and byline included.
      expect(extracted.extractor).toBe('markup');
      expect(extracted.title).toBe(`Story ${i}`);
      for (const p of page.paragraphs) expect(extracted.text).toContain(p);
      for (const c of page.chrome) expect(extracted.text).not.toContain(c);
      const lines = extracted.text.split('\n').filter((l) => l.length > 0);
      expect(lines).toHaveLength(page.paragraphs.length + 2);
      expect(lines[1]).toBe('By a staff writer');
      // Readability on the same page finds the same paragraphs; it takes the h1 as the title and the byline as metadata.
      const scored = extractMainText(page.html, 'readability');
      expect(scored.extractor).toBe('readability');
      expect(scored.text.split('\n').filter((l) => l.length > 0)).toEqual(lines.slice(2));
    }
  });

  it('pages without article markup: the one element holding their paragraphs, else Readability', () => {
    const rand = prng(9);
    for (let i = 0; i < 20; i++) {
      const page = newsPage(i, rand, { markup: false });
      const extracted = extractMainText(page.html);
      expect(extracted.extractor).toBe('paragraphs');
      for (const p of page.paragraphs) expect(extracted.text).toContain(p);
      for (const c of page.chrome) expect(extracted.text).not.toContain(c);
      const lines = extracted.text.split('\n').filter((l) => l.length > 0);
      expect(lines).toHaveLength(page.paragraphs.length + 2);
      const scored = extractMainText(page.html, 'readability');
      expect(scored.extractor).toBe('readability');
      expect(scored.text.split('\n').filter((l) => l.length > 0)).toEqual(lines.slice(2));
    }
    const story = (n: number, what = 'The ferry leaves the harbour at dawn, and it returns at dusk. '): string => `<p>${what.repeat(n)}</p>`;
    // Paragraphs each in a container of their own: no element holds most of them.
    const spread = `<html><body>${Array.from({ length: 6 }, () => `<div>${story(3)}</div>`).join('')}</body></html>`;
    const fromSpread = extractMainText(spread);
    expect(fromSpread.extractor).toBe('readability');
    expect(fromSpread.text).toContain('The ferry leaves');
    // Two articles (a listing, a feed): neither the markup nor one container decides.
    const listing = `<html><body><article>${story(10)}</article><article>${story(10)}</article></body></html>`;
    expect(extractMainText(listing).extractor).toBe('readability');
    // An article of a few lines beside the page's real text: the markup is not trusted; the text is found.
    const teaser = `<html><body><article>${story(9)}</article><div class="text">${story(45, 'Tide tables are printed each spring, and sailors read them. ')}</div></body></html>`;
    const fromTeaser = extractMainText(teaser);
    expect(fromTeaser.extractor).not.toBe('markup');
    expect(fromTeaser.text).toContain('Tide tables are printed');
    // Too short to be an article on its own (Readability's own bar is 500 characters).
    const short = `<html><body><article>${story(3)}</article></body></html>`;
    expect(['markup', 'paragraphs']).not.toContain(extractMainText(short).extractor);
    // One main and no article: the main is taken.
    const main = `<html><body><main><h2>Harbour</h2>${story(10)}</main><div><p>${'Weather notes for sailors appear here. '.repeat(3)}</p></div></body></html>`;
    const fromMain = extractMainText(main);
    expect(fromMain.extractor).toBe('markup');
    expect(fromMain.text.split('\n').filter((l) => l.length > 0)[0]).toBe('Harbour');
    expect(fromMain.text).toContain('The ferry leaves');
    expect(fromMain.text).not.toContain('Weather notes');
  });

  it('link-dense blocks inside the article are dropped before its text is taken', () => {
    const links = Array.from({ length: 8 }, (_, k) => `<li><a href="/r/${k}">Related story number ${k}</a></li>`).join('');
    const body = `<p>${'Tide tables are printed each spring by the harbour office. '.repeat(12)}</p>`;
    const html = `<html><head><title> Tides </title></head><body><article><h1>Tides</h1>${body}<ul>${links}</ul></article></body></html>`;
    const extracted = extractMainText(html);
    expect(extracted).toMatchObject({ extractor: 'markup', title: 'Tides' });
    expect(extracted.text).toContain('Tide tables are printed');
    expect(extracted.text).not.toContain('Related story');
  });

  it('the body extractor keeps the article and drops navigation too', async () => {
    const [doc] = docs(await collect(readFile(join(FIXTURES, 'article.html'), { extractor: 'body' })));
    expect(doc?.text).toContain('Tide pools are shallow basins');
    expect(doc?.text).not.toContain('Subscribe to our newsletter');
    expect(doc?.text).not.toContain('All rights reserved');
  });
});

const LINES = [
  { id: 'j1', content: 'Glaciers move a few metres a day.', link: 'https://g.example/1' },
  { id: 2, content: 'Icebergs calve from tidewater glaciers.' },
  { id: 'j3', content: 17 },
];

describe('compressed JSON lines', () => {
  const expectLines = (items: InputItem[]): void => {
    expect(items.map(summary)).toEqual(['doc:j1', 'doc:2', 'input.missing_text:j3']);
    expect(docs(items)[0]).toMatchObject({ text: 'Glaciers move a few metres a day.', url: 'https://g.example/1' });
  };
  const fields = { text: 'content', id: 'id', url: 'link' };

  it('.jsonl.gz with custom field names', async () => {
    const path = join(dir, 'docs.jsonl.gz');
    await gzipFile(path, LINES.map((l) => JSON.stringify(l)).join('\n') + '\n');
    expectLines(await collect(readFile(path, { fields })));
  });

  it('.jsonl.zst written by pyarrow', async () => {
    const path = join(dir, 'docs.jsonl.zst');
    writeZstd(path, LINES.map((l) => JSON.stringify(l)).join('\n') + '\n');
    expectLines(await collect(readFile(path, { fields })));
  });

  it('a truncated .jsonl.gz yields what it holds, then input.unreadable', async () => {
    const path = join(dir, 'truncated.jsonl.gz');
    const whole = gzipSync(Buffer.from(Array.from({ length: 2000 }, (_, i) => JSON.stringify({ id: `t${i}`, text: `line ${i} `.repeat(20) })).join('\n')));
    await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const items = await collect(readFile(path));
    expect(items.length).toBeGreaterThan(1);
    expect(items.slice(0, -1).every((i) => i.kind === 'document')).toBe(true);
    expect(items.at(-1)?.kind === 'rejection' && items.at(-1)).toMatchObject({ rejection: { reason: 'input.unreadable' } });
  });
});

describe('parquet (written by pyarrow)', () => {
  const rows = Array.from({ length: 25 }, (_, i) => ({ doc_id: i + 1, body: `Row ${i + 1} tells of the harbour.`, url: i % 2 === 0 ? `https://p.example/${i + 1}` : null }));

  for (const codec of ['snappy', 'zstd', 'gzip']) {
    it(`reads every row, row group by row group (${codec})`, async () => {
      const path = join(dir, `rows-${codec}.parquet`);
      writeParquet(path, rows, 10, codec);
      const items = await collect(readFile(path, { fields: { text: 'body', id: 'doc_id', url: 'url' } }));
      expect(items.map(summary)).toEqual(rows.map((r) => `doc:${r.doc_id}`));
      expect(docs(items)[0]).toMatchObject({ text: 'Row 1 tells of the harbour.', url: 'https://p.example/1', source: `rows-${codec}.parquet` });
      expect(docs(items)[1]?.url).toBeNull();
    });
  }

  it('names the columns when the text field is missing, and rejects row groups over maxRowGroupBytes', async () => {
    const path = join(dir, 'rows-snappy.parquet');
    const missing = await collect(readFile(path));
    expect(missing.map((i) => (i.kind === 'rejection' ? i.rejection.reason : i.kind))).toEqual(['input.missing_text']);
    expect(missing[0]?.kind === 'rejection' && missing[0].rejection.detail).toContain('body');
    const capped = await collect(readFile(path, { fields: { text: 'body', id: 'doc_id', url: 'url' }, maxRowGroupBytes: 50 }));
    expect(capped.map(summary)).toEqual(['input.too_large:file:rows-snappy.parquet#rowgroup0', 'input.too_large:file:rows-snappy.parquet#rowgroup1', 'input.too_large:file:rows-snappy.parquet#rowgroup2']);
  });
});

describe('a 200 MB single line', () => {
  async function writeHugeLine(path: string, gzip: boolean): Promise<void> {
    async function* chunks(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"id":"huge","text":"');
      const mb = Buffer.alloc(1024 * 1024, 0x61);
      for (let i = 0; i < 200; i++) yield mb;
      yield Buffer.from('"}\n{"id":"after","text":"the line after"}\n');
    }
    if (gzip) await pipeline(Readable.from(chunks()), createGzip({ level: 1 }), createWriteStream(path));
    else await pipeline(Readable.from(chunks()), createWriteStream(path));
  }

  for (const gzip of [false, true]) {
    it(`is rejected while it streams, with bounded memory (${gzip ? '.jsonl.gz' : '.jsonl'})`, async () => {
      const path = join(dir, gzip ? 'huge.jsonl.gz' : 'huge.jsonl');
      await writeHugeLine(path, gzip);
      global.gc?.();
      const before = process.memoryUsage();
      let peakHeap = before.heapUsed;
      let peakRss = before.rss;
      const timer = setInterval(() => {
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakRss = Math.max(peakRss, m.rss);
      }, 5);
      const items = await collect((await openInput(path)).items);
      clearInterval(timer);
      const growth = { heap: (peakHeap - before.heapUsed) / 2 ** 20, rss: (peakRss - before.rss) / 2 ** 20 };
      console.log(`200 MB line (${gzip ? 'gzip' : 'plain'}): heap +${growth.heap.toFixed(1)} MB, RSS +${growth.rss.toFixed(1)} MB`);
      expect(items.map(summary)).toEqual(['input.too_large:line:' + (gzip ? 'huge.jsonl.gz' : 'huge.jsonl') + '#1', 'doc:after']);
      expect(items[0]?.kind === 'rejection' && items[0].rejection.line).toBe(1);
      // The line is 200 MB; the cap is 16 MiB. Holding the line would show as 200+ MB here.
      expect(growth.heap).toBeLessThan(64);
      expect(growth.rss).toBeLessThan(120);
      await rm(path);
    }, 120_000);
  }
});

describe('languageFromHeader', () => {
  it('maps the first ISO 639-3 (or 639-2/B) code to ISO 639-1 when there is one', () => {
    expect(languageFromHeader('eng,deu')).toBe('en');
    expect(languageFromHeader('jpn')).toBe('ja');
    expect(languageFromHeader('zho')).toBe('zh');
    expect(languageFromHeader('ger')).toBe('de');
    expect(languageFromHeader('fr')).toBe('fr');
    expect(languageFromHeader('pt-BR')).toBe('pt');
    expect(languageFromHeader('yue')).toBe('yue');
    expect(languageFromHeader('')).toBeNull();
    expect(languageFromHeader(undefined)).toBeNull();
  });
});

describe('a folder of mixed files', () => {
  it('reads every format in name order, recursively, leaving dot-files out', async () => {
    const mixed = await mkdtemp(join(tmpdir(), 'wsrl-mixed-'));
    await writeWarc(join(mixed, 'a-crawl.warc.gz'), await crawlRecords());
    await writeWarc(join(mixed, 'b-crawl.warc.wet.gz'), wetRecords());
    await writeFile(join(mixed, 'c-article.html'), await fixtureText('article.html'));
    await gzipFile(join(mixed, 'd-lines.jsonl.gz'), '{"id":"g1","text":"from gzip"}\n');
    writeZstd(join(mixed, 'e-lines.jsonl.zst'), '{"id":"z1","text":"from zstd"}\n');
    writeParquet(join(mixed, 'f-rows.parquet'), [{ id: 'p1', text: 'from parquet' }], 10);
    await gzipFile(join(mixed, 'g-note.txt.gz'), 'a gzipped note');
    await writeFile(join(mixed, '.hidden.jsonl'), '{"id":"hidden","text":"never read"}\n');
    const src = await openInput(mixed);
    const items = await collect(src.items);
    const kinds = { document: 0, rejection: 0, skip: 0 };
    for (const i of items) kinds[i.kind]++;
    expect(kinds).toEqual({ document: 3 + 2 + 1 + 1 + 1 + 1 + 1, rejection: 2, skip: 4 + 1 });
    expect(docs(items).map((d) => d.text).slice(-4)).toEqual(['from gzip', 'from zstd', 'from parquet', 'a gzipped note']);
    expect(docs(items).some((d) => d.id === 'hidden')).toBe(false);
  }, 60_000);
});

describe('hostile HTML', () => {
  const response = (html: string): Parameters<typeof documentFromWarcRecord>[0] => ({
    headers: { 'WARC-Type': 'response', 'WARC-Record-ID': '<urn:hostile>' },
    http: { status: 200, headers: { 'Content-Type': 'text/html; charset=utf-8' } },
    payload: new TextEncoder().encode(html),
  });

  it('a page nested 20,000 deep becomes a document without Readability or a stack overflow', () => {
    const deep = '<html><body>' + '<div>'.repeat(20_000) + 'deep text here' + '</div>'.repeat(20_000) + '</body></html>';
    const cpu = process.cpuUsage();
    const item = documentFromWarcRecord(response(deep));
    const used = process.cpuUsage(cpu);
    expect(item.kind === 'document' && item.doc.text).toBe('deep text here');
    expect((used.user + used.system) / 1000).toBeLessThan(10_000);
  }, 60_000);

  it('a page of 12,000 elements, most of them a menu, goes through Readability once the menu is pruned', () => {
    const menu = '<nav><ul>' + '<li><a href="/x"><span>Menu entry</span></a></li>'.repeat(4_000) + '</ul></nav>';
    const story = '<article><p>' + 'The ferry leaves the harbour at dawn and returns at dusk. '.repeat(20) + '</p></article>';
    const extracted = extractMainText(`<html><body>${menu}${story}</body></html>`, 'readability');
    expect(extracted.extractor).toBe('readability');
    expect(extracted.text).toContain('The ferry leaves the harbour at dawn');
    expect(extracted.text).not.toContain('Menu entry');
  });

  it('a page of more than 100,000 elements is input.too_large, not parsed', () => {
    const flat = '<html><body>' + '<span>x</span>'.repeat(120_000) + '</body></html>';
    const t = performance.now();
    const item = documentFromWarcRecord(response(flat));
    expect(item.kind === 'rejection' && item.rejection).toMatchObject({ reason: 'input.too_large', doc_id: 'urn:hostile' });
    expect(performance.now() - t).toBeLessThan(2_000);
  });
});
