/**
 * The export formats: what row each writes for a sink record, and the parquet columns of that
 * row. `jsonl` and `parquet` carry the QaRecord itself (`run --output x.parquet` writes the
 * latter too); `verl`, `trl` and `openrlhf` carry the trainer rows of `rows.ts`.
 *
 * The QaRecord in parquet: scalar fields are flat columns; `checks`, `provenance` and `usage`
 * are nested structs, so pyarrow, pandas, DuckDB and `datasets` read `checks.answer_correct` or
 * `usage.prompt_tokens` with their types, without parsing a JSON string per row. The per-stage
 * maps (`prompt_versions`, `models`, `usage.by_stage`) are lists of {key, value} / {stage, ...}
 * structs, because `datasets` cannot load Arrow map columns; they keep every key, known or not.
 * `created_at` is a UTC millisecond timestamp.
 */
import type { QaRecord } from '../core/records.js';
import { bool, int32, int64, list, str, struct, timestampMs, type Field } from './parquet-schema.js';
import { openRlhfRow, trlRow, verlRow } from './rows.js';

export const EXPORT_FORMATS = ['jsonl', 'parquet', 'verl', 'trl', 'openrlhf'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export type Container = 'jsonl' | 'parquet';

export interface FormatSpec {
  /** The container when the output name does not say (`-` is always JSON lines). */
  defaultContainer: Container;
  /** Containers this format can be written in. */
  containers: readonly Container[];
  /** The row for JSON lines. `index` is the 0-based row number in the export. */
  jsonRow(record: QaRecord, index: number): unknown;
  /** The row for parquet and its columns. */
  parquetRow(record: QaRecord, index: number): Record<string, unknown>;
  fields: readonly Field[];
}

const chat = list('prompt', struct('message', [str('role'), str('content')]));
const keyValues = (name: string): Field => list(name, struct('entry', [str('key'), str('value')]));
const tokens = [int64('prompt_tokens'), int64('completion_tokens')];

export const VERL_FIELDS: readonly Field[] = [
  str('data_source'),
  chat,
  str('ability'),
  struct('reward_model', [str('style'), str('ground_truth')]),
  struct('extra_info', [str('id'), str('doc_id'), str('persona'), str('domain'), str('url'), str('language'), int64('index')]),
];

export const TRL_FIELDS: readonly Field[] = [chat, str('ground_truth'), str('domain'), str('id'), str('doc_id')];

export const OPENRLHF_FIELDS: readonly Field[] = [str('input'), str('label'), str('domain'), str('id')];

export const QA_RECORD_FIELDS: readonly Field[] = [
  str('id'),
  str('doc_id'),
  str('question'),
  str('answer'),
  str('domain'),
  str('persona'),
  str('source_url'),
  str('source'),
  str('source_text'),
  struct('checks', [bool('has_context'), bool('answer_correct'), bool('info_leakage'), str('reasoning')]),
  struct('provenance', [
    str('pipeline_version'),
    keyValues('prompt_versions'),
    keyValues('models'),
    list('fewshot_ids', str('id')),
    int32('truncated_chars'),
    str('language'),
  ]),
  struct('usage', [...tokens, list('by_stage', struct('entry', [str('stage'), ...tokens]))]),
  timestampMs('created_at'),
];

function entries(map: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(map).map(([key, value]) => ({ key, value }));
}

/** A QaRecord shaped for QA_RECORD_FIELDS. */
export function qaRecordParquetRow(r: QaRecord): Record<string, unknown> {
  return {
    ...r,
    provenance: {
      ...r.provenance,
      prompt_versions: entries(r.provenance.prompt_versions),
      models: entries(r.provenance.models),
      language: r.provenance.language ?? null,
    },
    usage: {
      prompt_tokens: BigInt(r.usage.prompt_tokens),
      completion_tokens: BigInt(r.usage.completion_tokens),
      by_stage: Object.entries(r.usage.by_stage).map(([stage, u]) => ({
        stage,
        prompt_tokens: BigInt(u.prompt_tokens),
        completion_tokens: BigInt(u.completion_tokens),
      })),
    },
    created_at: BigInt(r.created_at),
  };
}

const qaRecord = { jsonRow: (r: QaRecord) => r, parquetRow: qaRecordParquetRow, fields: QA_RECORD_FIELDS };

export const FORMATS: Record<ExportFormat, FormatSpec> = {
  jsonl: { ...qaRecord, defaultContainer: 'jsonl', containers: ['jsonl'] },
  parquet: { ...qaRecord, defaultContainer: 'parquet', containers: ['parquet'] },
  verl: {
    defaultContainer: 'parquet',
    containers: ['parquet', 'jsonl'],
    jsonRow: verlRow,
    parquetRow: (r, i) => {
      const row = verlRow(r, i);
      return { ...row, extra_info: { ...row.extra_info, index: BigInt(i) } };
    },
    fields: VERL_FIELDS,
  },
  trl: { defaultContainer: 'parquet', containers: ['parquet', 'jsonl'], jsonRow: trlRow, parquetRow: (r) => ({ ...trlRow(r) }), fields: TRL_FIELDS },
  openrlhf: {
    defaultContainer: 'jsonl',
    containers: ['jsonl', 'parquet'],
    jsonRow: openRlhfRow,
    parquetRow: (r) => ({ ...openRlhfRow(r) }),
    fields: OPENRLHF_FIELDS,
  },
};
