/**
 * A batching `LlmClient`: stage code awaits `complete()` exactly as it does online, and this
 * client answers from the OpenAI Batch API instead. Requests are queued into a wave; a wave is
 * submitted as one batch (uploaded JSONL, `POST /batches`) once it holds `maxRequests` lines or
 * `maxBytes`, or `window` after its first request; submitted batches are polled every
 * `pollInterval`, and when one ends its output and error files are read and every waiting
 * promise is settled. So the per-document pipeline runs stage by stage in waves without any
 * change to the stage code.
 *
 * A request's custom_id is a hash of the endpoint and the exact request body (model, messages,
 * schema, sampling parameters, seed), so the same work gets the same id in every run: a restarted
 * run finds a request in the batches an earlier run submitted (the state file, `state.ts`) and
 * waits for that batch instead of submitting the request again. The same request made twice at
 * once is one line with two waiters.
 *
 * A batch refused because the provider's queue for the model is full (`failed` with
 * `token_limit_exceeded`: OpenAI caps the tokens of a model's batches in progress) costs nothing
 * and says "later", not "never": its requests are queued again after a wait that doubles from
 * `pollInterval` up to 10 minutes while refusals continue, instead of going online at full price.
 *
 * Lines a batch did not answer go to the online client (retries, backoff and the process's
 * concurrency cap included): lines that failed (a non-200 status in the error file), lines left
 * when a batch expired (`batch_expired`) or was cancelled, the lines of a batch that failed
 * validation, lines missing from both files, and the lines of a wave that could not be submitted.
 */
import type { Logger } from 'pino';
import type { BatchConfig } from '../../config/schema.js';
import { WebscaleError } from '../../core/errors.js';
import type { LlmStage } from '../../core/records.js';
import type { ContextWindow } from '../context.js';
import { abortedError, safeUrl } from '../retry.js';
import type { LlmClient, LlmCompletion, LlmRequest } from '../types.js';
import { chatBody, type ResponseFormatShape } from '../wire.js';
import { CHAT_ENDPOINT, TERMINAL_STATUSES, type BatchApi, type BatchObject } from './api.js';
import { customIdFor, readResultLine, type LineOutcome } from './lines.js';
import type { BatchStateStore, PersistedBatch } from './state.js';
import type { BatchStats } from './stats.js';

export interface BatchingClientOptions {
  api: BatchApi;
  /** The online client of the same endpoint (already under the process's concurrency cap). */
  online: LlmClient;
  /** Sent as `model` in every line; omitted when unset. */
  model: string | undefined;
  responseFormat: ResponseFormatShape;
  config: BatchConfig;
  state: BatchStateStore;
  stats: BatchStats;
  logger?: Logger | undefined;
}

interface Waiter {
  request: LlmRequest;
  resolve: (completion: LlmCompletion) => void;
  reject: (err: unknown) => void;
  detach: () => void;
}

interface Line {
  customId: string;
  stage: LlmStage;
  /** The JSONL line, ready to upload. */
  text: string;
  waiters: Set<Waiter>;
  state: 'queued' | 'submitted';
}

interface Tracked {
  fileId: string;
  batchId: string | undefined;
  customIds: readonly string[];
  /** Submitted by an earlier run of the same output. */
  earlier: boolean;
}

/** The error code of a batch refused because the model's batch queue is full. */
const QUEUE_FULL = 'token_limit_exceeded';
const MAX_REQUEUE_WAIT_MS = 10 * 60_000;

export class BatchingClient implements LlmClient {
  readonly backend: string;
  private readonly lines = new Map<string, Line>();
  private queue: Line[] = [];
  private queueBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly tracked = new Map<string, Tracked>();
  /** Earlier-run batches already followed by this process (by input file id). */
  private readonly followedEarlier = new Set<string>();
  /** Answers of earlier-run batches that no request has asked for yet. */
  private readonly ready = new Map<string, LineOutcome>();
  private readonly submissions = new Set<Promise<void>>();
  private readonly stopped = new AbortController();
  private closed = false;
  /** Batches refused for a full queue since the last batch that completed (sets the wait). */
  private queueRefusals = 0;
  private readonly requeueTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: BatchingClientOptions) {
    this.backend = options.online.backend;
  }

  get model(): string {
    return this.options.online.model;
  }

  /** Requests waiting for a batch (queued or submitted), for progress and tests. */
  get waiting(): number {
    let n = 0;
    for (const line of this.lines.values()) n += line.waiters.size;
    return n;
  }

  contextWindow(signal?: AbortSignal): Promise<ContextWindow | undefined> {
    return this.options.online.contextWindow?.(signal) ?? Promise.resolve(undefined);
  }

  complete(request: LlmRequest): Promise<LlmCompletion> {
    // The start-up probe is a question for the server now, not work for a batch.
    if (request.probe === true) return this.options.online.complete(request);
    if (request.signal?.aborted === true || this.closed) return Promise.reject(abortedError());
    const { config, api, model, responseFormat } = this.options;
    const body = JSON.stringify({ ...(model === undefined ? {} : { model }), ...chatBody(request, responseFormat) });
    const customId = customIdFor(api.url, body);
    return new Promise<LlmCompletion>((resolve, reject) => {
      const waiter: Waiter = { request, resolve, reject, detach: () => undefined };
      const ready = this.ready.get(customId);
      if (ready !== undefined) {
        this.ready.delete(customId);
        this.settleWaiter(waiter, request.stage, ready);
        return;
      }
      let line = this.lines.get(customId);
      if (line !== undefined) line.waiters.add(waiter);
      else {
        const text = JSON.stringify({ custom_id: customId, method: 'POST', url: CHAT_ENDPOINT }).slice(0, -1) + `,"body":${body}}`;
        const earlier = this.options.state.earlierBatchOf(customId);
        // In an earlier run's batch that this process has not collected yet: wait for that batch.
        const inEarlier = earlier !== undefined && (!this.followedEarlier.has(earlier.fileId) || this.tracked.has(earlier.fileId));
        line = { customId, stage: request.stage, text, waiters: new Set([waiter]), state: inEarlier ? 'submitted' : 'queued' };
        this.lines.set(customId, line);
        // The waiter is on the line before it is queued: a full queue is submitted at once.
        if (!inEarlier) this.enqueue(line, config);
        else if (earlier !== undefined && !this.followedEarlier.has(earlier.fileId)) this.followEarlier(earlier);
      }
      const held = line;
      const signal = request.signal;
      if (signal !== undefined) {
        const onAbort = (): void => {
          held.waiters.delete(waiter);
          if (held.waiters.size === 0 && held.state === 'queued') this.dropQueued(held);
          reject(abortedError());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  private enqueue(line: Line, config: BatchConfig): void {
    this.queue.push(line);
    this.queueBytes += Buffer.byteLength(line.text) + 1;
    if (this.queueFull()) this.flush(true);
    else this.flushTimer ??= setTimeout(() => this.flush(false), config.window);
  }

  private queueFull(): boolean {
    return this.queue.length >= this.options.config.maxRequests || this.queueBytes >= this.options.config.maxBytes;
  }

  private dropQueued(line: Line): void {
    const at = this.queue.indexOf(line);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.queueBytes -= Buffer.byteLength(line.text) + 1;
    }
    this.lines.delete(line.customId);
  }

  /**
   * Submit queued lines as batches of at most maxRequests lines and maxBytes: every line when the
   * window has passed (`onlyFull` false), else only full batches, the rest waiting for its window.
   */
  private flush(onlyFull: boolean): void {
    const { maxRequests, maxBytes } = this.options.config;
    if (!onlyFull) {
      if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    while (this.queue.length > 0 && (!onlyFull || this.queueFull())) {
      const wave: Line[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && wave.length < maxRequests) {
        const next = this.queue[0] as Line;
        const size = Buffer.byteLength(next.text) + 1;
        if (wave.length > 0 && bytes + size > maxBytes) break;
        this.queue.shift();
        bytes += size;
        wave.push(next);
      }
      this.queueBytes -= bytes;
      for (const line of wave) line.state = 'submitted';
      const submission = this.submit(wave).finally(() => this.submissions.delete(submission));
      this.submissions.add(submission);
    }
  }

  private async submit(wave: Line[]): Promise<void> {
    const { api, state, stats, config, logger } = this.options;
    const live = wave.filter((l) => l.waiters.size > 0);
    for (const l of wave) if (l.waiters.size === 0) this.lines.delete(l.customId);
    if (live.length === 0) return;
    const customIds = live.map((l) => l.customId);
    const signal = this.stopped.signal;
    let fileId: string | undefined;
    try {
      fileId = await api.uploadBatchFile(live.map((l) => l.text).join('\n') + '\n', `webscale-rl-${Date.now()}.jsonl`, signal);
      await state.submitting(fileId, customIds);
      const batch = await api.createBatch(fileId, config.completionWindow, { source: 'webscale-rl' }, signal);
      await state.submitted(fileId, batch.id);
      stats.submitted++;
      stats.linesSubmitted += live.length;
      logger?.info({ batch: batch.id, requests: live.length, stage: live[0]?.stage }, 'batch submitted');
      this.track({ fileId, batchId: batch.id, customIds, earlier: false });
    } catch (err) {
      if (this.closed) return;
      const e = WebscaleError.from(err);
      logger?.warn({ err: e, code: e.code, requests: live.length, file: fileId }, 'could not submit a batch; its requests go online');
      for (const line of live) this.deliver(line.customId, { kind: 'retry', reason: 'submit_failed', detail: `${e.code}: ${e.message}` }, false);
    }
  }

  /** Follow a batch an earlier run submitted, now that a request of this run is in it. */
  private followEarlier(batch: PersistedBatch): void {
    this.followedEarlier.add(batch.fileId);
    this.track({ fileId: batch.fileId, batchId: batch.batchId, customIds: batch.customIds, earlier: true });
  }

  private track(entry: Tracked): void {
    this.tracked.set(entry.fileId, entry);
    this.schedulePoll(entry.earlier ? 0 : this.options.config.pollInterval);
  }

  private schedulePoll(delayMs: number): void {
    if (this.closed || this.pollTimer !== undefined || this.polling) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      void this.pollOnce();
    }, delayMs);
  }

  private async pollOnce(): Promise<void> {
    this.polling = true;
    try {
      for (const entry of [...this.tracked.values()]) {
        if (this.closed) return;
        await this.pollEntry(entry);
      }
    } finally {
      this.polling = false;
      if (this.tracked.size > 0) this.schedulePoll(this.options.config.pollInterval);
    }
  }

  private async pollEntry(entry: Tracked): Promise<void> {
    const { api, state, logger } = this.options;
    const signal = this.stopped.signal;
    try {
      if (entry.batchId === undefined) {
        // An earlier run uploaded this file and stopped before it knew whether its batch was made.
        const found = await api.findBatchByFile(entry.fileId, signal);
        await state.adopt(entry.fileId, found?.id);
        if (found === undefined) {
          this.tracked.delete(entry.fileId);
          this.requeue(entry.customIds);
          return;
        }
        entry.batchId = found.id;
      }
      const batch = await api.getBatch(entry.batchId, signal);
      if (!TERMINAL_STATUSES.has(batch.status)) return;
      await this.collect(entry, batch);
    } catch (err) {
      if (this.closed) return;
      const e = WebscaleError.from(err);
      if (e.retryable) {
        logger?.warn({ err: e, code: e.code, batch: entry.batchId }, 'batch status unavailable; polling again later');
        return;
      }
      // The provider will not tell us about this batch (not found, not ours): its requests go online.
      logger?.warn({ err: e, code: e.code, batch: entry.batchId }, 'batch cannot be followed; its requests go online');
      this.tracked.delete(entry.fileId);
      for (const id of entry.customIds) this.deliver(id, { kind: 'retry', reason: 'lost', detail: `${e.code}: ${e.message}` }, entry.earlier);
      if (entry.batchId !== undefined) await state.collected(entry.batchId, 'lost').catch(() => undefined);
    }
  }

  /** Lines waiting for an earlier batch that was never created: new work for the next wave. */
  private requeue(customIds: readonly string[]): void {
    for (const id of customIds) {
      const line = this.lines.get(id);
      if (line === undefined || line.state !== 'submitted') continue;
      line.state = 'queued';
      this.enqueue(line, this.options.config);
    }
  }

  private async collect(entry: Tracked, batch: BatchObject): Promise<void> {
    const { api, state, stats, logger } = this.options;
    const signal = this.stopped.signal;
    const context = { url: safeUrl(api.url), batch: batch.id };
    const seen = new Map<string, LineOutcome>();
    const read = (line: string): void => {
      const result = readResultLine(line, this.model, context);
      if (result !== undefined) seen.set(result.customId, result.outcome);
    };
    // Read both files whole before settling anything: a download retried mid-way sees lines twice.
    if (batch.outputFileId !== null) await api.fileLines(batch.outputFileId, read, signal);
    if (batch.errorFileId !== null) await api.fileLines(batch.errorFileId, read, signal);
    const missingReason = batch.status === 'failed' ? 'batch_failed' : batch.status === 'completed' ? 'missing' : batch.status;
    const missingDetail = batch.status === 'failed' ? `batch ${batch.id} failed: ${batch.errors.join('; ') || 'no reason given'}` : `not in the results of batch ${batch.id} (${batch.status})`;
    if (batch.status === 'failed') logger?.warn({ batch: batch.id, errors: batch.errors }, 'batch failed; its requests go online');
    else if (batch.status !== 'completed') logger?.warn({ batch: batch.id, status: batch.status, counts: batch.requestCounts }, `batch ${batch.status}; its unanswered requests go online`);
    this.tracked.delete(entry.fileId);
    stats.recordOutcome(batch.status);
    if (entry.earlier) stats.adopted++;
    await state.collected(batch.id, batch.status);
    if (batch.status === 'failed' && batch.errorCodes.includes(QUEUE_FULL)) {
      this.resubmitLater(entry, batch);
      return;
    }
    if (batch.status === 'completed') this.queueRefusals = 0;
    for (const id of entry.customIds) {
      this.deliver(id, seen.get(id) ?? { kind: 'retry', reason: missingReason, detail: missingDetail }, entry.earlier);
    }
  }

  /** Queue the waiting lines of a batch refused for a full queue again, after a growing wait. */
  private resubmitLater(entry: Tracked, batch: BatchObject): void {
    const { config, stats, logger } = this.options;
    const delayMs = Math.min(MAX_REQUEUE_WAIT_MS, config.pollInterval * 2 ** Math.min(this.queueRefusals, 20));
    this.queueRefusals++;
    const lines: Line[] = [];
    for (const id of entry.customIds) {
      const line = this.lines.get(id);
      if (line !== undefined && line.state === 'submitted') lines.push(line);
    }
    stats.resubmitted += lines.length;
    logger?.warn({ batch: batch.id, requests: lines.length, delayMs, errors: batch.errors }, 'batch refused: the provider\'s batch queue for this model is full; submitting its requests again later');
    const timer = setTimeout(() => {
      this.requeueTimers.delete(timer);
      if (this.closed) return;
      for (const line of lines) {
        if (line.waiters.size === 0 || this.lines.get(line.customId) !== line) continue;
        line.state = 'queued';
        this.enqueue(line, config);
      }
    }, delayMs);
    this.requeueTimers.add(timer);
  }

  /** Hand a line's outcome to its waiters; an earlier run's answer nobody asked for yet is kept. */
  private deliver(customId: string, outcome: LineOutcome, keepUnclaimed: boolean): void {
    const line = this.lines.get(customId);
    if (line === undefined || line.state === 'queued') {
      if (keepUnclaimed && outcome.kind === 'answer') this.ready.set(customId, outcome);
      return;
    }
    this.lines.delete(customId);
    for (const waiter of line.waiters) this.settleWaiter(waiter, line.stage, outcome);
    line.waiters.clear();
  }

  private settleWaiter(waiter: Waiter, stage: LlmStage, outcome: LineOutcome): void {
    waiter.detach();
    if (outcome.kind === 'answer') {
      this.options.stats.recordAnswered(stage, outcome.completion.usage);
      waiter.resolve(outcome.completion);
      return;
    }
    if (waiter.request.signal?.aborted === true) {
      waiter.reject(abortedError());
      return;
    }
    this.options.stats.recordRetry(outcome.reason);
    this.options.logger?.debug({ stage, reason: outcome.reason, detail: outcome.detail }, 'batch line retried online');
    this.options.online.complete(waiter.request).then(waiter.resolve, waiter.reject);
  }

  /**
   * Stop submitting and polling. Requests still waiting are refused (LLM_ABORTED); batches
   * already submitted stay in the state file for the next run to collect.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopped.abort();
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    for (const timer of this.requeueTimers) clearTimeout(timer);
    this.requeueTimers.clear();
    await Promise.allSettled([...this.submissions]);
    for (const line of this.lines.values()) {
      for (const waiter of line.waiters) {
        waiter.detach();
        waiter.reject(abortedError());
      }
    }
    this.lines.clear();
    this.queue = [];
  }
}
