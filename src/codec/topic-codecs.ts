/**
 * The codecs of one process, by record type and topic: single-object encoding, or Confluent
 * framing under `<topic>-value` when a registry URL is configured, with one registry client (and
 * its id cache), one schema store and one writer-schema directory (the `<prefix>schemas` topic)
 * shared by all of them.
 */
import { readFileSync } from 'node:fs';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import { topicName } from '../kafka/topic-names.js';
import { createCodec, type Codec } from './codec.js';
import type { DecodeLimits } from './decode-limits.js';
import type { RecordTypeName } from './record-types.js';
import { SchemaRegistryClient, type SchemaRegistryOptions } from './schema-registry.js';
import { defaultSchemaStore, SchemaStore } from './schema-store.js';
import { SchemaTopic, type WriterSchemaDirectory } from './schema-topic.js';

/** Suffix of the compacted topic writers publish their schemas to. */
export const SCHEMAS_TOPIC_SUFFIX = 'schemas';

export interface TopicCodecsOptions {
  decodeLimits?: Partial<DecodeLimits>;
  registry?: SchemaRegistryOptions;
  store?: SchemaStore;
  directory?: WriterSchemaDirectory;
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new WebscaleError('CONFIG_INVALID', `kafka.schemaRegistry.${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** The registry client options of a config: credentials, headers and TLS files read once. */
export function registryOptionsOf(config: Config): SchemaRegistryOptions {
  const r = config.kafka.schemaRegistry;
  const ca = readPem(r.ca, 'ca');
  const cert = readPem(r.cert, 'cert');
  const key = readPem(r.key, 'key');
  return {
    timeoutMs: r.timeout,
    headers: r.headers,
    ...(r.username === undefined ? {} : { username: r.username, password: r.password ?? '' }),
    ...(r.bearerToken === undefined ? {} : { bearerToken: r.bearerToken }),
    ...(r.bearerTokenFile === undefined ? {} : { bearerTokenFile: r.bearerTokenFile }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}

export class TopicCodecs {
  private readonly codecs = new Map<string, Codec<unknown>>();
  private readonly registry: SchemaRegistryClient | undefined;
  readonly store: SchemaStore;
  readonly directory: WriterSchemaDirectory | undefined;

  constructor(
    private readonly registryUrl?: string,
    private readonly options: TopicCodecsOptions = {},
  ) {
    this.registry = registryUrl === undefined ? undefined : new SchemaRegistryClient(registryUrl, options.registry);
    this.store = options.store ?? defaultSchemaStore();
    this.directory = options.directory;
  }

  /**
   * The codecs of a Kafka command or worker: the configured schema folder (or the bundled one),
   * the registry with its credentials and TLS, and with `kafka`, the `<prefix>schemas` topic.
   */
  static fromConfig(config: Config, deps: { kafka?: Kafka; log?: Logger; decodeLimits?: Partial<DecodeLimits> } = {}): TopicCodecs {
    const store = config.kafka.schemaDir === undefined ? defaultSchemaStore() : SchemaStore.load(config.kafka.schemaDir);
    const directory =
      deps.kafka === undefined
        ? undefined
        : new SchemaTopic({ kafka: deps.kafka, topic: topicName(config.kafka.topicPrefix, SCHEMAS_TOPIC_SUFFIX), store, ...(deps.log ? { log: deps.log } : {}) });
    return new TopicCodecs(config.kafka.schemaRegistryUrl, {
      store,
      ...(directory ? { directory } : {}),
      ...(config.kafka.schemaRegistryUrl === undefined ? {} : { registry: registryOptionsOf(config) }),
      ...(deps.decodeLimits ? { decodeLimits: deps.decodeLimits } : {}),
    });
  }

  for(type: RecordTypeName, topic: string): Codec<unknown> {
    const key = `${type}@${topic}`;
    let codec = this.codecs.get(key);
    if (!codec) {
      const url = this.registryUrl;
      codec = createCodec(type, {
        store: this.store,
        ...(this.options.decodeLimits === undefined ? {} : { decodeLimits: this.options.decodeLimits }),
        ...(this.directory ? { directory: this.directory } : {}),
        ...(url === undefined ? {} : { registryUrl: url, topic, ...(this.registry ? { registry: this.registry } : {}) }),
      }) as Codec<unknown>;
      this.codecs.set(key, codec);
    }
    return codec;
  }

  /** Closes the schemas topic's producer and the registry's TLS connections. */
  async close(): Promise<void> {
    if (this.directory instanceof SchemaTopic) await this.directory.close();
    await this.registry?.close();
  }
}
