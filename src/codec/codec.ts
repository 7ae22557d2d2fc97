/**
 * Encodes pipeline records to Kafka message values and back.
 *
 * Two framings, both readable by any Avro implementation with the `.avsc` files in `schemas/`:
 * - single-object encoding (default; Avro spec): 0xC3 0x01, the 8-byte little-endian CRC-64-AVRO
 *   fingerprint of the writer schema's canonical form, then the Avro binary body. The decoder
 *   finds the writer schema by fingerprint in a `SchemaStore`, so records written with an older
 *   (or newer) known schema version resolve into the current shape.
 * - Confluent Schema Registry framing (when a registry URL is configured): a 0 byte, the 4-byte
 *   big-endian schema id, then the body; schemas are registered under `<topic>-value`.
 * `decode` recognises either framing by its first byte, so a consumer reads both during a
 * migration from one to the other.
 *
 * Rolling upgrades: with a `WriterSchemaDirectory` (the `<prefix>schemas` topic, schema-topic.ts)
 * the async codec publishes each schema it writes single-object records with before the first such
 * record leaves it, and looks up a fingerprint it does not know there before giving up on a record;
 * with a registry the writer schema comes by id. Either way Avro schema resolution reads a newer
 * writer's record into this process's (older) reader schema.
 *
 * Values are the TypeScript records of `core/records.ts` as they are: `null` for absent optional
 * fields, `Buffer` for bytes, plain objects for maps, numbers for longs (epoch ms, token counts).
 * Every failure to encode or decode is a `WebscaleError` with code `CODEC` (a Kafka worker sends
 * such records to the DLQ), except: a registry that cannot serve (`SCHEMA_REGISTRY`, retryable: a
 * worker waits), a writer schema not found yet (`SCHEMA_UNKNOWN`, retryable: a worker waits a
 * bounded time, its writer may be racing), and bodies that declare more than they hold (a 24-byte record claiming 10^8 array items), which are
 * refused before avsc sees them with `DECODE_LIMITS` (see decode-limits.ts).
 */
import type { Resolver, Type } from 'avsc';
import { WebscaleError } from '../core/errors.js';
import { checkDecodeLimits, DEFAULT_DECODE_LIMITS, type DecodeLimits } from './decode-limits.js';
import type { RecordTypeMap, RecordTypeName } from './record-types.js';
import { SchemaRegistryClient } from './schema-registry.js';
import { defaultSchemaStore, parseSchema } from './schema-store.js';
import type { SchemaStore, SchemaVersion } from './schema-store.js';
import type { WriterSchemaDirectory } from './schema-topic.js';

/** First two bytes of an Avro single-object encoded message. */
export const SINGLE_OBJECT_MAGIC: Readonly<Buffer> = Buffer.from([0xc3, 0x01]);
export const SINGLE_OBJECT_HEADER_BYTES = 10;
/** First byte of a Confluent-framed message, followed by a 4-byte schema id. */
export const CONFLUENT_MAGIC = 0;
export const CONFLUENT_HEADER_BYTES = 5;

export type WireFormat = 'single-object' | 'confluent';

/** A codec for the default framing, usable without a network: encode and decode are synchronous. */
export interface SyncCodec<T> {
  readonly recordType: RecordTypeName;
  /** The schema records are written with (normally the current one). */
  readonly writer: SchemaVersion;
  /** The schema records are decoded into (the current one). */
  readonly reader: SchemaVersion;
  encode(value: T): Buffer;
  /** Decodes a single-object encoded message; throws CODEC for anything else. */
  decode(buf: Buffer): T;
}

/** The codec stage workers use; async because the Confluent framing may call the registry. */
export interface Codec<T> {
  readonly recordType: RecordTypeName;
  /** The framing `encode` writes; `decode` accepts both. */
  readonly format: WireFormat;
  encode(value: T): Promise<Buffer>;
  decode(buf: Buffer): Promise<T>;
  /**
   * `buf` itself when it is what `encode` writes for the value `decode` reads from it: the
   * single-object framing with this codec's writer schema (the Avro body of a value is a function
   * of the value, and `decode` refuses trailing bytes), else null. A stage that forwards its input
   * unchanged (dedup) sends the bytes it read instead of encoding them again.
   */
  reuse(buf: Buffer): Promise<Buffer | null>;
}

export interface CodecOptions {
  /** Confluent Schema Registry base URL (config.kafka.schemaRegistryUrl): selects Confluent framing. */
  registryUrl?: string;
  /** The topic the codec writes to; with a registry the subject is `<topic>-value`. */
  topic?: string;
  /** Overrides the registry subject. */
  subject?: string;
  /** Known schema versions; default: the package's `schemas/` (and `schemas/history/`). */
  store?: SchemaStore;
  /** A registry client to share between codecs (and their caches). */
  registry?: SchemaRegistryClient;
  /** Write with this version instead of the current one (migrations, tests). */
  writerSchema?: SchemaVersion;
  /** Decode into this version instead of the current one (tests). */
  readerSchema?: SchemaVersion;
  /** Bounds on what a body may declare before it is decoded; default `DEFAULT_DECODE_LIMITS`. */
  decodeLimits?: Partial<DecodeLimits>;
  /**
   * Where writer schemas are published and looked up (the `<prefix>schemas` topic): single-object
   * writers publish before their first record, readers look up fingerprints they do not know.
   */
  directory?: WriterSchemaDirectory;
}

function codecError(message: string, recordType: RecordTypeName, cause?: unknown, context: Record<string, unknown> = {}): WebscaleError {
  return new WebscaleError('CODEC', message, {
    ...(cause === undefined ? {} : { cause }),
    context: { recordType, ...context },
  });
}

/** Says which fields of a value do not fit a schema, for an encode error a person can act on. */
function describeInvalid(type: Type, value: unknown): string {
  const problems: string[] = [];
  type.isValid(value, {
    errorHook: (path, val: unknown, t: Type) => {
      if (problems.length < 5) {
        const shown = Buffer.isBuffer(val) ? `<${val.length} bytes>` : JSON.stringify(val)?.slice(0, 60) ?? String(val);
        problems.push(`${path.join('.') || '(root)'}: ${shown} is not a valid ${t.typeName}`);
      }
    },
  });
  return problems.length > 0 ? problems.join('; ') : 'value does not match the schema';
}

/**
 * avsc decodes records into instances of generated classes; the pipeline works with plain objects
 * (spreads, structuredClone, deep equality), so rebuild them. Buffers and arrays keep their kind.
 */
function toPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
  return out;
}

function encodeBody(writer: SchemaVersion, value: unknown, recordType: RecordTypeName): Buffer {
  try {
    return writer.type.toBuffer(value);
  } catch (err) {
    throw codecError(`cannot encode ${recordType}: ${describeInvalid(writer.type, value)}`, recordType, err);
  }
}

/** Decodes an Avro body written with `writer` into the shape of `reader`. */
class BodyReader {
  private readonly resolvers = new Map<string, Resolver>();
  private readonly limits: Readonly<DecodeLimits>;
  constructor(
    readonly reader: SchemaVersion,
    readonly recordType: RecordTypeName,
    limits: Partial<DecodeLimits> = {},
  ) {
    this.limits = { ...DEFAULT_DECODE_LIMITS, ...limits };
  }

  read(body: Buffer, writerType: Type, writerKey: string, context: Record<string, unknown>): unknown {
    // Against the writer schema: it is what the bytes were written with, and what avsc reads them by.
    checkDecodeLimits(writerType, body, this.limits, { recordType: this.recordType, ...context });
    let resolver: Resolver | undefined;
    if (writerKey !== this.reader.canonical) {
      resolver = this.resolvers.get(writerKey);
      if (!resolver) {
        try {
          resolver = this.reader.type.createResolver(writerType);
        } catch (err) {
          throw codecError(
            `cannot read ${this.recordType} written with an incompatible schema: ${(err as Error).message}`,
            this.recordType,
            err,
            context,
          );
        }
        this.resolvers.set(writerKey, resolver);
      }
    }
    try {
      return toPlain(this.reader.type.fromBuffer(body, resolver));
    } catch (err) {
      throw codecError(`cannot decode ${this.recordType}: ${(err as Error).message}`, this.recordType, err, context);
    }
  }
}

/** Builds a single-object header for a schema version. */
export function singleObjectHeader(version: SchemaVersion): Buffer {
  return Buffer.concat([SINGLE_OBJECT_MAGIC, version.fingerprint]);
}

/** The default codec: Avro single-object encoding, synchronous. */
export function createSingleObjectCodec<K extends RecordTypeName>(
  recordType: K,
  opts: Pick<CodecOptions, 'store' | 'writerSchema' | 'readerSchema' | 'decodeLimits'> = {},
): SyncCodec<RecordTypeMap[K]> {
  const store = opts.store ?? defaultSchemaStore();
  const writer = opts.writerSchema ?? store.current(recordType);
  const reader = opts.readerSchema ?? store.current(recordType);
  const header = singleObjectHeader(writer);
  const bodies = new BodyReader(reader, recordType, opts.decodeLimits);
  return {
    recordType,
    writer,
    reader,
    encode(value) {
      return Buffer.concat([header, encodeBody(writer, value, recordType)]);
    },
    decode(buf) {
      if (buf.length < SINGLE_OBJECT_HEADER_BYTES || buf[0] !== 0xc3 || buf[1] !== 0x01) {
        throw codecError(`cannot decode ${recordType}: not an Avro single-object encoded message`, recordType, undefined, {
          bytes: buf.length,
          head: buf.subarray(0, 2).toString('hex'),
        });
      }
      const fp = buf.subarray(2, SINGLE_OBJECT_HEADER_BYTES);
      const version = store.byFingerprint(fp);
      if (!version) {
        throw codecError(`cannot decode ${recordType}: unknown writer schema fingerprint ${fp.toString('hex')}`, recordType, undefined, {
          fingerprint: fp.toString('hex'),
        });
      }
      if (version.recordType !== recordType) {
        throw codecError(`cannot decode ${recordType}: the message holds a ${version.recordType}`, recordType, undefined, {
          fingerprint: version.fingerprintHex,
        });
      }
      return bodies.read(buf.subarray(SINGLE_OBJECT_HEADER_BYTES), version.type, version.canonical, {
        fingerprint: version.fingerprintHex,
      }) as RecordTypeMap[K];
    },
  };
}

/**
 * The codec for one record type. Without `registryUrl` it writes single-object encoding; with it,
 * Confluent framing under subject `<topic>-value` (`topic` or `subject` required then).
 */
export function createCodec<K extends RecordTypeName>(recordType: K, opts: CodecOptions = {}): Codec<RecordTypeMap[K]> {
  const local = createSingleObjectCodec(recordType, opts);
  const store = opts.store ?? defaultSchemaStore();
  const directory = opts.directory;
  const registry = opts.registry ?? (opts.registryUrl === undefined ? undefined : new SchemaRegistryClient(opts.registryUrl));
  const subject = opts.subject ?? (opts.topic === undefined ? undefined : `${opts.topic}-value`);
  if (opts.registryUrl !== undefined && subject === undefined) {
    throw new WebscaleError('USAGE', `createCodec(${recordType}): a schema registry needs a topic or subject`);
  }
  const bodies = new BodyReader(local.reader, recordType, opts.decodeLimits);
  const writerHeader = singleObjectHeader(local.writer);
  const writerTypes = new Map<number, Promise<Type>>();

  const writerTypeById = (id: number, reg: SchemaRegistryClient): Promise<Type> => {
    let type = writerTypes.get(id);
    if (!type) {
      type = reg.schemaById(id).then((text) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          throw codecError(`schema id ${id} from the registry is not JSON`, recordType, err, { schemaId: id });
        }
        return parseSchema(parsed, `registry id ${id}`);
      });
      type.catch(() => writerTypes.delete(id));
      writerTypes.set(id, type);
    }
    return type;
  };

  return {
    recordType,
    format: registry && subject !== undefined ? 'confluent' : 'single-object',
    async encode(value) {
      if (!registry || subject === undefined) {
        // Before any record written with it can reach a reader that may not bundle it.
        await directory?.publish(local.writer);
        return local.encode(value);
      }
      const body = encodeBody(local.writer, value, recordType);
      const id = await registry.register(subject, local.writer.canonical);
      const header = Buffer.alloc(CONFLUENT_HEADER_BYTES);
      header.writeUInt8(CONFLUENT_MAGIC, 0);
      header.writeUInt32BE(id, 1);
      return Buffer.concat([header, body]);
    },
    async reuse(buf) {
      if (registry && subject !== undefined) return null;
      if (buf.length < SINGLE_OBJECT_HEADER_BYTES || !buf.subarray(0, SINGLE_OBJECT_HEADER_BYTES).equals(writerHeader)) return null;
      await directory?.publish(local.writer);
      return buf;
    },
    async decode(buf) {
      if (buf.length >= 1 && buf[0] === 0xc3) {
        if (directory && buf.length >= SINGLE_OBJECT_HEADER_BYTES && buf[1] === 0x01) {
          const fp = buf.subarray(2, SINGLE_OBJECT_HEADER_BYTES);
          if (!store.byFingerprint(fp)) {
            await directory.refresh();
            if (!store.byFingerprint(fp)) {
              throw new WebscaleError(
                'SCHEMA_UNKNOWN',
                `cannot decode ${recordType}: writer schema fingerprint ${fp.toString('hex')} is neither bundled with this release nor published to the schemas topic`,
                { retryable: true, context: { recordType, fingerprint: fp.toString('hex') } },
              );
            }
          }
        }
        return local.decode(buf);
      }
      if (buf.length >= CONFLUENT_HEADER_BYTES && buf[0] === CONFLUENT_MAGIC) {
        if (!registry) {
          throw codecError(`cannot decode ${recordType}: Confluent-framed message but no schema registry configured`, recordType);
        }
        const id = buf.readUInt32BE(1);
        const writerType = await writerTypeById(id, registry);
        return bodies.read(buf.subarray(CONFLUENT_HEADER_BYTES), writerType, JSON.stringify(writerType.schema()), {
          schemaId: id,
        }) as RecordTypeMap[K];
      }
      throw codecError(`cannot decode ${recordType}: unknown framing`, recordType, undefined, {
        bytes: buf.length,
        head: buf.subarray(0, 2).toString('hex'),
      });
    },
  };
}

/**
 * Decodes a single-object message of any known record type (for `tail` and debugging): the
 * fingerprint says which type it is.
 */
export function decodeAny(buf: Buffer, store: SchemaStore = defaultSchemaStore()): { recordType: RecordTypeName; value: unknown } {
  if (buf.length < SINGLE_OBJECT_HEADER_BYTES || buf[0] !== 0xc3 || buf[1] !== 0x01) {
    throw new WebscaleError('CODEC', 'not an Avro single-object encoded message', { context: { bytes: buf.length } });
  }
  const version = store.byFingerprint(buf.subarray(2, SINGLE_OBJECT_HEADER_BYTES));
  if (!version) {
    throw new WebscaleError('CODEC', `unknown writer schema fingerprint ${buf.subarray(2, 10).toString('hex')}`);
  }
  const codec = createSingleObjectCodec(version.recordType, { store });
  return { recordType: version.recordType, value: codec.decode(buf) };
}
