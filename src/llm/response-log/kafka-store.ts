/**
 * The response log of the Kafka stage workers: the compacted topic `<prefix>llm.responses`
 * (Avro `LlmResponse`, keyed by the request key), shared by every worker of every stage.
 *
 * Each worker keeps a local index of the topic in a private LMDB file (under
 * `llm.responseLog.cacheDir`, removed at stop): at start it reads the topic from the beginning to
 * the end offsets it saw, and only then does the worker take input, so a worker restarted after
 * kill -9 finds every answer its previous life logged. Afterwards it keeps following the topic,
 * so answers logged by other workers become visible within a fetch. Memory stays flat: the index
 * is on disk (the page cache), not in the heap.
 *
 * A completion is sent (acks=all, idempotent producer) before the stage uses it, so whatever a
 * worker used is in the log when its records are re-processed: only calls that were in flight
 * when it died are paid again. Sends are batched: requests finishing together share one produce
 * request. Not transactional: a response belongs to no record's outcome, and a logged answer that
 * no committed record used is harmless.
 *
 * Every entry carries two headers, its stage and its writer (the store's random id), so a reader
 * skips, without decoding, the entries it would never look up: another stage's (its requests
 * cannot match this worker's) and its own (indexed already when it wrote them). With four LLM
 * stages this cuts a worker's indexing to about a quarter, and a single worker of a stage to none
 * while it follows. Entries without the headers (written before they existed) are decoded as
 * before.
 */
import { randomUUID } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { TopicCodecs } from '../../codec/index.js';
import { WebscaleError } from '../../core/errors.js';
import type { LlmResponseRecord, LlmStage } from '../../core/records.js';
import { createProducer } from '../../kafka/client.js';
import { headerText } from '../../kafka/headers.js';
import { kafkaError } from '../../kafka/errors.js';
import { LmdbResponseStore } from './lmdb-store.js';
import type { LoggedResponse, ResponseStore } from './store.js';

/** Responses sent in one produce request at most. */
const MAX_BATCH = 200;

/**
 * How the reader fetches: a fetch returns once it has `FOLLOW_MIN_BYTES` or after
 * `FOLLOW_WAIT_MS`. With the broker's default of "any byte", a busy log woke every reader for
 * every produce request (about 40 fetches/s per worker in the Kafka bench, most of them a few
 * entries). An entry another worker logged is therefore visible here within about a second,
 * which is all a takeover needs: it re-processes records whose answers were logged long before.
 */
const FOLLOW_WAIT_MS = 1000;
const FOLLOW_MIN_BYTES = 256 * 1024;

export interface KafkaStoreOptions {
  kafka: Kafka;
  topic: string;
  codecs: TopicCodecs;
  /** Prefix of the reader's throw-away consumer group. */
  groupPrefix: string;
  log: Logger;
  /** Folder of the local index; default `<tmp>/webscale-rl-responses`. */
  cacheDir?: string;
  /** Longest a fetch of the reader waits for `FOLLOW_MIN_BYTES` (default `FOLLOW_WAIT_MS`). */
  fetchMaxWait?: number;
  /**
   * The stages this worker asks the LLM for: entries of other stages are skipped unread. Default
   * every stage (a store shared by several stages, or a tool reading the whole log).
   */
  stages?: readonly LlmStage[];
}

/** Header names of a log entry (see the module comment). */
export const STAGE_HEADER = 'webscale-rl.stage';
export const WRITER_HEADER = 'webscale-rl.writer';

interface Queued {
  message: Message;
  resolve(): void;
  reject(err: WebscaleError): void;
}

function toRecord(key: string, v: LoggedResponse): LlmResponseRecord {
  return {
    key,
    stage: v.stage,
    model: v.model,
    text: v.text,
    finish_reason: v.finishReason,
    prompt_tokens: v.promptTokens,
    completion_tokens: v.completionTokens,
    created_at: v.createdAt,
  };
}

function fromRecord(r: LlmResponseRecord): LoggedResponse {
  return {
    stage: r.stage as LlmStage,
    model: r.model,
    text: r.text,
    finishReason: r.finish_reason,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    createdAt: r.created_at,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class KafkaResponseStore implements ResponseStore {
  readonly kind = 'kafka';
  /** replayed: entries indexed from the topic; skipped: another stage's, left unread. */
  readonly counts = { replayed: 0, skipped: 0, sent: 0, undecodable: 0 };
  private readonly groupId: string;
  /** This store's id, written on each entry it logs so its own reader skips them. */
  private readonly writer: string;
  private readonly cacheDir: string;
  private readonly cachePath: string;
  private cache: LmdbResponseStore | null = null;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private queue: Queued[] = [];
  private sending = false;

  constructor(private readonly o: KafkaStoreOptions) {
    const id = randomUUID();
    this.writer = id;
    this.groupId = `${o.groupPrefix}llm.responses-reader-${id}`;
    this.cacheDir = o.cacheDir ?? join(tmpdir(), 'webscale-rl-responses');
    this.cachePath = join(this.cacheDir, `${o.topic}-${process.pid}-${id.slice(0, 8)}.mdb`);
  }

  /** Reads the topic up to its end offsets at the call (resolves then), and keeps following it. */
  async start(signal?: AbortSignal): Promise<void> {
    const { kafka, topic } = this.o;
    await this.sweep();
    this.cache = LmdbResponseStore.open({ path: this.cachePath });
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends = new Map(offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]));
    } catch (err) {
      throw kafkaError(err, { operation: 'read LLM response log offsets', topic });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await this.producer.connect();
    const consumer = kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxWaitTimeInMs: this.o.fetchMaxWait ?? FOLLOW_WAIT_MS,
      minBytes: FOLLOW_MIN_BYTES,
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    this.consumer = consumer;
    const started = performance.now();
    const replayed = new Promise<void>((resolve, reject) => {
      const reached = (partition: number, next: bigint): void => {
        const end = ends.get(partition);
        if (end === undefined || next < end) return;
        ends.delete(partition);
        if (ends.size === 0) resolve();
      };
      if (ends.size === 0) resolve();
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        if (e.payload.lastOffset !== null) reached(e.payload.partition, BigInt(e.payload.lastOffset) + 1n);
      });
      consumer
        .connect()
        .then(() => consumer.subscribe({ topic, fromBeginning: true }))
        .then(() =>
          consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              await this.index(batch.messages);
              reached(batch.partition, BigInt(batch.lastOffset()) + 1n);
            },
          }),
        )
        .catch((err: unknown) => reject(kafkaError(err, { operation: 'read the LLM response log', topic })));
    });
    const aborted = new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([replayed, aborted]);
    if (signal?.aborted) return;
    this.o.log.info({ topic, replayed: this.counts.replayed, ms: Math.round(performance.now() - started) }, 'LLM response log read');
  }

  /** Removes the indexes that killed workers of this machine left behind (their pid is gone). */
  private async sweep(): Promise<void> {
    const names = await readdir(this.cacheDir).catch(() => [] as string[]);
    for (const name of names) {
      const m = /^(.*)-(\d+)-[0-9a-f]{8}\.mdb(-lock)?$/.exec(name);
      if (m === null || m[1] !== this.o.topic) continue;
      const pid = Number(m[2]);
      if (pid === process.pid || alive(pid)) continue;
      await rm(join(this.cacheDir, name), { force: true }).catch(() => undefined);
    }
  }

  private async index(messages: KafkaMessage[]): Promise<void> {
    const cache = this.cache;
    if (cache === null) return;
    const codec = this.o.codecs.for('LlmResponse', this.o.topic);
    const puts: Promise<void>[] = [];
    const stages = this.o.stages;
    const wanted = (stage: string): boolean => stages === undefined || stages.includes(stage as LlmStage);
    for (const m of messages) {
      if (m.value === null || m.key === null) continue;
      if (headerText(m.headers, WRITER_HEADER) === this.writer) continue;
      const stage = headerText(m.headers, STAGE_HEADER);
      if (stage !== undefined && !wanted(stage)) {
        this.counts.skipped++;
        continue;
      }
      let record: LlmResponseRecord;
      try {
        record = (await codec.decode(m.value)) as LlmResponseRecord;
      } catch (err) {
        // A value nobody can read is only a call that will be paid again: no dead letter for it.
        if (this.counts.undecodable++ === 0) this.o.log.warn({ err, offset: m.offset }, 'undecodable LLM response log entry skipped');
        continue;
      }
      if (!wanted(record.stage)) {
        this.counts.skipped++;
        continue;
      }
      this.counts.replayed++;
      puts.push(cache.put(record.key, fromRecord(record)));
    }
    await Promise.all(puts);
  }

  get(key: string): Promise<LoggedResponse | undefined> {
    if (this.cache === null) return Promise.reject(new WebscaleError('INTERNAL', 'the LLM response log is not started'));
    return this.cache.get(key);
  }

  async put(key: string, value: LoggedResponse): Promise<void> {
    const codec = this.o.codecs.for('LlmResponse', this.o.topic);
    const encoded = await codec.encode(toRecord(key, value));
    await this.send({ key, value: encoded, headers: { [STAGE_HEADER]: value.stage, [WRITER_HEADER]: this.writer } });
    this.counts.sent++;
    await this.cache?.put(key, value);
  }

  private send(message: Message): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      if (!this.sending) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          if (this.producer === null) throw new WebscaleError('KAFKA', 'the LLM response log is not started');
          await this.producer.send({ topic: this.o.topic, acks: -1, messages: batch.map((q) => q.message) });
          for (const q of batch) q.resolve();
        } catch (err) {
          const e = kafkaError(err, { operation: 'log LLM responses', topic: this.o.topic });
          for (const q of batch) q.reject(e);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  async close(): Promise<void> {
    const { consumer, producer, cache } = this;
    this.consumer = null;
    this.producer = null;
    this.cache = null;
    await producer?.disconnect().catch(() => undefined);
    if (consumer !== null) {
      await consumer.disconnect().catch(() => undefined);
      // The reader's group commits nothing and is never joined again: leave no empty group behind.
      const admin = this.o.kafka.admin();
      await admin
        .connect()
        .then(() => admin.deleteGroups([this.groupId]))
        .catch(() => undefined)
        .finally(() => admin.disconnect().catch(() => undefined));
    }
    await cache?.close();
    await rm(this.cachePath, { force: true }).catch(() => undefined);
    await rm(`${this.cachePath}-lock`, { force: true }).catch(() => undefined);
  }
}
