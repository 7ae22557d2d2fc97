/**
 * One WARC record carried as one Kafka message value (what `ingest --from-topic <t> --format warc`
 * reads), uncompressed or as one gzip member, turned into a document, a typed rejection or a skip.
 *
 * This is the bridge's seam to WARC: `warcMessageToItem` is the one call it makes. The full
 * extraction (main content of HTML pages, charsets from meta tags, WET language headers) belongs
 * to the file readers in `src/input/`; here HTML is reduced to its text crudely (scripts, styles
 * and tags dropped) until the bridge calls that extraction instead.
 *
 * The gzip member is inflated by zlib with an output cap, and the record's framing (its header
 * block and Content-Length) is checked before warcio parses it: warcio reads a truncated block as
 * a shorter one without saying so, and a short message must be a rejection, not a short document.
 */
import { gunzipSync } from 'node:zlib';
import { WARCParser, type WARCRecord } from 'warcio';
import type { DocumentRecord, ReasonCode } from '../core/records.js';
import { contentId } from './reader.js';

export type WarcMessageItem =
  | { kind: 'document'; doc: DocumentRecord }
  | { kind: 'rejection'; docId: string; reason: ReasonCode; detail: string }
  | { kind: 'skip'; why: string };

export interface WarcMessageOptions {
  /** `source` of the documents (the crawler's topic). */
  source: string | null;
  /** Largest record accepted once inflated; larger is `input.too_large`. */
  maxBytes: number;
}

/** WARC types whose payload can be a document; the others (request, metadata, warcinfo...) are skipped. */
const DOCUMENT_TYPES = new Set(['response', 'resource', 'conversion']);
const CRLFCRLF = Buffer.from('\r\n\r\n');

export async function warcMessageToItem(value: Buffer, opts: WarcMessageOptions): Promise<WarcMessageItem> {
  const fallbackId = contentIdOfBytes(value);
  const plain = inflate(value, opts.maxBytes);
  if (typeof plain === 'string') return reject(fallbackId, plain.startsWith('larger') ? 'input.too_large' : 'input.invalid_warc', plain);
  const framing = checkFraming(plain);
  if (framing !== null) return reject(fallbackId, 'input.invalid_warc', framing);
  let record: WARCRecord | null;
  try {
    record = await new WARCParser([plain]).parse();
  } catch (err) {
    return reject(fallbackId, 'input.invalid_warc', `not a WARC record: ${(err as Error).message}`);
  }
  if (record === null) return reject(fallbackId, 'input.invalid_warc', 'not a WARC record');
  const type = record.warcType;
  const recordId = stripBrackets(record.warcHeader('WARC-Record-ID'));
  if (!DOCUMENT_TYPES.has(type)) return { kind: 'skip', why: `WARC-Type ${type}` };
  // A WET conversion names the response it was converted from: that record's id is the document's.
  const docId = (type === 'conversion' ? stripBrackets(record.warcHeader('WARC-Refers-To')) : null) ?? recordId ?? fallbackId;
  const contentType = (type === 'response' ? record.httpHeaders?.headers.get('content-type') : record.warcContentType) ?? 'text/plain';
  const mime = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'response' && record.httpHeaders === null) return reject(docId, 'input.invalid_warc', 'response record without an HTTP response');
  if (!mime.startsWith('text/') && mime !== 'application/xhtml+xml') {
    return reject(docId, 'input.unsupported_content_type', `payload is ${mime || 'of no type'}`);
  }
  const body = Buffer.from(await record.readFully(true));
  const decoded = decodeText(body, charsetOf(contentType));
  const text = mime.includes('html') ? htmlToText(decoded) : decoded;
  if (text.trim() === '') return reject(docId, 'input.missing_text', 'the record has no text');
  const crawled = Date.parse(record.warcDate ?? '');
  return {
    kind: 'document',
    doc: {
      id: docId,
      text,
      url: record.warcTargetURI ?? null,
      source: opts.source,
      ingested_at: Date.now(),
      crawl_date: Number.isFinite(crawled) ? crawled : null,
      language: languageOf(record.warcHeader('WARC-Identified-Content-Language')),
    },
  };
}

function reject(docId: string, reason: ReasonCode, detail: string): WarcMessageItem {
  return { kind: 'rejection', docId, reason, detail };
}

function contentIdOfBytes(value: Buffer): string {
  return contentId(value.toString('latin1'));
}

/** The record's bytes, inflated when gzip (one member, capped at maxBytes); or why not. */
function inflate(value: Buffer, maxBytes: number): Buffer | string {
  if (value.length > maxBytes) return `larger than ${maxBytes} bytes`;
  if (value[0] !== 0x1f || value[1] !== 0x8b) return value;
  try {
    return gunzipSync(value, { maxOutputLength: maxBytes });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ERR_BUFFER_TOO_LARGE' ? `larger than ${maxBytes} bytes once inflated` : `gzip: ${(err as Error).message}`;
  }
}

/** Null when the bytes hold a whole WARC record (version line, headers, Content-Length bytes). */
function checkFraming(plain: Buffer): string | null {
  if (!plain.subarray(0, 5).equals(Buffer.from('WARC/'))) return 'does not start with a WARC version line';
  const end = plain.indexOf(CRLFCRLF);
  if (end < 0) return 'WARC header block does not end';
  const match = /\r\ncontent-length:[ \t]*(\d+)/i.exec(plain.subarray(0, end + 2).toString('latin1'));
  if (!match) return 'WARC record without Content-Length';
  const length = Number(match[1]);
  const available = plain.length - (end + 4);
  if (available < length) return `truncated: Content-Length ${length}, ${available} bytes present`;
  return null;
}

function stripBrackets(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.trim();
  return v.startsWith('<') && v.endsWith('>') ? v.slice(1, -1) : v;
}

function charsetOf(contentType: string): string {
  return /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1]?.toLowerCase() ?? 'utf-8';
}

function decodeText(body: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    // An unknown label: UTF-8 with replacement characters is the web's own fallback.
    return new TextDecoder('utf-8').decode(body);
  }
}

/** A two-letter code when the header's first language is one (Common Crawl writes ISO 639-3). */
function languageOf(header: string | null | undefined): string | null {
  const first = header?.split(',')[0]?.trim().toLowerCase() ?? '';
  return /^[a-z]{2}$/.test(first) ? first : null;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Crude HTML to text: what the bridge needs until it calls the readers' main-content extraction. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|noscript|template)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<\/?(p|div|br|li|h[1-6]|tr|section|article|header|footer|blockquote)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name[0] === '#') {
        const cp = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
      }
      return ENTITIES[name.toLowerCase()] ?? whole;
    })
    .replace(/[ \t\f\v]+/g, ' ')
    .replace(/ *\n[\s]*/g, '\n')
    .trim();
}
