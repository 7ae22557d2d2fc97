/**
 * Picks the LLM client for each stage. Settings are the top-level `llm` block with the stage's
 * overrides from `llm.stages.<stage>` on top (the paper used a smaller model for identify and
 * check). Stages that resolve to the same (backend, url, model, context size) share one client,
 * so they also share connections. Backend `auto`: a URL means an OpenAI-compatible server; else a Hugging Face
 * token plus a model id means HF Inference Providers; else the local llama.cpp model.
 * Credentials follow `credentials.ts`: the HF token only to Hugging Face hosts, `llm.apiKey` only
 * to `llm.url`'s origin, `llm.stages.<stage>.apiKey` only to that stage's URL.
 * The local backend lives in `local.ts` (node-llama-cpp) and is loaded only when a stage needs it,
 * through a dynamic import, so the other backends work on machines without it.
 */
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import { LLM_STAGES, type LlmStage } from '../core/records.js';
import { credentialFor, HF_ROUTER_URL } from './credentials.js';
import { HfClient } from './hf.js';
import { acquireAgent, type AgentLease } from './http.js';
import { OpenAiClient } from './openai.js';
import type { RateLimitRegistry } from './rate-limit/registry.js';
import { safeUrl, type LlmEvents, type RetryPolicy } from './retry.js';
import type { ContextWindow } from './context.js';
import type { LlmClient, LlmCompletion, LlmRequest, LlmRouter } from './types.js';
import type { ResponseFormatShape } from './wire.js';

export type ResolvedBackend = 'openai' | 'hf' | 'local';

export interface StageSettings {
  backend: ResolvedBackend;
  url: string | undefined;
  model: string | undefined;
  /** The API key for `url` and the URL it was configured with (see `credentials.ts`). */
  apiKey: string | undefined;
  apiKeyUrl: string | undefined;
  temperature: number;
  maxTokens: number;
  /** The model's context in tokens when configured (`llm.stages.<stage>.contextSize`, `llm.contextSize`). */
  contextSize: number | undefined;
}

/** The effective LLM settings of one stage: its overrides over the `llm` block, `auto` resolved. */
export function resolveStageSettings(config: Config, stage: LlmStage): StageSettings {
  const llm = config.llm;
  const own = llm.stages[stage] ?? {};
  const url = own.url ?? llm.url;
  const model = own.model ?? llm.model;
  const wanted = own.backend ?? llm.backend;
  let backend: ResolvedBackend;
  if (wanted !== 'auto') backend = wanted;
  else if (url !== undefined) backend = 'openai';
  else if (llm.token !== undefined && model !== undefined) backend = 'hf';
  else backend = 'local';
  // A stage's own key belongs to the stage's URL; the top-level key to the top-level URL only.
  const apiKey = own.apiKey ?? llm.apiKey;
  return {
    backend,
    url,
    model,
    apiKey,
    apiKeyUrl: apiKey === undefined ? undefined : own.apiKey !== undefined ? url : llm.url,
    temperature: own.temperature ?? llm.temperature,
    maxTokens: own.maxTokens ?? llm.maxTokens,
    contextSize: own.contextSize ?? llm.contextSize,
  };
}

export interface LlmRouterOptions {
  /** Retry and failure hooks, e.g. for metrics. */
  events?: LlmEvents;
  /** Retries are logged at debug, final failures at warn (with the stage and code). */
  logger?: Logger;
  /** Use this dispatcher instead of the shared agent (tests). */
  dispatcher?: Dispatcher;
  /** Build the local client; default: `createLocalClient` from `./local.js`. */
  loadLocal?: (config: Config) => Promise<LlmClient>;
  /** Rate limits per endpoint (OpenAI-compatible backend): every HTTP attempt waits for its endpoint's. */
  rateLimits?: RateLimitRegistry;
}

/** A router that can also list its distinct clients (for probes and shutdown). */
export interface ClientRouter extends LlmRouter {
  clients(): LlmClient[];
}

interface LocalModule {
  createLocalClient?: (config: Config) => Promise<LlmClient>;
}

async function importLocal(config: Config): Promise<LlmClient> {
  // A variable specifier keeps TypeScript from resolving the module at compile time: the local
  // backend is optional and may be absent from a build.
  const specifier = './local.js';
  let mod: LocalModule;
  try {
    mod = (await import(specifier)) as LocalModule;
  } catch (err) {
    throw new WebscaleError('CONFIG_INVALID', 'no LLM configured: set --llm-url (OpenAI-compatible server), or HF_TOKEN with --llm-model, or install the local backend', {
      cause: err,
    });
  }
  if (typeof mod.createLocalClient !== 'function') {
    throw new WebscaleError('CONFIG_INVALID', 'no LLM configured: the local backend does not export createLocalClient');
  }
  return mod.createLocalClient(config);
}

/** The local client, created on first use (loading a model is slow and may fail). */
class LazyLocalClient implements LlmClient {
  readonly backend = 'local';
  private loading: Promise<LlmClient> | undefined;
  private loaded: LlmClient | undefined;

  constructor(
    private readonly config: Config,
    private readonly load: (config: Config) => Promise<LlmClient>,
  ) {}

  get model(): string {
    return this.loaded?.model ?? this.config.llm.model ?? 'local';
  }

  /**
   * A failed load is forgotten, so the next call tries again: a worker whose model file arrives
   * later (an init container still copying it, a volume mounted late) recovers without a restart.
   */
  ready(): Promise<LlmClient> {
    if (this.loading === undefined) {
      this.loading = this.load(this.config).then(
        (client) => {
          this.loaded = client;
          return client;
        },
        (err: unknown) => {
          this.loading = undefined;
          throw err;
        },
      );
    }
    return this.loading;
  }

  async complete(request: LlmRequest): Promise<LlmCompletion> {
    return (await this.ready()).complete(request);
  }

  async probe(): Promise<void> {
    await this.ready();
  }

  /** The context the local model runs with: known once it has loaded, so this loads it. */
  async contextWindow(): Promise<ContextWindow | undefined> {
    const client = await this.ready();
    return client.contextWindow?.();
  }

  async close(): Promise<void> {
    if (this.loading === undefined) return;
    const client = await this.loading.catch(() => undefined);
    await client?.close();
  }
}

function retryPolicy(config: Config): RetryPolicy {
  return { maxRetries: config.llm.maxRetries, backoffInitial: config.llm.backoffInitial, backoffMax: config.llm.backoffMax };
}

function shapeFor(config: Config, backend: 'openai' | 'hf'): ResponseFormatShape | 'auto' {
  if (!config.llm.jsonSchema) return 'none';
  const wanted = config.llm.responseFormat;
  if (wanted !== 'auto') return wanted;
  // An OpenAI-compatible URL gets OpenAI's shape; only the hf backend sniffs for TGI.
  return backend === 'openai' ? 'openai' : 'auto';
}

function withLogging(events: LlmEvents | undefined, logger: Logger | undefined): LlmEvents | undefined {
  if (logger === undefined) return events;
  return {
    onRetry(stage, code, detail) {
      logger.debug({ stage, code, attempt: detail.attempt, delayMs: detail.delayMs, context: detail.error.context }, 'LLM call failed; retrying');
      events?.onRetry?.(stage, code, detail);
    },
    onFailure(stage, code, error) {
      if (code !== 'LLM_ABORTED') logger.warn({ stage, code, err: error, context: error.context }, 'LLM call failed');
      events?.onFailure?.(stage, code, error);
    },
  };
}

/**
 * One client per distinct (backend, url, model) across the four stages. Creating the router
 * opens nothing; the local model, if any, loads on first use or in `checkReachable`.
 */
export function createLlmRouter(config: Config, opts: LlmRouterOptions = {}): ClientRouter {
  const events = withLogging(opts.events, opts.logger);
  const byKey = new Map<string, LlmClient>();
  const byStage = new Map<LlmStage, LlmClient>();
  let lease: AgentLease | undefined;
  const dispatcher = (): Dispatcher => {
    if (opts.dispatcher !== undefined) return opts.dispatcher;
    lease ??= acquireAgent(config.concurrency);
    return lease.dispatcher;
  };
  const common = () => ({
    timeoutMs: config.llm.timeout,
    retry: retryPolicy(config),
    dispatcher: dispatcher(),
    ...(events === undefined ? {} : { events }),
  });

  // A configured key that goes nowhere near this stage's server is most likely a misconfiguration
  // (per-stage URLs on another host): say so once, instead of leaving the user to guess at a 401.
  const warnWithheldKey = (stage: LlmStage, settings: StageSettings): void => {
    if (settings.backend === 'local' || settings.apiKey === undefined) return;
    const target = settings.url ?? HF_ROUTER_URL;
    if (credentialFor(target, { apiKey: settings.apiKey, apiKeyUrl: settings.apiKeyUrl }) !== undefined) return;
    opts.logger?.warn(
      { stage, url: safeUrl(target), keyUrl: settings.apiKeyUrl === undefined ? undefined : safeUrl(settings.apiKeyUrl) },
      `llm.apiKey is sent only to the origin of llm.url; stage ${stage} calls another server and gets no key (set llm.stages.${stage}.apiKey if it needs one)`,
    );
  };

  const build = (settings: StageSettings, stage: LlmStage): LlmClient => {
    switch (settings.backend) {
      case 'openai': {
        if (settings.url === undefined) {
          throw new WebscaleError('CONFIG_INVALID', 'the openai backend needs llm.url (a base URL ending in /v1)');
        }
        const shape = shapeFor(config, 'openai');
        const credential = credentialFor(settings.url, { hfToken: config.llm.token, apiKey: settings.apiKey, apiKeyUrl: settings.apiKeyUrl });
        return new OpenAiClient({
          url: settings.url,
          model: settings.model,
          apiKey: credential?.value,
          responseFormat: shape === 'auto' ? 'openai' : shape,
          contextSize: settings.contextSize,
          gate: opts.rateLimits?.forStage(stage, settings.url, settings.model),
          ...common(),
        });
      }
      case 'hf':
        return new HfClient({
          model: settings.model,
          endpointUrl: settings.url,
          token: config.llm.token,
          // HfClient binds the key to its endpoint URL, so hand it over only if it belongs there.
          apiKey:
            settings.url !== undefined && credentialFor(settings.url, { apiKey: settings.apiKey, apiKeyUrl: settings.apiKeyUrl }) !== undefined
              ? settings.apiKey
              : undefined,
          responseFormat: shapeFor(config, 'hf'),
          contextSize: settings.contextSize,
          ...common(),
        });
      case 'local':
        return new LazyLocalClient(config, opts.loadLocal ?? importLocal);
    }
  };

  const forStage = (stage: LlmStage): LlmClient => {
    const known = byStage.get(stage);
    if (known !== undefined) return known;
    const settings = resolveStageSettings(config, stage);
    const key = settings.backend === 'local' ? 'local' : `${settings.backend}|${settings.url ?? ''}|${settings.model ?? ''}|${settings.contextSize ?? ''}|${settings.apiKey ?? ''}`;
    let client = byKey.get(key);
    if (client === undefined) {
      warnWithheldKey(stage, settings);
      client = build(settings, stage);
      byKey.set(key, client);
    }
    byStage.set(stage, client);
    return client;
  };

  return {
    forStage,
    clients() {
      for (const stage of LLM_STAGES) forStage(stage);
      return [...byKey.values()];
    },
    async close() {
      const clients = [...byKey.values()];
      byKey.clear();
      byStage.clear();
      await Promise.allSettled(clients.map((c) => c.close()));
      await lease?.release();
    },
  };
}

type Probeable = LlmClient & { probe?: (signal?: AbortSignal) => Promise<void> };

/**
 * Startup check: every distinct client of the router must be able to reach its server (OpenAI:
 * GET `${url}/models`; HF: the endpoint's model list; local: the model loads). Throws
 * LLM_UNREACHABLE (or LLM_AUTH, CONFIG_INVALID) with a one-line message, so the CLI can exit
 * non-zero before reading any input.
 */
export async function checkReachable(router: LlmRouter, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const seen = new Set<LlmClient>();
  for (const stage of LLM_STAGES) {
    const client = router.forStage(stage) as Probeable;
    if (seen.has(client)) continue;
    seen.add(client);
    if (typeof client.probe === 'function') await client.probe(opts.signal);
  }
}
