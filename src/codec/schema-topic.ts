/**
 * Writer schemas shared through Kafka itself, so a reader can decode records written with a schema
 * it does not bundle (a newer release's, during a rolling upgrade) without a schema registry.
 *
 * Every process that writes single-object encoded records publishes each schema it writes with to
 * the compacted topic `<prefix>schemas` (key: the 16 hex digits of the CRC-64-AVRO fingerprint;
 * value: the schema's JSON, as in a `.avsc` file) and waits for the broker to acknowledge it
 * (acks=all) before the first record written with it can be produced. Records reach readers only
 * through committed transactions produced after that, so by the time a reader meets a fingerprint
 * its schema is already on the topic. A reader that meets an unknown fingerprint reads the topic
 * to its end (one lookup at a time, shared by every record waiting) and adds what it finds to its
 * `SchemaStore`; an entry whose key is not the fingerprint of its value is ignored.
 *
 * A cluster where `topics apply` has not created the topic yet still works as before this
 * existed: publishing is skipped with one warning, and lookups find nothing.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { WebscaleError } from '../core/errors.js';
import { createProducer } from '../kafka/client.js';
import { kafkaError } from '../kafka/errors.js';
import { readToEnd } from '../kafka/read-to-end.js';
import type { SchemaStore, SchemaVersion } from './schema-store.js';

/** Where writer schemas are published and looked up; the codec knows only this interface. */
export interface WriterSchemaDirectory {
  /** Resolves once readers can find `version`; call before producing a record written with it. */
  publish(version: SchemaVersion): Promise<void>;
  /** Reads what writers published into the store (at most one lookup at a time). */
  refresh(): Promise<void>;
}

export interface SchemaTopicOptions {
  kafka: Kafka;
  /** The full topic name, `<prefix>schemas`. */
  topic: string;
  store: SchemaStore;
  log?: Logger;
  /** Least time between two lookups; records waiting meanwhile share the last one. Default 1 s. */
  minRefreshIntervalMs?: number;
}

/** The JSON a schema is published as: the schema with its docs and defaults. */
export function publishedSchemaText(version: SchemaVersion): string {
  return JSON.stringify(version.type.schema({ exportAttrs: true }));
}

function isMissingTopic(err: unknown): boolean {
  for (let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0; e && depth < 6; depth++) {
    if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION') return true;
    if (typeof (e as { message?: unknown }).message === 'string' && /does not host this topic-partition|This server does not host/.test((e as { message: string }).message)) return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}

export class SchemaTopic implements WriterSchemaDirectory {
  private producer: Promise<Producer> | undefined;
  private readonly published = new Map<string, Promise<void>>();
  private topicExists: Promise<boolean> | undefined;
  private refreshing: Promise<void> | undefined;
  private lastRefreshAt = 0;
  private warnedMissing = false;

  constructor(private readonly o: SchemaTopicOptions) {}

  publish(version: SchemaVersion): Promise<void> {
    let done = this.published.get(version.fingerprintHex);
    if (!done) {
      const key = version.fingerprintHex;
      const sent = this.send(version);
      // A failed publish is tried again by the next record; one skipped for a missing topic a minute later.
      sent.then(
        (published) => {
          if (!published) setTimeout(() => this.published.delete(key), 60_000).unref();
        },
        () => this.published.delete(key),
      );
      done = sent.then(() => undefined);
      this.published.set(key, done);
    }
    return done;
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.lookup().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private exists(): Promise<boolean> {
    this.topicExists ??= (async () => {
      const admin = this.o.kafka.admin();
      await admin.connect();
      try {
        const found = (await admin.listTopics()).includes(this.o.topic);
        // Checked again a minute later: `topics apply` may create it while this process runs.
        if (!found) setTimeout(() => (this.topicExists = undefined), 60_000).unref();
        return found;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    })().catch((err: unknown) => {
      this.topicExists = undefined;
      throw kafkaError(err, { topic: this.o.topic });
    });
    return this.topicExists;
  }

  private warnMissing(): void {
    if (this.warnedMissing) return;
    this.warnedMissing = true; // once per process
    this.o.log?.warn(
      { topic: this.o.topic },
      `topic ${this.o.topic} does not exist: readers of another release cannot look up this release's schemas; run webscale-rl topics apply`,
    );
  }

  /** True once the broker has it; false when the topic does not exist (skipped). */
  private async send(version: SchemaVersion): Promise<boolean> {
    if (!(await this.exists())) {
      this.warnMissing();
      return false;
    }
    this.producer ??= (async () => {
      const p = createProducer(this.o.kafka, { allowAutoTopicCreation: false });
      await p.connect();
      return p;
    })();
    this.producer.catch(() => {
      this.producer = undefined;
    });
    try {
      const producer = await this.producer;
      await producer.send({
        topic: this.o.topic,
        acks: -1,
        messages: [{ key: version.fingerprintHex, value: publishedSchemaText(version) }],
      });
      this.o.log?.debug({ topic: this.o.topic, fingerprint: version.fingerprintHex, recordType: version.recordType }, 'writer schema published');
      return true;
    } catch (err) {
      throw new WebscaleError('KAFKA', `cannot publish the ${version.recordType} schema ${version.fingerprintHex} to ${this.o.topic}: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
        context: { topic: this.o.topic },
      });
    }
  }

  private async lookup(): Promise<void> {
    const wait = this.lastRefreshAt + (this.o.minRefreshIntervalMs ?? 1000) - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    try {
      let added = 0;
      await readToEnd(this.o.kafka, this.o.topic, (m) => {
        const key = m.key?.toString();
        if (!key || !m.value || this.o.store.byFingerprint(key)) return;
        try {
          const version = this.o.store.add(JSON.parse(m.value.toString('utf8')), { source: `${this.o.topic} ${key}` });
          if (version.fingerprintHex !== key) {
            this.o.log?.warn({ topic: this.o.topic, key, fingerprint: version.fingerprintHex }, 'schemas topic entry whose key is not its fingerprint: ignored for that key');
          } else {
            added++;
          }
        } catch (err) {
          this.o.log?.warn({ topic: this.o.topic, key, err }, 'schemas topic entry is not a schema of ours: ignored');
        }
      });
      if (added > 0) this.o.log?.info({ topic: this.o.topic, added }, 'writer schemas found in the schemas topic');
    } catch (err) {
      if (isMissingTopic(err)) {
        this.warnMissing();
        return;
      }
      throw new WebscaleError('KAFKA', `cannot read writer schemas from ${this.o.topic}: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
        context: { topic: this.o.topic },
      });
    } finally {
      this.lastRefreshAt = Date.now();
    }
  }
}
