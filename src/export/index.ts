/** Exports of sink records in the formats trainers read: JSON lines, parquet, verl, TRL, OpenRLHF. */
export { EXPORT_FORMATS, FORMATS, QA_RECORD_FIELDS, VERL_FIELDS, TRL_FIELDS, OPENRLHF_FIELDS, type ExportFormat, type Container } from './formats.js';
export { compileFilter, hasFilters, parseSince, type ExportFilterOptions, type RecordFilter } from './filters.js';
export { openExportSink, defaultFormat, resolveContainer, type RecordSink } from './sink.js';
export { ParquetFileWriter, type RowGroupLimits } from './parquet-file.js';
export { INSTRUCTION, DATA_SOURCE, promptText, verlRow, trlRow, openRlhfRow, type VerlRow, type TrlRow, type OpenRlhfRow } from './rows.js';
