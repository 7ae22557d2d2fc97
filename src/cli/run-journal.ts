/**
 * What makes `run --resume` possible: the outputs are written one finished document at a time,
 * and a small progress journal beside them says which documents are finished and how long each
 * output file was after that document's lines.
 *
 * - A document's QA lines and rejections are held until the document is finished (each of them
 *   is small and the documents in flight are bounded), then appended to the QA file and the
 *   rejections file in one block each, then one journal line `{"s": <input position>, "q": <QA
 *   file bytes>, "r": <rejections file bytes>}` is appended. Every document of the input (input
 *   rejections included) gets exactly one journal line, whether it yielded QA pairs, rejections,
 *   or `llm.failed` rejections.
 * - The journal (`out/qa.progress.jsonl` for `out/qa.jsonl`) starts with a header line: the input
 *   (every file's path, size and modification time) and a hash of each config section that
 *   decides outputs, so a resume against changed input or settings is refused.
 * - Resuming after a crash or kill -9: a last journal line that is torn (no newline) is dropped;
 *   both output files are cut back to the sizes the last whole journal line records, which drops
 *   any block (or torn line) written after it; the documents whose lines were cut are not in the
 *   journal, so they are processed again. Documents already finished are passed over (their text
 *   still goes through the dedup index, so later copies are rejected as before).
 *
 * Memory: the set of finished positions is kept as "everything below N" plus the few finished out
 * of order above it, so it is bounded by the documents in flight, not by the input.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { QaRecord, Rejection } from '../core/records.js';
import { listFiles } from '../input/reader.js';
import { COMPACT_PROMPT_VERSIONS, PROMPT_VERSIONS } from '../stages/prompts.js';
import { PIPELINE_VERSION } from '../stages/paths.js';

export const JOURNAL_VERSION = 1;

/** `out/qa.jsonl` -> `out/qa.progress.jsonl`. */
export function journalPathFor(output: string): string {
  return output.replace(/(\.jsonl|\.ndjson|\.json)?$/i, '.progress.jsonl');
}

export interface InputFile {
  path: string;
  size: number;
  mtime_ms: number;
}

/** The input's files (absolute paths) with size and modification time; stdin cannot be fingerprinted. */
export async function fingerprintInput(input: string): Promise<InputFile[]> {
  const info = await stat(input);
  const files = info.isDirectory() ? await listFiles(input) : [{ path: input, size: info.size }];
  const out: InputFile[] = [];
  for (const f of files) {
    const s = await stat(f.path);
    out.push({ path: resolve(f.path), size: s.size, mtime_ms: Math.trunc(s.mtimeMs) });
  }
  return out;
}

function hash(value: unknown): string {
  return createHash('sha256')
    .update(stringify(value) ?? '')
    .digest('hex')
    .slice(0, 16);
}

/**
 * A hash per config section that decides what a document yields. Left out: concurrency, logging,
 * timeouts and retries, secrets, Kafka, and the response log itself.
 */
export function outputSettings(config: Config): Record<string, string> {
  const { apiKey: _apiKey, token: _token, timeout: _timeout, maxRetries: _maxRetries, backoffInitial: _bi, backoffMax: _bm, responseLog: _log, stages, local, ...llm } = config.llm;
  const stageSettings = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, v === undefined ? v : { ...v, apiKey: undefined }]));
  return {
    pipeline: hash({ ...config.pipeline, version: PIPELINE_VERSION, prompts: PROMPT_VERSIONS, compact: COMPACT_PROMPT_VERSIONS }),
    llm: hash({ ...llm, stages: stageSettings, local: { modelPath: local.modelPath, contextSize: local.contextSize, maxStringChars: local.maxStringChars } }),
    input: hash(config.input),
    decontamination: hash(config.decontamination),
  };
}

export interface JournalHeader {
  v: number;
  input: InputFile[];
  settings: Record<string, string>;
  started_at: number;
}

interface Entry {
  s: number;
  q: number;
  r: number;
}

/** Finished input positions: all below `below`, plus `above`. */
export class DoneSet {
  below = 0;
  readonly above = new Set<number>();
  size = 0;

  add(seq: number): void {
    if (this.has(seq)) return;
    this.size++;
    this.above.add(seq);
    while (this.above.delete(this.below)) this.below++;
  }

  has(seq: number): boolean {
    return seq < this.below || this.above.has(seq);
  }
}

export interface JournalPaths {
  output: string;
  rejections: string | null;
  journal: string;
}

async function openAppend(path: string): Promise<FileHandle> {
  await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
  try {
    return await open(path, 'a');
  } catch (err) {
    throw new WebscaleError('USAGE', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

function refuse(message: string): WebscaleError {
  return new WebscaleError('USAGE', `--resume: ${message}`);
}

/** Reads a journal; drops a torn last line. Returns the header, the finished set and the last entry. */
async function readJournal(path: string): Promise<{ header: JournalHeader; done: DoneSet; last: Entry | null; goodBytes: number; size: number }> {
  const size = (await stat(path)).size;
  let lastByte = '';
  if (size > 0) {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(1);
      await fh.read(buf, 0, 1, size - 1);
      lastByte = buf.toString('latin1');
    } finally {
      await fh.close();
    }
  }
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let header: JournalHeader | null = null;
  const done = new DoneSet();
  let last: Entry | null = null;
  let goodBytes = 0;
  let pending: { text: string; bytes: number } | null = null;
  let lineNo = 0;
  const take = (text: string, bytes: number): void => {
    lineNo++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw refuse(`${path} line ${lineNo} is not JSON (the journal was edited or damaged); start over without --resume`);
    }
    if (header === null) {
      const h = value as Partial<JournalHeader>;
      if (h.v !== JOURNAL_VERSION || !Array.isArray(h.input) || typeof h.settings !== 'object') {
        throw refuse(`${path} does not start with a journal header of version ${JOURNAL_VERSION}; start over without --resume`);
      }
      header = h as JournalHeader;
    } else {
      const e = value as Partial<Entry>;
      if (typeof e.s !== 'number' || typeof e.q !== 'number' || typeof e.r !== 'number') throw refuse(`${path} line ${lineNo} is not a journal entry; start over without --resume`);
      done.add(e.s);
      last = e as Entry;
    }
    goodBytes += bytes;
  };
  // Each line is taken when the next one arrives, so the last can be judged on its own: a last line
  // without its newline was cut by the kill, and is dropped.
  for await (const line of lines) {
    if (pending !== null) take(pending.text, pending.bytes);
    pending = { text: line, bytes: Buffer.byteLength(line) + 1 };
  }
  if (pending !== null && lastByte === '\n') take(pending.text, pending.bytes);
  if (header === null) throw refuse(`${path} has no header (the run was killed before it started); start over without --resume`);
  return { header, done, last, goodBytes, size };
}

export class RunJournal {
  private readonly blocks = new Map<number, { qa: string[]; rej: string[] }>();
  private chain: Promise<void> = Promise.resolve();
  private qaBytes: number;
  private rejBytes: number;

  private constructor(
    private readonly qa: FileHandle,
    private readonly rej: FileHandle | null,
    private readonly journal: FileHandle,
    readonly done: DoneSet,
    sizes: { qa: number; rej: number },
  ) {
    this.qaBytes = sizes.qa;
    this.rejBytes = sizes.rej;
  }

  /** A fresh run: the outputs and the journal are emptied, the header written. */
  static async start(paths: JournalPaths, header: JournalHeader): Promise<RunJournal> {
    for (const p of [paths.output, paths.rejections, paths.journal]) {
      if (p === null) continue;
      if ((await sizeOf(p)) !== null) await truncate(p, 0);
    }
    const qa = await openAppend(paths.output);
    const rej = paths.rejections === null ? null : await openAppend(paths.rejections);
    const journal = await openAppend(paths.journal);
    await journal.write(JSON.stringify(header) + '\n');
    return new RunJournal(qa, rej, journal, new DoneSet(), { qa: 0, rej: 0 });
  }

  /**
   * Continue the run recorded in `paths.journal`: checks the input and settings against its header,
   * repairs what a kill left behind, and returns the journal (its `done` says what to pass over).
   * Null when there is nothing to resume (no journal and no outputs): the caller starts afresh.
   */
  static async resume(paths: JournalPaths, header: JournalHeader): Promise<RunJournal | null> {
    if ((await sizeOf(paths.journal)) === null) {
      const existing = [paths.output, paths.rejections].filter((p): p is string => p !== null);
      const present = [];
      for (const p of existing) if ((await sizeOf(p)) !== null) present.push(p);
      if (present.length === 0) return null;
      throw refuse(`${present.join(' and ')} exist but ${paths.journal} does not, so which documents are done cannot be known; run without --resume to start over (the outputs are overwritten), or name other outputs`);
    }
    const read = await readJournal(paths.journal);
    const changed = diffInput(read.header.input, header.input);
    if (changed !== null) throw refuse(`the input changed since the interrupted run (${changed}); run without --resume to start over`);
    const settings = Object.keys({ ...read.header.settings, ...header.settings }).filter((k) => read.header.settings[k] !== header.settings[k]);
    if (settings.length > 0) {
      throw refuse(`the settings that decide outputs changed since the interrupted run (${settings.join(', ')}); run with the same config, or without --resume to start over`);
    }
    const last: Entry = read.last ?? { s: -1, q: 0, r: 0 };
    const qaSize = (await sizeOf(paths.output)) ?? 0;
    if (qaSize < last.q) throw refuse(`${paths.output} is shorter (${qaSize} bytes) than the journal records (${last.q}); it was changed after the run; start over without --resume`);
    let rejSize = 0;
    if (paths.rejections !== null) {
      rejSize = (await sizeOf(paths.rejections)) ?? 0;
      if (rejSize < last.r) throw refuse(`${paths.rejections} is shorter (${rejSize} bytes) than the journal records (${last.r}); it was changed after the run; start over without --resume`);
    }
    // Cut what was written after the last finished document: blocks of documents not journaled.
    if (qaSize > last.q) await truncate(paths.output, last.q);
    if (paths.rejections !== null && rejSize > last.r) await truncate(paths.rejections, last.r);
    if (read.size > read.goodBytes) await truncate(paths.journal, read.goodBytes);
    const qa = await openAppend(paths.output);
    const rej = paths.rejections === null ? null : await openAppend(paths.rejections);
    const journal = await openAppend(paths.journal);
    return new RunJournal(qa, rej, journal, read.done, { qa: last.q, rej: paths.rejections === null ? 0 : last.r });
  }

  /** Lines are held per document until `finish`. */
  writeQa(seq: number, record: QaRecord): void {
    this.block(seq).qa.push(JSON.stringify(record) + '\n');
  }

  writeRejection(seq: number, rejection: Rejection): void {
    if (this.rej !== null) this.block(seq).rej.push(JSON.stringify(rejection) + '\n');
  }

  /** The document at `seq` is finished: its lines, then its journal line. Calls are serialised. */
  finish(seq: number): Promise<void> {
    const block = this.blocks.get(seq);
    this.blocks.delete(seq);
    this.chain = this.chain.then(async () => {
      if (block !== undefined && block.qa.length > 0) {
        const buf = Buffer.from(block.qa.join(''));
        await this.qa.write(buf);
        this.qaBytes += buf.length;
      }
      if (block !== undefined && block.rej.length > 0 && this.rej !== null) {
        const buf = Buffer.from(block.rej.join(''));
        await this.rej.write(buf);
        this.rejBytes += buf.length;
      }
      await this.journal.write(`{"s":${seq},"q":${this.qaBytes},"r":${this.rejBytes}}\n`);
      this.done.add(seq);
    });
    return this.chain;
  }

  async close(): Promise<void> {
    await this.chain;
    await Promise.all([this.qa.close(), this.rej?.close(), this.journal.close()]);
  }

  private block(seq: number): { qa: string[]; rej: string[] } {
    let b = this.blocks.get(seq);
    if (b === undefined) {
      b = { qa: [], rej: [] };
      this.blocks.set(seq, b);
    }
    return b;
  }
}

function diffInput(before: InputFile[], now: InputFile[]): string | null {
  const was = new Map(before.map((f) => [f.path, f]));
  const is = new Map(now.map((f) => [f.path, f]));
  for (const f of now) {
    const old = was.get(f.path);
    if (old === undefined) return `${f.path} is new`;
    if (old.size !== f.size || old.mtime_ms !== f.mtime_ms) return `${f.path} was modified`;
  }
  for (const f of before) if (!is.has(f.path)) return `${f.path} is gone`;
  return null;
}
