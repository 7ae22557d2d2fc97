/**
 * `ingest --follow <dir>`: reads each file a crawler closes in a folder (see `closed-files.ts`)
 * through the same reader as `run` and `ingest`, into `docs.raw` and `rejections`, exactly once
 * across restarts.
 *
 * Records go out in transactions of a few hundred records, and each transaction also carries the
 * file's progress (records done so far, done or not) to a compacted topic (`follow-progress.ts`).
 * So after any crash, kill -9 included, the progress read back is exactly what read_committed
 * consumers can see: the restarted follower opens the file again, passes over the records already
 * committed and goes on from the next one; files closed while it was down are listed like any
 * other. The follower's transactional id is its name: starting it fences an earlier instance of
 * the same name (a frozen one cannot commit afterwards) and aborts a transaction it left open,
 * before the progress is read.
 */
import { resolve } from 'node:path';
import { createHash } from 'node:crypto';
import type { Admin, Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { Rejection } from '../core/records.js';
import type { TopicCodecs } from '../codec/index.js';
import { openInput, type InputItem } from '../input/reader.js';
import { createProducer, kafkaError, topicName } from '../kafka/index.js';
import { backoffDelay } from '../llm/retry.js';
import type { StageRecorder } from '../metrics/index.js';
import { produceRequests } from '../runtime/partition-owner.js';
import { count, startProgressLog, type ProgressLog } from '../runtime/progress-log.js';
import type { WorkerState } from '../runtime/stage-worker.js';
import { wait } from '../runtime/wait.js';
import { ClosedFiles, type FileSeen } from './closed-files.js';
import { ingestRejection } from './crawl-records.js';
import { ensureProgressTopic, loadProgress, progressKey, type FileProgress } from './follow-progress.js';

export interface FollowerOptions {
  config: Config;
  kafka: Kafka;
  codecs: TopicCodecs;
  logger: Logger;
  dir: string;
  metrics?: StageRecorder;
}

const RETRY = { maxRetries: 0, backoffInitial: 500, backoffMax: 30_000 } as const;

/** Default follower name: stable for one folder path, different for two folders. */
export function defaultFollowerName(prefix: string, dir: string): string {
  return `${prefix}ingest-follow.${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 12)}`;
}

/** One transaction's worth of records of a file, and where in the file it ends. */
interface Batch {
  messages: Map<string, Message[]>;
  records: number;
  bytes: number;
  startedAt: number;
  rejected: Rejection['reason'][];
}

function emptyBatch(): Batch {
  return { messages: new Map(), records: 0, bytes: 0, startedAt: Date.now(), rejected: [] };
}

export class FileFollower {
  state: WorkerState = 'starting';
  readonly name: string;
  readonly progressTopic: string;
  readonly counts = { files: 0, documents: 0, rejected: 0, skipped: 0, commits: 0 };
  private readonly o: FollowerOptions;
  private readonly log: Logger;
  private readonly files: ClosedFiles;
  private readonly abort = new AbortController();
  private readonly rawTopic: string;
  private readonly rejTopic: string;
  private admin: Admin;
  private producer: Producer | null = null;
  private progress = new Map<string, FileProgress>();
  private readonly warnedChanged = new Set<string>();
  private lastCommitOk = true;
  private loop: Promise<void> = Promise.resolve();
  private progressLog: ProgressLog | null = null;
  /** The file being read now, for the progress line. */
  private current: string | null = null;

  constructor(o: FollowerOptions) {
    this.o = o;
    const { config } = o;
    const prefix = config.kafka.topicPrefix;
    this.name = config.ingest.follow.name ?? defaultFollowerName(prefix, o.dir);
    this.progressTopic = config.ingest.follow.progressTopic ?? topicName(prefix, 'ingest.progress');
    this.rawTopic = topicName(prefix, 'docs.raw');
    this.rejTopic = topicName(prefix, 'rejections');
    this.log = o.logger.child({ stage: 'ingest-follow', follower: this.name });
    this.files = new ClosedFiles(o.dir, config.ingest.follow.settle);
    this.admin = o.kafka.admin();
  }

  /** Fences earlier instances, reads the progress, then follows the folder in the background. */
  async start(): Promise<void> {
    await this.admin.connect();
    await ensureProgressTopic(this.admin, this.progressTopic);
    await this.take();
    const done = [...this.progress.values()].filter((p) => p.done).length;
    this.log.info({ dir: this.o.dir, progressTopic: this.progressTopic, filesDone: done, filesStarted: this.progress.size - done }, 'follower running');
    this.state = 'running';
    this.progressLog = startProgressLog({
      intervalMs: this.o.config.progressInterval,
      log: this.log,
      snapshot: () => ({ ...this.counts, reading: this.current }),
      describe: (s) =>
        `ingest-follow: ${count(s.files)} files done, ${count(s.documents)} documents committed to ${this.rawTopic}, ` +
        `${count(s.rejected)} rejected, ${count(s.skipped)} records skipped (not content); ${s.reading === null ? 'waiting for closed files' : `reading ${s.reading}`}`,
    });
    this.loop = this.follow();
  }

  readiness(): { ready: boolean; checks: Record<string, boolean> } {
    const checks = { running: this.state === 'running', broker: this.lastCommitOk };
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /** Resolves when the follower stops; rejects when it fails (fenced by another instance). */
  done(): Promise<void> {
    return this.loop;
  }

  /** Stops after the transaction in progress: what it read beyond that is read again next time. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.progressLog?.stop();
    const failed = this.state === 'failed';
    if (!failed) this.state = 'draining';
    this.abort.abort();
    await this.loop.catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
    this.state = failed ? 'failed' : 'stopped';
    this.log.info(this.counts, 'follower stopped');
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async follow(): Promise<void> {
    for (let failures = 0; !this.stopping; ) {
      try {
        const { present, closed } = await this.files.scan();
        this.forgetGone(present);
        for (const file of closed) {
          if (this.stopping) break;
          if (this.isDone(file)) continue;
          this.current = file.name;
          try {
            await this.ingestFile(file);
          } finally {
            this.current = null;
          }
        }
        failures = 0;
        await wait(this.o.config.ingest.follow.pollInterval, this.abort.signal);
      } catch (err) {
        const e = kafkaError(err, { operation: 'follow' });
        if (e.code === 'KAFKA_FENCED') return this.fail(new WebscaleError('KAFKA_FENCED', `another follower named ${this.name} took over: ${e.message}`, { cause: err }));
        this.lastCommitOk = false;
        this.log.error({ err: e, failures }, 'follower step failed; resuming from the committed progress');
        await wait(backoffDelay(failures++, RETRY), this.abort.signal);
        if (!this.stopping) await this.take().catch((takeErr: unknown) => this.log.warn({ err: takeErr }, 'could not take the follower name again yet'));
      }
    }
  }

  private fail(err: WebscaleError): Promise<void> {
    this.state = 'failed';
    this.log.error({ err }, 'follower failed');
    return Promise.reject(err);
  }

  /**
   * Progress of files no longer in the folder is forgotten: memory follows the folder, not
   * history. (Only files gone from the listing: a file present but not closed right now, being
   * rewritten, keeps its progress, or it would be read again.)
   */
  private forgetGone(present: ReadonlySet<string>): void {
    for (const name of [...this.progress.keys()]) if (!present.has(name)) this.progress.delete(name);
  }

  private isDone(file: FileSeen): boolean {
    const p = this.progress.get(file.name);
    if (!p?.done) return false;
    if ((p.size !== file.size || p.mtime_ms !== file.mtimeMs) && !this.warnedChanged.has(file.name)) {
      this.warnedChanged.add(file.name);
      this.log.warn({ file: file.name }, 'file changed after it was ingested; not read again (write a new file instead)');
    }
    return true;
  }

  private async openProducer(): Promise<void> {
    const producer = createProducer(this.o.kafka, {
      transactionalId: this.name,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.o.config.kafka.transactionTimeout,
      allowAutoTopicCreation: false,
    });
    try {
      // InitProducerId: fences every earlier producer of this name and aborts its open transaction.
      await producer.connect();
      const tx = await producer.transaction();
      await tx.abort();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw kafkaError(err, { operation: 'take follower name' });
    }
    this.producer = producer;
  }

  /**
   * Takes the follower's name (fencing any other instance, aborting what it left open), then reads
   * the progress: after a failure too, since another instance may have committed meanwhile.
   */
  private async take(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = null;
    await this.openProducer();
    const present = new Set((await this.files.list()).map((f) => f.name));
    this.progress = await loadProgress(this.o.kafka, this.progressTopic, this.name, present, `${this.o.config.kafka.topicPrefix}ingest-follow-`);
  }

  /** Reads one closed file from its committed progress to its end, a transaction per batch. */
  private async ingestFile(file: FileSeen): Promise<void> {
    const skip = this.progress.get(file.name)?.records ?? 0;
    const limits = this.o.config.ingest.follow;
    let index = 0;
    let batch = emptyBatch();
    let error: string | undefined;
    if (skip > 0) this.log.info({ file: file.name, skip }, 'resuming file after the records already committed');
    try {
      const input = await openInput(file.path);
      for await (const item of input.items) {
        index++;
        if (index <= skip) continue;
        if (this.stopping) return; // what this batch read is read again next time
        await this.add(batch, item, file.name);
        const due = batch.records >= limits.batchRecords || batch.bytes >= limits.batchBytes || Date.now() - batch.startedAt >= this.o.config.kafka.commitInterval;
        if (due) {
          await this.commit(file, index, false, batch);
          batch = emptyBatch();
        }
      }
    } catch (err) {
      const e = WebscaleError.from(err);
      if (e.code === 'KAFKA' || e.code === 'KAFKA_FENCED' || e.code === 'SCHEMA_REGISTRY') throw err;
      // The reader gave up on the file (unreadable, corrupt): what it yielded counts, the rest is rejected as a whole.
      error = e.message;
      await this.addRejection(batch, ingestRejection(`file:${file.name}`, 'input.unreadable', `${file.name}: after ${index} records: ${e.message}`));
    }
    if (this.stopping) return;
    await this.commit(file, Math.max(index, skip), true, batch, error);
    this.counts.files++;
    this.log.info({ file: file.name, records: Math.max(index, skip), error }, 'file ingested');
  }

  private async add(batch: Batch, item: InputItem, file: string): Promise<void> {
    batch.records++;
    if (item.kind === 'document') {
      const value = await this.o.codecs.for('Document', this.rawTopic).encode(item.doc);
      if (value.length <= this.o.config.ingest.maxMessageBytes) {
        this.push(batch, this.rawTopic, { key: item.doc.id, value });
        return;
      }
      return this.addRejection(batch, ingestRejection(item.doc.id, 'input.too_large', `${file}: document of ${value.length} bytes encoded, more than ${this.o.config.ingest.maxMessageBytes}`));
    }
    // A skipped record (a WARC request, a redirect) still counts as read, so a resume passes it.
    if (item.kind === 'skip') return;
    const r = item.rejection;
    await this.addRejection(batch, { ...r, detail: `${file}: ${r.detail}` });
  }

  private async addRejection(batch: Batch, r: Rejection): Promise<void> {
    this.push(batch, this.rejTopic, { key: r.doc_id, value: await this.o.codecs.for('Rejection', this.rejTopic).encode(r) });
    batch.rejected.push(r.reason);
  }

  private push(batch: Batch, topic: string, message: Message): void {
    let list = batch.messages.get(topic);
    if (!list) batch.messages.set(topic, (list = []));
    list.push(message);
    batch.bytes += (message.value as Buffer).length;
  }

  /** One transaction: the batch's records and the file's progress after them. */
  private async commit(file: FileSeen, records: number, done: boolean, batch: Batch, error?: string): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new WebscaleError('KAFKA', 'no producer (reopening after a failure)', { retryable: true });
    const progress: FileProgress = { follower: this.name, file: file.name, records, done, size: file.size, mtime_ms: file.mtimeMs, updated_at: Date.now(), ...(error ? { error } : {}) };
    const t0 = performance.now();
    const tx = await producer.transaction();
    try {
      for (const topicMessages of produceRequests(batch.messages)) await tx.sendBatch({ topicMessages, acks: -1 });
      await tx.send({ topic: this.progressTopic, messages: [{ key: progressKey(this.name, file.name), value: JSON.stringify(progress) }], acks: -1 });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw kafkaError(err, { operation: 'commit', topic: this.rawTopic });
    }
    this.progress.set(file.name, progress);
    this.lastCommitOk = true;
    this.account(batch, (performance.now() - t0) / 1000);
  }

  private account(batch: Batch, seconds: number): void {
    const m = this.o.metrics;
    this.counts.commits++;
    m?.commit(seconds, 'ok');
    for (const [topic, messages] of batch.messages) {
      if (topic === this.rawTopic) this.counts.documents += messages.length;
      m?.produced(topic, messages.length);
    }
    for (const reason of batch.rejected) {
      this.counts.rejected++;
      m?.rejected(reason);
    }
  }
}
