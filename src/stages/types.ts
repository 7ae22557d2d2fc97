/**
 * The stage contract. A stage is an async function from one input record and a context to zero
 * or more output records and/or rejections. It knows nothing of Kafka: the embedded runner
 * (`webscale-rl run`) and the Kafka worker (`webscale-rl stage`) drive the same functions.
 *
 * A stage turns whatever it can decide into a typed rejection (unqualified document, unknown
 * domain, output still invalid after re-asks...). It throws only for transport failures that the
 * runner must decide about: a `WebscaleError` with an LLM_* code once the client's retries are
 * exhausted (the embedded runner records `llm.failed`; the Kafka worker pauses or dead-letters).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { LlmRouter } from '../llm/types.js';
import type { Rejection } from '../core/records.js';
import type { DedupView, RecordSource } from '../dedup/fingerprint.js';
import type { FewshotLibrary } from './fewshot.js';
import type { Decontaminator } from './decontaminate.js';

export interface StageContext {
  llm: LlmRouter;
  logger: Logger;
  signal: AbortSignal;
  config: Config;
  fewshot: FewshotLibrary;
  decontaminator: Decontaminator;
  /** The dedup index (the dedup stage only); absent: every document passes. */
  dedup?: DedupView;
  /** Kafka: the input record being processed. */
  source?: RecordSource;
}

export interface StageResult<O> {
  outputs: O[];
  rejections: Rejection[];
  /**
   * The document's language (ISO 639-1; null when unknown), on every outcome of the filter stage
   * that got as far as deciding it, so the run summary can count documents by language.
   */
  language?: string | null;
}

export type StageFn<I, O> = (input: I, ctx: StageContext) => Promise<StageResult<O>>;
