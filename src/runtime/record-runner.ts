/**
 * Runs the stage on one Kafka record until it has a final result: encoded outputs and
 * rejections, or a dead letter, or "abandoned" (shutdown, or the partition was lost: the next
 * owner redoes it). Failures are decided by `record-policy.ts`; the LLM's health across the whole
 * worker (successes, failures in a row, outage) lives in `LlmHealth`, which the worker feeds from
 * every LLM call and reads to pause intake.
 */
import type { IHeaders } from 'kafkajs';
import type { Logger } from 'pino';
import { WebscaleError } from '../core/errors.js';
import { redactString } from '../core/redact.js';
import type { DeadLetter, Rejection } from '../core/records.js';
import type { TopicCodecs } from '../codec/index.js';
import { topicName } from '../kafka/index.js';
import type { StageRecorder } from '../metrics/index.js';
import type { StageContext } from '../stages/types.js';
import type { OutMessage } from './partition-owner.js';
import { decideFailure, decideSchemaWait, SCHEMA_BACKOFF, TRANSIENT_CODES, type RecordFailurePolicy, type SchemaWaitPolicy } from './record-policy.js';
import { DeadlineSignals } from './deadline-signals.js';
import type { StageBinding } from './stage-bindings.js';
import { wait } from './wait.js';

/**
 * The LLM as the worker sees it: calls that succeeded, and the records whose calls failed since
 * the last success. An outage is several distinct records failing with nothing succeeding in
 * between: one record failing over and over is that record's problem (it goes to the DLQ), and
 * must not pause intake with nothing left in flight to notice the LLM is fine.
 */
export class LlmHealth {
  successes = 0;
  outage = false;
  private readonly failing = new Set<string>();

  constructor(private readonly onChange: (outage: boolean) => void) {}

  /** Distinct records with a transient failure since the last success. */
  get consecutiveFailures(): number {
    return this.failing.size;
  }

  success(): void {
    this.successes++;
    this.failing.clear();
    if (this.outage) {
      this.outage = false;
      this.onChange(false);
    }
  }

  failure(code: WebscaleError['code'], record: string): void {
    if (TRANSIENT_CODES.has(code)) this.failing.add(record);
  }

  enterOutage(): boolean {
    if (this.outage) return false;
    this.outage = true;
    this.onChange(true);
    return true;
  }
}

export interface RecordRunnerOptions {
  binding: StageBinding;
  codecs: TopicCodecs;
  inputTopic: string;
  topicPrefix: string;
  /** The stage context; each attempt gets its own signal. */
  ctx: StageContext;
  policy: RecordFailurePolicy;
  /** How long a record waits for a writer schema nobody has published (kafka.unknownSchemaWait). */
  unknownSchemaWaitMs: number;
  health: LlmHealth;
  /** The worker's shutdown signal. */
  shutdown: AbortSignal;
  log: Logger;
  metrics?: StageRecorder | undefined;
  counts: { rejected: number; deadLettered: number };
}

export interface KafkaRecord {
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  /**
   * The record's Kafka headers. A dead letter keeps them (the replay count of `dlq replay`
   * among them), so a replay re-publishes the record as it was.
   */
  headers?: IHeaders | undefined;
  /** When the record was taken: its age decides maxRecordAge. */
  startedAt: number;
  /** False once the worker no longer owns the record's partition. */
  owned(): boolean;
}

export type RecordOutcome = { kind: 'done'; messages: OutMessage[] } | { kind: 'abandoned' };


export class RecordRunner {
  private readonly deadlines: DeadlineSignals;

  constructor(private readonly o: RecordRunnerOptions) {
    this.deadlines = new DeadlineSignals(o.shutdown, Math.min(1000, Math.max(1, Math.floor(o.policy.maxRecordAgeMs / 1000))));
  }

  /**
   * Throws only when encoding an output or a dead letter fails for a reason other than the schema
   * infrastructure being away (a bug: nothing sane to commit).
   */
  async run(rec: KafkaRecord): Promise<RecordOutcome> {
    const { binding: b, policy, health, shutdown } = this.o;
    let input: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        if (b.decode) {
          input = await b.decode(rec.value, { topic: this.o.inputTopic, partition: rec.partition, offset: rec.offset, key: rec.key });
        } else {
          if (rec.value === null) throw new WebscaleError('CODEC', 'record has no value (tombstone)');
          input = await this.o.codecs.for(b.inputType, this.o.inputTopic).decode(rec.value);
        }
        break;
      } catch (err) {
        const e = WebscaleError.from(err, 'CODEC');
        const ageMs = Date.now() - rec.startedAt;
        const d = decideSchemaWait({ code: e.code, retryable: e.retryable, attempts: attempt, ageMs, shuttingDown: shutdown.aborted }, this.schemaWait);
        if (d.action === 'abandon') return { kind: 'abandoned' };
        if (d.action === 'not-waitable') return this.deadLetter(rec, e);
        if (d.action === 'dead-letter') {
          return this.deadLetter(
            rec,
            new WebscaleError(
              'SCHEMA_UNKNOWN',
              `${e.message}; still not found after ${Math.round(ageMs / 1000)} s (kafka.unknownSchemaWait): deploy a release that bundles it, or check that its writers can reach the schemas topic or registry`,
              { cause: e },
            ),
          );
        }
        if (!(await this.waitForSchemas(rec, e, d.delayMs))) return { kind: 'abandoned' };
      }
    }
    let attempts = 0;
    let successesAtFirstFailure = -1;
    for (;;) {
      try {
        const result = await b.fn(input as never, { ...this.o.ctx, signal: this.attemptSignal(rec.startedAt), source: { partition: rec.partition, offset: rec.offset } });
        const messages = await this.withSchemaWait(rec, () => this.encode(result, input, rec.value));
        return messages === null ? { kind: 'abandoned' } : { kind: 'done', messages };
      } catch (err) {
        let e = WebscaleError.from(err);
        if (e.code === 'LLM_ABORTED' && !shutdown.aborted) {
          // Our own age limit cut the call: the record is due for the DLQ if others succeed.
          e = new WebscaleError('LLM_TIMEOUT', `record still failing after maxRecordAge (${policy.maxRecordAgeMs} ms)`, { retryable: true, cause: err });
        }
        attempts++;
        if (successesAtFirstFailure < 0) successesAtFirstFailure = health.successes;
        health.failure(e.code, `${rec.partition}:${rec.offset}`);
        // Others succeeded since this record first failed, and several records are not failing at
        // once: its failure is its own. (Not "succeeded just now": a record that pins its
        // partition may be all that is left in flight, intake paused behind it.)
        const othersSucceeded = health.successes > successesAtFirstFailure && !health.outage;
        const ageMs = Date.now() - rec.startedAt;
        const decision = decideFailure(
          {
            code: e.code,
            attempts,
            ageMs,
            othersSucceeded,
            consecutiveFailures: health.consecutiveFailures,
            shuttingDown: shutdown.aborted,
          },
          policy,
        );
        switch (decision.action) {
          case 'abandon':
            return { kind: 'abandoned' };
          case 'dead-letter':
            if (decision.why === 'record-specific') return this.deadLetter(rec, e);
            return this.deadLetter(rec, new WebscaleError(e.code, `gave up after ${attempts} attempts in ${Math.round(ageMs / 1000)} s (${decision.why === 'age' ? 'maxRecordAge' : 'maxRecordAttempts'}) while other records succeeded: ${e.message}`));
          case 'retry':
            if (decision.outage && health.enterOutage()) this.o.log.error({ err: e }, 'LLM outage: pausing consumption until it answers again');
            this.o.log.warn({ offset: String(rec.offset), partition: rec.partition, code: e.code, attempts, delay: decision.delayMs }, 'LLM failed for record; will retry');
            await wait(decision.delayMs, shutdown);
            if (shutdown.aborted || !rec.owned()) return { kind: 'abandoned' };
            break;
        }
      }
    }
  }

  /** A signal for one attempt: the worker's, plus the record's age limit while it has not passed. */
  private attemptSignal(startedAt: number): AbortSignal {
    return this.deadlines.until(startedAt + this.o.policy.maxRecordAgeMs);
  }

  private topic(suffix: string): string {
    return topicName(this.o.topicPrefix, suffix);
  }

  private get schemaWait(): SchemaWaitPolicy {
    return { unknownSchemaWaitMs: this.o.unknownSchemaWaitMs, backoff: SCHEMA_BACKOFF };
  }
  private lastSchemaLog = { message: '', at: 0 };

  /**
   * Sleeps before the next attempt while the schema registry or schemas topic is away (or a
   * writer schema is not found yet); false when the record is no longer ours to finish. One log
   * line per distinct cause every 10 s, however many records wait.
   */
  private async waitForSchemas(rec: KafkaRecord, e: WebscaleError, delayMs: number): Promise<boolean> {
    const now = Date.now();
    if (e.message !== this.lastSchemaLog.message || now - this.lastSchemaLog.at >= 10_000) {
      this.lastSchemaLog = { message: e.message, at: now };
      this.o.log.warn({ code: e.code, partition: rec.partition, offset: String(rec.offset), context: e.context }, `waiting for schemas (records wait, none is dead-lettered for this): ${e.message}`);
    }
    await wait(delayMs, this.o.shutdown);
    return !this.o.shutdown.aborted && rec.owned();
  }

  /** Runs an encode, waiting out schema infrastructure that is away; null when the record is no longer ours. */
  private async withSchemaWait<T>(rec: KafkaRecord, fn: () => Promise<T>): Promise<T | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const e = WebscaleError.from(err, 'CODEC');
        const d = decideSchemaWait({ code: e.code, retryable: e.retryable, attempts: attempt, ageMs: 0, shuttingDown: this.o.shutdown.aborted }, this.schemaWait);
        if (d.action === 'abandon') return null;
        if (d.action !== 'retry') throw e;
        if (!(await this.waitForSchemas(rec, e, d.delayMs))) return null;
      }
    }
  }

  /**
   * The messages of a result. An output that is the input itself, unchanged (the dedup stage's
   * kept document), goes out as the bytes that were read when the output codec would write the
   * same ones: no encode, and no copy of a large document's text.
   */
  private async encode(result: Awaited<ReturnType<StageBinding['fn']>>, input: unknown, inputBytes: Buffer | null): Promise<OutMessage[]> {
    const { binding: b, codecs } = this.o;
    const out: OutMessage[] = [];
    const outTopic = this.topic(b.outputSuffix);
    for (const o of result.outputs) {
      const codec = codecs.for(b.outputType, outTopic);
      const reused = o === input && inputBytes !== null && b.outputType === b.inputType ? await codec.reuse(inputBytes) : null;
      out.push({ topic: outTopic, message: { key: b.keyOf(o as never), value: reused ?? (await codec.encode(o)) } });
    }
    const rejTopic = this.topic('rejections');
    for (const r of result.rejections) {
      out.push({ topic: rejTopic, message: { key: r.doc_id, value: await codecs.for('Rejection', rejTopic).encode(r satisfies Rejection) } });
    }
    // Counted once everything is encoded: an encode retried after a registry outage counts once.
    for (const r of result.rejections) {
      this.o.metrics?.rejected(r.reason);
      this.o.counts.rejected++;
    }
    return out;
  }

  private async deadLetter(rec: KafkaRecord, err: WebscaleError): Promise<RecordOutcome> {
    const topic = this.topic('dlq');
    const letter: DeadLetter = {
      source_topic: this.o.inputTopic,
      partition: rec.partition,
      offset: String(rec.offset),
      key: rec.key,
      value: rec.value,
      error_code: err.code,
      // Server text can echo a credential back: dead letters are read by people and tools.
      error: redactString(err.message).slice(0, 4000),
      stage: this.o.binding.stage,
      created_at: Date.now(),
    };
    const value = await this.withSchemaWait(rec, () => this.o.codecs.for('DeadLetter', topic).encode(letter));
    if (value === null) return { kind: 'abandoned' };
    this.o.counts.deadLettered++;
    this.o.metrics?.deadLettered(err.code);
    this.o.log.warn({ partition: rec.partition, offset: String(rec.offset), code: err.code, error: err.message }, 'record dead-lettered');
    return { kind: 'done', messages: [{ topic, message: { key: rec.key, value, ...(rec.headers ? { headers: rec.headers } : {}) } }] };
  }
}
