/**
 * Streams input documents without holding the input whole, from a file, a folder of mixed files
 * (walked recursively, in name order, dot-files left out) or stdin (JSON lines). The format comes
 * from the file name:
 *
 * | name | read as |
 * |---|---|
 * | `.jsonl`, `.ndjson`, `.json` (+ `.gz`, `.zst`) | JSON lines, one document per line |
 * | `.warc`, `.wet` (+ `.gz`; `.warc.wet.gz`) | WARC records (see warc.ts) |
 * | `.html`, `.htm` (+ `.gz`) | one page, main content extracted (see html.ts) |
 * | `.parquet` | one document per row (see parquet.ts) |
 * | anything else (+ `.gz`, `.zst`) | one plain-text document |
 *
 * Every record becomes a document, a typed `input.*` rejection or a counted skip; no line, record
 * or file is held beyond `maxRecordBytes`, and a file that breaks midway (corrupt gzip, a
 * truncated WARC) ends with an `input.unreadable` rejection after what it did yield.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { WebscaleError } from '../core/errors.js';
import { compressionOf, openDecompressed, type Compression } from './decompress.js';
import { DEFAULT_FIELDS, documentFromObject, type FieldNames } from './fields.js';
import { TooManyElementsError, decodeHtml, extractSafely, type Extractor } from './html.js';
import { bytesId, documentItem, rejected, type InputItem } from './items.js';
import { boundedLines, isOversize } from './lines.js';
import { readParquet } from './parquet.js';
import { DEFAULT_MAX_RECORD_BYTES, readWarcStream } from './warc.js';

export { contentId, type InputItem } from './items.js';

/** How sources read; `run` and `ingest` fill it from `config.input` and their flags. */
export interface InputOptions {
  fields?: FieldNames;
  /** Longest line, record, page or text file, in bytes; longer ones are `input.too_large`. */
  maxRecordBytes?: number;
  /** Largest parquet row group (uncompressed bytes of the columns read). */
  maxRowGroupBytes?: number;
  extractor?: Extractor;
}

interface ResolvedOptions {
  fields: FieldNames;
  maxRecordBytes: number;
  maxRowGroupBytes: number;
  extractor: Extractor;
}

function resolve(o: InputOptions): ResolvedOptions {
  return {
    fields: o.fields ?? DEFAULT_FIELDS,
    maxRecordBytes: o.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    maxRowGroupBytes: o.maxRowGroupBytes ?? 256 * 1024 * 1024,
    extractor: o.extractor ?? 'auto',
  };
}

export const INPUT_FORMATS = ['jsonl', 'warc', 'html', 'parquet', 'text'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

const JSON_LINES_EXTENSIONS = new Set(['.jsonl', '.ndjson', '.json']);
const HTML_EXTENSIONS = new Set(['.html', '.htm']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A file's format and compression, from its name. */
export function formatOf(path: string): { format: InputFormat; compression: Compression } {
  const { compression, inner } = compressionOf(basename(path));
  const ext = extname(inner);
  if (ext === '.parquet' && compression === null) return { format: 'parquet', compression };
  if (ext === '.warc' || ext === '.wet') return { format: 'warc', compression };
  if (JSON_LINES_EXTENSIONS.has(ext)) return { format: 'jsonl', compression };
  if (HTML_EXTENSIONS.has(ext)) return { format: 'html', compression };
  return { format: 'text', compression };
}

/** Parse one JSON line into a document or a typed rejection. */
export function parseJsonLine(raw: Buffer, line: number, source: string | null = null, options: InputOptions = {}): InputItem {
  const o = resolve(options);
  const bytes = raw.length + 1;
  const fallbackId = (): string => bytesId(raw);
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    return rejected(fallbackId(), 'input.invalid_utf8', `line ${line}: not valid UTF-8`, bytes, line);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return rejected(fallbackId(), 'input.invalid_json', `line ${line}: ${(err as Error).message}`, bytes, line);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const what = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return rejected(fallbackId(), 'input.not_object', `line ${line}: expected a JSON object, got ${what}`, bytes, line);
  }
  return documentFromObject(parsed as Record<string, unknown>, o.fields, {
    line,
    where: `line ${line}`,
    bytes,
    fallbackId,
    source,
    maxRecordBytes: o.maxRecordBytes,
  });
}

/** Split a byte stream into lines (without the newline; a trailing CR is dropped too). */
export async function* byteLines(stream: Readable): AsyncGenerator<Buffer> {
  for await (const line of boundedLines(stream)) if (!isOversize(line)) yield line;
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 32 && b !== 9 && b !== 13) return false;
  return true;
}

export async function* readJsonLines(stream: Readable | AsyncIterable<Uint8Array>, options: InputOptions = {}, source: string | null = null): AsyncGenerator<InputItem> {
  const o = resolve(options);
  let line = 0;
  for await (const raw of boundedLines(stream, o.maxRecordBytes)) {
    line++;
    if (isOversize(raw)) {
      const where = source ? `${source} line ${line}` : `line ${line}`;
      const id = `line:${source ?? 'stdin'}#${line}`;
      yield rejected(id, 'input.too_large', `${where}: ${raw.bytes} bytes, more than input.maxRecordBytes (${o.maxRecordBytes})`, raw.bytes + 1, line);
      continue;
    }
    if (isBlank(raw)) continue;
    yield parseJsonLine(raw, line, null, o);
  }
}

/** A whole file's (decompressed) bytes, or its size once it passes `max` (the rest is not read). */
async function readWhole(stream: Readable, max: number): Promise<{ bytes: Buffer } | { tooLarge: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      stream.destroy();
      return { tooLarge: size };
    }
    chunks.push(chunk);
  }
  return { bytes: Buffer.concat(chunks, size) };
}

function tooLargeFile(name: string, seen: number, max: number): InputItem {
  return rejected(`file:${name}`, 'input.too_large', `${name}: more than input.maxRecordBytes (${max}) bytes (stopped reading at ${seen})`, seen);
}

/** A plain-text file is one document; invalid UTF-8 rejects the file. */
export async function readTextFile(path: string, options: InputOptions = {}, compression: Compression = null): Promise<InputItem> {
  const o = resolve(options);
  const name = basename(path);
  const read = await readWhole(openDecompressed(path, compression), o.maxRecordBytes);
  if ('tooLarge' in read) return tooLargeFile(name, read.tooLarge, o.maxRecordBytes);
  const raw = read.bytes;
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    return rejected(bytesId(raw), 'input.invalid_utf8', `${name}: not valid UTF-8`, raw.length);
  }
  return documentItem(text, { source: name }, raw.length);
}

/** An HTML file is one page: decoded by its declared charset, main content extracted. */
export async function readHtmlFile(path: string, options: InputOptions = {}, compression: Compression = null): Promise<InputItem> {
  const o = resolve(options);
  const name = basename(path);
  const read = await readWhole(openDecompressed(path, compression), o.maxRecordBytes);
  if ('tooLarge' in read) return tooLargeFile(name, read.tooLarge, o.maxRecordBytes);
  const decoded = decodeHtml(read.bytes);
  if (!decoded.ok) return rejected(bytesId(read.bytes), 'input.undecodable', `${name}: ${decoded.detail}`, read.bytes.length);
  const extracted = extractSafely(decoded.text, o.extractor);
  if (extracted instanceof TooManyElementsError) return rejected(bytesId(read.bytes), 'input.too_large', `${name}: page has ${extracted.message}`, read.bytes.length);
  if (extracted instanceof Error) return rejected(bytesId(read.bytes), 'input.no_content', `${name}: text extraction failed: ${extracted.message}`, read.bytes.length);
  if (extracted.text.length === 0) return rejected(bytesId(read.bytes), 'input.no_content', `${name}: the page has no text`, read.bytes.length);
  return documentItem(extracted.text, { source: name }, read.bytes.length, null, extracted.extractor);
}

async function* readFileItems(path: string, o: ResolvedOptions): AsyncGenerator<InputItem> {
  const { format, compression } = formatOf(path);
  const name = basename(path);
  switch (format) {
    case 'jsonl':
      yield* readJsonLines(openDecompressed(path, compression), o, name);
      return;
    case 'warc':
      yield* readWarcStream(openDecompressed(path, compression), { source: name, extractor: o.extractor, maxRecordBytes: o.maxRecordBytes });
      return;
    case 'html':
      yield await readHtmlFile(path, o, compression);
      return;
    case 'parquet':
      yield* readParquet(path, o);
      return;
    case 'text':
      yield await readTextFile(path, o, compression);
      return;
  }
}

/** A file's items; a file that cannot be read through ends with one `input.unreadable` rejection. */
async function* readFileSafely(path: string, o: ResolvedOptions): AsyncGenerator<InputItem> {
  try {
    yield* readFileItems(path, o);
  } catch (err) {
    const name = basename(path);
    const e = WebscaleError.from(err, 'INPUT_INVALID');
    yield rejected(`file:${name}`, 'input.unreadable', `${name}: ${e.message}`, 0);
  }
}

export interface InputSource {
  /** Total bytes when known (files), for progress and ETA. */
  totalBytes: number | null;
  items: AsyncGenerator<InputItem>;
}

/** Every regular file under `dir`, recursively, in name order; dot-files and dot-folders left out. */
export async function listFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  for (const name of names) {
    const p = join(dir, name);
    const s = await stat(p);
    if (s.isDirectory()) out.push(...(await listFiles(p)));
    else if (s.isFile()) out.push({ path: p, size: s.size });
  }
  return out;
}

/** A file-system error in words a user acts on, not its errno code. */
function whyUnreadable(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file or folder (check the path, relative to the current folder)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    default:
      return (err as Error).message;
  }
}

/**
 * Open `--input`: `-` is JSON lines on stdin; a file is read by its name's format (see above);
 * a directory is every file under it, in name order.
 */
export async function openInput(path: string, options: InputOptions = {}, stdin: Readable = process.stdin): Promise<InputSource> {
  const o = resolve(options);
  if (path === '-') return { totalBytes: null, items: readJsonLines(stdin, o) };
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new WebscaleError('USAGE', `cannot read input ${path}: ${whyUnreadable(err)}`, { cause: err, context: { path } });
  }
  const files = info.isDirectory() ? await listFiles(path) : [{ path, size: info.size }];
  const total = files.reduce((sum, f) => sum + f.size, 0);
  return { totalBytes: total, items: readFiles(files.map((f) => f.path), o) };
}

async function* readFiles(paths: string[], o: ResolvedOptions): AsyncGenerator<InputItem> {
  for (const p of paths) yield* readFileSafely(p, o);
}

/** For tests and tools that stream one file. */
export function readFile(path: string, options: InputOptions = {}): AsyncGenerator<InputItem> {
  return readFileSafely(path, resolve(options));
}
