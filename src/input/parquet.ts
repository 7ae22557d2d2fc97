/**
 * Parquet files (the form Hugging Face datasets ship in), read row group by row group with
 * hyparquet, only the text, id and url columns. Memory is one row group of those columns: a row
 * group larger than `input.maxRowGroupBytes` (uncompressed, from the file's own metadata) is
 * rejected as `input.too_large` before it is read.
 */
import { basename } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { WebscaleError } from '../core/errors.js';
import { documentFromObject, type FieldNames } from './fields.js';
import { rejected, type InputItem } from './items.js';

export interface ParquetOptions {
  fields: FieldNames;
  maxRecordBytes: number;
  maxRowGroupBytes: number;
}

function groupBytes(metadata: FileMetaData, group: number, columns: Set<string>): number {
  let total = 0;
  for (const chunk of metadata.row_groups[group]?.columns ?? []) {
    const meta = chunk.meta_data;
    if (meta && columns.has(meta.path_in_schema[0] ?? '')) total += Number(meta.total_uncompressed_size);
  }
  return total;
}

export async function* readParquet(path: string, opts: ParquetOptions): AsyncGenerator<InputItem> {
  const source = basename(path);
  const file = await asyncBufferFromFile(path);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new WebscaleError('INPUT_INVALID', `not a parquet file: ${(err as Error).message}`, { cause: err });
  }
  const present = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
  if (!present.has(opts.fields.text)) {
    const names = [...present].join(', ');
    yield rejected(`file:${source}`, 'input.missing_text', `${source}: no column "${opts.fields.text}" (columns: ${names}); set --text-field`, file.byteLength);
    return;
  }
  const columns = [opts.fields.text, opts.fields.id, opts.fields.url, 'source'].filter((c) => present.has(c));
  const wanted = new Set(columns);
  // Progress counts file bytes: each row gets its share of the file.
  const totalRows = Number(metadata.num_rows);
  const perRow = totalRows > 0 ? Math.round(file.byteLength / totalRows) : 0;
  let rowStart = 0;
  for (let g = 0; g < metadata.row_groups.length; g++) {
    const rows = Number(metadata.row_groups[g]?.num_rows ?? 0);
    const rowEnd = rowStart + rows;
    const size = groupBytes(metadata, g, wanted);
    if (size > opts.maxRowGroupBytes) {
      const detail = `${source}: row group ${g} (rows ${rowStart + 1}-${rowEnd}) holds ${size} bytes, more than input.maxRowGroupBytes (${opts.maxRowGroupBytes})`;
      yield rejected(`file:${source}#rowgroup${g}`, 'input.too_large', detail, perRow * rows);
      rowStart = rowEnd;
      continue;
    }
    const objects = await parquetReadObjects({ file, metadata, columns, rowStart, rowEnd, compressors });
    for (let i = 0; i < objects.length; i++) {
      const row = rowStart + i + 1;
      yield documentFromObject(objects[i] as Record<string, unknown>, opts.fields, {
        line: row,
        where: `${source} row ${row}`,
        bytes: perRow,
        fallbackId: () => `file:${source}#row${row}`,
        source,
        maxRecordBytes: opts.maxRecordBytes,
      });
    }
    rowStart = rowEnd;
  }
}
