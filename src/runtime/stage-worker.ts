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
 * - `commit-schedule.ts`: when each partition commits (once per `commitInterval`, each at its
 *   own phase, never two commits of one partition at once).
 * - `record-policy.ts`: what a failed record gets (retry with the LLM layer's backoff, an outage
 *   pause, or the DLQ after `maxRecordAttempts` or `maxRecordAge` while others succeed);
 *   `record-runner.ts` runs a record through the stage under that policy.
 * - `input-offsets.ts`: what the worker asks the broker beside consuming (lag, where a partition
 *   starts, whether the group still assigns a fenced partition here); `worker-progress.ts`: the
 *   progress line; `metered.ts`: what each LLM call tells the metrics, the budget and the
 *   outage detector.
 * The dedup stage runs in the same worker (no LLM call): it also replays and appends to the
 * dedup claims log (`dedup/claim-log.ts`), which is what makes all dedup workers decide alike.
 * Downstream reads read_committed.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Admin, Consumer, EachMessagePayload, IHeaders, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { WorkerStage } from '../core/records.js';
import { TopicCodecs } from '../codec/index.js';
import { groupName, isAuthorizationFailure, topicName } from '../kafka/index.js';
import { ConcurrencyLimiter, limitRouter } from '../llm/limiter.js';
import { backoffDelay } from '../llm/retry.js';
import type { Budget } from '../llm/budget.js';
import type { LlmRouter } from '../llm/types.js';
import type { StageRecorder } from '../metrics/index.js';
import { ClaimLog } from '../dedup/claim-log.js';
import type { Decontaminator } from '../stages/decontaminate.js';
import type { FewshotLibrary } from '../stages/fewshot.js';
import type { StageContext } from '../stages/types.js';
import { intakeLimits, pauseReason, type IntakeLimits, type PauseReason } from './backpressure.js';
import { observeRouter, observeWorkerCalls } from './metered.js';
import { OwnedPartitions } from './owned-partitions.js';
import { CommitSchedule, type CommitHooks } from './commit-schedule.js';
import { InputOffsets } from './input-offsets.js';
import { startProgressLog, type ProgressLog } from './progress-log.js';
import { PartitionOwner, type OutMessage } from './partition-owner.js';
import { RECORD_BACKOFF, type RecordFailurePolicy } from './record-policy.js';
import { LlmHealth, RecordRunner } from './record-runner.js';
import { DEDUP_CLAIMS_SUFFIX, inputSuffixOf, STAGE_BINDINGS, type StageBinding } from './stage-bindings.js';
import { wait } from './wait.js';
import { describeWorkerProgress, type WorkerProgress, type WorkerState } from './worker-progress.js';

export type { WorkerProgress, WorkerState };

/**
 * Whether a consumer crash only says that no broker answered (a restart, a network cut): kafkajs
 * marks some of these non-retriable, yet waiting is the whole cure.
 */
function brokerAway(err: Error): boolean {
  const names = new Set(['KafkaJSGroupCoordinatorNotFound', 'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSRequestTimeoutError']);
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) if (names.has(e.name)) return true;
  return false;
}

export interface StageWorkerOptions {
  /** One of the worker stages, or the binding of a worker that is none of them (the crawl bridge). */
  stage: WorkerStage | StageBinding;
  /** Consumer group; default `<prefix><stage>`. */
  groupId?: string;
  /** Full name of the input topic; default `<prefix><binding's input topic>`. */
  inputTopic?: string;
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
  /** The spending budget (shared through the quota board): once reached, intake pauses for good. */
  budget?: Budget;
  /**
   * Batch mode (`stage generate|check --batch`, `src/llm/batch/`): `wrap` turns the worker's
   * online router (capped at `concurrency`, observed for metrics) into the batching router the
   * stage calls; intake pauses at `inFlight` records in flight instead of 3 x concurrency, and
   * the record age limit is at least `minRecordAgeMs` (a record waits for its batch for hours).
   */
  batch?: { wrap: (online: LlmRouter) => LlmRouter; inFlight: number; minRecordAgeMs: number };
}


export class StageWorker {
  state: WorkerState = 'starting';
  readonly binding: StageBinding;
  readonly groupId: string;
  readonly inputTopic: string;
  private readonly opts: StageWorkerOptions;
  private readonly log: Logger;
  private readonly consumer: Consumer;
  private readonly admin: Admin;
  private readonly offsets: InputOffsets;
  private readonly commits: CommitSchedule<PartitionOwner>;
  private readonly limits: IntakeLimits;
  private readonly partitions: OwnedPartitions;
  private readonly runner: RecordRunner;
  private readonly health: LlmHealth;
  private readonly codecs: TopicCodecs;
  private readonly abort = new AbortController();
  /** The dedup stage's claims log (replayed to its end before the worker joins its group). */
  readonly claims: ClaimLog | null;
  private paused = false;
  private pausedFor: PauseReason | null = null;
  private llmReady: boolean;
  private joined = false;
  /** This worker's member id in its group, from the last join. */
  private memberId = '';
  /** Group joins so far: a reclaim started before a join leaves the partition to that join. */
  private joins = 0;
  private consumerStarted = false;
  private commitTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private fatal: Error | null = null;
  private lastCommitOk = true;
  /**
   * Totals, for tests, the progress line and the shutdown log line. `produced` counts every
   * committed message (outputs, rejections, dead letters), `output` those on the output topic.
   */
  readonly counts = { consumed: 0, skipped: 0, produced: 0, output: 0, rejected: 0, deadLettered: 0, commits: 0, fenced: 0 };
  private readonly producedByTopic = new Map<string, number>();
  private readonly outputTopic: string;
  private readonly limiter: ConcurrencyLimiter;
  private progress: ProgressLog | null = null;

  /** Records committed to `topic` by this worker (the check stage's verified QA pairs, for the cost per pair). */
  producedTo(topic: string): number {
    return this.producedByTopic.get(topic) ?? 0;
  }

  constructor(opts: StageWorkerOptions) {
    this.opts = opts;
    const { config, stage } = opts;
    this.binding = typeof stage === 'string' ? STAGE_BINDINGS[stage] : stage;
    this.groupId = opts.groupId ?? groupName(config.kafka.topicPrefix, this.binding.stage);
    this.inputTopic = opts.inputTopic ?? topicName(config.kafka.topicPrefix, inputSuffixOf(this.binding, config));
    this.log = opts.logger.child({ stage: this.binding.stage, instance: opts.instanceId ?? `${hostname()}-${process.pid}` });
    const codecs = TopicCodecs.fromConfig(config, { kafka: opts.kafka, log: this.log });
    this.codecs = codecs;
    // Every LLM request in flight listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    // Records in flight count both those in an LLM call and those queued for a slot; resuming
    // while a full slot's worth is still queued keeps the LLM busy across the next fetch.
    this.limits = intakeLimits(opts.highWater ?? opts.batch?.inFlight ?? Math.max(3, config.concurrency * 3), config.kafka.maxUncommittedBytes);
    const policy: RecordFailurePolicy = {
      maxRecordAttempts: config.kafka.maxRecordAttempts,
      maxRecordAgeMs: Math.max(config.kafka.maxRecordAge, opts.batch?.minRecordAgeMs ?? 0),
      outageThreshold: opts.outageThreshold ?? 3,
      backoff: RECORD_BACKOFF,
    };
    this.llmReady = opts.probeLlm === undefined;
    const limiter = new ConcurrencyLimiter(config.concurrency);
    this.limiter = limiter;
    this.outputTopic = topicName(config.kafka.topicPrefix, this.binding.outputSuffix);
    const metrics = opts.metrics;
    this.health = new LlmHealth((outage) => {
      if (!outage) this.log.warn('LLM answers again: resuming consumption');
      this.updatePause();
    });
    // Observed inside the limiter, so latency metrics measure the call, not the wait for a slot.
    const llm = limitRouter(observeWorkerCalls(opts.llm, { health: this.health, budget: opts.budget, metrics }), limiter);
    this.claims =
      stage === 'dedup'
        ? new ClaimLog({
            kafka: opts.kafka,
            config: config.pipeline.dedup,
            topic: topicName(config.kafka.topicPrefix, DEDUP_CLAIMS_SUFFIX),
            groupPrefix: config.kafka.topicPrefix,
            codecs,
            log: this.log,
            fetchMaxWait: config.kafka.fetchMaxWait,
          })
        : null;
    const ctx: StageContext = {
      // A batch's answer proves the LLM serves as much as an online one (ends an outage).
      llm: opts.batch === undefined ? llm : observeRouter(opts.batch.wrap(llm), { onSuccess: () => this.health.success() }),
      logger: this.log,
      signal: this.abort.signal,
      config,
      fewshot: opts.fewshot,
      decontaminator: opts.decontaminator,
      ...(this.claims ? { dedup: this.claims } : {}),
    };
    this.consumer = opts.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: config.kafka.sessionTimeout,
      heartbeatInterval: Math.max(1000, Math.floor(config.kafka.sessionTimeout / 10)),
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxBytes: config.kafka.fetchMaxBytes,
      maxBytesPerPartition: config.kafka.fetchMaxBytes,
      maxWaitTimeInMs: config.kafka.fetchMaxWait,
      // A broker restart or a coordinator move must not end the worker: kafkajs restarts the
      // consumer after any crash, and the committed offsets make the restart lossless. An ACL
      // refusal is not passing: the worker fails and says so instead of crash-looping.
      retry: { restartOnFailure: (err) => Promise.resolve(!isAuthorizationFailure(err)) },
    });
    this.admin = opts.kafka.admin();
    this.offsets = new InputOffsets(this.admin, this.inputTopic, this.groupId);
    this.commits = new CommitSchedule(config.kafka.commitInterval, this.commitHooks());
    this.partitions = new OwnedPartitions({
      open: (partition) =>
        PartitionOwner.open({
          kafka: opts.kafka,
          admin: this.admin,
          groupId: this.groupId,
          topic: this.inputTopic,
          partition,
          transactionTimeout: config.kafka.transactionTimeout,
          metadataBudget: config.kafka.commitMetadataBytes,
          log: this.log,
        }),
      signal: this.abort.signal,
      log: this.log,
      onReleased: (p) => metrics?.clearCommittedLag(this.inputTopic, p),
      flush: (owner) => this.commits.now(owner),
    });
    this.runner = new RecordRunner({
      binding: this.binding,
      codecs,
      inputTopic: this.inputTopic,
      topicPrefix: config.kafka.topicPrefix,
      ctx,
      policy,
      unknownSchemaWaitMs: config.kafka.unknownSchemaWait,
      health: this.health,
      shutdown: this.abort.signal,
      log: this.log,
      metrics,
      counts: this.counts,
    });
    metrics?.onInFlight(() => this.inFlight);
    metrics?.onOldestInFlightAge(() => this.oldestInFlightAgeSeconds());
    metrics?.onUncommittedBytes(() => this.heldBytes);
  }

  /** Records taken from the input and not finished yet, over every owned partition. */
  get inFlight(): number {
    return this.partitions.inFlight;
  }

  /** Bytes of finished outputs waiting for their commit, over every owned partition. */
  get heldBytes(): number {
    return this.partitions.heldBytes;
  }

  async start(): Promise<void> {
    const { consumer } = this;
    // From the start: a worker waiting for its LLM or its group says so every interval too.
    this.progress = startProgressLog({
      intervalMs: this.opts.config.progressInterval,
      log: this.log,
      snapshot: () => this.progressSnapshot(),
      describe: (s) => describeWorkerProgress(this.binding.stage, this.outputTopic, s),
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.joined = false;
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.memberId = event.payload.memberId;
      this.onGroupJoin(event.payload.memberAssignment[this.inputTopic] ?? []);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const err = event.payload.error;
      if (!event.payload.restart && brokerAway(err) && this.state === 'running') {
        // kafkajs restarts the consumer only after errors it calls retriable. A group (re)join
        // while the broker is down fails with "group coordinator not found", which it does not:
        // the worker would exit in the middle of a broker restart. Restart it as kafkajs would.
        this.log.warn({ err }, 'consumer stopped while no broker answered; restarting it');
        void this.restartConsumer();
        return;
      }
      this.log.error({ err, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.fail(err);
    });
    this.opts.budget?.onExhausted((status) => {
      this.log.warn({ spent: status.spent, limitUsd: status.limitUsd, limitTokens: status.limitTokens, reason: status.reason }, 'budget reached: intake paused; records in flight finish');
      this.updatePause();
    });
    await this.admin.connect();
    await this.waitForLlm();
    if (this.state !== 'starting') return;
    // Every decision must see what was committed before this worker started.
    await this.claims?.start(this.abort.signal);
    if (this.state !== 'starting') return;
    await consumer.connect();
    this.consumerStarted = true;
    await consumer.subscribe({ topic: this.inputTopic, fromBeginning: true });
    await this.runConsumer();
    // Each partition commits once per commitInterval, at its own phase: a worker owning many
    // partitions spreads its transactions over the interval instead of sending them in one burst.
    this.commitTimer = setInterval(() => {
      if (!this.fatal) this.commits.tick(this.partitions.values());
    }, Math.max(20, Math.floor(this.opts.config.kafka.commitInterval / 10)));
    this.state = 'running';
    this.log.info({ group: this.groupId, topic: this.inputTopic, concurrency: this.opts.config.concurrency }, 'stage worker running');
  }

  private runConsumer(): Promise<void> {
    return this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachMessage: (payload) => this.onMessage(payload),
    });
  }

  /** Consumer restarts since the last group join: the backoff grows while the broker stays away. */
  private consumerRestarts = 0;

  /**
   * After a crash kafkajs gave up on: run the consumer again after a backoff. A join that fails
   * again crashes again (kafkajs reports it through the same event), which comes back here.
   */
  private async restartConsumer(): Promise<void> {
    await wait(backoffDelay(this.consumerRestarts++, { maxRetries: 0, ...RECORD_BACKOFF }) + 500, this.abort.signal);
    if (this.state !== 'running') return;
    try {
      await this.runConsumer();
    } catch (err) {
      this.log.error({ err }, 'consumer restart failed');
      this.fail(err as Error);
    }
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
        await wait(backoffDelay(attempt, { maxRetries: 0, ...RECORD_BACKOFF }) + 500, this.abort.signal);
      }
    }
  }

  /** What the periodic progress line reports (see `progress-log.ts`). */
  async progressSnapshot(): Promise<WorkerProgress> {
    const owners = [...this.partitions.values()].filter((o) => o.active);
    return {
      state: this.state,
      consumed: this.counts.consumed,
      produced: this.counts.output,
      rejected: this.counts.rejected,
      dead_letters: this.counts.deadLettered,
      records_in_flight: this.inFlight,
      llm_calls_in_flight: this.limiter.inFlight,
      partitions: owners.length,
      lag: owners.length === 0 ? 0 : await this.offsets.lag(owners),
      paused: this.pausedFor,
    };
  }

  /** Group membership settled: release the partitions lost, take the assigned ones (again). */
  private onGroupJoin(assigned: number[]): void {
    this.joins++;
    this.partitions.assign(assigned);
    this.joined = true;
    this.consumerRestarts = 0;
    this.log.info({ partitions: assigned }, 'joined group');
    this.notifyIdle();
    // A consumer restarted by kafkajs forgets its paused partitions, one that merely rejoined
    // keeps them: decide afresh and tell kafkajs either way.
    this.updatePause(true);
  }

  private async onMessage({ partition, message }: EachMessagePayload): Promise<void> {
    if (this.state !== 'running' && this.state !== 'starting') return;
    const owner = await this.partitions.ownerFor(partition);
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
    void this.process(owner, offset, message.key, message.value, message.headers);
    this.updatePause();
  }

  private updatePause(force = false): void {
    const reason = pauseReason(
      {
        inFlight: this.inFlight,
        uncommittedBytes: this.heldBytes,
        draining: this.state === 'draining',
        outage: this.health.outage,
        llmReady: this.llmReady,
        budgetExhausted: this.opts.budget?.exhausted === true,
      },
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

  /** Runs one record to its final result in the background; its outputs wait in its owner. */
  private async process(owner: PartitionOwner, offset: bigint, key: Buffer | null, value: Buffer | null, headers: IHeaders | undefined): Promise<void> {
    try {
      const outcome = await this.runner.run({
        partition: owner.partition,
        offset,
        key,
        value,
        headers,
        startedAt: owner.startedAt.get(offset) ?? Date.now(),
        owned: () => owner.active,
      });
      if (outcome.kind === 'done') this.finish(owner, offset, outcome.messages);
      else this.abandon(owner, offset);
    } catch (err) {
      // Encoding outputs or building the dead letter failed: nothing sane to commit for it.
      this.log.error({ err, offset: String(offset), partition: owner.partition }, 'record failed unexpectedly; left uncommitted');
      this.fail(err as Error);
    }
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
    for (const o of this.partitions.values()) for (const t of o.startedAt.values()) oldest = Math.min(oldest, t);
    return oldest === Infinity ? undefined : (Date.now() - oldest) / 1000;
  }

  private lastLagAt = 0;

  /** Commit finished work of every owned partition now (each its own transaction). */
  async commit(): Promise<void> {
    if (this.fatal) return;
    await this.commits.all(this.partitions.values());
  }

  /** What a commit's outcome means here: counts, metrics, the lag gauge, a fenced partition. */
  private commitHooks(): CommitHooks<PartitionOwner> {
    return {
      ok: (_owner, r) => {
        this.lastCommitOk = true;
        this.counts.commits++;
        this.opts.metrics?.commit(r.seconds, 'ok');
        for (const [topic, n] of r.produced) {
          this.counts.produced += n;
          this.producedByTopic.set(topic, (this.producedByTopic.get(topic) ?? 0) + n);
          if (topic === this.outputTopic) this.counts.output += n;
          this.opts.metrics?.produced(topic, n);
        }
        if (Date.now() - this.lastLagAt >= this.opts.config.kafka.commitInterval) {
          this.lastLagAt = Date.now();
          void this.updateLag();
        }
      },
      fenced: (owner, r) => {
        this.opts.metrics?.commit(r.seconds, 'fenced');
        this.onFenced(owner, r.error);
      },
      failed: (owner, err) => {
        this.lastCommitOk = false;
        this.opts.metrics?.commit(0, 'failed');
        this.log.error({ err, partition: owner.partition }, 'commit failed; will retry');
      },
      settled: () => this.updatePause(),
    };
  }

  /**
   * Our producer of a partition was fenced: its uncommitted work here is dropped. Mostly a newer
   * owner took the partition while we were not looking (frozen, partitioned), and the next join
   * tells us so. But the group may still assign it to us: the broker aborted a transaction that
   * outlived `kafka.transactionTimeout` (which bumps the producer epoch), or a zombie of an older
   * generation ran InitProducerId for it. No rebalance would hand such a partition back, so it is
   * taken again at once (see `reclaim`).
   */
  private onFenced(owner: PartitionOwner, err: WebscaleError): void {
    this.partitions.release(owner);
    this.counts.fenced++;
    this.opts.metrics?.fenced();
    this.log.warn({ partition: owner.partition, err }, 'partition fenced: its uncommitted work here is dropped');
    this.notifyIdle();
    void this.reclaim(owner.partition, this.joins);
  }

  /**
   * Takes a fenced partition again when the group, stable, still assigns it to this member, and
   * reads it from its committed offset. A zombie is no longer a member of the group (its session
   * expired before anyone else could be given its partitions), so it never takes back a partition
   * from its rightful owner; a join meanwhile settles the partition instead.
   */
  private async reclaim(partition: number, joins: number): Promise<void> {
    for (let attempt = 0; joins === this.joins && this.state === 'running'; attempt++) {
      try {
        if (!(await this.offsets.assigned(this.memberId, partition))) return;
        // Where to read from when nothing was committed: the partition's first record.
        const low = await this.offsets.low(partition);
        if (joins !== this.joins || this.state !== 'running') return;
        const owner = await this.partitions.retake(partition, low);
        if (owner === null || joins !== this.joins) return;
        const from = owner.committedOffset ?? low;
        this.consumer.seek({ topic: this.inputTopic, partition, offset: String(from) });
        this.log.warn({ partition, offset: String(from) }, 'partition fenced while the group still assigns it here: taken again, reading from its committed offset');
        return;
      } catch (err) {
        this.log.warn({ err, partition, attempt }, 'could not check or take back a fenced partition yet; retrying');
        await wait(backoffDelay(attempt, { maxRetries: 0, ...RECORD_BACKOFF }) + 200, this.abort.signal);
      }
    }
  }

  private async updateLag(): Promise<void> {
    const metrics = this.opts.metrics;
    if (!metrics) return;
    try {
      for (const { partition, lag } of await this.offsets.committedLag(this.partitions.values())) metrics.setCommittedLag(this.inputTopic, partition, lag);
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
    const checks: Record<string, boolean> = { running: this.state === 'running', joined_group: this.joined, broker: this.lastCommitOk, llm: this.llmReady && !this.health.outage };
    if (this.claims) checks['dedup_claims'] = this.claims.loaded;
    if (this.opts.budget?.limited === true) checks['budget'] = !this.opts.budget.exhausted;
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  /**
   * Graceful stop: stop intake, let records in flight finish within the grace period, commit,
   * leave the group. Records still unfinished after the grace period are left uncommitted: the
   * next owner of their partition processes them (nothing lost, nothing repeated in the output).
   */
  async stop(graceMs = this.opts.config.kafka.shutdownGrace): Promise<void> {
    if (this.state === 'stopped') return;
    this.progress?.stop();
    const wasFailed = this.state === 'failed';
    const wasRunning = this.state === 'running';
    this.state = 'draining';
    this.updatePause();
    if (!wasRunning) this.abort.abort(); // still probing the LLM: nothing to drain
    if (!wasFailed && this.inFlight > 0) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      await Promise.race([idle, wait(graceMs)]);
    }
    if (this.commitTimer) clearInterval(this.commitTimer);
    if (!wasFailed && wasRunning) await this.commit();
    this.abort.abort();
    const unfinished = this.inFlight;
    if (this.consumerStarted) await this.consumer.disconnect().catch((err: unknown) => this.log.warn({ err }, 'consumer disconnect failed'));
    await this.partitions.closeAll();
    await this.claims?.stop();
    await this.codecs.close().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
    this.state = wasFailed ? 'failed' : 'stopped';
    this.log.info({ ...this.counts, unfinished }, 'stage worker stopped');
  }
}
