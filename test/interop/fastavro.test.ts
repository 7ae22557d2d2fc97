/**
 * Interop proof: records encoded by our codec are decoded by an independent Avro implementation
 * (Python fastavro) that sees nothing but the `.avsc` files in schemas/. decode.py computes the
 * fingerprints itself, so this also checks our canonical form and CRC-64-AVRO.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RECORD_TYPES, createSingleObjectCodec } from '../../src/codec/index.js';
import type { RecordTypeName } from '../../src/codec/index.js';
import { SAMPLES } from '../codec/samples.js';
import { asFastavroJson as asJson, fastavroDecode, fastavroPython } from './fastavro.js';

beforeAll(() => {
  // Installs fastavro from PyPI into a venv in the cache dir on first use.
  fastavroPython();
}, 320_000);

describe('fastavro decodes our single-object records', () => {
  it.each(['QaRecord', 'Rejection', 'DeadLetter'] as const)('%s equals the input', (type) => {
    const codec = createSingleObjectCodec(type);
    const variants: unknown[] = [SAMPLES[type]];
    if (type === 'DeadLetter') variants.push({ ...SAMPLES.DeadLetter, key: null, value: null });
    if (type === 'Rejection') {
      variants.push({ ...SAMPLES.Rejection, persona: 'a nurse', line: null, stage: 'check', reason: 'check.leakage' });
      // v3: the rejected pair, the domain, and identify's personas (non-ASCII on purpose).
      variants.push({
        ...SAMPLES.Rejection,
        persona: 'a nurse',
        line: null,
        stage: 'check',
        reason: 'check.incorrect',
        question: 'Which enzyme unwinds DNA at the replication fork (5′→3′)?',
        answer: 'Helicase',
        domain: 'Natural Science',
      });
      variants.push({ ...SAMPLES.Rejection, line: null, stage: 'identify', reason: 'identify.unknown_domain', personas: ['a nurse', 'ein Arzt'] });
    }
    if (type === 'QaRecord') variants.push({ ...SAMPLES.QaRecord, source_text: null, usage: { prompt_tokens: 0, completion_tokens: 0, by_stage: {} } });
    const decoded = fastavroDecode(variants.map((v) => codec.encode(v as never)), type);
    expect(decoded).toEqual(variants.map((v) => ({ type, value: asJson(v) })));
  });

  it('every record type, with the type found from the fingerprint alone', () => {
    const records = RECORD_TYPES.map((t: RecordTypeName) => createSingleObjectCodec(t).encode(SAMPLES[t] as never));
    const decoded = fastavroDecode(records);
    expect(decoded.map((d) => d.type)).toEqual([...RECORD_TYPES]);
    expect(decoded.map((d) => d.value)).toEqual(RECORD_TYPES.map((t) => asJson(SAMPLES[t])));
  });

  it('refuses a record whose fingerprint matches no schema', () => {
    const buf = createSingleObjectCodec('Rejection').encode(SAMPLES.Rejection);
    buf[9] = (buf[9] ?? 0) ^ 0x01;
    expect(() => fastavroDecode([buf])).toThrow(/matches no schema/);
  });
});
