/**
 * Where exported records go: a sink that turns each QaRecord into its format's row and writes it
 * as JSON lines (a file or stdout) or as a parquet file. The output name picks the container
 * (`.parquet` -> parquet; `-`, `.jsonl`, `.ndjson`, `.json` -> JSON lines; anything else the
 * format's default), and a format that cannot be written in that container is a usage error
 * before anything is read.
 */
import { WebscaleError } from '../core/errors.js';
import type { QaRecord } from '../core/records.js';
import { JsonlWriter } from '../cli/jsonl-writer.js';
import { FORMATS, type Container, type ExportFormat } from './formats.js';
import { ParquetFileWriter, type RowGroupLimits } from './parquet-file.js';

export interface RecordSink {
  readonly container: Container;
  /** Rows written so far. */
  readonly count: number;
  write(record: QaRecord): Promise<void>;
  /** Completes the output (for parquet: the footer, then the file gets its name). */
  close(): Promise<void>;
  /** Stops without completing: a parquet file is removed, JSON lines stay as written. */
  abort(): Promise<void>;
}

/** The container an output name asks for, or null when it does not say. */
function containerOf(output: string): Container | null {
  if (output === '-') return 'jsonl';
  if (/\.parquet$/i.test(output)) return 'parquet';
  if (/\.(jsonl|ndjson|json)$/i.test(output)) return 'jsonl';
  return null;
}

/** Infers the format from the output name when none is given: `.parquet` -> parquet, else jsonl. */
export function defaultFormat(output: string): ExportFormat {
  return containerOf(output) === 'parquet' ? 'parquet' : 'jsonl';
}

export function resolveContainer(format: ExportFormat, output: string): Container {
  const spec = FORMATS[format];
  const asked = containerOf(output);
  const container = asked ?? spec.defaultContainer;
  if (!spec.containers.includes(container)) {
    const what = output === '-' ? 'stdout' : output;
    const hint = container === 'jsonl' ? 'parquet needs a file: give --output <file>.parquet' : 'use --format parquet for QA records in parquet';
    throw new WebscaleError('USAGE', `--format ${format} cannot be written as ${container === 'jsonl' ? 'JSON lines' : 'parquet'} to ${what}: ${hint}`);
  }
  return container;
}

export async function openExportSink(format: ExportFormat, output: string, limits: RowGroupLimits): Promise<RecordSink> {
  const spec = FORMATS[format];
  const container = resolveContainer(format, output);
  if (container === 'jsonl') {
    const out = await JsonlWriter.open(output);
    return {
      container,
      get count() {
        return out.count;
      },
      write: (record) => out.write(spec.jsonRow(record, out.count)),
      close: () => out.close(),
      abort: () => out.close(),
    };
  }
  const file = await ParquetFileWriter.open(output, spec.fields, limits);
  return {
    container,
    get count() {
      return file.count;
    },
    write: (record) => file.write(spec.parquetRow(record, file.count)),
    close: () => file.close(),
    abort: () => file.abort(),
  };
}
