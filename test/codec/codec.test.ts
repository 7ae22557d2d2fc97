import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RECORD_TYPES,
  SchemaStore,
  createCodec,
  createSingleObjectCodec,
  decodeAny,
  defaultSchemaStore,
  rabin64,
} from '../../src/codec/index.js';
import { isWebscaleError } from '../../src/core/errors.js';
import { SAMPLES } from './samples.js';

function codecCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isWebscaleError(err) ? err.code : 'not-a-WebscaleError';
  }
  return undefined;
}

describe('CRC-64-AVRO fingerprint', () => {
  it('matches the value the Avro reference implementation gives for "null"', () => {
    // Avro's Java SchemaNormalization.parsingFingerprint64 of the schema "null".
    expect(rabin64(Buffer.from('"null"'))).toBe(7195948357588979594n);
  });
});

describe('single-object codec', () => {
  it.each(RECORD_TYPES)('round-trips a %s exactly', (type) => {
    const codec = createSingleObjectCodec(type);
    const value = SAMPLES[type];
    const buf = codec.encode(value as never);
    expect(buf.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(buf.subarray(2, 10)).toEqual(codec.writer.fingerprint);
    const back = codec.decode(buf);
    expect(back).toStrictEqual(value);
  });

  it('returns plain objects, Buffers for bytes and null for absent optionals', () => {
    const codec = createSingleObjectCodec('DeadLetter');
    const back = codec.decode(codec.encode({ ...SAMPLES.DeadLetter, key: null, value: Buffer.alloc(0) }));
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(back.key).toBeNull();
    expect(Buffer.isBuffer(back.value)).toBe(true);
    expect(back.value?.length).toBe(0);
  });

  it('names the bad field when a value does not fit the schema', () => {
    const codec = createSingleObjectCodec('Rejection');
    const bad = { ...SAMPLES.Rejection, detail: undefined } as never;
    expect(() => codec.encode(bad)).toThrow(/detail/);
    expect(codecCode(() => codec.encode(bad))).toBe('CODEC');
  });

  it('fails with CODEC on bytes that are not a record of its type', () => {
    const codec = createSingleObjectCodec('QaRecord');
    const good = codec.encode(SAMPLES.QaRecord);
    expect(codecCode(() => codec.decode(Buffer.from('{"id":1}')))).toBe('CODEC');
    expect(codecCode(() => codec.decode(good.subarray(0, good.length - 5)))).toBe('CODEC');
    expect(codecCode(() => codec.decode(Buffer.concat([good, Buffer.from([0])])))).toBe('CODEC');
    const unknownFp = Buffer.from(good);
    unknownFp[5] = (unknownFp[5] ?? 0) ^ 0xff;
    expect(() => codec.decode(unknownFp)).toThrow(/unknown writer schema fingerprint/);
    const rejection = createSingleObjectCodec('Rejection').encode(SAMPLES.Rejection);
    expect(() => codec.decode(rejection)).toThrow(/holds a Rejection/);
  });

  it('decodeAny tells the record type from the fingerprint', () => {
    const buf = createSingleObjectCodec('GenerationTask').encode(SAMPLES.GenerationTask);
    expect(decodeAny(buf)).toStrictEqual({ recordType: 'GenerationTask', value: SAMPLES.GenerationTask });
  });
});

describe('the schemas folder', () => {
  it('has a current schema for every record type, each with its own fingerprint', () => {
    const store = defaultSchemaStore();
    const fps = RECORD_TYPES.map((t) => store.current(t).fingerprintHex);
    expect(new Set(fps).size).toBe(RECORD_TYPES.length);
  });

  it('defines each shared named type identically in every file', () => {
    // Each .avsc is self-contained (any Avro tool can load one file), so nested types such as
    // Document and StageTrace are repeated; they must not drift apart.
    const seen = new Map<string, string>();
    const walk = (node: unknown, file: string): void => {
      if (Array.isArray(node)) return node.forEach((n) => walk(n, file));
      if (node === null || typeof node !== 'object') return;
      const obj = node as Record<string, unknown>;
      if (obj.type === 'record' && typeof obj.name === 'string') {
        const key = `${String(obj.namespace ?? '')}.${obj.name}`;
        const text = JSON.stringify(obj);
        const before = seen.get(key);
        if (before !== undefined) expect(text, `${key} in ${file}`).toBe(before);
        seen.set(key, text);
      }
      Object.values(obj).forEach((v) => walk(v, file));
    };
    for (const type of RECORD_TYPES) {
      const file = new URL(`../../schemas/${type}.avsc`, import.meta.url);
      walk(JSON.parse(readFileSync(file, 'utf8')), type);
    }
    expect(seen.size).toBeGreaterThanOrEqual(RECORD_TYPES.length + 5);
  });

  it('rejects a schema for a record type the pipeline does not have', () => {
    const store = new SchemaStore();
    expect(() => store.add({ type: 'record', name: 'Mystery', fields: [] })).toThrow(/not one of/);
  });
});

/**
 * A stand-in Confluent Schema Registry speaking the REST subset we use (register a version,
 * fetch by id), enough to test the framing and the caching; the real registry is not served
 * by the package registries this project can reach.
 */
describe('Confluent framing with a schema registry', () => {
  const schemas: string[] = [];
  const calls: string[] = [];
  let url = '';
  let failNext = 0;
  const server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
      if (failNext > 0) {
        failNext--;
        res.statusCode = 503;
        res.end(JSON.stringify({ error_code: 50301, message: 'unavailable' }));
        return;
      }
      const reg = /^\/subjects\/([^/]+)\/versions$/.exec(req.url ?? '');
      if (req.method === 'POST' && reg) {
        const schema = (JSON.parse(body) as { schema: string }).schema;
        let id = schemas.indexOf(schema) + 1;
        if (id === 0) id = schemas.push(schema);
        res.end(JSON.stringify({ id }));
        return;
      }
      const byId = /^\/schemas\/ids\/(\d+)$/.exec(req.url ?? '');
      const schema = byId ? schemas[Number(byId[1]) - 1] : undefined;
      if (req.method === 'GET' && schema !== undefined) {
        res.end(JSON.stringify({ schema }));
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('writes magic 0 + schema id, registers under <topic>-value once, and decodes', async () => {
    const codec = createCodec('QaRecord', { registryUrl: url, topic: 'webscale-rl.qa.verified' });
    expect(codec.format).toBe('confluent');
    const a = await codec.encode(SAMPLES.QaRecord);
    const b = await codec.encode({ ...SAMPLES.QaRecord, id: 'other' });
    expect(a[0]).toBe(0);
    expect(a.readUInt32BE(1)).toBe(1);
    expect(calls.filter((c) => c.startsWith('POST'))).toEqual(['POST /subjects/webscale-rl.qa.verified-value/versions']);
    // A fresh consumer that never registered anything fetches the writer schema by id.
    const reader = createCodec('QaRecord', { registryUrl: url, topic: 'webscale-rl.qa.verified' });
    expect(await reader.decode(a)).toStrictEqual(SAMPLES.QaRecord);
    expect((await reader.decode(b)).id).toBe('other');
    expect(calls.filter((c) => c === 'GET /schemas/ids/1')).toHaveLength(1);
    // Schema ids belong to a subject: a Confluent writer never forwards bytes as they were read.
    expect(await codec.reuse(a)).toBeNull();
    // The same consumer still reads single-object records (a migration in progress).
    expect(await reader.decode(createSingleObjectCodec('QaRecord').encode(SAMPLES.QaRecord))).toStrictEqual(SAMPLES.QaRecord);
  });

  it('reports a registry outage as a retryable SCHEMA_REGISTRY error, then recovers', async () => {
    const codec = createCodec('Rejection', { registryUrl: url, topic: 't-outage' });
    failNext = 1;
    const err = await codec.encode(SAMPLES.Rejection).catch((e: unknown) => e);
    expect(isWebscaleError(err, 'SCHEMA_REGISTRY') && err.retryable).toBe(true);
    const buf = await codec.encode(SAMPLES.Rejection);
    expect(await codec.decode(buf)).toStrictEqual(SAMPLES.Rejection);
  });

  it('fails with a retryable SCHEMA_UNKNOWN on an unknown schema id (a worker waits, then dead-letters) and CODEC on Confluent bytes without a registry', async () => {
    const codec = createCodec('Rejection', { registryUrl: url, topic: 't' });
    const bogus = Buffer.from([0, 0, 0, 0x30, 0x39, 1, 2, 3]);
    const err = await codec.decode(bogus).catch((e: unknown) => e);
    expect(isWebscaleError(err, 'SCHEMA_UNKNOWN') && err.retryable).toBe(true);
    const plain = createCodec('Rejection');
    const err2 = await plain.decode(bogus).catch((e: unknown) => e);
    expect(isWebscaleError(err2, 'CODEC')).toBe(true);
  });
});
