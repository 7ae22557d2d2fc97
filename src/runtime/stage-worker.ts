/**
 * The Kafka stage worker: one stage as one member of consumer group `<prefix><stage>`.
 *
 * The consume loop never waits for the LLM (kafkajs heartbeats run from that loop): each fetched
 * record is handed to the `PartitionOwner` of its partition and processed in the background, with
 * the LLM calls of the whole worker capped by a limiter. The policies live in small units:
 * - `partition-owner.ts`: fencing and commits. Every input partition has its own transactional
 *   producer whose id is the same whichever pod owns it; taking a partition fences every earlier
 *   owner, so a worker that was frozen past its session timeout can never commit outputs or
 *   offsets for a partition it lost. Outputs and the partition's offset go into one transaction
 *   every `commitInterval`; finished offsets beyond the committed one travel in the commit
 *   metadata (`offset-tracker.ts`, the Confluent Parallel Consumer scheme).
 * - `backpressure.ts`: intake pauses on records in flight and on bytes of finished outputs held
 *   for their commit, so memory is bounded by configuration, never by one stuck record.
 * - `record-policy.ts`: what a failed record gets (retry with the LLM layer's backoff, an outage
 *   pause, or the DLQ after `maxRecordAttempts` or `maxRecordAge` while others succeed).
 * Downstream reads read_committed.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Admin, Consumer, EachMessagePayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { DeadLetter, LlmStage, Rejection } from '../core/records.js';
import { TopicCodecs } from '../codec/index.js';
import { groupName, topicName } from '../kafka/index.js';
import { ConcurrencyLimiter, limitRouter } from '../llm/limiter.js';
import { backoffDelay } from '../llm/retry.js';
import type { LlmRouter } from '../llm/types.js';
import type { StageRecorder } from '../metrics/index.js';
import type { Decontaminator } from '../stages/decontaminate.js';
import type { FewshotLibrary } from '../stages/fewshot.js';
import type { StageContext } from '../stages/types.js';
import { intakeLimits, pauseReason, type IntakeLimits, type PauseReason } from './backpressure.js';
import { observeRouter } from './metered.js';
import { PartitionOwner, type OutMessage } from './partition-owner.js';
import { decideFailure, RECORD_BACKOFF, TRANSIENT_CODES, type RecordFailurePolicy } from './record-policy.js';
import { STAGE_BINDINGS, type StageBinding } from './stage-bindings.js';

export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface StageWorkerOptions {
  stage: LlmStage;
  config: Config;
  kafka: Kafka;
  /** The LLM router, not yet limited: the worker applies `config.concurrency`. */
  llm: LlmRouter;
  fewshot: FewshotLibrary;
  decontaminator: Decontaminator;
  logger: Logger;
  metrics?: StageRecorder;
  /** Names this worker in logs and client ids (pod name); fencing does not depend on it. */
  instanceId?: string;
  /** Records in flight above which intake pauses (resumed at two thirds); default 3 x concurrency. */
  highWater?: number;
  /** Consecutive retry-exhausted LLM failures that count as an outage; default 3. */
  outageThreshold?: number;
  /**
   * A real request that proves the LLM can serve this stage. Until it succeeds the worker does not
   * join its group (consumes nothing, reports unready) and retries it with backoff.
   */
  probeLlm?: (signal: AbortSignal) => Promise<void>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** Longest the consume loop waits for a partition to be taken before restarting the consumer. */
const OPEN_WAIT_MS = 10_000;

export class StageWorker {
  state: WorkerState = 'starting';
  readonly binding: StageBinding;
  readonly groupId: string;
  readonly inputTopic: string;
  private readonly opts: StageWorkerOptions;
  private readonly log: Logger;
  private readonly consumer: Consumer;
  private readonly admin: Admin;
  private readonly limiter: ConcurrencyLimiter;
  private readonly ctx: StageContext;
  private readonly codecs: TopicCodecs;
  private readonly limits: IntakeLimits;
  private readonly failurePolicy: RecordFailurePolicy;
  /** Partitions owned now (fenced in, offsets read). */
  private readonly owners = new Map<number, PartitionOwner>();
  /** Partitions being taken: the consume loop waits for these before handing records over. */
  private readonly opening = new Map<number, Promise<PartitionOwner | null>>();
  /** Bumped on every group join: an open that finishes after a newer join is discarded. */
  private generation = 0;
  private readonly abort = new AbortController();
  private paused = false;
  private pausedFor: PauseReason | null = null;
  private outage = false;
  private llmReady: boolean;
  private consecutiveLlmFailures = 0;
  private llmSuccesses = 0;
  private joined = false;
  private consumerStarted = false;
  private committing: Promise<void> | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private fatal: Error | null = null;
  private lastCommitOk = true;
  /** Totals, for tests and the shutdown log line. */
  readonly counts = { consumed: 0, skipped: 0, produced: 0, rejected: 0, deadLettered: 0, commits: 0, fenced: 0 };

  constructor(opts: StageWorkerOptions) {
    this.opts = opts;
    const { config, stage } = opts;
    this.binding = STAGE_BINDINGS[stage];
    this.groupId = groupName(config.kafka.topicPrefix, stage);
    this.inputTopic = topicName(config.kafka.topicPrefix, this.binding.inputSuffix);
    this.log = opts.logger.child({ stage });
    this.codecs = new TopicCodecs(config.kafka.schemaRegistryUrl);
    // Every LLM request in flight listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    // Records in flight count both those in an LLM call and those queued for a slot; resuming
    // while a full slot's worth is still queued keeps the LLM busy across the next fetch.
    this.limits = intakeLimits(opts.highWater ?? Math.max(3, config.concurrency * 3), config.kafka.maxUncommittedBytes);
    this.failurePolicy = {
      maxRecordAttempts: config.kafka.maxRecordAttempts,
      maxRecordAgeMs: config.kafka.maxRecordAge,
      outageThreshold: opts.outageThreshold ?? 3,
      backoff: RECORD_BACKOFF,
    };
    this.llmReady = opts.probeLlm === undefined;
    this.limiter = new ConcurrencyLimiter(config.concurrency);
    const metrics = opts.metrics;
    // Observed inside the limiter, so latency metrics measure the call, not the wait for a slot.
    const llm = limitRouter(observeRouter(opts.llm, {
      onSuccess: (_stage, completion, ms, client) => {
        this.llmSuccesses++;
        this.consecutiveLlmFailures = 0;
        if (this.outage) this.endOutage();
        metrics?.llmRequest({
          model: client.model,
          outcome: 'ok',
          seconds: ms / 1000,
          promptTokens: completion.usage.prompt_tokens,
          completionTokens: completion.usage.completion_tokens,
        });
      },
      onError: (_s, err, ms, client) => metrics?.llmRequest({ model: client.model, outcome: err.code, seconds: ms / 1000 }),
    }), this.limiter);
    this.ctx = {
      llm,
      logger: this.log,
      signal: this.abort.signal,
      config,
      fewshot: opts.fewshot,
      decontaminator: opts.decontaminator,
    };
    this.consumer = opts.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: config.kafka.sessionTimeout,
      heartbeatInterval: Math.max(1000, Math.floor(config.kafka.sessionTimeout / 10)),
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxWaitTimeInMs: config.kafka.fetchMaxWait,
      // A broker restart or a coordinator move must not end the worker: kafkajs restarts the
      // consumer after any crash, and the committed offsets make the restart lossless.
      retry: { restartOnFailure: () => Promise.resolve(true) },
    });
    this.admin = opts.kafka.admin();
    metrics?.onInFlight(() => this.inFlight);
    metrics?.onOldestInFlightAge(() => this.oldestInFlightAgeSeconds());
    metrics?.onUncommittedBytes(() => this.heldBytes);
    this.log.debug({ instance: opts.instanceId ?? `${hostname()}-${process.pid}` }, 'stage worker created');
  }

  /** Records taken from the input and not finished yet, over every owned partition. */
  get inFlight(): number {
    let n = 0;
    for (const o of this.owners.values()) n += o.startedAt.size;
    return n;
  }

  /** Bytes of finished outputs waiting for their commit, over every owned partition. */
  get heldBytes(): number {
    let n = 0;
    for (const o of this.owners.values()) n += o.heldBytes;
    return n;
  }

  async start(): Promise<void> {
    const { consumer } = this;
    consumer.on(consumer.events.REBALANCING, () => {
      this.joined = false;
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onGroupJoin(event.payload.memberAssignment[this.inputTopic] ?? []));
    consumer.on(consumer.events.CRASH, (event) => {
      const err = event.payload.error;
      this.log.error({ err, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.fail(err);
    });
    await this.admin.connect();
    await this.waitForLlm();
    if (this.state !== 'starting') return;
    await consumer.connect();
    this.consumerStarted = true;
    await consumer.subscribe({ topic: this.inputTopic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachMessage: (payload) => this.onMessage(payload),
    });
    this.commitTimer = setInterval(() => void this.commit(), this.opts.config.kafka.commitInterval);
    this.state = 'running';
    this.log.info({ group: this.groupId, topic: this.inputTopic, concurrency: this.opts.config.concurrency }, 'stage worker running');
  }

  /**
   * Until the LLM has answered a real request for this stage, the worker stays out of its group:
   * it consumes nothing, so a wrong URL, key or model name cannot send the input to the DLQ.
   */
  private async waitForLlm(): Promise<void> {
    const probe = this.opts.probeLlm;
    if (!probe) return;
    let lastMessage = '';
    for (let attempt = 0; this.state === 'starting'; attempt++) {
      try {
        await probe(this.abort.signal);
        this.llmReady = true;
        if (attempt > 0) this.log.warn('LLM answers: joining the group');
        return;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        const e = WebscaleError.from(err);
        if (e.message !== lastMessage) this.log.error({ code: e.code, context: e.context }, `LLM cannot serve stage ${this.binding.stage}: ${e.message}; not consuming until it does`);
        lastMessage = e.message;
        await sleep(backoffDelay(attempt, { maxRetries: 0, ...RECORD_BACKOFF }) + 500, this.abort.signal);
      }
    }
  }

  /**
   * Group membership settled. Partitions we lost are released (their results dropped: the new
   * owner fences us and starts from the committed offset). Partitions we kept are taken again,
   * because we may have lost and regained them while frozen: if nobody committed meanwhile our
   * work in flight stays valid, else it is dropped. New partitions are taken.
   */
  private onGroupJoin(assigned: number[]): void {
    const generation = ++this.generation;
    const keep = new Set(assigned);
    for (const [p, owner] of [...this.owners]) {
      if (keep.has(p)) continue;
      this.owners.delete(p);
      void owner.close();
      this.opts.metrics?.clearCommittedLag(this.inputTopic, p);
    }
    for (const p of [...this.opening.keys()]) if (!keep.has(p)) this.opening.delete(p);
    for (const p of assigned) {
      // A kept partition leaves the commit loop while it is taken again (see take()).
      const previous = this.owners.get(p);
      this.owners.delete(p);
      this.opening.set(p, this.take(p, generation, previous));
    }
    this.joined = true;
    this.log.info({ partitions: assigned }, 'joined group');
    this.notifyIdle();
    // A consumer restarted by kafkajs forgets its paused partitions, one that merely rejoined
    // keeps them: decide afresh and tell kafkajs either way.
    this.updatePause(true);
  }

  /** Fence the partition in and read where it stands; retried until it works or the partition is gone. */
  private async take(partition: number, generation: number, previous: PartitionOwner | undefined): Promise<PartitionOwner | null> {
    // Flush what the previous life of the partition finished (fenced already if we had lost it).
    if (previous) await previous.commit().catch(() => undefined);
    for (let attempt = 0; ; attempt++) {
      if (generation !== this.generation || this.abort.signal.aborted) {
        if (previous) await previous.close();
        return null;
      }
      try {
        const owner = await PartitionOwner.open({
          kafka: this.opts.kafka,
          admin: this.admin,
          groupId: this.groupId,
          topic: this.inputTopic,
          partition,
          transactionTimeout: this.opts.config.kafka.transactionTimeout,
          metadataBudget: this.opts.config.kafka.commitMetadataBytes,
          logger: this.log,
        });
        if (generation !== this.generation) {
          await owner.close();
          return null;
        }
        if (previous && previous.active && previous.sameCommitAs(owner)) {
          // Nobody committed for the partition since our last commit: our work in flight holds.
          previous.adoptProducerOf(owner);
          this.owners.set(partition, previous);
        } else {
          if (previous) await previous.close();
          this.owners.set(partition, owner);
        }
        this.opening.delete(partition);
        return this.owners.get(partition) ?? null;
      } catch (err) {
        this.log.warn({ err, partition, attempt }, 'could not take partition yet; retrying');
        await sleep(backoffDelay(attempt, { maxRetries: 0, backoffInitial: 200, backoffMax: 5000 }), this.abort.signal);
      }
    }
  }

  private async ownerFor(partition: number): Promise<PartitionOwner | null> {
    const opening = this.opening.get(partition);
    if (opening) {
      // The partition cannot be processed before it is ours. kafkajs heartbeats between
      // messages, so do not hold the loop past the session timeout: restart the consumer instead
      // (it re-fetches from the committed offset after rejoining).
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), OPEN_WAIT_MS).unref());
      const owner = await Promise.race([opening, timeout]);
      if (owner === 'timeout') throw new WebscaleError('KAFKA', `partition ${partition} could not be taken within ${OPEN_WAIT_MS} ms`, { retryable: true });
      return owner;
    }
    return this.owners.get(partition) ?? null;
  }

  private async onMessage({ partition, message }: EachMessagePayload): Promise<void> {
    if (this.state !== 'running' && this.state !== 'starting') return;
    const owner = await this.ownerFor(partition);
    // Not ours (lost, or fenced by a newer owner): every later record of it is skipped too, until
    // a group join hands it back and kafkajs fetches again from the committed offset.
    if (owner === null || !owner.active) return;
    const offset = BigInt(message.offset);
    if (!owner.accept(offset)) {
      this.counts.skipped++;
      return;
    }
    this.counts.consumed++;
    this.opts.metrics?.consumed(this.inputTopic);
    void this.process(owner, offset, message.key, message.value);
    this.updatePause();
  }

  private updatePause(force = false): void {
    const reason = pauseReason(
      { inFlight: this.inFlight, uncommittedBytes: this.heldBytes, draining: this.state === 'draining', outage: this.outage, llmReady: this.llmReady },
      this.limits,
      this.paused,
    );
    if (reason === 'uncommitted-bytes' && this.pausedFor !== 'uncommitted-bytes') {
      this.log.warn({ heldBytes: this.heldBytes, maxUncommittedBytes: this.limits.maxUncommittedBytes }, 'pausing intake: finished outputs wait behind a record still in flight');
    }
    this.pausedFor = reason;
    const shouldPause = reason !== null;
    if (!this.consumerStarted) return;
    if (shouldPause && (force || !this.paused)) {
      this.consumer.pause([{ topic: this.inputTopic }]);
      this.paused = true;
    } else if (!shouldPause && (force || this.paused)) {
      this.consumer.resume([{ topic: this.inputTopic }]);
      this.paused = false;
    }
  }

  private endOutage(): void {
    this.outage = false;
    this.log.warn('LLM answers again: resuming consumption');
    this.updatePause();
  }

  /** A signal for one attempt: the worker's, plus the record's age limit while it has not passed. */
  private attemptSignal(startedAt: number): AbortSignal {
    const left = startedAt + this.failurePolicy.maxRecordAgeMs - Date.now();
    return left > 0 ? AbortSignal.any([this.abort.signal, AbortSignal.timeout(left)]) : this.abort.signal;
  }

  /** Runs the stage on one record until it has a final result: outputs, rejections or a dead letter. */
  private async process(owner: PartitionOwner, offset: bigint, key: Buffer | null, value: Buffer | null): Promise<void> {
    const b = this.binding;
    const startedAt = owner.startedAt.get(offset) ?? Date.now();
    try {
      let input: unknown;
      try {
        if (value === null) throw new WebscaleError('CODEC', 'record has no value (tombstone)');
        input = await this.codecs.for(b.inputType, this.inputTopic).decode(value);
      } catch (err) {
        return this.finish(owner, offset, [await this.deadLetter(owner.partition, offset, key, value, WebscaleError.from(err, 'CODEC'))]);
      }
      let attempts = 0;
      let successesAtFirstFailure = -1;
      for (;;) {
        const signal = this.attemptSignal(startedAt);
        try {
          const result = await b.fn(input as never, { ...this.ctx, signal });
          return this.finish(owner, offset, await this.encodeResult(result));
        } catch (err) {
          let e = WebscaleError.from(err);
          if (e.code === 'LLM_ABORTED' && !this.abort.signal.aborted) {
            // Our own age limit cut the call: the record is due for the DLQ if others succeed.
            e = new WebscaleError('LLM_TIMEOUT', `record still failing after maxRecordAge (${this.failurePolicy.maxRecordAgeMs} ms)`, { retryable: true, cause: err });
          }
          attempts++;
          if (successesAtFirstFailure < 0) successesAtFirstFailure = this.llmSuccesses;
          if (TRANSIENT_CODES.has(e.code)) this.consecutiveLlmFailures++;
          const decision = decideFailure(
            {
              code: e.code,
              attempts,
              ageMs: Date.now() - startedAt,
              othersSucceeded: this.llmSuccesses > successesAtFirstFailure,
              consecutiveFailures: this.consecutiveLlmFailures,
              shuttingDown: this.abort.signal.aborted,
            },
            this.failurePolicy,
          );
          switch (decision.action) {
            case 'abandon':
              return this.abandon(owner, offset);
            case 'dead-letter': {
              const detail = decision.why === 'record-specific' ? e : new WebscaleError(e.code, `gave up after ${attempts} attempts in ${Math.round((Date.now() - startedAt) / 1000)} s (${decision.why === 'age' ? 'maxRecordAge' : 'maxRecordAttempts'}) while other records succeeded: ${e.message}`);
              return this.finish(owner, offset, [await this.deadLetter(owner.partition, offset, key, value, detail)]);
            }
            case 'retry':
              if (decision.outage && !this.outage) {
                this.outage = true;
                this.log.error({ err: e }, 'LLM outage: pausing consumption until it answers again');
                this.updatePause();
              }
              this.log.warn({ offset: String(offset), partition: owner.partition, code: e.code, attempts, delay: decision.delayMs }, 'LLM failed for record; will retry');
              await sleep(decision.delayMs, this.abort.signal);
              if (this.abort.signal.aborted) return this.abandon(owner, offset);
              if (!owner.active) return; // lost the partition meanwhile: the new owner redoes it
              break;
          }
        }
      }
    } catch (err) {
      // Encoding outputs or building the dead letter failed: nothing sane to commit for it.
      this.log.error({ err, offset: String(offset), partition: owner.partition }, 'record failed unexpectedly; left uncommitted');
      this.fail(err as Error);
    }
  }

  private async encodeResult(result: Awaited<ReturnType<StageBinding['fn']>>): Promise<OutMessage[]> {
    const b = this.binding;
    const out: OutMessage[] = [];
    const outTopic = this.topic(b.outputSuffix);
    for (const o of result.outputs) {
      out.push({ topic: outTopic, message: { key: b.keyOf(o as never), value: await this.codecs.for(b.outputType, outTopic).encode(o) } });
    }
    const rejTopic = this.topic('rejections');
    for (const r of result.rejections) {
      out.push({ topic: rejTopic, message: { key: r.doc_id, value: await this.codecs.for('Rejection', rejTopic).encode(r satisfies Rejection) } });
      this.opts.metrics?.rejected(r.reason);
      this.counts.rejected++;
    }
    return out;
  }

  private topic(suffix: string): string {
    return topicName(this.opts.config.kafka.topicPrefix, suffix);
  }

  private async deadLetter(partition: number, offset: bigint, key: Buffer | null, value: Buffer | null, err: WebscaleError): Promise<OutMessage> {
    const topic = this.topic('dlq');
    const letter: DeadLetter = {
      source_topic: this.inputTopic,
      partition,
      offset: String(offset),
      key,
      value,
      error_code: err.code,
      error: err.message.slice(0, 4000),
      stage: this.binding.stage,
      created_at: Date.now(),
    };
    this.counts.deadLettered++;
    this.opts.metrics?.deadLettered(err.code);
    this.log.warn({ partition, offset: String(offset), code: err.code, error: err.message }, 'record dead-lettered');
    return { topic, message: { key, value: await this.codecs.for('DeadLetter', topic).encode(letter) } };
  }

  private finish(owner: PartitionOwner, offset: bigint, out: OutMessage[]): void {
    // The partition may have moved to another worker meanwhile: then our result is dropped.
    owner.finish(offset, out);
    this.updatePause();
    this.notifyIdle();
  }

  /** Leave a record unfinished (shutdown): its offset stays uncommitted and it is processed again. */
  private abandon(owner: PartitionOwner, offset: bigint): void {
    owner.abandon(offset);
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.inFlight > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  oldestInFlightAgeSeconds(): number | undefined {
    let oldest = Infinity;
    for (const o of this.owners.values()) for (const t of o.startedAt.values()) oldest = Math.min(oldest, t);
    return oldest === Infinity ? undefined : (Date.now() - oldest) / 1000;
  }

  /** Commit finished work of every owned partition (each its own transaction). Serialised. */
  commit(): Promise<void> {
    this.committing ??= this.commitAll().finally(() => {
      this.committing = null;
    });
    return this.committing;
  }

  private async commitAll(): Promise<void> {
    if (this.fatal) return;
    const owners = [...this.owners.values()].filter((o) => o.active);
    let failed = false;
    let committed = false;
    await Promise.all(
      owners.map(async (owner) => {
        try {
          const r = await owner.commit();
          if (r.outcome === 'ok') {
            committed = true;
            this.counts.commits++;
            this.opts.metrics?.commit(r.seconds, 'ok');
            for (const [topic, n] of r.produced) {
              this.counts.produced += n;
              this.opts.metrics?.produced(topic, n);
            }
          } else if (r.outcome === 'fenced') {
            this.opts.metrics?.commit(r.seconds, 'fenced');
            this.onFenced(owner, r.error);
          }
        } catch (err) {
          failed = true;
          this.opts.metrics?.commit(0, 'failed');
          this.log.error({ err, partition: owner.partition }, 'commit failed; will retry');
        }
      }),
    );
    this.lastCommitOk = !failed;
    this.updatePause();
    if (committed) void this.updateLag();
  }

  /** A newer owner took the partition while we were not looking (frozen, partitioned): let go. */
  private onFenced(owner: PartitionOwner, err: WebscaleError): void {
    if (this.owners.get(owner.partition) === owner) this.owners.delete(owner.partition);
    this.counts.fenced++;
    this.opts.metrics?.fenced();
    this.opts.metrics?.clearCommittedLag(this.inputTopic, owner.partition);
    this.log.warn({ partition: owner.partition, err }, 'partition taken over by a newer owner: its uncommitted work here is dropped');
    void owner.close();
    this.notifyIdle();
  }

  private async updateLag(): Promise<void> {
    const metrics = this.opts.metrics;
    if (!metrics) return;
    try {
      const ends = await this.admin.fetchTopicOffsets(this.inputTopic);
      for (const owner of this.owners.values()) {
        const end = ends.find((e) => e.partition === owner.partition);
        const committed = owner.committedOffset;
        if (end && committed !== null) metrics.setCommittedLag(this.inputTopic, owner.partition, Math.max(0, Number(BigInt(end.high) - committed)));
      }
    } catch {
      // lag is best effort
    }
  }

  private fail(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.state = 'failed';
    this.log.error({ err }, 'stage worker failed');
    this.abort.abort();
    for (const w of this.failWaiters) w(err);
  }

  private failWaiters: ((err: Error) => void)[] = [];
  /** Resolves never; rejects when the worker fails on its own (consumer crash, a bug). */
  failed(): Promise<never> {
    return new Promise((_, reject) => {
      if (this.fatal) reject(this.fatal);
      else this.failWaiters.push(reject);
    });
  }

  /** Readiness: joined the group, last commit fine, LLM proven and not in an outage. */
  readiness(): { ready: boolean; checks: Record<string, boolean> } {
    const checks = { running: this.state === 'running', joined_group: this.joined, broker: this.lastCommitOk, llm: this.llmReady && !this.outage };
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /**
   * Graceful stop: stop intake, let records in flight finish within the grace period, commit,
   * leave the group. Records still unfinished after the grace period are left uncommitted: the
   * next owner of their partition processes them (nothing lost, nothing repeated in the output).
   */
  async stop(graceMs = this.opts.config.kafka.shutdownGrace): Promise<void> {
    if (this.state === 'stopped') return;
    const wasFailed = this.state === 'failed';
    const wasRunning = this.state === 'running';
    this.state = 'draining';
    this.updatePause();
    if (!wasRunning) this.abort.abort(); // still probing the LLM: nothing to drain
    if (!wasFailed && this.inFlight > 0) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      await Promise.race([idle, sleep(graceMs)]);
    }
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (!wasFailed && wasRunning) await this.commit();
    this.abort.abort();
    const unfinished = this.inFlight;
    if (this.consumerStarted) await this.consumer.disconnect().catch((err: unknown) => this.log.warn({ err }, 'consumer disconnect failed'));
    await Promise.all([...this.owners.values()].map((o) => o.close()));
    this.owners.clear();
    await this.admin.disconnect().catch(() => undefined);
    this.state = wasFailed ? 'failed' : 'stopped';
    this.log.info({ ...this.counts, unfinished }, 'stage worker stopped');
  }
}
