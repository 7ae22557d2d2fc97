/**
 * Interop: values encoded by the TypeScript codec decode with the Python client's RecordDecoder
 * (the package as installed, with its bundled schemas) into the same record, for every record
 * type; a flipped fingerprint byte is reported as a CODEC error, not a crash.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { RECORD_TYPES, createSingleObjectCodec } from '../../src/codec/index.js';
import type { RecordTypeName } from '../../src/codec/index.js';
import { SAMPLES } from '../codec/samples.js';
import { asFastavroJson } from '../interop/fastavro.js';
import { CODEC_READER, clientPython } from './python.js';

beforeAll(() => {
  clientPython();
}, 620_000);

function decodeInPython(values: { type: RecordTypeName; value: Buffer }[]): Record<string, unknown>[] {
  const out = execFileSync(clientPython(), [CODEC_READER], {
    input: values.map((v) => `${v.type} ${v.value.toString('base64')}`).join('\n') + '\n',
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the Python client decodes what the TypeScript codec encodes', () => {
  it('every record type equals its sample', () => {
    const values = RECORD_TYPES.map((type) => ({ type, value: createSingleObjectCodec(type).encode(SAMPLES[type] as never) }));
    const decoded = decodeInPython(values);
    expect(decoded).toEqual(RECORD_TYPES.map((t) => ({ value: asFastavroJson(SAMPLES[t]) })));
  });

  it('QaRecord variants with nulls and empty maps', () => {
    const codec = createSingleObjectCodec('QaRecord');
    const variants = [
      { ...SAMPLES.QaRecord, source_text: null, source_url: null, usage: { prompt_tokens: 0, completion_tokens: 0, by_stage: {} } },
      { ...SAMPLES.QaRecord, provenance: { ...SAMPLES.QaRecord.provenance, language: null, fewshot_ids: [] } },
    ];
    const decoded = decodeInPython(variants.map((v) => ({ type: 'QaRecord' as const, value: codec.encode(v) })));
    expect(decoded).toEqual(variants.map((v) => ({ value: asFastavroJson(v) })));
  });

  it('reports a value with an unknown fingerprint as a CODEC error', () => {
    const value = createSingleObjectCodec('QaRecord').encode(SAMPLES.QaRecord);
    value[9] = (value[9] ?? 0) ^ 0x01;
    const [decoded] = decodeInPython([{ type: 'QaRecord', value }]);
    expect(String(decoded?.['error'])).toMatch(/^CODEC: fingerprint [0-9a-f]{16} matches no known schema/);
  });
});
