/**
 * Streams input documents without holding the input whole: JSON lines (`{"id"?, "text", "url"?,
 * "source"?}`) from a file or stdin, or plain-text files (one document per file). Every line
 * becomes either a document or a typed `input.*` rejection with its line number; blank lines are
 * skipped. Lines are split on raw bytes and decoded strictly, so invalid UTF-8 is a rejection of
 * that line rather than silent replacement characters or a crash.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { DocumentRecord, ReasonCode, Rejection } from '../core/records.js';
import { WebscaleError } from '../core/errors.js';

export type InputItem =
  | { kind: 'document'; doc: DocumentRecord; line: number | null; bytes: number }
  | { kind: 'rejection'; rejection: Rejection; bytes: number };

const JSON_LINES_EXTENSIONS = new Set(['.jsonl', '.ndjson', '.json']);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Content-derived id for documents that come without one: stable across runs and machines. */
export function contentId(text: string): string {
  return 'sha256:' + createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32);
}

function inputRejection(docId: string, reason: ReasonCode, detail: string, line: number | null): Rejection {
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

/** Id for a rejected line: the line's own id when it has one, else a hash of the raw bytes. */
function lineDocId(raw: Buffer, parsed?: unknown): string {
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const id = (parsed as Record<string, unknown>)['id'];
    if (typeof id === 'string' && id.length > 0) return id;
    if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  }
  return 'sha256:' + createHash('sha256').update(raw).digest('hex').slice(0, 32);
}

function optionalString(obj: Record<string, unknown>, key: string): string | null | Error {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  return new Error(`field "${key}" must be a string, got ${Array.isArray(value) ? 'array' : typeof value}`);
}

/** Parse one JSON line into a document or a typed rejection. */
export function parseJsonLine(raw: Buffer, line: number, source: string | null = null): InputItem {
  const bytes = raw.length + 1;
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    return { kind: 'rejection', bytes, rejection: inputRejection(lineDocId(raw), 'input.invalid_utf8', `line ${line}: not valid UTF-8`, line) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return {
      kind: 'rejection',
      bytes,
      rejection: inputRejection(lineDocId(raw), 'input.invalid_json', `line ${line}: ${(err as Error).message}`, line),
    };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const what = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return { kind: 'rejection', bytes, rejection: inputRejection(lineDocId(raw), 'input.not_object', `line ${line}: expected a JSON object, got ${what}`, line) };
  }
  const obj = parsed as Record<string, unknown>;
  const docId = lineDocId(raw, obj);
  if (typeof obj['text'] !== 'string') {
    const what = obj['text'] === undefined ? 'missing' : `a ${Array.isArray(obj['text']) ? 'array' : typeof obj['text']}`;
    return { kind: 'rejection', bytes, rejection: inputRejection(docId, 'input.missing_text', `line ${line}: "text" must be a string, it is ${what}`, line) };
  }
  const id = obj['id'];
  if (id !== undefined && id !== null && !(typeof id === 'string' && id.length > 0) && !(typeof id === 'number' && Number.isFinite(id))) {
    return { kind: 'rejection', bytes, rejection: inputRejection(docId, 'input.invalid_field', `line ${line}: "id" must be a non-empty string or a number`, line) };
  }
  const url = optionalString(obj, 'url');
  const src = optionalString(obj, 'source');
  for (const v of [url, src]) {
    if (v instanceof Error) return { kind: 'rejection', bytes, rejection: inputRejection(docId, 'input.invalid_field', `line ${line}: ${v.message}`, line) };
  }
  const docText = obj['text'];
  return {
    kind: 'document',
    bytes,
    line,
    doc: {
      id: id === undefined || id === null ? contentId(docText) : String(id),
      text: docText,
      url: url as string | null,
      source: (src as string | null) ?? source,
      ingested_at: Date.now(),
    },
  };
}

/** Split a byte stream into lines (without the newline; a trailing CR is dropped too). */
export async function* byteLines(stream: Readable): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    let nl = chunk.indexOf(10, start);
    while (nl >= 0) {
      pending.push(chunk.subarray(start, nl));
      let line = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending);
      pending = [];
      if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
      yield line;
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) pending.push(Buffer.from(chunk.subarray(start)));
  }
  if (pending.length > 0) {
    let line = Buffer.concat(pending);
    if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
    if (line.length > 0) yield line;
  }
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 32 && b !== 9 && b !== 13) return false;
  return true;
}

export async function* readJsonLines(stream: Readable): AsyncGenerator<InputItem> {
  let line = 0;
  for await (const raw of byteLines(stream)) {
    line++;
    if (isBlank(raw)) continue;
    yield parseJsonLine(raw, line);
  }
}

/** A plain-text file is one document; invalid UTF-8 rejects the file. */
export async function readTextFile(path: string): Promise<InputItem> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    return { kind: 'rejection', bytes: raw.length, rejection: inputRejection(lineDocId(raw), 'input.invalid_utf8', `${basename(path)}: not valid UTF-8`, null) };
  }
  return {
    kind: 'document',
    bytes: raw.length,
    line: null,
    doc: { id: contentId(text), text, url: null, source: basename(path), ingested_at: Date.now() },
  };
}

export interface InputSource {
  /** Total bytes when known (files), for progress and ETA. */
  totalBytes: number | null;
  items: AsyncGenerator<InputItem>;
}

/**
 * Open `--input`: `-` is JSON lines on stdin; a `.jsonl`/`.ndjson`/`.json` file is JSON lines;
 * any other file is one plain-text document; a directory is every file in it, in name order.
 */
export async function openInput(path: string, stdin: Readable = process.stdin): Promise<InputSource> {
  if (path === '-') return { totalBytes: null, items: readJsonLines(stdin) };
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new WebscaleError('USAGE', `cannot read input ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (info.isDirectory()) {
    const names = (await readdir(path)).sort();
    let total = 0;
    const files: string[] = [];
    for (const name of names) {
      const s = await stat(join(path, name));
      if (s.isFile()) {
        files.push(join(path, name));
        total += s.size;
      }
    }
    return { totalBytes: total, items: readFiles(files) };
  }
  return { totalBytes: info.size, items: readFiles([path]) };
}

async function* readFiles(paths: string[]): AsyncGenerator<InputItem> {
  for (const p of paths) {
    if (JSON_LINES_EXTENSIONS.has(extname(p).toLowerCase())) yield* readJsonLines(createReadStream(p));
    else yield await readTextFile(p);
  }
}
