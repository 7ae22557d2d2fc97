/**
 * Wraps a router so every LLM call is observed where it is made, whatever backend answers it:
 * the embedded runner accounts tokens per stage, the Kafka worker feeds metrics and its view of
 * LLM health (an outage pauses consumption).
 */
import { WebscaleError } from '../core/errors.js';
import type { LlmStage, TokenUsage } from '../core/records.js';
import type { LlmClient, LlmCompletion, LlmRouter } from '../llm/types.js';

export interface LlmObserver {
  onSuccess?(stage: LlmStage, completion: LlmCompletion, ms: number, client: LlmClient): void;
  onError?(stage: LlmStage, error: WebscaleError, ms: number, client: LlmClient): void;
}

export function observeRouter(router: LlmRouter, observer: LlmObserver): LlmRouter {
  const wrapped = new Map<LlmStage, LlmClient>();
  return {
    forStage(stage) {
      let client = wrapped.get(stage);
      if (!client) {
        const inner = router.forStage(stage);
        const observed: LlmClient = {
          backend: inner.backend,
          model: inner.model,
          async complete(request) {
            const started = performance.now();
            try {
              const completion = await inner.complete(request);
              observer.onSuccess?.(stage, completion, performance.now() - started, inner);
              return completion;
            } catch (err) {
              observer.onError?.(stage, WebscaleError.from(err), performance.now() - started, inner);
              throw err;
            }
          },
          close: () => inner.close(),
        };
        // Not an LLM call: nothing to observe, but the stage needs it to fit its prompt.
        if (inner.contextWindow !== undefined) observed.contextWindow = (signal) => inner.contextWindow?.(signal) ?? Promise.resolve(undefined);
        client = observed;
        wrapped.set(stage, client);
      }
      return client;
    },
    close: () => router.close(),
  };
}

export function meterRouter(router: LlmRouter, onCall: (stage: LlmStage, usage: TokenUsage, model: string) => void): LlmRouter {
  return observeRouter(router, { onSuccess: (stage, completion, _ms, client) => onCall(stage, completion.usage, client.model) });
}
