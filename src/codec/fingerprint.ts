/**
 * Avro's 64-bit Rabin fingerprint (CRC-64-AVRO) of a schema's Parsing Canonical Form, as the Avro
 * specification defines it for single-object encoding. avsc only offers md5/sha hashes, so the
 * few lines of the spec's algorithm are written out here; the interop test checks the result
 * against fastavro's own implementation.
 */
import type { Type } from 'avsc';

const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;

const TABLE: bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & (-(fp & 1n) & MASK));
    table.push(fp);
  }
  return table;
})();

/** CRC-64-AVRO of some bytes, as an unsigned 64-bit integer. */
export function rabin64(data: Uint8Array): bigint {
  let fp = EMPTY;
  for (const byte of data) {
    fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(byte)) & 0xffn)] ?? 0n);
  }
  return fp;
}

/**
 * A schema's Parsing Canonical Form. avsc's `schema()` without `exportAttrs` drops docs,
 * defaults, aliases and logical types and orders keys as the spec requires.
 */
export function canonicalForm(type: Type): string {
  return JSON.stringify(type.schema());
}

/** The 8-byte fingerprint in the byte order single-object encoding puts on the wire (little-endian). */
export function schemaFingerprint(type: Type): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(rabin64(Buffer.from(canonicalForm(type), 'utf8')));
  return buf;
}
