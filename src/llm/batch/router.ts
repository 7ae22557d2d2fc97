/**
 * Batch mode for a whole router: every LLM stage's client is replaced by a `BatchingClient` on
 * the same endpoint, model and key, with the online client (under the process's concurrency cap)
 * kept for the lines a batch does not answer. Stages that share an online client share one
 * batching client, so their requests share waves. Batch mode needs an OpenAI-compatible endpoint
 * with the Batch API for every stage: anything else is refused before any work, with the stage
 * named.
 */
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Config } from '../../config/schema.js';
import { WebscaleError } from '../../core/errors.js';
import type { LlmStage } from '../../core/records.js';
import { credentialFor } from '../credentials.js';
import { resolveStageSettings } from '../router.js';
import type { LlmClient, LlmRouter } from '../types.js';
import type { ResponseFormatShape } from '../wire.js';
import { BatchApi } from './api.js';
import { BatchingClient } from './client.js';
import type { BatchStateStore } from './state.js';
import type { BatchStats } from './stats.js';

export interface BatchRouterOptions {
  /** The online router (already limited to `concurrency`), for lines retried online. */
  online: LlmRouter;
  /** Connections for the Files and Batches calls. */
  dispatcher: Dispatcher;
  state: BatchStateStore;
  stats: BatchStats;
  logger?: Logger | undefined;
}

export interface BatchRouter extends LlmRouter {
  /** The distinct batch endpoints, for the start-up probe. */
  apis(): BatchApi[];
  /** Requests waiting for a batch right now. */
  waiting(): number;
}

/** The `response_format` shape batch lines carry: the online client's rule for an OpenAI URL. */
function shapeFor(config: Config): ResponseFormatShape {
  if (!config.llm.jsonSchema) return 'none';
  return config.llm.responseFormat === 'auto' ? 'openai' : config.llm.responseFormat;
}

/** Throws CONFIG_INVALID naming the stages that cannot use the Batch API. */
export function checkBatchable(config: Config, stages: readonly LlmStage[]): void {
  const bad = stages.filter((stage) => {
    const s = resolveStageSettings(config, stage);
    return s.backend !== 'openai' || s.url === undefined;
  });
  if (bad.length > 0) {
    throw new WebscaleError(
      'CONFIG_INVALID',
      `--batch needs an OpenAI-compatible endpoint with the Batch API (llm.url) for every LLM stage; ${bad.join(', ')} ${bad.length === 1 ? 'uses' : 'use'} ` +
        `${[...new Set(bad.map((s) => resolveStageSettings(config, s).backend))].join('/')}; set --llm-url, or run without --batch`,
    );
  }
}

export function createBatchRouter(config: Config, stages: readonly LlmStage[], opts: BatchRouterOptions): BatchRouter {
  checkBatchable(config, stages);
  const byOnline = new Map<LlmClient, BatchingClient>();
  const byStage = new Map<LlmStage, LlmClient>();
  const apis = new Map<string, BatchApi>();
  const retry = { maxRetries: config.llm.maxRetries, backoffInitial: config.llm.backoffInitial, backoffMax: config.llm.backoffMax };

  const forStage = (stage: LlmStage): LlmClient => {
    const known = byStage.get(stage);
    if (known !== undefined) return known;
    const online = opts.online.forStage(stage);
    // A stage outside batch mode (none in `run --batch`, where every stage is batched) stays online.
    if (!stages.includes(stage)) {
      byStage.set(stage, online);
      return online;
    }
    let client = byOnline.get(online);
    if (client === undefined) {
      const settings = resolveStageSettings(config, stage);
      const url = settings.url as string;
      const apiKey = credentialFor(url, { hfToken: config.llm.token, apiKey: settings.apiKey, apiKeyUrl: settings.apiKeyUrl })?.value;
      const apiKeyId = `${url}|${apiKey ?? ''}`;
      let api = apis.get(apiKeyId);
      if (api === undefined) {
        api = new BatchApi({ url, apiKey, dispatcher: opts.dispatcher, timeoutMs: config.llm.timeout, retry });
        apis.set(apiKeyId, api);
      }
      client = new BatchingClient({
        api,
        online,
        model: settings.model,
        responseFormat: shapeFor(config),
        config: config.llm.batch,
        state: opts.state,
        stats: opts.stats,
        logger: opts.logger,
      });
      byOnline.set(online, client);
    }
    byStage.set(stage, client);
    return client;
  };

  return {
    forStage,
    apis: () => [...apis.values()],
    waiting: () => [...byOnline.values()].reduce((n, c) => n + c.waiting, 0),
    /** Closes the batching clients only: the online router belongs to its creator. */
    async close() {
      await Promise.allSettled([...byOnline.values()].map((c) => c.close()));
    },
  };
}
