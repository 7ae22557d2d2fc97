/**
 * Input sources for `run` and `ingest`, and the one-record WARC conversion the crawl bridge uses.
 */
import type { InputConfig } from '../config/schema.js';
import type { InputOptions } from './reader.js';

export { openInput, formatOf, parseJsonLine, readJsonLines, readFile, type InputOptions, type InputSource, type InputFormat } from './reader.js';
export { contentId, SKIP_REASONS, type InputItem, type SkipReason } from './items.js';
export { documentFromWarcBytes, documentFromWarcRecord, parseWarcRecord, readWarcStream, type WarcRecordInput, type WarcOptions, type HeaderBag } from './warc.js';
export { languageFromHeader } from './language.js';
export { boundedLines, isOversize } from './lines.js';

/** Reader options from the compiled `input` config block. */
export function inputOptionsFrom(input: InputConfig): InputOptions {
  return {
    fields: { text: input.textField, id: input.idField, url: input.urlField },
    maxRecordBytes: input.maxRecordBytes,
    maxRowGroupBytes: input.maxRowGroupBytes,
    extractor: input.extractor,
  };
}
