/**
 * What a crawler publishes on its own topic, turned into the pipeline's documents: one JSON
 * object per message (`{"id"?, "text", "url"?, "source"?, "crawl_date"?, "language"?}`, checked
 * by the same rules as a JSON line of `run`) or one WARC record per message. Every message ends as
 * a document, a typed `input.*` rejection naming the topic, partition and offset, or a skip (WARC
 * records that hold no document: requests, metadata); none is lost and none stops the bridge.
 */
import { createHash } from 'node:crypto';
import type { DocumentRecord, ReasonCode, Rejection } from '../core/records.js';
import type { Extractor } from '../input/html.js';
import { parseJsonLine } from '../input/reader.js';
import { warcMessageToItem } from '../input/warc-message.js';
import type { RecordOrigin } from '../runtime/stage-bindings.js';

export const CRAWL_FORMATS = ['json', 'warc'] as const;
export type CrawlFormat = (typeof CRAWL_FORMATS)[number];

export type CrawlItem = { kind: 'document'; doc: DocumentRecord } | { kind: 'rejection'; rejection: Rejection } | { kind: 'skip' };

export interface CrawlDecodeOptions {
  /** Largest document (encoded) or WARC record accepted; larger is `input.too_large`. */
  maxBytes: number;
  /** HTML main-content extractor for WARC pages (config input.extractor). */
  extractor?: Extractor;
}

function where(o: RecordOrigin): string {
  return `${o.topic}[${o.partition}]@${o.offset}`;
}

/** An input rejection of a crawl message or followed file (no line: a message or a whole file). */
export function ingestRejection(docId: string, reason: ReasonCode, detail: string): Rejection {
  return { doc_id: docId, stage: 'input', reason, detail, persona: null, line: null, usage: { prompt_tokens: 0, completion_tokens: 0 }, created_at: Date.now() };
}

function crawlRejection(docId: string, reason: ReasonCode, detail: string): CrawlItem {
  return { kind: 'rejection', rejection: ingestRejection(docId, reason, detail) };
}

/** Id for a message that yields no document: its key, else a hash of where it was. */
function messageId(value: Buffer | null, o: RecordOrigin): string {
  if (o.key !== null && o.key.length > 0) return o.key.toString('utf8');
  const h = createHash('sha256').update(value ?? Buffer.alloc(0));
  return 'sha256:' + h.update(where(o)).digest('hex').slice(0, 32);
}

export async function decodeCrawlMessage(format: CrawlFormat, value: Buffer | null, origin: RecordOrigin, opts: CrawlDecodeOptions): Promise<CrawlItem> {
  if (value === null || value.length === 0) return crawlRejection(messageId(value, origin), 'input.missing_text', `${where(origin)}: message has no value`);
  if (format === 'json') return crawlJson(value, origin, opts);
  const item = await warcMessageToItem(value, { source: origin.topic, maxBytes: opts.maxBytes, ...(opts.extractor ? { extractor: opts.extractor } : {}) });
  switch (item.kind) {
    case 'document':
      return sizeChecked(item.doc, origin, opts);
    case 'rejection':
      return crawlRejection(item.docId, item.reason, `${where(origin)}: ${item.detail}`);
    case 'skip':
      return { kind: 'skip' };
  }
}

function crawlJson(value: Buffer, origin: RecordOrigin, opts: CrawlDecodeOptions): CrawlItem {
  if (value.length > opts.maxBytes) return crawlRejection(messageId(value, origin), 'input.too_large', `${where(origin)}: ${value.length} bytes, more than ${opts.maxBytes}`);
  // The same validation as a JSON line of `run`, so both say the same about the same object.
  const item = parseJsonLine(value, 1, origin.topic);
  if (item.kind === 'skip') return { kind: 'skip' };
  if (item.kind === 'rejection') {
    const r = item.rejection;
    return { kind: 'rejection', rejection: { ...r, line: null, detail: r.detail.replace(/^line 1: /, `${where(origin)}: `) } };
  }
  const obj = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  const crawlDate = crawlDateOf(obj['crawl_date']);
  const language = languageOf(obj['language']);
  for (const v of [crawlDate, language]) {
    if (v instanceof Error) return crawlRejection(item.doc.id, 'input.invalid_field', `${where(origin)}: ${v.message}`);
  }
  return sizeChecked({ ...item.doc, crawl_date: crawlDate as number | null, language: language as string | null }, origin, opts);
}

/** Epoch ms from a number of ms or an ISO-8601 string (WARC-Date's form). */
export function crawlDateOf(v: unknown): number | null | Error {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms;
  }
  return new Error(`"crawl_date" must be epoch milliseconds or an ISO-8601 date, got ${JSON.stringify(v)}`);
}

/** ISO 639-1, from a code or a BCP 47 tag ("en", "EN", "pt-BR" -> "pt"). */
export function languageOf(v: unknown): string | null | Error {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') {
    const m = /^([a-zA-Z]{2})(?:[-_][a-zA-Z0-9-]*)?$/.exec(v.trim());
    if (m?.[1]) return m[1].toLowerCase();
  }
  return new Error(`"language" must be an ISO 639-1 code such as "en", got ${JSON.stringify(v)}`);
}

/** docs.raw refuses messages above its max.message.bytes: such a document is rejected here instead. */
function sizeChecked(doc: DocumentRecord, origin: RecordOrigin, opts: CrawlDecodeOptions): CrawlItem {
  const bytes = Buffer.byteLength(doc.text) + Buffer.byteLength(doc.id) + Buffer.byteLength(doc.url ?? '') + Buffer.byteLength(doc.source ?? '') + 64;
  if (bytes > opts.maxBytes) return crawlRejection(doc.id, 'input.too_large', `${where(origin)}: document of about ${bytes} bytes, more than ${opts.maxBytes}`);
  return { kind: 'document', doc };
}
