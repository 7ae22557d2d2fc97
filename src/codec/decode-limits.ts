/**
 * Refuses hostile Avro bodies before avsc decodes them.
 *
 * avsc trusts the counts it reads: an array block that declares 10^8 items makes it allocate an
 * array of that length and read 10^8 items past the end of a 24-byte buffer, which takes minutes
 * and gigabytes while the Kafka consume loop (and its heartbeats) stands still. So every body is
 * first walked against its writer schema, without allocating anything, and refused when it
 * declares more than it can hold:
 * - a string, bytes or fixed longer than the bytes left;
 * - an array or map block whose item count, times the fewest bytes one item can take, is more than
 *   the bytes left (for a block written with a negative count, more than its declared byte size);
 * - array items that take no bytes at all (null, a fixed of size 0, a record of only such fields)
 *   have no size to check a count against, so every value avsc would build for them, across the
 *   whole record, counts towards `maxZeroByteValues`;
 * - nesting of records, arrays, maps and unions deeper than `maxDepth`;
 * - an int varint longer than 5 bytes, a long varint longer than 10, or one past 32/64 bits.
 * Each of those is a `DECODE_LIMITS` error whose message starts with `decode.limits:` and names
 * the limit. The walk also refuses what avsc would misread rather than reject (an out-of-range
 * union or enum index, a negative length, a block whose byte size does not match its items, a
 * varint cut off by the end of the body) as `CODEC` errors.
 *
 * Work is bounded: every array or map item the walk (and then avsc) visits consumes at least one
 * byte of the body, or is one of the at most `maxZeroByteValues` zero-byte values, which the walk
 * counts by arithmetic without visiting them; within an item the work is bounded by the schema.
 * (A null in a record field or union branch is paid for by the bytes around it, so it does not
 * count.) Schemas are trusted (ours, or the registry's); only the bytes are not. Written by hand because avsc has no such mode (its `Type.isValid` checks values,
 * not bytes) and no other Avro library for Node pre-validates a body.
 */
import type { Type } from 'avsc';
import { WebscaleError } from '../core/errors.js';

export interface DecodeLimits {
  /** Deepest nesting of records, arrays, maps and unions in one record (the top record is 1). */
  maxDepth: number;
  /**
   * Values avsc builds for array items that encode in 0 bytes (null, fixed of size 0, records of
   * only those; a record item counts 1 plus its fields), per record.
   */
  maxZeroByteValues: number;
}

/**
 * Our schemas nest at most 4 levels (QaRecord > usage > by_stage map > TokenUsage); 64 leaves
 * room for any sane schema while keeping avsc's recursion far from the stack limit. 100,000
 * zero-byte values take avsc about a millisecond and under 1 MB; none of our schemas has an
 * array whose items can take 0 bytes, so that cap only ever meets hostile or very unusual data.
 */
export const DEFAULT_DECODE_LIMITS: Readonly<DecodeLimits> = Object.freeze({ maxDepth: 64, maxZeroByteValues: 100_000 });

/** A writer schema compiled for the walk: what each value looks like on the wire. */
type Shape =
  | { kind: 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'string' | 'bytes'; min: number; zeroWeight: number }
  | { kind: 'fixed'; size: number; min: number; zeroWeight: number }
  | { kind: 'enum'; symbols: number; min: number; zeroWeight: number }
  | { kind: 'array'; items: Shape; min: number; zeroWeight: number }
  | { kind: 'map'; values: Shape; min: number; zeroWeight: number }
  | { kind: 'union'; branches: Shape[]; min: number; zeroWeight: number }
  | { kind: 'record'; name: string; fields: { name: string; shape: Shape }[]; min: number; zeroWeight: number };

const FIXED_SIZES: Partial<Record<Shape['kind'], number>> = { boolean: 1, int: 1, long: 1, float: 4, double: 8, string: 1, bytes: 1, enum: 1, array: 1, map: 1 };

/** The parts of avsc's type classes the compiler reads (public getters, see avsc's types.d.ts). */
interface AvscType {
  readonly typeName: string;
  readonly name?: string | undefined;
  readonly fields?: readonly { name: string; type: Type }[];
  readonly itemsType?: Type;
  readonly valuesType?: Type;
  readonly types?: readonly Type[];
  readonly symbols?: readonly string[];
  readonly size?: number;
  readonly underlyingType?: Type;
}

function compile(root: Type): Shape {
  const memo = new Map<Type, Shape>();
  const all: Shape[] = [];
  const visit = (type: Type): Shape => {
    const seen = memo.get(type);
    if (seen) return seen;
    const t = type as unknown as AvscType;
    const name = t.typeName;
    if (name.startsWith('logical:') && t.underlyingType) {
      // A logical type reads exactly like its underlying type.
      const shape = visit(t.underlyingType);
      memo.set(type, shape);
      return shape;
    }
    let shape: Shape;
    switch (name) {
      case 'null':
      case 'boolean':
      case 'int':
      case 'long':
      case 'float':
      case 'double':
      case 'string':
      case 'bytes':
        shape = { kind: name, min: Infinity, zeroWeight: 1 };
        break;
      case 'abstract:long':
        shape = { kind: 'long', min: Infinity, zeroWeight: 1 };
        break;
      case 'fixed':
        shape = { kind: 'fixed', size: t.size ?? 0, min: Infinity, zeroWeight: 1 };
        break;
      case 'enum':
        shape = { kind: 'enum', symbols: t.symbols?.length ?? 0, min: Infinity, zeroWeight: 1 };
        break;
      case 'array': {
        const s = { kind: 'array' as const, items: undefined as unknown as Shape, min: Infinity, zeroWeight: 1 };
        memo.set(type, s);
        s.items = visit(required(t.itemsType, name));
        shape = s;
        break;
      }
      case 'map': {
        const s = { kind: 'map' as const, values: undefined as unknown as Shape, min: Infinity, zeroWeight: 1 };
        memo.set(type, s);
        s.values = visit(required(t.valuesType, name));
        shape = s;
        break;
      }
      case 'union:unwrapped':
      case 'union:wrapped': {
        const s = { kind: 'union' as const, branches: [] as Shape[], min: Infinity, zeroWeight: 1 };
        memo.set(type, s);
        for (const b of required(t.types, name)) s.branches.push(visit(b));
        shape = s;
        break;
      }
      case 'record':
      case 'error': {
        const s = { kind: 'record' as const, name: t.name ?? '(anonymous)', fields: [] as { name: string; shape: Shape }[], min: Infinity, zeroWeight: 1 };
        memo.set(type, s);
        for (const f of required(t.fields, name)) s.fields.push({ name: f.name, shape: visit(f.type) });
        shape = s;
        break;
      }
      default:
        throw new WebscaleError('CODEC', `decode limits: unsupported Avro type ${name}`, { context: { typeName: name } });
    }
    memo.set(type, shape);
    all.push(shape);
    return shape;
  };
  const top = visit(root);
  computeMinimumSizes(all);
  return top;
}

function required<T>(v: T | undefined, typeName: string): T {
  if (v === undefined) throw new WebscaleError('INTERNAL', `decode limits: avsc ${typeName} type without its parts`);
  return v;
}

/**
 * The fewest bytes a value of each shape can take. Recursive schemas make this a fixpoint: start
 * every shape at Infinity and lower the estimates until nothing changes (at most one round per
 * shape, as each round settles at least one more). A shape left at Infinity cannot be encoded in
 * finitely many bytes (a record that always contains itself), so any body reaching it is refused.
 */
function computeMinimumSizes(all: Shape[]): void {
  for (let round = 0; round <= all.length; round++) {
    let changed = false;
    for (const s of all) {
      const m = minimumOf(s);
      if (m < s.min) {
        s.min = m;
        changed = true;
      }
    }
    if (!changed) break;
  }
  // A shape that can take 0 bytes always takes 0 bytes (null, fixed(0), records of those), and
  // avsc still builds one value per node of it; zeroWeight counts those nodes.
  for (const s of all) if (s.min === 0) s.zeroWeight = zeroWeightOf(s);
}

function minimumOf(s: Shape): number {
  switch (s.kind) {
    case 'null':
      return 0;
    case 'fixed':
      return s.size;
    case 'union':
      return 1 + Math.min(...s.branches.map((b) => b.min));
    case 'record':
      return s.fields.reduce((sum, f) => sum + f.shape.min, 0);
    default:
      return FIXED_SIZES[s.kind] ?? 1;
  }
}

function zeroWeightOf(s: Shape): number {
  return s.kind === 'record' ? 1 + s.fields.reduce((sum, f) => sum + zeroWeightOf(f.shape), 0) : 1;
}

const shapes = new WeakMap<Type, Shape>();

function shapeOf(type: Type): Shape {
  let s = shapes.get(type);
  if (!s) {
    s = compile(type);
    shapes.set(type, s);
  }
  return s;
}

/**
 * Walks an Avro binary body written with `writerType` and throws unless avsc can decode it with
 * bounded work: `DECODE_LIMITS` for a body that declares more than it holds or more than `limits`
 * allow, `CODEC` for one avsc would misread. Returns the number of bytes the value took (avsc
 * itself reports trailing bytes). `context` is added to the error (record type, fingerprint...).
 */
export function checkDecodeLimits(
  writerType: Type,
  body: Buffer,
  limits: Readonly<DecodeLimits> = DEFAULT_DECODE_LIMITS,
  context: Record<string, unknown> = {},
): number {
  const walk = new Walk(body, limits, context);
  walk.value(shapeOf(writerType), 0);
  return walk.pos;
}

class Walk {
  pos = 0;
  private end: number;
  private zeroValues = 0;
  /** Field names and `[]`/`{}` from the top record down to the value being read, for messages. */
  private readonly path: string[] = [];

  constructor(
    private readonly buf: Buffer,
    private readonly limits: Readonly<DecodeLimits>,
    private readonly context: Record<string, unknown>,
  ) {
    this.end = buf.length;
  }

  value(s: Shape, depth: number): void {
    // Nothing to read; the bytes around it (a union index, its record's other fields) pay for it.
    if (s.min === 0) return;
    if (s.min > this.end - this.pos) {
      const need = s.min === Infinity ? 'cannot be encoded in finitely many bytes' : `needs at least ${s.min} bytes`;
      throw this.exceeded('record size', `a ${s.kind} ${need}, ${this.end - this.pos} left`);
    }
    switch (s.kind) {
      case 'boolean':
        this.pos += 1;
        return;
      case 'int':
        this.varint(5, 'int');
        return;
      case 'long':
        this.varint(10, 'long');
        return;
      case 'float':
      case 'double':
      case 'fixed':
        this.pos += s.min;
        return;
      case 'string':
      case 'bytes': {
        const len = this.varint(10, `${s.kind} length`);
        if (len < 0) throw this.malformed(`negative ${s.kind} length ${len}`);
        if (len > this.end - this.pos) throw this.exceeded(`${s.kind} length`, `${s.kind} of ${len} bytes, ${this.end - this.pos} left`);
        this.pos += len;
        return;
      }
      case 'enum': {
        const i = this.varint(5, 'enum index');
        if (i < 0 || i >= s.symbols) throw this.malformed(`enum index ${i} out of range (${s.symbols} symbols)`);
        return;
      }
      case 'union': {
        this.enter(depth);
        const i = this.varint(10, 'union index');
        const branch = s.branches[i];
        if (branch === undefined) throw this.malformed(`union index ${i} out of range (${s.branches.length} branches)`);
        this.value(branch, depth + 1);
        return;
      }
      case 'record':
        this.enter(depth);
        for (const f of s.fields) {
          this.path.push(f.name);
          this.value(f.shape, depth + 1);
          this.path.pop();
        }
        return;
      case 'array':
        this.enter(depth);
        this.path.push('[]');
        this.blocks(s.kind, s.items, s.items.min, depth);
        this.path.pop();
        return;
      case 'map':
        this.enter(depth);
        this.path.push('{}');
        this.blocks(s.kind, s.values, 1 + s.values.min, depth);
        this.path.pop();
        return;
      case 'null':
        return; // unreachable: min is 0
    }
  }

  /**
   * Array and map items come in blocks: a count, then that many items, until a count of 0. A
   * negative count means |count| items preceded by the block's size in bytes (so readers can
   * skip it); avsc trusts both, so both are checked here before a single item is read.
   */
  private blocks(kind: 'array' | 'map', item: Shape, itemMin: number, depth: number): void {
    for (;;) {
      const blockAt = this.pos;
      let count = this.varint(10, `${kind} block count`);
      if (count === 0) return;
      const outerEnd = this.end;
      let blockEnd: number | undefined;
      let blockStart = 0;
      if (count < 0) {
        count = -count;
        const size = this.varint(10, `${kind} block size`);
        if (size < 0) throw this.malformed(`negative ${kind} block size ${size}`);
        if (size > this.end - this.pos) throw this.exceeded(`${kind} block size`, `${kind} block of ${size} bytes, ${this.end - this.pos} left`);
        blockStart = this.pos;
        blockEnd = this.pos + size;
        this.end = blockEnd;
      }
      if (itemMin === 0) {
        // Items of 0 bytes: nothing to read, but avsc builds every one of them.
        this.countZeroByteValues(count, item.zeroWeight);
      } else {
        if (count * itemMin > this.end - this.pos) {
          throw this.exceeded(
            `${kind} block count`,
            `${kind} block at byte ${blockAt} declares ${count} items of at least ${itemMin} bytes each, ${this.end - this.pos} bytes left`,
          );
        }
        for (let i = 0; i < count; i++) {
          if (kind === 'map') this.value(STRING, depth + 1);
          this.value(item, depth + 1);
        }
      }
      if (blockEnd !== undefined) {
        if (this.pos !== blockEnd) {
          throw this.malformed(`${kind} block at byte ${blockAt} declares ${blockEnd - blockStart} bytes but its items take ${this.pos - blockStart}`);
        }
        this.end = outerEnd;
      }
    }
  }

  private enter(depth: number): void {
    if (depth + 1 > this.limits.maxDepth) {
      throw this.exceeded('nesting depth', `nesting deeper than ${this.limits.maxDepth} levels`);
    }
  }

  private countZeroByteValues(count: number, weight: number): void {
    this.zeroValues += count * weight;
    if (this.zeroValues > this.limits.maxZeroByteValues) {
      throw this.exceeded('zero-byte values', `more than ${this.limits.maxZeroByteValues} values that take 0 bytes (null, empty records)`);
    }
  }

  /**
   * A zigzag varint of at most `maxBytes` bytes (5 for int, 10 for long), as a number: exact up
   * to 2^53, which is all a length or count can usefully be; larger ones fail a limit anyway.
   */
  private varint(maxBytes: 5 | 10, what: string): number {
    const start = this.pos;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.buf[this.pos];
      if (b === undefined || this.pos >= this.end) throw this.malformed(`${what} varint at byte ${start} cut off by the end of the data`);
      this.pos++;
      n += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) {
        // The last byte of a full-length varint holds only the top 4 (int) or 1 (long) bits.
        if (i === maxBytes - 1 && b > (maxBytes === 5 ? 0x0f : 0x01)) {
          throw this.exceeded('varint', `${what} varint at byte ${start} exceeds ${maxBytes === 5 ? 32 : 64} bits`);
        }
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      }
    }
    throw this.exceeded('varint', `${what} varint at byte ${start} is longer than ${maxBytes} bytes`);
  }

  private where(): string {
    return this.path.length === 0 ? '' : ` (in ${this.path.join('.').replaceAll('.[]', '[]').replaceAll('.{}', '{}')})`;
  }

  private exceeded(limit: string, detail: string): WebscaleError {
    return new WebscaleError('DECODE_LIMITS', `decode.limits: ${limit} exceeded: ${detail}${this.where()}`, {
      context: { ...this.context, limit, offset: this.pos, bytes: this.buf.length },
    });
  }

  private malformed(detail: string): WebscaleError {
    const type = typeof this.context['recordType'] === 'string' ? ` ${this.context['recordType']}` : '';
    return new WebscaleError('CODEC', `cannot decode${type}: malformed Avro body: ${detail}${this.where()}`, {
      context: { ...this.context, offset: this.pos, bytes: this.buf.length },
    });
  }
}

const STRING: Shape = { kind: 'string', min: 1, zeroWeight: 1 };
