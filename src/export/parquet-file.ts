/**
 * A parquet file written row group by row group, so an export of any size holds at most one
 * row group in memory: rows are buffered until `rowGroupRows` rows or about `rowGroupBytes`
 * bytes of row data, then encoded (hyparquet-writer) and written to the file with stream
 * backpressure. The file is written under a temporary name and renamed when complete, so a
 * reader never sees a half-written file (a parquet file without its footer is unreadable).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { WebscaleError } from '../core/errors.js';
import { parquetSchema, type Field } from './parquet-schema.js';

export interface RowGroupLimits {
  /** Rows per row group. */
  rowGroupRows: number;
  /** A row group is closed early once its rows hold about this many bytes of data. */
  rowGroupBytes: number;
}

/**
 * hyparquet-writer's buffer, emptied into a file stream after each row group (and at the end)
 * instead of growing with the whole file. The flush returns a promise that settles when the
 * stream has taken the bytes, which the encoder awaits before the next group.
 */
class StreamByteWriter extends ByteWriter {
  constructor(private readonly stream: WriteStream) {
    super(64 * 1024);
  }

  flush(): Promise<void> {
    if (this.index === 0) return Promise.resolve();
    // Copied: the buffer is reused for the next row group while the stream still holds this chunk.
    const chunk = Buffer.from(new Uint8Array(this.buffer, 0, this.index));
    this.index = 0;
    return new Promise((resolve, reject) => this.stream.write(chunk, (err) => (err ? reject(err) : resolve())));
  }

  override async finish(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Rough size of a row's data (string lengths, 8 bytes per scalar), to bound a row group in bytes. */
export function approxBytes(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'string') return value.length;
  if (typeof value !== 'object') return 8;
  let n = 0;
  for (const v of Array.isArray(value) ? value : Object.values(value)) n += approxBytes(v);
  return n;
}

export class ParquetFileWriter {
  private rows: Record<string, unknown>[] = [];
  private bytes = 0;
  /** The row groups being written, chained so they reach the file in order, one at a time. */
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  count = 0;

  private constructor(
    private readonly path: string,
    private readonly tmpPath: string,
    private readonly stream: WriteStream,
    private readonly columns: readonly string[],
    private readonly parquet: ParquetWriter,
    private readonly limits: RowGroupLimits,
  ) {}

  /** Creates the file up front, so an unwritable path fails before any work is done. */
  static async open(path: string, fields: readonly Field[], limits: RowGroupLimits): Promise<ParquetFileWriter> {
    await mkdir(dirname(path), { recursive: true }).catch(() => undefined);
    const tmpPath = `${path}.partial-${process.pid}`;
    const stream = createWriteStream(tmpPath, { flags: 'w' });
    try {
      await once(stream, 'open');
    } catch (err) {
      throw new WebscaleError('USAGE', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const parquet = new ParquetWriter({ writer: new StreamByteWriter(stream), schema: parquetSchema(fields), createdBy: 'webscale-rl' });
    return new ParquetFileWriter(path, tmpPath, stream, fields.map((f) => f.name), parquet, limits);
  }

  async write(row: Record<string, unknown>): Promise<void> {
    if (this.closed) throw new WebscaleError('INTERNAL', `parquet file ${this.path} is closed`);
    this.rows.push(row);
    this.count++;
    this.bytes += approxBytes(row);
    if (this.rows.length >= this.limits.rowGroupRows || this.bytes >= this.limits.rowGroupBytes) await this.flushGroup();
  }

  /** Writes the buffered rows as one row group, after the group before it is on disk. */
  private flushGroup(): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    this.bytes = 0;
    if (rows.length === 0) return this.writing;
    this.writing = this.writing.then(() =>
      this.parquet.write({
        columnData: this.columns.map((name) => ({ name, data: rows.map((r) => r[name] ?? null) })),
        rowGroupSize: rows.length,
      }),
    );
    return this.writing;
  }

  /** Writes the last row group and the footer, and gives the file its name. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushGroup();
    this.closed = true;
    await this.parquet.finish();
    await rename(this.tmpPath, this.path);
  }

  /** Gives up: the partial file is removed and nothing is left under the final name. */
  async abort(): Promise<void> {
    this.closed = true;
    await this.writing.catch(() => undefined);
    this.stream.destroy();
    await rm(this.tmpPath, { force: true });
  }
}
