/**
 * What every source yields: a document, a typed `input.*` rejection, or a skip (a record that is
 * not content, such as a WARC request or a redirect: counted, never a document). Sources of every
 * format share these builders so a document looks the same whichever file it came from.
 */
import { createHash } from 'node:crypto';
import type { DocumentRecord, ReasonCode, Rejection } from '../core/records.js';
import type { ExtractionPath } from './extractors.js';

/** Why a record was passed over without being a document or a rejection. */
export const SKIP_REASONS = [
  /** warcinfo, request, metadata, revisit...: not page content. */
  'warc.record_type',
  /** An HTTP 3xx response: the page is wherever it points. */
  'http.redirect',
  /** Any other non-2xx HTTP status (404 pages, server errors): not the page's content. */
  'http.status',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export type InputItem =
  /** `extraction`: how an HTML page's main text was found (pages only; counted in the summary). */
  | { kind: 'document'; doc: DocumentRecord; line: number | null; bytes: number; extraction?: ExtractionPath }
  | { kind: 'rejection'; rejection: Rejection; bytes: number }
  | { kind: 'skip'; reason: SkipReason; detail: string; bytes: number };

/** Content-derived id for documents that come without one: stable across runs and machines. */
export function contentId(text: string): string {
  return 'sha256:' + createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32);
}

/** Id from raw bytes, for a rejected record that has no id of its own. */
export function bytesId(raw: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(raw).digest('hex').slice(0, 32);
}

export function inputRejection(docId: string, reason: ReasonCode, detail: string, line: number | null): Rejection {
  return {
    doc_id: docId,
    stage: 'input',
    reason,
    detail,
    persona: null,
    line,
    usage: { prompt_tokens: 0, completion_tokens: 0 },
    created_at: Date.now(),
  };
}

export function rejected(docId: string, reason: ReasonCode, detail: string, bytes: number, line: number | null = null): InputItem {
  return { kind: 'rejection', bytes, rejection: inputRejection(docId, reason, detail, line) };
}

export function skipped(reason: SkipReason, detail: string, bytes: number): InputItem {
  return { kind: 'skip', reason, detail, bytes };
}

/** Fields a source may know beyond the text; the rest default to null. */
export interface DocumentFields {
  id?: string | null;
  url?: string | null;
  source?: string | null;
  crawl_date?: number | null;
  language?: string | null;
}

export function documentItem(text: string, fields: DocumentFields, bytes: number, line: number | null = null, extraction?: ExtractionPath): InputItem {
  const doc: DocumentRecord = {
    id: fields.id ?? contentId(text),
    text,
    url: fields.url ?? null,
    source: fields.source ?? null,
    ingested_at: Date.now(),
  };
  if (fields.crawl_date !== undefined) doc.crawl_date = fields.crawl_date;
  if (fields.language !== undefined) doc.language = fields.language;
  return extraction === undefined ? { kind: 'document', doc, line, bytes } : { kind: 'document', doc, line, bytes, extraction };
}
