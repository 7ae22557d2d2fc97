/**
 * The OpenAI-compatible backend: POST `${url}/chat/completions` on undici, for OpenAI itself and
 * for the servers that copy its API (vLLM, llama.cpp server, Ollama, TGI's Messages API, LM
 * Studio). Each call runs in our retry loop with a per-attempt timeout; connections come from the
 * process-wide agent capped at the configured concurrency.
 */
import type { Dispatcher } from 'undici';
import { acquireAgent, attemptJson, probeEndpoint, type AgentLease } from './http.js';
import type { AttemptGate } from './rate-limit/gate.js';
import { requestRetry, safeUrl, withRetries, type LlmEvents, type RetryPolicy } from './retry.js';
import type { ContextWindow } from './context.js';
import type { LlmClient, LlmCompletion, LlmRequest } from './types.js';
import { chatBody, parseChatCompletion, type ResponseFormatShape } from './wire.js';

export interface OpenAiClientOptions {
  /** Base URL ending in /v1 (a trailing slash is fine). */
  url: string;
  /** Sent as `model`; omitted when unset (single-model servers such as llama.cpp ignore it). */
  model?: string | undefined;
  /** Bearer token. */
  apiKey?: string | undefined;
  /** Per-attempt timeout in ms. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** How the JSON schema is sent; `none` leaves `response_format` out. */
  responseFormat: ResponseFormatShape;
  /** Connection cap of the shared agent leased when no `dispatcher` is given. */
  connections?: number | undefined;
  /** Use this dispatcher instead of leasing the shared agent (the caller closes it). */
  dispatcher?: Dispatcher | undefined;
  events?: LlmEvents | undefined;
  /** The model's context in tokens (`llm.contextSize`); unset = unknown. */
  contextSize?: number | undefined;
  /** The endpoint's rate limit (`rate-limit/`): every attempt waits for it. Probes bypass it. */
  gate?: AttemptGate | undefined;
}

/** What a model name looks like in logs and traces when the config names none. */
export const UNNAMED_MODEL = 'default';

export class OpenAiClient implements LlmClient {
  readonly backend = 'openai';
  readonly model: string;
  readonly url: string;
  private readonly options: OpenAiClientOptions;
  private readonly dispatcher: Dispatcher;
  private readonly lease: AgentLease | undefined;
  private readonly endpoint: string;

  constructor(options: OpenAiClientOptions) {
    this.options = options;
    this.url = options.url.replace(/\/+$/, '');
    this.endpoint = `${this.url}/chat/completions`;
    this.model = options.model ?? UNNAMED_MODEL;
    if (options.dispatcher !== undefined) {
      this.dispatcher = options.dispatcher;
    } else {
      this.lease = acquireAgent(options.connections ?? 32);
      this.dispatcher = this.lease.dispatcher;
    }
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.options.apiKey !== undefined) headers['authorization'] = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  async complete(request: LlmRequest): Promise<LlmCompletion> {
    const body = JSON.stringify({
      ...(this.options.model === undefined ? {} : { model: this.options.model }),
      ...chatBody(request, this.options.responseFormat),
    });
    const headers = this.headers();
    return withRetries(
      async () => {
        const result = await attemptJson({
          url: this.endpoint,
          method: 'POST',
          headers,
          body,
          timeoutMs: this.options.timeoutMs,
          signal: request.signal,
          dispatcher: this.dispatcher,
          backoffMax: this.options.retry.backoffMax,
          gate: request.probe === true ? undefined : this.options.gate,
        });
        return parseChatCompletion(result.json, this.model, { url: safeUrl(this.endpoint), status: result.status });
      },
      { ...requestRetry(this.options.retry, this.options.events, request.probe), signal: request.signal, stage: request.stage },
    );
  }

  contextWindow(): Promise<ContextWindow | undefined> {
    return Promise.resolve(this.options.contextSize === undefined ? undefined : { tokens: this.options.contextSize });
  }

  /** GET `${url}/models`: throws LLM_UNREACHABLE / LLM_AUTH when calls cannot work. */
  async probe(signal?: AbortSignal): Promise<void> {
    await probeEndpoint({
      url: `${this.url}/models`,
      headers: this.headers(),
      dispatcher: this.dispatcher,
      timeoutMs: Math.min(this.options.timeoutMs, 10_000),
      signal,
    });
  }

  async close(): Promise<void> {
    await this.lease?.release();
  }
}
