/**
 * Where a report's records come from.
 *
 * A **run folder** is the folder `webscale-rl run` wrote into: exactly one `<name>.rejections.jsonl`
 * (the default rejections file of `--output <folder>/<name>.jsonl`), the QA records beside it as
 * `<name>.jsonl` (or `.ndjson`, `.json`), and the `--summary` JSON as `summary.json` or
 * `<name>.summary.json` (optional: without it tokens are summed from the records and there are no
 * stage times). Files are streamed line by line; a line longer than 16 MiB or not JSON is counted
 * and skipped.
 *
 * On **Kafka** the prefix's `rejections` and `qa.verified` topics are read (read_committed) up to
 * the end offsets they have when the report starts.
 */
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { WebscaleError } from '../core/errors.js';
import type { QaRecord, Rejection } from '../core/records.js';
import type { TopicCodecs } from '../codec/index.js';
import { boundedLines, isOversize } from '../input/index.js';
import { readToEnd, topicName } from '../kafka/index.js';
import type { ReportBuilder, ReportSource, RunSummaryJson } from './model.js';

const MAX_LINE_BYTES = 16 * 1024 * 1024;
const REJECTIONS_SUFFIX = '.rejections.jsonl';

export interface RunFolderFiles {
  rejections: string;
  qa: string | null;
  summary: string | null;
  /** A QA file in a format the report does not read (parquet): named in the report. */
  unreadQa: string | null;
}

/** The files of a run folder, or a USAGE error saying what a run folder holds. */
export async function findRunFolderFiles(dir: string): Promise<RunFolderFiles> {
  const names = (await readdir(dir)).sort();
  const rejections = names.filter((n) => n.endsWith(REJECTIONS_SUFFIX));
  if (rejections.length === 0) {
    throw new WebscaleError(
      'USAGE',
      `${dir} holds no *${REJECTIONS_SUFFIX} file: a run folder is where "webscale-rl run --output ${join(dir, 'qa.jsonl')} --summary ${join(dir, 'summary.json')}" wrote its outputs`,
    );
  }
  if (rejections.length > 1) {
    throw new WebscaleError('USAGE', `${dir} holds the rejections of several runs (${rejections.join(', ')}): give each run its own folder`);
  }
  const file = rejections[0] ?? '';
  const base = file.slice(0, -REJECTIONS_SUFFIX.length);
  const qa = ['.jsonl', '.ndjson', '.json'].map((ext) => base + ext).find((n) => names.includes(n)) ?? null;
  const summary = ['summary.json', `${base}.summary.json`].find((n) => names.includes(n)) ?? null;
  const parquet = names.includes(`${base}.parquet`) ? `${base}.parquet` : null;
  return {
    rejections: join(dir, file),
    qa: qa === null ? null : join(dir, qa),
    summary: summary === null ? null : join(dir, summary),
    unreadQa: qa === null && parquet !== null ? join(dir, parquet) : null,
  };
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** JSON objects of a JSON-lines file, one at a time; returns how many lines were skipped. */
async function eachJsonLine(path: string, onObject: (value: Record<string, unknown>) => void): Promise<number> {
  let skipped = 0;
  for await (const line of boundedLines(createReadStream(path), MAX_LINE_BYTES)) {
    if (isOversize(line)) {
      skipped++;
      continue;
    }
    const text = line.toString('utf8').trim();
    if (text === '') continue;
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) onObject(value as Record<string, unknown>);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return skipped;
}

const isRejection = (v: Record<string, unknown>): boolean =>
  typeof v.stage === 'string' && typeof v.reason === 'string' && typeof v.detail === 'string' && typeof v.usage === 'object' && v.usage !== null;
const isQaRecord = (v: Record<string, unknown>): boolean =>
  typeof v.domain === 'string' && typeof v.persona === 'string' && typeof v.usage === 'object' && v.usage !== null && typeof v.provenance === 'object' && v.provenance !== null;

/** Feeds a run folder's records to the builder; returns the source and the summary (when there is one). */
export async function readRunFolder(dir: string, builder: ReportBuilder): Promise<{ source: ReportSource; summary: RunSummaryJson | null; skippedLines: number }> {
  const files = await findRunFolderFiles(dir);
  let skippedLines = 0;
  skippedLines += await eachJsonLine(files.rejections, (v) => {
    if (isRejection(v)) builder.addRejection(v as unknown as Rejection);
    else skippedLines++;
  });
  if (files.qa !== null) {
    skippedLines += await eachJsonLine(files.qa, (v) => {
      if (isQaRecord(v)) builder.addQa(v as unknown as QaRecord);
      else skippedLines++;
    });
  }
  let summary: RunSummaryJson | null = null;
  if (files.summary !== null) {
    try {
      summary = JSON.parse(await readFile(files.summary, 'utf8')) as RunSummaryJson;
    } catch (err) {
      throw new WebscaleError('USAGE', `${files.summary} is not a run summary (JSON): ${(err as Error).message}`, { cause: err });
    }
  }
  const inputs: Record<string, string> = { rejections: basename(files.rejections) };
  inputs['QA records'] = files.qa === null ? (files.unreadQa === null ? 'none found' : `${basename(files.unreadQa)} (parquet: not read)`) : basename(files.qa);
  inputs.summary = files.summary === null ? 'none found' : basename(files.summary);
  return { source: { kind: 'run', label: resolve(dir), inputs }, summary, skippedLines };
}

/** Feeds the prefix's rejections and qa.verified topics, read to their end, to the builder. */
export async function readTopics(kafka: Kafka, codecs: TopicCodecs, prefix: string, brokers: readonly string[], builder: ReportBuilder): Promise<ReportSource> {
  const rejections = topicName(prefix, 'rejections');
  const sink = topicName(prefix, 'qa.verified');
  const rejectionCodec = codecs.for('Rejection', rejections);
  const qaCodec = codecs.for('QaRecord', sink);
  // Small fetches: the report keeps counts, so only a fetch's records are ever held.
  const opts = { groupPrefix: `${prefix}report-`, fetchMaxBytes: 4 * 1024 * 1024 };
  let rejectionCount = 0;
  let qaCount = 0;
  await readToEnd(
    kafka,
    rejections,
    async (m) => {
      if (!m.value) return;
      builder.addRejection((await rejectionCodec.decode(m.value)) as Rejection);
      rejectionCount++;
    },
    opts,
  );
  await readToEnd(
    kafka,
    sink,
    async (m) => {
      if (!m.value) return;
      builder.addQa((await qaCodec.decode(m.value)) as QaRecord);
      qaCount++;
    },
    opts,
  );
  return {
    kind: 'kafka',
    label: `${brokers.join(',')} ${prefix}*`,
    inputs: { rejections: `${rejections} (${rejectionCount} records)`, 'QA records': `${sink} (${qaCount} records)` },
  };
}
