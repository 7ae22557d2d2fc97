/**
 * What the response log keeps per key, and the two places it keeps it: a local LMDB file for
 * `run` (`lmdb-store.ts`) and a compacted Kafka topic for the stage workers (`kafka-store.ts`).
 *
 * The log keeps raw completions, not validated outputs: a reply that did not parse is replayed
 * too, and the structured call then re-asks exactly as it did the first time (the re-ask is
 * another request with its own key, usually logged as well). So a replayed run takes the same
 * decisions as the run that paid for the calls, re-asks and `*.invalid_output` rejections
 * included. Failures (errors, refusals, timeouts) are never logged: they are retried for real.
 */
import type { LlmStage } from '../../core/records.js';

export interface LoggedResponse {
  stage: LlmStage;
  /** The model the server said answered. */
  model: string;
  text: string;
  finishReason: string | null;
  promptTokens: number;
  completionTokens: number;
  /** When it was logged, epoch ms. */
  createdAt: number;
}

export interface ResponseStore {
  /** `lmdb` or `kafka`, for logs. */
  readonly kind: string;
  get(key: string): Promise<LoggedResponse | undefined>;
  /** Resolves once the entry is durable (committed locally, or acknowledged by the brokers). */
  put(key: string, value: LoggedResponse): Promise<void>;
  close(): Promise<void>;
}
