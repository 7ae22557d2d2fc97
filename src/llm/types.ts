/**
 * The LLM layer's contract. Backends (OpenAI-compatible on undici, @huggingface/inference, local
 * llama.cpp) implement `LlmClient`; stages never see which one they talk to. A request carries the
 * JSON schema of the expected output so the server can constrain decoding; the reply is raw text
 * that `structured.ts` parses leniently and validates.
 */
import type { LlmStage, TokenUsage } from '../core/records.js';
import type { ContextWindow } from './context.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface JsonSchemaSpec {
  /** Schema name sent to the server (`response_format.json_schema.name`). */
  name: string;
  schema: Record<string, unknown>;
}

export interface LlmRequest {
  stage: LlmStage;
  messages: ChatMessage[];
  jsonSchema: JsonSchemaSpec;
  temperature: number;
  maxTokens: number;
  /** Sampling seed: the pipeline derives it from document id + persona so runs are reproducible. */
  seed?: number;
  signal?: AbortSignal;
  /**
   * A start-up probe request (`probe.ts`): not retried (the probe does its own network retry) and
   * not reported to the client's failure events and logs (the probe reports its own outcome, in
   * one line). In-process backends ignore it.
   */
  probe?: boolean;
}

export interface LlmCompletion {
  text: string;
  /** The model the server says answered (falls back to the configured one). */
  model: string;
  usage: TokenUsage;
  finishReason: string | null;
  /** Answered from the response log (`response-log/`), not by a call: meters count it apart. */
  fromLog?: boolean;
}

export interface LlmClient {
  /** `openai`, `hf`, `local`... for logs and metrics. */
  readonly backend: string;
  /** The configured model name. */
  readonly model: string;
  /** One request. Throws `WebscaleError` (LLM_* codes) once its own retries are exhausted. */
  complete(request: LlmRequest): Promise<LlmCompletion>;
  /**
   * The model's context window, when known (configured for a server, the real one for the local
   * model, which may load it); undefined when unknown. Optional: a client without it is unknown.
   */
  contextWindow?(signal?: AbortSignal): Promise<ContextWindow | undefined>;
  close(): Promise<void>;
}

/** Picks the client for a stage (per-stage model and endpoint overrides). */
export interface LlmRouter {
  forStage(stage: LlmStage): LlmClient;
  close(): Promise<void>;
}
