/**
 * Test helper: builds the binary input fixtures at test time, in a temporary folder (we commit
 * no binaries). WARC and WET files are written with warcio's serializer, one gzip member per
 * record as crawlers write them; `.jsonl.zst` and `.parquet` are written by pyarrow in the
 * interop venv, an implementation independent of our readers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { WARCRecord, WARCSerializer } from 'warcio';
import { fastavroPython } from '../interop/fastavro.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export async function fixtureText(name: string): Promise<string> {
  return readFile(join(FIXTURES, name), 'utf8');
}

const enc = new TextEncoder();

/** "Fuji is the highest mountain in Japan..." in Shift_JIS (bytes from Python's shift_jis codec). */
export const SHIFT_JIS_TEXT = '富士山は日本で一番高い山です。標高は三千七百七十六メートルで、多くの登山者が夏に頂上を目指します。';
const SHIFT_JIS_BYTES = Buffer.from(
  '95788e6d8e5282cd93fa967b82c588ea94d48d8282a28e5282c582b7814295578d8282cd8e4f90e78eb595538eb58f5c985a8381815b8367838b82c5814191bd82ad82cc936f8e528ed282aa89c482c992b88fe382f096da8e7782b582dc82b78142',
  'hex',
);

/** A windows-1252 page: "café", "naïve", "Müller" and a right single quote (0x92) in one byte each. */
export const CP1252_WORDS = ['café', 'naïve', 'Müller', 'it’s'];
function cp1252Page(): Uint8Array {
  const head = '<html><head><title>Le café</title></head><body><article><h1>Notes from the café</h1><p>';
  const body = 'A naïve visitor asked Mr Müller whether it’s true that the café roasts its own beans every morning before the market opens. ';
  // latin1 cannot hold U+2019; windows-1252 puts it at 0x92.
  return Buffer.from((head + body.repeat(6) + '</p></article></body></html>').replaceAll('\u2019', '\u0092'), 'latin1');
}

function shiftJisPage(): Uint8Array {
  const open = enc.encode('<html><head><meta charset="Shift_JIS"><title>fuji</title></head><body><article><p>');
  const close = enc.encode('</p></article></body></html>');
  const paragraphs = Array.from({ length: 5 }, () => SHIFT_JIS_BYTES);
  return Buffer.concat([open, ...paragraphs.flatMap((p) => [p, enc.encode('</p><p>')]), close]);
}

const PDF_BYTES = Buffer.concat([Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'), Buffer.alloc(300, 7)]);

export interface WarcFixtureRecord {
  type: 'warcinfo' | 'request' | 'response' | 'resource' | 'metadata' | 'conversion';
  url?: string;
  id?: string;
  date?: string;
  status?: string;
  httpHeaders?: Record<string, string>;
  warcHeaders?: Record<string, string>;
  payload: Uint8Array | string;
}

async function serialize(r: WarcFixtureRecord, gzip: boolean): Promise<Uint8Array> {
  const warcHeaders: Record<string, string> = { ...(r.warcHeaders ?? {}) };
  if (r.id) warcHeaders['WARC-Record-ID'] = `<${r.id}>`;
  const payload = typeof r.payload === 'string' ? enc.encode(r.payload) : r.payload;
  const opts: Parameters<typeof WARCRecord.create>[0] = { type: r.type, warcVersion: 'WARC/1.1', warcHeaders };
  if (r.url) opts.url = r.url;
  if (r.date) opts.date = r.date;
  if (r.type === 'response' || r.type === 'request') {
    opts.httpHeaders = r.httpHeaders ?? {};
    opts.statusline = r.status ?? (r.type === 'request' ? `GET ${new URL(r.url ?? 'http://x/').pathname} HTTP/1.1` : 'HTTP/1.1 200 OK');
  }
  const record = WARCRecord.create(opts, [payload]);
  return WARCSerializer.serialize(record, { gzip });
}

export async function writeWarc(path: string, records: readonly WarcFixtureRecord[], gzip = true): Promise<void> {
  const parts: Uint8Array[] = [];
  for (const r of records) parts.push(await serialize(r, gzip));
  await writeFile(path, Buffer.concat(parts));
}

export async function warcRecordBytes(r: WarcFixtureRecord, gzip = true): Promise<Uint8Array> {
  return serialize(r, gzip);
}

export const ARTICLE_URL = 'https://coastal.example/tide-pools';

/** The crawl of one small site: what each record should become is in the tests. */
export async function crawlRecords(): Promise<WarcFixtureRecord[]> {
  const article = await fixtureText('article.html');
  return [
    { type: 'warcinfo', payload: 'software: webscale-rl tests\r\nformat: WARC File Format 1.1\r\n' },
    { type: 'request', url: ARTICLE_URL, id: 'urn:uuid:00000000-0000-4000-8000-000000000001', payload: '' },
    {
      type: 'response',
      url: ARTICLE_URL,
      id: 'urn:uuid:00000000-0000-4000-8000-000000000002',
      date: '2026-03-01T10:20:30Z',
      httpHeaders: { 'Content-Type': 'text/html; charset=utf-8' },
      warcHeaders: { 'WARC-Identified-Content-Language': 'eng,fra' },
      payload: article,
    },
    {
      type: 'response',
      url: 'https://cafe.example/notes',
      id: 'urn:uuid:00000000-0000-4000-8000-000000000003',
      date: '2026-03-01T10:21:00Z',
      httpHeaders: { 'Content-Type': 'text/html; charset=windows-1252' },
      payload: cp1252Page(),
    },
    {
      type: 'response',
      url: 'https://fuji.example/',
      id: 'urn:uuid:00000000-0000-4000-8000-000000000004',
      date: '2026-03-01T10:22:00Z',
      httpHeaders: { 'Content-Type': 'text/html' },
      warcHeaders: { 'WARC-Identified-Content-Language': 'jpn' },
      payload: shiftJisPage(),
    },
    {
      type: 'response',
      url: 'https://coastal.example/report.pdf',
      id: 'urn:uuid:00000000-0000-4000-8000-000000000005',
      httpHeaders: { 'Content-Type': 'application/pdf' },
      payload: PDF_BYTES,
    },
    {
      type: 'response',
      url: 'http://coastal.example/',
      id: 'urn:uuid:00000000-0000-4000-8000-000000000006',
      status: 'HTTP/1.1 301 Moved Permanently',
      httpHeaders: { Location: 'https://coastal.example/', 'Content-Type': 'text/html' },
      payload: '<html><body>Moved</body></html>',
    },
    {
      type: 'response',
      url: 'https://broken.example/',
      id: 'urn:uuid:00000000-0000-4000-8000-000000000007',
      httpHeaders: { 'Content-Type': 'text/html; charset=utf-8' },
      payload: Buffer.concat([enc.encode('<html><body><p>caf'), Buffer.from([0xe9, 0x20, 0xff]), enc.encode(' au lait</p></body></html>')]),
    },
    { type: 'metadata', url: ARTICLE_URL, payload: 'fetchTimeMs: 120\r\n' },
  ];
}

/** A WET file: warcinfo then conversion records (text as is), as Common Crawl writes them. */
export function wetRecords(): WarcFixtureRecord[] {
  return [
    { type: 'warcinfo', payload: 'software: webscale-rl tests\r\n' },
    {
      type: 'conversion',
      url: 'https://lighthouse.example/history',
      id: 'urn:uuid:10000000-0000-4000-8000-000000000001',
      date: '2026-02-10T08:00:00Z',
      warcHeaders: {
        'WARC-Refers-To': '<urn:uuid:20000000-0000-4000-8000-000000000001>',
        'WARC-Identified-Content-Language': 'deu,eng',
        'Content-Type': 'text/plain',
      },
      payload: 'Der Leuchtturm\nDer Leuchtturm wurde 1871 gebaut und ist 41 Meter hoch.',
    },
    {
      type: 'conversion',
      url: 'https://lighthouse.example/visit',
      id: 'urn:uuid:10000000-0000-4000-8000-000000000002',
      date: '2026-02-10T08:01:00Z',
      warcHeaders: { 'WARC-Refers-To': '<urn:uuid:20000000-0000-4000-8000-000000000002>', 'Content-Type': 'text/plain' },
      payload: 'Visiting hours\nThe tower is open from April to October, 10:00 to 17:00.',
    },
  ];
}

export function gzipFile(path: string, text: string): Promise<void> {
  return writeFile(path, gzipSync(Buffer.from(text)));
}

/**
 * Runs Python in the interop venv (pyarrow) with `script`; `args` become sys.argv[1:].
 * Writes parquet and zstd files with a library that is not ours.
 */
export function python(script: string, args: string[]): void {
  execFileSync(fastavroPython(), ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
}

/** `rows` (JSON objects) into a parquet file with the given row-group size and codec. */
export function writeParquet(path: string, rows: readonly Record<string, unknown>[], rowGroupSize: number, codec = 'snappy'): void {
  python(
    `import json, sys, pyarrow as pa, pyarrow.parquet as pq
rows = json.loads(open(sys.argv[1]).read())
pq.write_table(pa.Table.from_pylist(rows), sys.argv[2], row_group_size=int(sys.argv[3]), compression=sys.argv[4])`,
    [writeJsonTemp(rows), path, String(rowGroupSize), codec],
  );
}

/** `text` into a zstd file (pyarrow's codec). */
export function writeZstd(path: string, text: string): void {
  python(
    `import sys, pyarrow as pa
data = open(sys.argv[1], 'rb').read()
with pa.CompressedOutputStream(sys.argv[2], 'zstd') as out: out.write(data)`,
    [scratch('text', text), path],
  );
}

/** A scratch file outside the fixture folders (they are read whole by the folder tests). */
function scratch(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'wsrl-scratch-')), name);
  writeFileSync(path, content);
  return path;
}

function writeJsonTemp(rows: readonly Record<string, unknown>[]): string {
  return scratch('rows.json', JSON.stringify(rows));
}
