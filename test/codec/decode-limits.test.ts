/**
 * Decode limits: bodies that declare more than they hold are refused before avsc decodes them
 * (avsc allocates from the counts it reads, so a 24-byte record can hold it for minutes), and
 * every well-formed record still decodes as before.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  RECORD_TYPES,
  checkDecodeLimits,
  createCodec,
  createSingleObjectCodec,
  defaultSchemaStore,
  parseSchema,
  DEFAULT_DECODE_LIMITS,
} from '../../src/codec/index.js';
import { WebscaleError, isWebscaleError } from '../../src/core/errors.js';
import { SAMPLES } from './samples.js';

/** Avro zigzag varint of a long. */
function zz(n: number | bigint): number[] {
  const v0 = BigInt(n);
  let v = v0 >= 0n ? v0 * 2n : -v0 * 2n - 1n;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function str(s: string): number[] {
  const b = Buffer.from(s);
  return [...zz(b.length), ...b];
}

/** Runs fn, returns the WebscaleError it throws and how long it took. */
function failure(fn: () => unknown): { err: WebscaleError; ms: number } {
  const t0 = performance.now();
  try {
    fn();
  } catch (err) {
    const ms = performance.now() - t0;
    if (!(err instanceof WebscaleError)) throw err;
    return { err, ms };
  }
  throw new Error('expected a failure, got none');
}

function expectLimits(fn: () => unknown, what: RegExp): WebscaleError {
  const { err, ms } = failure(fn);
  expect(err.code).toBe('DECODE_LIMITS');
  expect(err.retryable).toBe(false);
  expect(err.message.startsWith('decode.limits:')).toBe(true);
  expect(err.message).toMatch(what);
  expect(ms).toBeLessThan(100);
  return err;
}

const filtered = createSingleObjectCodec('FilteredDocument');

/**
 * A FilteredDocument whose trace array declares 10^8 items: doc {id "b0m", text "", url null,
 * source null, ingested_at 0, crawl_date null, language null}, filter_reasoning "", truncated_chars 0,
 * then the count. 26 bytes
 * with the single-object header; avsc 5.7 alone runs out of a 4 GB heap on it after ~90 s.
 */
const ARRAY_BOMB = Buffer.concat([
  Buffer.from([0xc3, 0x01]),
  filtered.writer.fingerprint,
  Buffer.from([...str('b0m'), 0, 0, 0, 0, 0, 0, 0, 0, ...zz(100_000_000)]),
]);

describe('the 26-byte array bomb', () => {
  it('is 26 bytes with a valid single-object header', () => {
    expect(ARRAY_BOMB.length).toBe(26);
    expect(ARRAY_BOMB.subarray(2, 10)).toEqual(filtered.writer.fingerprint);
  });

  it('is refused by the sync codec with DECODE_LIMITS in milliseconds, naming the array count', () => {
    const err = expectLimits(() => filtered.decode(ARRAY_BOMB), /array block count exceeded: .*declares 100000000 items.*\(in trace\[\]\)/);
    expect(err.context).toMatchObject({ recordType: 'FilteredDocument', limit: 'array block count', fingerprint: filtered.writer.fingerprintHex });
  });

  it('is refused by the async codec (single-object framing)', async () => {
    const t0 = performance.now();
    const err = await createCodec('FilteredDocument').decode(ARRAY_BOMB).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(isWebscaleError(err, 'DECODE_LIMITS')).toBe(true);
  });

  it('is refused when the writer schema arrives by registry id (Confluent framing)', async () => {
    const canonical = filtered.writer.canonical;
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
      if (req.url === '/schemas/ids/7') res.end(JSON.stringify({ schema: canonical }));
      else {
        res.statusCode = 404;
        res.end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const codec = createCodec('FilteredDocument', { registryUrl: url, topic: 't' });
      const header = Buffer.from([0, 0, 0, 0, 7]);
      const framed = Buffer.concat([header, ARRAY_BOMB.subarray(10)]);
      await codec.decode(Buffer.concat([header, (filtered.encode(SAMPLES.FilteredDocument)).subarray(10)])); // warms the id cache
      const t0 = performance.now();
      const err = await codec.decode(framed).catch((e: unknown) => e);
      expect(performance.now() - t0).toBeLessThan(100);
      expect(isWebscaleError(err, 'DECODE_LIMITS')).toBe(true);
      expect((err as WebscaleError).context).toMatchObject({ schemaId: 7 });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('lengths and counts beyond the bytes left', () => {
  const doc = createSingleObjectCodec('Document');
  const header = Buffer.concat([Buffer.from([0xc3, 0x01]), doc.writer.fingerprint]);

  it('refuses a string that claims 2^40 bytes', () => {
    const buf = Buffer.concat([header, Buffer.from([...zz(2 ** 40), 0x41])]);
    expectLimits(() => doc.decode(buf), /string length exceeded: string of 1099511627776 bytes, 1 left \(in id\)/);
  });

  it('refuses bytes that claim 2^40 bytes, and a fixed larger than the body', () => {
    expectLimits(() => checkDecodeLimits(parseSchema('bytes'), Buffer.from([...zz(2 ** 40)])), /bytes length exceeded: bytes of 1099511627776 bytes, 0 left/);
    const t = parseSchema({ type: 'record', name: 'B', fields: [{ name: 'f', type: ['null', { type: 'fixed', name: 'F', size: 16 }] }] });
    expectLimits(() => checkDecodeLimits(t, Buffer.from([...zz(1), 1, 2, 3])), /record size exceeded: a fixed needs at least 16 bytes, 3 left \(in f\)/);
    // A record as a whole is checked too: 17 bytes of fields cannot come out of 4.
    const r = parseSchema({ type: 'record', name: 'C', fields: [{ name: 's', type: 'string' }, { name: 'f', type: { type: 'fixed', name: 'F', size: 16 } }] });
    expectLimits(() => checkDecodeLimits(r, Buffer.from([0, 1, 2, 3])), /record size exceeded: a record needs at least 17 bytes, 4 left/);
  });

  it('refuses a map bomb: 10^8 entries in 5 bytes', () => {
    const t = parseSchema({ type: 'map', values: 'string' });
    expectLimits(() => checkDecodeLimits(t, Buffer.from(zz(100_000_000))), /map block count exceeded: .*declares 100000000 items of at least 2 bytes/);
  });

  it('refuses a map bomb inside a real record (QaRecord provenance.prompt_versions)', () => {
    const qa = createSingleObjectCodec('QaRecord');
    const good = qa.encode(SAMPLES.QaRecord);
    // Rebuild a body up to the map by encoding a record whose map is empty, then splice a bomb count in.
    const empty = qa.encode({ ...SAMPLES.QaRecord, provenance: { ...SAMPLES.QaRecord.provenance, prompt_versions: {} } });
    const prefixLen = [...empty].findIndex((b, i) => b !== good[i]);
    const bomb = Buffer.concat([empty.subarray(0, prefixLen), Buffer.from(zz(100_000_000))]);
    expectLimits(() => qa.decode(bomb), /map block count exceeded.*\(in provenance\.prompt_versions\{\}\)/);
  });

  it('refuses a negative block count whose byte size is larger than the body', () => {
    const t = parseSchema({ type: 'array', items: 'long' });
    expectLimits(() => checkDecodeLimits(t, Buffer.from([...zz(-3), ...zz(1_000_000), 2, 4, 6, 0])), /array block size exceeded/);
    // ...and a negative count whose items cannot fit its declared size.
    expectLimits(() => checkDecodeLimits(t, Buffer.from([...zz(-1_000_000), ...zz(3), 2, 4, 6, 0])), /array block count exceeded: .*1000000 items of at least 1 bytes each, 3 bytes left/);
  });

  it('refuses the most negative block count (2^63 items)', () => {
    const t = parseSchema({ type: 'array', items: 'int' });
    expectLimits(() => checkDecodeLimits(t, Buffer.from([...zz(-(2n ** 63n)), ...zz(1), 0])), /array block count exceeded/);
  });
});

describe('values that take no bytes', () => {
  const nulls = parseSchema({ type: 'array', items: 'null' });
  const empties = parseSchema({ type: 'array', items: { type: 'record', name: 'Empty', fields: [] } });

  it('refuses 10^8 nulls declared in 5 bytes', () => {
    expectLimits(() => checkDecodeLimits(nulls, Buffer.from([...zz(100_000_000), 0])), /zero-byte values exceeded: more than 100000 values/);
  });

  it('refuses 10^8 empty records', () => {
    expectLimits(() => checkDecodeLimits(empties, Buffer.from([...zz(100_000_000), 0])), /zero-byte values exceeded/);
  });

  it('counts them across the whole record, not per block', () => {
    // 60,000 nulls per inner array, each under the cap, twice: the second one passes the cap.
    const nested = parseSchema({ type: 'array', items: { type: 'array', items: 'null' } });
    const inner = [...zz(60_000), 0];
    expectLimits(() => checkDecodeLimits(nested, Buffer.from([...zz(2), ...inner, ...inner, 0])), /zero-byte values exceeded/);
    expect(checkDecodeLimits(nested, Buffer.from([...zz(1), ...inner, 0]))).toBe(inner.length + 2);
  });

  it('weighs a record of nulls by the values avsc builds for it', () => {
    const t = parseSchema({ type: 'array', items: { type: 'record', name: 'N', fields: [{ name: 'a', type: 'null' }, { name: 'b', type: 'null' }] } });
    // 40,000 items x (record + 2 nulls) = 120,000 values.
    expectLimits(() => checkDecodeLimits(t, Buffer.from([...zz(40_000), 0])), /zero-byte values exceeded/);
    expect(() => checkDecodeLimits(t, Buffer.from([...zz(30_000), 0]))).not.toThrow();
  });

  it('does not count nulls the bytes pay for: 200,000 nullable items, each with its union index', () => {
    const t = parseSchema({ type: 'array', items: ['null', 'int'] });
    const value = Array<null>(200_000).fill(null);
    const body = t.toBuffer(value);
    expect(checkDecodeLimits(t, body)).toBe(body.length);
    expect(t.fromBuffer(body)).toStrictEqual(value);
  });

  it('decodes a modest number of them, and the cap is configurable', () => {
    const body = Buffer.from([...zz(1000), 0]);
    expect(checkDecodeLimits(nulls, body)).toBe(body.length);
    expect(nulls.fromBuffer(body)).toHaveLength(1000);
    expectLimits(() => checkDecodeLimits(nulls, body, { ...DEFAULT_DECODE_LIMITS, maxZeroByteValues: 999 }), /more than 999 values/);
  });
});

describe('nesting', () => {
  const list = parseSchema({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] });
  /** A linked list `n` nodes long: union index 1 per nested node, then 0 (null). */
  const chain = (n: number): Buffer => Buffer.from([...Array<number>(n - 1).fill(2), 0]);

  it('refuses a recursive record nested deeper than maxDepth, naming the limit', () => {
    // Each node is a record level plus a union level: 1,000 nodes is 2,000 levels.
    expectLimits(() => checkDecodeLimits(list, chain(1000)), /nesting depth exceeded: nesting deeper than 64 levels \(in next\.next\.next/);
  });

  it('accepts what fits, and the depth is configurable', () => {
    expect(checkDecodeLimits(list, chain(20))).toBe(20);
    expect(list.fromBuffer(chain(20))).toBeTruthy();
    expect(checkDecodeLimits(list, chain(100), { ...DEFAULT_DECODE_LIMITS, maxDepth: 250 })).toBe(100);
    expectLimits(() => checkDecodeLimits(list, chain(20), { ...DEFAULT_DECODE_LIMITS, maxDepth: 10 }), /deeper than 10 levels/);
  });

  it('counts levels as records, arrays, maps and unions: QaRecord nests 4 deep', () => {
    const qa = createSingleObjectCodec('QaRecord');
    const body = qa.encode(SAMPLES.QaRecord).subarray(10);
    expect(checkDecodeLimits(qa.writer.type, body, { ...DEFAULT_DECODE_LIMITS, maxDepth: 4 })).toBe(body.length);
    expectLimits(() => checkDecodeLimits(qa.writer.type, body, { ...DEFAULT_DECODE_LIMITS, maxDepth: 3 }), /deeper than 3 levels \(in usage\.by_stage\{\}\)/);
  });

  it('refuses any body of a record that always contains itself', () => {
    const endless = parseSchema({ type: 'record', name: 'Loop', fields: [{ name: 'x', type: 'int' }, { name: 'self', type: 'Loop' }] });
    expectLimits(() => checkDecodeLimits(endless, Buffer.from([2, 2, 2, 2])), /cannot be encoded in finitely many bytes/);
  });
});

describe('varints', () => {
  const long = parseSchema('long');
  const int = parseSchema('int');

  it('refuses a long varint longer than 10 bytes (a run of continuation bytes)', () => {
    expectLimits(() => checkDecodeLimits(long, Buffer.from([...Array<number>(200).fill(0x80), 0])), /long varint at byte 0 is longer than 10 bytes/);
  });

  it('refuses an int varint longer than 5 bytes, and ones past 32 or 64 bits', () => {
    expectLimits(() => checkDecodeLimits(int, Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x00])), /int varint .* longer than 5 bytes/);
    expectLimits(() => checkDecodeLimits(int, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f])), /int varint .* exceeds 32 bits/);
    expectLimits(() => checkDecodeLimits(long, Buffer.from([...Array<number>(9).fill(0xff), 0x02])), /long varint .* exceeds 64 bits/);
  });

  it('refuses an overlong array count and string length', () => {
    expectLimits(() => checkDecodeLimits(parseSchema({ type: 'array', items: 'int' }), Buffer.from(Array<number>(30).fill(0xff))), /array block count varint .* longer than 10 bytes/);
    expectLimits(() => checkDecodeLimits(parseSchema('string'), Buffer.from(Array<number>(30).fill(0x80))), /string length varint .* longer than 10 bytes/);
  });

  it('accepts the extremes of int and long', () => {
    for (const v of [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]) expect(checkDecodeLimits(int, int.toBuffer(v))).toBe(int.toBuffer(v).length);
    // Up to the largest and smallest 64-bit longs, encoded by hand (avsc's numbers stop near 2^53).
    for (const v of [2n ** 53n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) {
      const body = Buffer.from(zz(v));
      expect(checkDecodeLimits(long, body)).toBe(body.length);
    }
    expect(zz(2n ** 63n - 1n)).toHaveLength(10);
  });
});

describe('malformed bodies avsc would misread', () => {
  it('are CODEC errors: union and enum index out of range, negative length, block size that lies, cut-off varint', () => {
    const u = parseSchema(['null', 'string']);
    const e = parseSchema({ type: 'enum', name: 'E', symbols: ['A', 'B'] });
    const arr = parseSchema({ type: 'array', items: 'long' });
    const cases: [() => unknown, RegExp][] = [
      [() => checkDecodeLimits(u, Buffer.from([...zz(5), 0])), /union index 5 out of range/],
      [() => checkDecodeLimits(u, Buffer.from([...zz(-1), 0])), /union index -1 out of range/],
      [() => checkDecodeLimits(e, Buffer.from(zz(2))), /enum index 2 out of range/],
      [() => checkDecodeLimits(parseSchema('string'), Buffer.from(zz(-4))), /negative string length/],
      [() => checkDecodeLimits(arr, Buffer.from([...zz(-2), ...zz(3), 2, 4, 6, 0])), /declares 3 bytes but its items take 2/],
      [() => checkDecodeLimits(arr, Buffer.from([...zz(-1), ...zz(-3), 2, 0])), /negative array block size/],
      [() => checkDecodeLimits(parseSchema('long'), Buffer.from([0x80, 0x80])), /cut off/],
    ];
    for (const [fn, what] of cases) {
      const { err, ms } = failure(fn);
      expect(err.code, what.source).toBe('CODEC');
      expect(err.message).toMatch(what);
      expect(ms).toBeLessThan(100);
    }
  });

  it('accepts blocks written with negative counts and correct byte sizes, as Java and fastavro may write them', () => {
    const t = parseSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: { type: 'array', items: 'long' } }, { name: 'm', type: { type: 'map', values: 'int' } }] });
    // a: [1, 2] in one sized block, then [3] in a plain block; m: {x: 5} in a sized block.
    const body = Buffer.from([...zz(-2), ...zz(2), ...zz(1), ...zz(2), ...zz(1), ...zz(3), 0, ...zz(-1), ...zz(3), ...str('x'), ...zz(5), 0]);
    expect(checkDecodeLimits(t, body)).toBe(body.length);
    expect({ ...(t.fromBuffer(body) as object) }).toStrictEqual({ a: [1, 2, 3], m: { x: 5 } });
  });
});

describe('no false positives', () => {
  it.each(RECORD_TYPES)('every sample %s passes the walk, which reads exactly its body, and decodes identically', (type) => {
    const codec = createSingleObjectCodec(type);
    const buf = codec.encode(SAMPLES[type] as never);
    expect(checkDecodeLimits(codec.writer.type, buf.subarray(10))).toBe(buf.length - 10);
    expect(codec.decode(buf)).toStrictEqual(SAMPLES[type]);
  });

  it('random values of every current schema pass', () => {
    const store = defaultSchemaStore();
    for (const type of RECORD_TYPES) {
      const t = store.current(type).type;
      for (let i = 0; i < 100; i++) {
        const body = t.toBuffer(t.random());
        expect(checkDecodeLimits(t, body)).toBe(body.length);
      }
    }
  });

  it('reads every Avro type, logical types included', () => {
    const t = parseSchema({
      type: 'record',
      name: 'All',
      fields: [
        { name: 'n', type: 'null' },
        { name: 'b', type: 'boolean' },
        { name: 'i', type: 'int' },
        { name: 'l', type: 'long' },
        { name: 'f', type: 'float' },
        { name: 'd', type: 'double' },
        { name: 'by', type: 'bytes' },
        { name: 's', type: 'string' },
        { name: 'fx', type: { type: 'fixed', name: 'F4', size: 4 } },
        { name: 'fx0', type: { type: 'fixed', name: 'F0', size: 0 } },
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B', 'C'] } },
        { name: 'a', type: { type: 'array', items: ['null', 'F4', 'E'] } },
        { name: 'm', type: { type: 'map', values: { type: 'array', items: 'double' } } },
        { name: 'date', type: { type: 'int', logicalType: 'date' } },
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } },
        { name: 'dec', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
        { name: 'uuid', type: { type: 'string', logicalType: 'uuid' } },
        { name: 'dur', type: { type: 'fixed', name: 'Dur', size: 12, logicalType: 'duration' } },
        { name: 'empty', type: { type: 'record', name: 'Empty', fields: [] } },
      ],
    });
    for (let i = 0; i < 300; i++) {
      const body = t.toBuffer(t.random());
      expect(checkDecodeLimits(t, body)).toBe(body.length);
    }
  });
});

describe('damaged bodies', () => {
  it('either decode or fail with a WebscaleError, fast, whatever bytes are flipped or cut', () => {
    let refused = 0;
    const t0 = performance.now();
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const type of RECORD_TYPES) {
      const codec = createSingleObjectCodec(type);
      const good = codec.encode(SAMPLES[type] as never);
      for (let i = 0; i < 300; i++) {
        const bad = Buffer.from(good);
        for (let k = 0; k <= rand(3); k++) bad[10 + rand(bad.length - 10)] = rand(256);
        const cut = rand(4) === 0 ? bad.subarray(0, 10 + rand(bad.length - 10)) : bad;
        try {
          codec.decode(cut);
        } catch (err) {
          expect(isWebscaleError(err, 'CODEC') || isWebscaleError(err, 'DECODE_LIMITS'), String(err)).toBe(true);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(100);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
