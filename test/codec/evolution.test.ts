/**
 * Schema evolution under the declared compatibility (schemas/index.json: FULL_TRANSITIVE):
 * the next version of a schema (test fixtures *.v2.avsc) reads records of the current one, and
 * the current one reads records of the next, through avsc's schema resolution and through the
 * codec's fingerprint lookup. An incompatible fixture shows the check can fail.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RECORD_TYPES, SchemaStore, createCodec, createSingleObjectCodec, parseSchema } from '../../src/codec/index.js';
import type { RecordTypeName, SchemaVersion } from '../../src/codec/index.js';
import { isWebscaleError } from '../../src/core/errors.js';
import { SAMPLES } from './samples.js';

const SCHEMAS = fileURLToPath(new URL('../../schemas/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

/** A store as the next pipeline version would have it: v2 current, v1 known from history. */
function nextStore(recordType: RecordTypeName, v2file: string): { store: SchemaStore; v1: SchemaVersion; v2: SchemaVersion } {
  const store = SchemaStore.load(SCHEMAS);
  const v1 = store.current(recordType);
  const v2 = store.add(fixture(v2file), { current: true, source: v2file });
  return { store, v1, v2 };
}

describe('declared compatibility', () => {
  it('is FULL_TRANSITIVE and covers every record type', () => {
    const index = JSON.parse(readFileSync(join(SCHEMAS, 'index.json'), 'utf8')) as {
      compatibility: string;
      records: Record<string, { file: string }>;
    };
    expect(index.compatibility).toBe('FULL_TRANSITIVE');
    expect(Object.keys(index.records).sort()).toEqual([...RECORD_TYPES].sort());
  });

  it('every .avsc in schemas/ (and schemas/history/) parses', () => {
    const files = readdirSync(SCHEMAS).filter((f) => f.endsWith('.avsc')).map((f) => join(SCHEMAS, f));
    const history = join(SCHEMAS, 'history');
    if (existsSync(history)) files.push(...readdirSync(history).filter((f) => f.endsWith('.avsc')).map((f) => join(history, f)));
    expect(files.length).toBeGreaterThanOrEqual(RECORD_TYPES.length);
    for (const file of files) {
      const type = parseSchema(JSON.parse(readFileSync(file, 'utf8')), file);
      expect(type.typeName, file).toBe('record');
    }
  });

  it('all known versions of a type resolve into each other (transitive, both directions)', () => {
    const store = SchemaStore.load(SCHEMAS);
    store.add(fixture('QaRecord.v2.avsc'));
    store.add(fixture('Rejection.v2.avsc'));
    for (const type of RECORD_TYPES) {
      const versions = store.versions(type);
      for (const reader of versions) {
        for (const writer of versions) {
          expect(() => reader.type.createResolver(writer.type), `${type}: ${reader.source} reading ${writer.source}`).not.toThrow();
        }
      }
    }
  });
});

describe.each([
  ['QaRecord', 'QaRecord.v2.avsc', { language: null, tags: [] }, { language: 'en', tags: ['biology'] }],
  ['Rejection', 'Rejection.v2.avsc', { attempts: 1 }, { attempts: 4 }],
] as const)('%s v1 <-> v2', (recordType, v2file, defaults, extra) => {
  const sample = SAMPLES[recordType] as unknown as Record<string, unknown>;

  it('v2 reads a v1 record: new fields take their defaults', () => {
    const { store, v1, v2 } = nextStore(recordType, v2file);
    const oldWriter = createSingleObjectCodec(recordType, { store, writerSchema: v1 });
    const newReader = createSingleObjectCodec(recordType, { store });
    expect(newReader.reader).toBe(v2);
    const decoded = newReader.decode(oldWriter.encode(sample as never)) as unknown as Record<string, unknown>;
    const expected: Record<string, unknown> = { ...sample, ...defaults };
    if (recordType === 'QaRecord') {
      expected.checks = { ...(sample.checks as object), judge_score: 1 };
    }
    expect(decoded).toStrictEqual(expected);
  });

  it('v1 reads a v2 record: fields it does not know are skipped', () => {
    const { store, v1, v2 } = nextStore(recordType, v2file);
    const newWriter = createSingleObjectCodec(recordType, { store, writerSchema: v2 });
    const written: Record<string, unknown> = { ...sample, ...extra };
    if (recordType === 'QaRecord') written.checks = { ...(sample.checks as object), judge_score: 0.75 };
    const buf = newWriter.encode(written as never);
    expect(buf.subarray(2, 10)).toEqual(v2.fingerprint);
    // An old consumer that knows the v2 schema (from schemas/history or a registry) decodes into v1.
    const oldReader = createSingleObjectCodec(recordType, { store, readerSchema: v1 });
    expect(oldReader.decode(buf)).toStrictEqual(sample);
    // And plain avsc resolution agrees, without the codec in between.
    const resolved = v1.type.fromBuffer(buf.subarray(10), v1.type.createResolver(v2.type)) as Record<string, unknown>;
    expect(JSON.parse(JSON.stringify(resolved))).toStrictEqual(JSON.parse(JSON.stringify(sample)));
  });

  it('an old consumer that never saw v2 fails with CODEC (and the worker dead-letters)', () => {
    const { store, v2 } = nextStore(recordType, v2file);
    const buf = createSingleObjectCodec(recordType, { store, writerSchema: v2 }).encode({ ...sample, ...extra } as never);
    const oldOnly = createSingleObjectCodec(recordType, { store: SchemaStore.load(SCHEMAS) });
    try {
      oldOnly.decode(buf);
      expect.unreachable('decoded a record of an unknown schema');
    } catch (err) {
      expect(isWebscaleError(err, 'CODEC')).toBe(true);
    }
  });
});

describe('an incompatible change', () => {
  it('cannot read old records (required field without default): CODEC error', () => {
    const store = SchemaStore.load(SCHEMAS);
    const v1 = store.current('QaRecord');
    const bad = store.add(fixture('QaRecord.incompatible.avsc'), { current: true, source: 'incompatible' });
    const buf = createSingleObjectCodec('QaRecord', { store, writerSchema: v1 }).encode(SAMPLES.QaRecord);
    const reader = createSingleObjectCodec('QaRecord', { store, readerSchema: bad });
    expect(() => reader.decode(buf)).toThrow(/incompatible schema/);
  });
});

describe('Rejection v3 (question, answer, domain, personas) against the versions in schemas/history', () => {
  const store = SchemaStore.load(SCHEMAS);
  const history = (file: string): SchemaVersion => {
    const v = store.versions('Rejection').find((x) => x.source.endsWith(join('history', file)));
    if (v === undefined) throw new Error(`${file} is not in schemas/history`);
    return v;
  };
  const { question: _q, answer: _a, domain: _d, personas: _p, ...v2Record } = SAMPLES.Rejection as unknown as Record<string, unknown>;

  it('decodes records of v2 and v1 writers, the new fields null', () => {
    const current = createSingleObjectCodec('Rejection', { store });
    for (const [file, record] of [
      ['Rejection.v2.avsc', v2Record],
      ['Rejection.v1.avsc', (({ duplicate_of: _dup, ...rest }) => rest)(v2Record)],
    ] as const) {
      const old = createSingleObjectCodec('Rejection', { store, writerSchema: history(file) });
      expect(current.decode(old.encode(record as never)), file).toStrictEqual({ ...SAMPLES.Rejection, question: null, answer: null, domain: null, personas: null });
    }
  });

  it('a v2 reader decodes a v3 record with the pair, leaving the new fields out', () => {
    const v3 = { ...SAMPLES.Rejection, stage: 'check', reason: 'check.incorrect', question: 'When?', answer: '1815', domain: 'Math', personas: ['a'] };
    const buf = createSingleObjectCodec('Rejection', { store }).encode(v3 as never);
    const v2Reader = createSingleObjectCodec('Rejection', { store, readerSchema: history('Rejection.v2.avsc') });
    expect(v2Reader.decode(buf)).toStrictEqual({ ...v2Record, stage: 'check', reason: 'check.incorrect' });
  });
});

describe('forwarding a record unchanged (Codec.reuse)', () => {
  it('gives back the bytes read only when they carry this codec\'s writer schema, so what goes out is what encode would write', async () => {
    const { store, v1 } = nextStore('Rejection', 'Rejection.v2.avsc');
    const codec = createCodec('Rejection', { store });
    const current = await codec.encode(SAMPLES.Rejection);
    // Same writer: the very buffer, equal to a fresh encode of the value decoded from it.
    expect(await codec.reuse(current)).toBe(current);
    expect(await codec.encode(await codec.decode(current))).toEqual(current);
    // An older writer's record is re-encoded with the current schema, never forwarded as it was.
    const old = createSingleObjectCodec('Rejection', { store, writerSchema: v1 }).encode(SAMPLES.Rejection);
    expect(await codec.reuse(old)).toBeNull();
    expect(await codec.reuse(Buffer.from('{"not":"avro"}'))).toBeNull();
    expect(await codec.reuse(current.subarray(0, 5))).toBeNull();
  });
});
