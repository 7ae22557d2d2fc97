/**
 * The known Avro schema versions, by record type and by fingerprint. The current version of each
 * record type is `schemas/<Name>.avsc`; earlier versions live in `schemas/history/*.avsc` so
 * records written by an older pipeline still decode (Avro schema resolution turns them into the
 * current shape). A decoder looks the writer schema up by the fingerprint in the record header.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Type } from 'avsc';
import { WebscaleError } from '../core/errors.js';
import { packageDir } from '../kafka/package-dir.js';
import { canonicalForm, schemaFingerprint } from './fingerprint.js';
import { isRecordTypeName, RECORD_TYPES } from './record-types.js';
import type { RecordTypeName } from './record-types.js';

export interface SchemaVersion {
  recordType: RecordTypeName;
  /** The parsed schema. */
  type: Type;
  /** Parsing Canonical Form (what the fingerprint and registries compare). */
  canonical: string;
  /** CRC-64-AVRO of the canonical form, little-endian, as in the single-object header. */
  fingerprint: Buffer;
  fingerprintHex: string;
  /** Where the schema came from (a file path, or a label for schemas added in code). */
  source: string;
}

/** How avsc parses every schema: nullable unions as plain `null | T`, no logical-type classes. */
export function parseSchema(schema: unknown, source = 'inline'): Type {
  try {
    return avro.Type.forSchema(schema as avro.Schema, { wrapUnions: 'never' });
  } catch (err) {
    throw new WebscaleError('CODEC', `invalid Avro schema (${source}): ${(err as Error).message}`, {
      cause: err,
      context: { source },
    });
  }
}

function readSchemaFile(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new WebscaleError('CODEC', `cannot read Avro schema ${path}: ${(err as Error).message}`, {
      cause: err,
      context: { path },
    });
  }
}

export class SchemaStore {
  private readonly currentByType = new Map<RecordTypeName, SchemaVersion>();
  private readonly byFp = new Map<string, SchemaVersion>();

  /** The store of the package's `schemas/` folder (or another folder laid out the same way). */
  static load(dir: string = packageDir('schemas')): SchemaStore {
    const store = new SchemaStore();
    for (const name of RECORD_TYPES) {
      const path = join(dir, `${name}.avsc`);
      store.add(readSchemaFile(path), { current: true, source: path });
    }
    const history = join(dir, 'history');
    if (existsSync(history)) {
      for (const file of readdirSync(history).filter((f) => f.endsWith('.avsc')).sort()) {
        const path = join(history, file);
        store.add(readSchemaFile(path), { current: false, source: path });
      }
    }
    return store;
  }

  /**
   * Registers a schema version. `current: true` makes it the version this process writes and
   * reads into; otherwise it is only known as a writer schema of older (or newer) records.
   */
  add(schema: unknown, opts: { current?: boolean; source?: string } = {}): SchemaVersion {
    const source = opts.source ?? 'inline';
    const type = parseSchema(schema, source);
    const shortName = (type.name ?? '').split('.').pop() ?? '';
    if (!isRecordTypeName(shortName)) {
      throw new WebscaleError('CODEC', `schema ${source} names record "${type.name ?? '?'}", not one of ${RECORD_TYPES.join(', ')}`, {
        context: { source },
      });
    }
    const fingerprint = schemaFingerprint(type);
    const fingerprintHex = fingerprint.toString('hex');
    const version: SchemaVersion = {
      recordType: shortName,
      type,
      canonical: canonicalForm(type),
      fingerprint,
      fingerprintHex,
      source,
    };
    const known = this.byFp.get(fingerprintHex);
    const kept = known ?? version;
    if (!known) this.byFp.set(fingerprintHex, version);
    if (opts.current) this.currentByType.set(shortName, kept);
    return kept;
  }

  /** The version this process writes, and the reader schema for decoding. */
  current(recordType: RecordTypeName): SchemaVersion {
    const version = this.currentByType.get(recordType);
    if (!version) {
      throw new WebscaleError('CODEC', `no current schema for record type ${recordType}`, { context: { recordType } });
    }
    return version;
  }

  byFingerprint(fingerprint: Buffer | string): SchemaVersion | undefined {
    return this.byFp.get(typeof fingerprint === 'string' ? fingerprint : fingerprint.toString('hex'));
  }

  versions(recordType?: RecordTypeName): SchemaVersion[] {
    const all = [...this.byFp.values()];
    return recordType === undefined ? all : all.filter((v) => v.recordType === recordType);
  }
}

let defaultStore: SchemaStore | undefined;

/** The package's schemas, loaded once per process. */
export function defaultSchemaStore(): SchemaStore {
  defaultStore ??= SchemaStore.load();
  return defaultStore;
}
