/**
 * Avro codec for pipeline records: schemas from `schemas/`, single-object encoding by default,
 * Confluent Schema Registry framing when configured. See codec.ts for the wire formats.
 */
export {
  createCodec,
  createSingleObjectCodec,
  decodeAny,
  singleObjectHeader,
  CONFLUENT_HEADER_BYTES,
  CONFLUENT_MAGIC,
  SINGLE_OBJECT_HEADER_BYTES,
  SINGLE_OBJECT_MAGIC,
} from './codec.js';
export type { Codec, CodecOptions, SyncCodec, WireFormat } from './codec.js';
export { checkDecodeLimits, DEFAULT_DECODE_LIMITS } from './decode-limits.js';
export type { DecodeLimits } from './decode-limits.js';
export { RECORD_TYPES, SCHEMA_NAMESPACE, isRecordTypeName } from './record-types.js';
export type { RecordTypeMap, RecordTypeName } from './record-types.js';
export { SchemaStore, defaultSchemaStore, parseSchema } from './schema-store.js';
export type { SchemaVersion } from './schema-store.js';
export { SchemaRegistryClient } from './schema-registry.js';
export { SCHEMAS_TOPIC_SUFFIX, TopicCodecs, registryOptionsOf } from './topic-codecs.js';
export type { TopicCodecsOptions } from './topic-codecs.js';
export { SchemaTopic, publishedSchemaText } from './schema-topic.js';
export type { SchemaTopicOptions, WriterSchemaDirectory } from './schema-topic.js';
export type { SchemaRegistryOptions } from './schema-registry.js';
export { canonicalForm, rabin64, schemaFingerprint } from './fingerprint.js';
