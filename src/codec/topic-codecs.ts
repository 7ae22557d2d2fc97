/**
 * The codecs of one process, by record type and topic: single-object encoding, or Confluent
 * framing under `<topic>-value` when a registry URL is configured, with one registry client (and
 * its id cache) shared by all of them.
 */
import { createCodec, type Codec } from './codec.js';
import type { DecodeLimits } from './decode-limits.js';
import type { RecordTypeName } from './record-types.js';
import { SchemaRegistryClient } from './schema-registry.js';

export class TopicCodecs {
  private readonly codecs = new Map<string, Codec<unknown>>();
  private readonly registry: SchemaRegistryClient | undefined;

  constructor(
    private readonly registryUrl?: string,
    private readonly options: { decodeLimits?: Partial<DecodeLimits> } = {},
  ) {
    this.registry = registryUrl === undefined ? undefined : new SchemaRegistryClient(registryUrl);
  }

  for(type: RecordTypeName, topic: string): Codec<unknown> {
    const key = `${type}@${topic}`;
    let codec = this.codecs.get(key);
    if (!codec) {
      const url = this.registryUrl;
      const limits = this.options.decodeLimits === undefined ? {} : { decodeLimits: this.options.decodeLimits };
      codec = createCodec(
        type,
        url === undefined ? limits : { ...limits, registryUrl: url, topic, ...(this.registry ? { registry: this.registry } : {}) },
      ) as Codec<unknown>;
      this.codecs.set(key, codec);
    }
    return codec;
  }
}
