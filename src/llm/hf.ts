/**
 * The Hugging Face backend, on `@huggingface/inference`'s `InferenceClient`: by model id through
 * HF Inference Providers (token from HF_TOKEN), or against an `endpointUrl` (TGI, vLLM, llama.cpp,
 * Ollama, an Inference Endpoint). The library's own 503 loop is turned off (`retry_on_error:
 * false`: it retries at once, forever) and its `fetch` is ours: the shared undici agent, our
 * per-attempt timeout and error classification. Our retry loop wraps the whole library call, so
 * transport failures and replies the library rejects are retried alike, with backoff.
 *
 * Structured output differs by server family: Inference Providers take OpenAI's `json_schema`
 * shape, TGI its own grammar `{type: "json", value: schema}`. With `responseFormat: 'auto'` and an
 * endpoint URL, the client asks the endpoint's `/info` once (a route TGI serves, reporting
 * `model_id` and `router`) and uses the TGI shape when it answers like TGI.
 *
 * Credentials follow `credentials.ts`: the HF token goes only to Hugging Face hosts, an API key
 * only to the endpoint URL's origin. The library decides some URLs itself (the provider mapping on
 * huggingface.co, a provider's own API for non-`hf_` keys), so our `fetch` also refuses any request
 * that would carry the credential to a host it does not belong to.
 */
import { InferenceClient, InferenceClientInputError, InferenceClientProviderOutputError, InferenceClientRoutingError } from '@huggingface/inference';
import type { Dispatcher } from 'undici';
import { WebscaleError } from '../core/errors.js';
import { authHeadersFor, credentialFor, HF_ROUTER_URL, type Credentials } from './credentials.js';
import { acquireAgent, attemptFetch, attemptJson, probeEndpoint, type AgentLease } from './http.js';
import { requestRetry, safeUrl, withRetries, type LlmEvents, type RetryPolicy } from './retry.js';
import type { ContextWindow } from './context.js';
import type { LlmClient, LlmCompletion, LlmRequest } from './types.js';
import { chatBody, parseChatCompletion, type ResponseFormatShape } from './wire.js';

export interface HfClientOptions {
  /** HF model id; required without `endpointUrl`, sent as `model` with it. */
  model?: string | undefined;
  /** A TGI / vLLM / llama.cpp / Ollama base URL (with or without /v1). */
  endpointUrl?: string | undefined;
  /** The Hugging Face token (hf_...); sent only to Hugging Face hosts. */
  token?: string | undefined;
  /** A key for `endpointUrl` (a self-hosted TGI behind a gateway); sent only to its origin. */
  apiKey?: string | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
  /** `auto`: TGI shape when the endpoint answers `/info` like TGI, else OpenAI's. */
  responseFormat: ResponseFormatShape | 'auto';
  connections?: number | undefined;
  dispatcher?: Dispatcher | undefined;
  events?: LlmEvents | undefined;
  /** The model's context in tokens (`llm.contextSize`); unset = unknown. */
  contextSize?: number | undefined;
}

/** The server root of an endpoint URL: `http://h:8080/v1/chat/completions` -> `http://h:8080`. */
export function endpointRoot(endpointUrl: string): string {
  return endpointUrl
    .replace(/\/+$/, '')
    .replace(/\/chat\/completions$/, '')
    .replace(/\/v1$/, '');
}

/** Does a `/info` body look like TGI's (`model_id` plus the `router` crate name)? */
export function looksLikeTgiInfo(json: unknown): boolean {
  if (typeof json !== 'object' || json === null) return false;
  const info = json as Record<string, unknown>;
  return typeof info['model_id'] === 'string' && typeof info['router'] === 'string';
}

function convertLibraryError(err: unknown, url: string): unknown {
  if (err instanceof WebscaleError) return err;
  const context = { url: safeUrl(url) };
  if (err instanceof InferenceClientInputError || err instanceof InferenceClientRoutingError) {
    return new WebscaleError('LLM_CLIENT', `Hugging Face client refused the request: ${err.message}`, { cause: err, context });
  }
  if (err instanceof InferenceClientProviderOutputError) {
    return new WebscaleError('LLM_BAD_RESPONSE', `Hugging Face reply is not a chat completion: ${err.message}`, {
      retryable: true,
      cause: err,
      context,
    });
  }
  return WebscaleError.from(err, 'INTERNAL', context);
}

/**
 * The library's fetch, refusing to send `credential` where it does not belong: any request with an
 * Authorization header to a URL that `credentialFor` does not give that credential fails with
 * LLM_AUTH before a byte leaves the process.
 */
export function guardCredential(inner: typeof fetch, credential: string | undefined, creds: Credentials): typeof fetch {
  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const headers = new Headers(init?.headers);
    if (headers.has('authorization') && (credential === undefined || credentialFor(url, creds)?.value !== credential)) {
      throw new WebscaleError(
        'LLM_AUTH',
        `refusing to send the Hugging Face token or API key to ${safeUrl(url)}: the HF token goes only to Hugging Face hosts, an API key only to its configured URL`,
        { context: { url: safeUrl(url) } },
      );
    }
    return inner(input, init);
  };
  return guarded as typeof fetch;
}

export class HfClient implements LlmClient {
  readonly backend = 'hf';
  readonly model: string;
  private readonly options: HfClientOptions;
  private readonly dispatcher: Dispatcher;
  private readonly lease: AgentLease | undefined;
  private readonly client: InferenceClient;
  private readonly fetch: typeof fetch;
  private shape: Promise<ResponseFormatShape> | undefined;
  private readonly credentials: Credentials;
  /** Where requests go, for error context and probes. */
  readonly target: string;

  constructor(options: HfClientOptions) {
    if (options.endpointUrl === undefined && options.model === undefined) {
      throw new WebscaleError('CONFIG_INVALID', 'the hf backend needs a model id (llm.model) or an endpoint URL (llm.url)');
    }
    this.options = options;
    this.model = options.model ?? 'tgi';
    if (options.dispatcher !== undefined) {
      this.dispatcher = options.dispatcher;
    } else {
      this.lease = acquireAgent(options.connections ?? 32);
      this.dispatcher = this.lease.dispatcher;
    }
    this.target = options.endpointUrl ?? HF_ROUTER_URL;
    this.credentials = { hfToken: options.token, apiKey: options.apiKey, apiKeyUrl: options.endpointUrl };
    const credential = credentialFor(this.target, this.credentials);
    this.fetch = guardCredential(
      attemptFetch({ dispatcher: this.dispatcher, timeoutMs: options.timeoutMs, backoffMax: options.retry.backoffMax }),
      credential?.value,
      this.credentials,
    );
    this.client = new InferenceClient(credential?.value ?? '', {
      retry_on_error: false,
      fetch: this.fetch,
      ...(options.endpointUrl === undefined ? {} : { endpointUrl: options.endpointUrl }),
    });
    if (options.responseFormat !== 'auto') this.shape = Promise.resolve(options.responseFormat);
    else if (options.endpointUrl === undefined) this.shape = Promise.resolve('openai');
  }

  /** The response_format shape, asking the endpoint's `/info` once when set to `auto`. */
  responseShape(signal?: AbortSignal): Promise<ResponseFormatShape> {
    if (this.shape !== undefined) return this.shape;
    const url = `${endpointRoot(this.options.endpointUrl ?? '')}/info`;
    const detection = withRetries(
      async (): Promise<ResponseFormatShape> => {
        try {
          const result = await attemptJson({
            url,
            method: 'GET',
            headers: authHeadersFor(url, this.credentials),
            timeoutMs: Math.min(this.options.timeoutMs, 10_000),
            signal,
            dispatcher: this.dispatcher,
          });
          return looksLikeTgiInfo(result.json) ? 'tgi' : 'openai';
        } catch (err) {
          // An HTTP answer of any kind means "no TGI /info here"; only silence is worth a retry.
          if (err instanceof WebscaleError && err.context['status'] !== undefined) return 'openai';
          throw err;
        }
      },
      { policy: this.options.retry, signal },
    );
    this.shape = detection;
    // Only a settled answer is cached: if the server was down, ask again on the next call.
    detection.catch(() => {
      if (this.shape === detection) this.shape = undefined;
    });
    return detection;
  }


  async complete(request: LlmRequest): Promise<LlmCompletion> {
    const shape = await this.responseShape(request.signal);
    // The library sets `stream` itself.
    const { stream: _stream, ...body } = chatBody(request, shape);
    const args = { ...(this.options.model === undefined ? {} : { model: this.options.model }), ...body };
    return withRetries(
      async () => {
        let reply: unknown;
        try {
          reply = await this.client.chatCompletion(args as Parameters<InferenceClient['chatCompletion']>[0], {
            retry_on_error: false,
            fetch: this.fetch,
            ...(request.signal === undefined ? {} : { signal: request.signal }),
          });
        } catch (err) {
          throw convertLibraryError(err, this.target);
        }
        return parseChatCompletion(reply, this.model, { url: safeUrl(this.target) });
      },
      { ...requestRetry(this.options.retry, this.options.events, request.probe), signal: request.signal, stage: request.stage },
    );
  }

  contextWindow(): Promise<ContextWindow | undefined> {
    return Promise.resolve(this.options.contextSize === undefined ? undefined : { tokens: this.options.contextSize });
  }

  /** Endpoint: GET `<root>/v1/models`. Inference Providers: GET the router's model list. */
  async probe(signal?: AbortSignal): Promise<void> {
    const base = this.options.endpointUrl === undefined ? this.target : `${endpointRoot(this.options.endpointUrl)}/v1`;
    const url = `${base}/models`;
    await probeEndpoint({
      url,
      headers: authHeadersFor(url, this.credentials),
      dispatcher: this.dispatcher,
      timeoutMs: Math.min(this.options.timeoutMs, 10_000),
      signal,
    });
  }

  async close(): Promise<void> {
    await this.lease?.release();
  }
}
