/**
 * Test helper: read a parquet file back with pyarrow and with `datasets.load_dataset("parquet")`
 * in the Python venv of the interop tests (read_parquet.py), as a trainer would.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fastavroPython } from '../interop/fastavro.js';

const SCRIPT = fileURLToPath(new URL('./read_parquet.py', import.meta.url));

export interface ReadBack {
  num_rows: number;
  num_row_groups: number;
  created_by: string;
  /** Column name -> pyarrow type string, e.g. `list<element: struct<role: string, content: string>>`. */
  schema: Record<string, string>;
  rows: Record<string, unknown>[];
  /** null for a file without rows (datasets builds no split from one). */
  datasets: { num_rows: number; column_names: string[]; features: Record<string, string>; first: Record<string, unknown> } | null;
}

export function readParquetBack(path: string): ReadBack {
  const cache = mkdtempSync(join(tmpdir(), 'wsrl-hf-cache-'));
  const out = execFileSync(fastavroPython(), [SCRIPT, path, cache], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, HF_DATASETS_OFFLINE: '1', HF_HUB_OFFLINE: '1', HF_HOME: cache },
  });
  return JSON.parse(out) as ReadBack;
}
