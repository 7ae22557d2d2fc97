/**
 * WARC and WET records to documents. warcio parses the records (each gzip member a record, as
 * crawlers write them; Node's zlib inflates the file); `documentFromWarcRecord` turns one parsed
 * record into a document, a typed rejection or a skip, and is what the crawl bridge calls for a
 * WARC record that arrives as a Kafka message value (`parseWarcRecord` parses such a value).
 *
 * - `response` (HTTP) and `resource` records with HTML: main-content extraction (see html.ts);
 *   with text/plain: the text. 3xx responses and other non-2xx statuses are skipped; other
 *   payloads (PDF, images...) are `input.unsupported_content_type` rejections.
 * - `conversion` records (WET): the text as it is.
 * - `warcinfo`, `request`, `metadata`, `revisit`...: skipped.
 * - id from `WARC-Record-ID` (WET: `WARC-Refers-To`, the response it was converted from, so a
 *   page has the same id in a WARC and its WET), `url` from `WARC-Target-URI`, `crawl_date` from
 *   `WARC-Date`, `language` from `WARC-Identified-Content-Language` (first code, ISO 639-1).
 *
 * Memory: a record's payload is read only up to `maxRecordBytes` (a longer one is rejected as
 * `input.too_large` and skipped over unread), and header blocks are capped, so a file that is not
 * a WARC at all cannot make the parser buffer it whole.
 */
import type { Readable } from 'node:stream';
import { TextDecoder } from '@exodus/bytes/encoding.js';
import { AsyncIterReader, WARCParser, type WARCRecord } from 'warcio';
import { WebscaleError } from '../core/errors.js';
import { TooManyElementsError, charsetOf, decodeHtml, extractSafely, type Extractor } from './html.js';
import { documentItem, rejected, skipped, type InputItem } from './items.js';
import { languageFromHeader } from './language.js';

/** Header names are matched case-insensitively, whatever holds them. */
export type HeaderBag = Map<string, string> | Record<string, string> | { get(name: string): string | null | undefined };

export interface WarcRecordInput {
  /** The WARC headers (`WARC-Type`, `WARC-Record-ID`, ...). */
  headers: HeaderBag;
  /** The HTTP status and headers of a `response` record, when it has them. */
  http?: { status: number; headers: HeaderBag } | null;
  /** The payload: for a response, the HTTP body with any Content-Encoding already undone. */
  payload: Uint8Array;
}

export interface WarcOptions {
  /** `source` of the documents (the file name). */
  source?: string | null;
  extractor?: Extractor;
  /** Payloads above this many bytes are `input.too_large`. */
  maxRecordBytes?: number;
}

export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** A WARC or HTTP header block longer than this is not a header block: the file is malformed. */
const MAX_HEADER_BYTES = 1024 * 1024;
const MAX_HEADER_LINE = 64 * 1024;

function headerGetter(bag: HeaderBag): (name: string) => string | undefined {
  if (bag instanceof Map || !('get' in bag && typeof bag.get === 'function')) {
    const lower = new Map<string, string>();
    const entries = bag instanceof Map ? bag.entries() : Object.entries(bag as Record<string, string>);
    for (const [k, v] of entries) lower.set(k.toLowerCase(), v);
    return (name) => lower.get(name.toLowerCase());
  }
  const getter = bag as { get(name: string): string | null | undefined };
  return (name) => getter.get(name) ?? undefined;
}

function unbracket(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v && v.startsWith('<') && v.endsWith('>') ? v.slice(1, -1) : v;
}

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
}

const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
const TEXT_TYPES = new Set(['text/plain']);

type Plan =
  | { kind: 'item'; item: InputItem }
  | { kind: 'html' | 'text' | 'sniff'; charset: string | undefined; id: string; fields: Parameters<typeof documentItem>[1] };

/** What a record will become, decided from its headers alone (so skipped payloads are never read). */
function planRecord(headers: HeaderBag, http: WarcRecordInput['http'], declaredLength: number, opts: WarcOptions): Plan {
  const get = headerGetter(headers);
  const type = (get('WARC-Type') ?? '').toLowerCase();
  const recordId = unbracket(get('WARC-Record-ID'));
  const id = (type === 'conversion' ? unbracket(get('WARC-Refers-To')) : undefined) ?? recordId;
  const target = unbracket(get('WARC-Target-URI'));
  const date = Date.parse(get('WARC-Date') ?? '');
  const fields = {
    id: id ?? null,
    url: target ?? null,
    source: opts.source ?? null,
    crawl_date: Number.isFinite(date) ? date : null,
    language: languageFromHeader(get('WARC-Identified-Content-Language')),
  };
  const where = `${type || 'untyped'} record ${recordId ?? '(no id)'}${target ? ` for ${target}` : ''}`;
  const rejectId = id ?? target ?? 'warc:unidentified';
  const item = (i: InputItem): Plan => ({ kind: 'item', item: i });

  if (type !== 'response' && type !== 'resource' && type !== 'conversion') return item(skipped('warc.record_type', where, declaredLength));
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (declaredLength > max) return item(rejected(rejectId, 'input.too_large', `${where}: ${declaredLength} bytes, more than input.maxRecordBytes (${max})`, declaredLength));

  let contentType = get('Content-Type');
  if (type === 'response' && http) {
    if (http.status >= 300 && http.status < 400) return item(skipped('http.redirect', `${where}: HTTP ${http.status}`, declaredLength));
    if (http.status < 200 || http.status >= 300) return item(skipped('http.status', `${where}: HTTP ${http.status}`, declaredLength));
    contentType = headerGetter(http.headers)('Content-Type');
  }
  const media = mediaType(contentType);
  const charset = charsetOf(contentType);
  if (type === 'conversion') return { kind: 'text', charset: charset ?? 'utf-8', id: rejectId, fields };
  if (media === undefined) return { kind: 'sniff', charset, id: rejectId, fields };
  if (HTML_TYPES.has(media)) return { kind: 'html', charset, id: rejectId, fields };
  if (TEXT_TYPES.has(media)) return { kind: 'text', charset, id: rejectId, fields };
  return item(rejected(rejectId, 'input.unsupported_content_type', `${where}: ${media}`, declaredLength));
}

function looksLikeHtml(payload: Uint8Array): boolean {
  const head = new TextDecoder('latin1').decode(payload.subarray(0, 512)).trimStart().toLowerCase();
  return head.startsWith('<!doctype html') || head.startsWith('<html') || head.startsWith('<head') || head.startsWith('<body') || head.startsWith('<?xml');
}

function decodeText(payload: Uint8Array, charset: string | undefined): { ok: true; text: string } | { ok: false; detail: string } {
  for (const label of charset ? [charset] : ['utf-8']) {
    try {
      return { ok: true, text: new TextDecoder(label, { fatal: true }).decode(payload) };
    } catch (err) {
      if (err instanceof RangeError) break; // an unknown label: decode as undeclared below
      return { ok: false, detail: `bytes are not valid ${label}` };
    }
  }
  // Undeclared or unknown charset: UTF-8 if the bytes are UTF-8, else the web's legacy default.
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(payload) };
  } catch {
    return { ok: true, text: new TextDecoder('windows-1252').decode(payload) };
  }
}

/** A document from a payload whose plan is known. */
function documentFromPayload(plan: Exclude<Plan, { kind: 'item' }>, payload: Uint8Array, opts: WarcOptions): InputItem {
  const bytes = payload.length;
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (bytes > max) return rejected(plan.id, 'input.too_large', `payload of ${bytes} bytes, more than input.maxRecordBytes (${max})`, bytes);
  const kind = plan.kind === 'sniff' ? (looksLikeHtml(payload) ? 'html' : null) : plan.kind;
  if (kind === null) return rejected(plan.id, 'input.unsupported_content_type', 'no Content-Type and the payload is not HTML', bytes);
  if (kind === 'text') {
    const decoded = decodeText(payload, plan.charset);
    if (!decoded.ok) return rejected(plan.id, 'input.undecodable', decoded.detail, bytes);
    return documentItem(decoded.text.trim(), plan.fields, bytes);
  }
  const decoded = decodeHtml(payload, plan.charset);
  if (!decoded.ok) return rejected(plan.id, 'input.undecodable', decoded.detail, bytes);
  const extracted = extractSafely(decoded.text, opts.extractor);
  if (extracted instanceof TooManyElementsError) return rejected(plan.id, 'input.too_large', `page has ${extracted.message}`, bytes);
  if (extracted instanceof Error) return rejected(plan.id, 'input.no_content', `text extraction failed: ${extracted.message}`, bytes);
  if (extracted.text.length === 0) return rejected(plan.id, 'input.no_content', 'the page has no text', bytes);
  return documentItem(extracted.text, plan.fields, bytes, null, extracted.extractor);
}

/** One parsed WARC record (headers + payload) to a document, a typed rejection or a skip. */
export function documentFromWarcRecord(record: WarcRecordInput, opts: WarcOptions = {}): InputItem {
  const plan = planRecord(record.headers, record.http ?? null, record.payload.length, opts);
  return plan.kind === 'item' ? plan.item : documentFromPayload(plan, record.payload, opts);
}

function httpOf(record: WARCRecord): { status: number; headers: HeaderBag } | null {
  const http = record.httpHeaders;
  if (!http) return null;
  const status = Number(http.statusline.split(' ')[1]);
  return { status: Number.isFinite(status) ? status : 0, headers: http.headers as HeaderBag };
}

/** Reads a record's (content-decoded) payload, stopping once it passes `max` bytes. */
async function readPayload(record: WARCRecord, max: number): Promise<{ payload: Uint8Array } | { tooLarge: number }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of record) {
    size += chunk.length;
    if (size > max) return { tooLarge: size };
    chunks.push(chunk);
  }
  return { payload: Buffer.concat(chunks, size) };
}

/**
 * warcio's reader with header lines and header blocks capped: warcio reads a header block until
 * its blank line, however far that is, so a file that is not a WARC would be buffered whole.
 * Header mode starts when the parser reads a line (a record's first line) and ends when the
 * record is handed over (`payloadStarts`); bytes consumed meanwhile are counted net of unreads.
 */
class GuardedReader extends AsyncIterReader {
  private headerStart: number | null = null;

  payloadStarts(): void {
    this.headerStart = null;
  }

  override async readlineRaw(maxLength?: number): Promise<Uint8Array | null> {
    this.headerStart ??= this._readOffset;
    return super.readlineRaw(maxLength && maxLength < MAX_HEADER_LINE ? maxLength : MAX_HEADER_LINE);
  }

  override async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for await (const chunk of super[Symbol.asyncIterator]()) {
      if (this.headerStart !== null && this._readOffset - this.headerStart > MAX_HEADER_BYTES) {
        throw new WebscaleError('INPUT_INVALID', `a header block longer than ${MAX_HEADER_BYTES} bytes: not a WARC record`);
      }
      yield chunk;
    }
  }
}

function checkIsWarc(record: WARCRecord): void {
  const first = record.warcHeaders.statusline;
  if (!first.startsWith('WARC/')) throw new WebscaleError('INPUT_INVALID', `not a WARC record (it starts with "${first.slice(0, 40)}")`);
}

/** Parses one WARC record from bytes (gzipped or not), e.g. a Kafka message value. */
export async function parseWarcRecord(bytes: Uint8Array, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES): Promise<WarcRecordInput | { tooLarge: number; headers: HeaderBag }> {
  const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const reader = new GuardedReader([bytes], gzipped ? 'gzip' : null);
  const parser = new WARCParser(reader);
  let record: WARCRecord | null;
  try {
    record = await parser.parse();
  } catch (err) {
    throw WebscaleError.from(err, 'INPUT_INVALID');
  }
  if (!record) throw new WebscaleError('INPUT_INVALID', 'no WARC record in the bytes');
  checkIsWarc(record);
  reader.payloadStarts();
  const read = await readPayload(record, maxRecordBytes);
  const headers = record.warcHeaders.headers as HeaderBag;
  if ('tooLarge' in read) return { tooLarge: read.tooLarge, headers };
  return { headers, http: httpOf(record) ?? null, payload: read.payload };
}

/**
 * One WARC record's bytes (e.g. a Kafka message value) straight to an input item: bytes that are
 * not a WARC record are `input.unreadable`, a payload over `maxRecordBytes` is `input.too_large`.
 * `fallbackId` names the rejection when the record has no id (the bridge passes topic/partition/offset).
 */
export async function documentFromWarcBytes(bytes: Uint8Array, opts: WarcOptions & { fallbackId?: string } = {}): Promise<InputItem> {
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  let parsed: Awaited<ReturnType<typeof parseWarcRecord>>;
  try {
    parsed = await parseWarcRecord(bytes, max);
  } catch (err) {
    return rejected(opts.fallbackId ?? 'warc:unidentified', 'input.unreadable', WebscaleError.from(err, 'INPUT_INVALID').message, bytes.length);
  }
  if ('tooLarge' in parsed) {
    const id = unbracket(headerGetter(parsed.headers)('WARC-Record-ID')) ?? opts.fallbackId ?? 'warc:unidentified';
    return rejected(id, 'input.too_large', `payload passed input.maxRecordBytes (${max}) after ${parsed.tooLarge} bytes`, parsed.tooLarge);
  }
  return documentFromWarcRecord(parsed, opts);
}

/** Every record of a WARC/WET byte stream (already decompressed) as input items. */
export async function* readWarcStream(stream: Readable, opts: WarcOptions = {}): AsyncGenerator<InputItem> {
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const reader = new GuardedReader(stream, null);
  const parser = new WARCParser(reader);
  let count = 0;
  try {
    for await (const record of parser) {
      reader.payloadStarts();
      checkIsWarc(record);
      count++;
      const declared = record.warcContentLength || 0;
      const plan = planRecord(record.warcHeaders.headers as HeaderBag, httpOf(record), declared, opts);
      if (plan.kind === 'item') {
        yield plan.item; // its payload is skipped unread by the parser
        continue;
      }
      const read = await readPayload(record, max);
      if ('tooLarge' in read) {
        yield rejected(plan.id, 'input.too_large', `payload passed input.maxRecordBytes (${max}) after ${read.tooLarge} bytes`, read.tooLarge);
        continue;
      }
      yield documentFromPayload(plan, read.payload, opts);
    }
  } catch (err) {
    const e = WebscaleError.from(err, 'INPUT_INVALID');
    const source = opts.source ?? 'stream';
    yield rejected(`file:${source}#${count}`, 'input.unreadable', `${source}: unreadable after ${count} records: ${e.message}`, 0);
  }
}
