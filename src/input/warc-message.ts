/**
 * One WARC record carried as one Kafka message value (what `ingest --from-topic <t> --format warc`
 * reads), uncompressed or as one gzip member, turned into a document, a typed rejection or a skip.
 *
 * This is the bridge's seam to WARC: `warcMessageToItem` is the one call it makes. It guards the
 * message and hands the record to the file readers' `documentFromWarcBytes` (src/input/warc.ts),
 * so a page from the bridge and the same page from a `.warc.gz` file become the same document
 * (main-content extraction, charsets from headers and meta tags, crawl headers).
 *
 * The gzip member is inflated by zlib with an output cap, and the record's framing (its header
 * block and Content-Length) is checked before warcio parses it: warcio reads a truncated block as
 * a shorter one without saying so, and a short message must be a rejection, not a short document.
 */
import { gunzipSync } from 'node:zlib';
import type { DocumentRecord, ReasonCode } from '../core/records.js';
import type { Extractor } from './html.js';
import { contentId } from './reader.js';
import { documentFromWarcBytes } from './warc.js';

export type WarcMessageItem =
  | { kind: 'document'; doc: DocumentRecord }
  | { kind: 'rejection'; docId: string; reason: ReasonCode; detail: string }
  | { kind: 'skip'; why: string };

export interface WarcMessageOptions {
  /** `source` of the documents (the crawler's topic). */
  source: string | null;
  /** Largest record accepted once inflated; larger is `input.too_large`. */
  maxBytes: number;
  /** HTML main-content extractor (config input.extractor). */
  extractor?: Extractor;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

export async function warcMessageToItem(value: Buffer, opts: WarcMessageOptions): Promise<WarcMessageItem> {
  const fallbackId = contentIdOfBytes(value);
  const plain = inflate(value, opts.maxBytes);
  if (typeof plain === 'string') return reject(fallbackId, plain.startsWith('larger') ? 'input.too_large' : 'input.invalid_warc', plain);
  const framing = checkFraming(plain);
  if (framing !== null) return reject(fallbackId, 'input.invalid_warc', framing);
  const item = await documentFromWarcBytes(plain, {
    source: opts.source,
    maxRecordBytes: opts.maxBytes,
    fallbackId,
    ...(opts.extractor ? { extractor: opts.extractor } : {}),
  });
  switch (item.kind) {
    case 'document':
      return { kind: 'document', doc: item.doc };
    case 'rejection': {
      // The readers call bytes warcio cannot parse `input.unreadable` (a file); a message is an invalid WARC record.
      const reason = item.rejection.reason === 'input.unreadable' ? 'input.invalid_warc' : item.rejection.reason;
      return reject(item.rejection.doc_id, reason, item.rejection.detail);
    }
    case 'skip':
      return { kind: 'skip', why: item.detail };
  }
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
