/**
 * Records with named fields (JSON lines, parquet rows) to documents. Which field holds the text,
 * the id and the url is configurable (`--text-field`, `--id-field`, `--url-field`), because
 * corpora name them differently (`text`, `content`, `raw_content`; `id`, `doc_id`; `url`).
 */
import type { ReasonCode } from '../core/records.js';
import { documentItem, rejected, type InputItem } from './items.js';

export interface FieldNames {
  text: string;
  id: string;
  url: string;
}

export const DEFAULT_FIELDS: FieldNames = { text: 'text', id: 'id', url: 'url' };

export interface RecordContext {
  /** Line or row number, 1-based, for rejections. */
  line: number;
  /** "line 3" or "row 3": how rejections name the record. */
  where: string;
  bytes: number;
  /** Id for a rejection when the record has no usable id of its own. */
  fallbackId: () => string;
  /** `source` for records that do not name their own. */
  source: string | null;
  maxRecordBytes: number;
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return `a ${Array.isArray(value) ? 'array' : typeof value}`;
}

/** A usable id: non-empty string, finite number, or bigint (parquet int64). */
function idOf(value: unknown): string | null | Error {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  return new Error('must be a non-empty string or a number');
}

function optionalString(obj: Record<string, unknown>, key: string): string | null | Error {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  return new Error(`field "${key}" must be a string, got ${describe(value)}`);
}

/** One object (a parsed JSON line, a parquet row) to a document or a typed rejection. */
export function documentFromObject(obj: Record<string, unknown>, fields: FieldNames, ctx: RecordContext): InputItem {
  const id = idOf(obj[fields.id]);
  const docId = typeof id === 'string' ? id : ctx.fallbackId();
  const reject = (reason: ReasonCode, detail: string): InputItem => rejected(docId, reason, `${ctx.where}: ${detail}`, ctx.bytes, ctx.line);
  const text = obj[fields.text];
  if (typeof text !== 'string') return reject('input.missing_text', `"${fields.text}" must be a string, it is ${describe(text)}`);
  if (id instanceof Error) return reject('input.invalid_field', `"${fields.id}" ${id.message}`);
  const url = optionalString(obj, fields.url);
  const source = optionalString(obj, 'source');
  for (const v of [url, source]) if (v instanceof Error) return reject('input.invalid_field', v.message);
  const textBytes = Buffer.byteLength(text, 'utf8');
  if (textBytes > ctx.maxRecordBytes) return reject('input.too_large', `text of ${textBytes} bytes, more than input.maxRecordBytes (${ctx.maxRecordBytes})`);
  return documentItem(text, { id, url: url as string | null, source: (source as string | null) ?? ctx.source }, ctx.bytes, ctx.line);
}
