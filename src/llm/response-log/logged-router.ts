/**
 * Wraps a router so each stage's client looks in the response log before calling the LLM and
 * records every completion it pays for. A completion answered from the log comes back with
 * `fromLog: true`, so meters count it apart from real calls. Start-up probes bypass the log
 * (they must reach the real server). A store that fails to answer a lookup does not fail the
 * request: the call is made and the failure logged once; a failed write is logged likewise (the
 * completion is still used, it is only not reusable).
 *
 * Place it outside the concurrency limiter and inside the meter: a logged answer then takes no
 * LLM slot and is counted as "from log", not as a call.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { LlmStage } from '../../core/records.js';
import type { LlmClient, LlmCompletion, LlmRequest, LlmRouter } from '../types.js';
import { clientIdentity, responseKey } from './key.js';
import type { ResponseStore } from './store.js';

export interface ResponseLogCounts {
  hits: number;
  misses: number;
  writes: number;
  storeErrors: number;
}

export interface LoggedRouter extends LlmRouter {
  readonly counts: ResponseLogCounts;
}

function loggedClient(inner: LlmClient, stage: LlmStage, identity: string, store: ResponseStore, counts: ResponseLogCounts, warn: (msg: string, err: unknown) => void): LlmClient {
  const client: LlmClient & { probe?: (signal?: AbortSignal) => Promise<void> } = {
    backend: inner.backend,
    get model() {
      return inner.model;
    },
    async complete(request: LlmRequest): Promise<LlmCompletion> {
      if (request.probe === true) return inner.complete(request);
      const key = responseKey(identity, request);
      let found;
      try {
        found = await store.get(key);
      } catch (err) {
        counts.storeErrors++;
        warn('response log lookup failed; calling the LLM', err);
      }
      if (found !== undefined) {
        counts.hits++;
        return {
          text: found.text,
          model: found.model,
          usage: { prompt_tokens: found.promptTokens, completion_tokens: found.completionTokens },
          finishReason: found.finishReason,
          fromLog: true,
        };
      }
      counts.misses++;
      const completion = await inner.complete(request);
      try {
        await store.put(key, {
          stage,
          model: completion.model,
          text: completion.text,
          finishReason: completion.finishReason,
          promptTokens: completion.usage.prompt_tokens,
          completionTokens: completion.usage.completion_tokens,
          createdAt: Date.now(),
        });
        counts.writes++;
      } catch (err) {
        counts.storeErrors++;
        warn('response log write failed; the answer is used but not kept', err);
      }
      return completion;
    },
    close: () => inner.close(),
  };
  if (inner.contextWindow !== undefined) client.contextWindow = (signal?: AbortSignal) => inner.contextWindow?.(signal) ?? Promise.resolve(undefined);
  const probe = (inner as { probe?: unknown }).probe;
  if (typeof probe === 'function') client.probe = (signal?: AbortSignal) => (probe as (s?: AbortSignal) => Promise<void>).call(inner, signal);
  return client;
}

/** `router` with the response log in front of every stage's client. */
export function logRouter(router: LlmRouter, store: ResponseStore, config: Config, logger?: Logger): LoggedRouter {
  const counts: ResponseLogCounts = { hits: 0, misses: 0, writes: 0, storeErrors: 0 };
  const wrapped = new Map<LlmStage, LlmClient>();
  const warned = new Set<string>();
  const warn = (msg: string, err: unknown): void => {
    if (warned.has(msg)) return;
    warned.add(msg);
    logger?.warn({ err, store: store.kind }, msg);
  };
  return {
    counts,
    forStage(stage: LlmStage): LlmClient {
      let client = wrapped.get(stage);
      if (client === undefined) {
        client = loggedClient(router.forStage(stage), stage, clientIdentity(config, stage), store, counts, warn);
        wrapped.set(stage, client);
      }
      return client;
    },
    close: () => router.close(),
  };
}
