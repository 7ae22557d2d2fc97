/**
 * Wraps a router so every LLM call is observed where it is made, whatever backend answers it:
 * the embedded runner accounts tokens per stage, the Kafka worker feeds metrics and its view of
 * LLM health (an outage pauses consumption).
 */
import { WebscaleError } from '../core/errors.js';
import type { LlmStage, TokenUsage } from '../core/records.js';
import type { Budget } from '../llm/budget.js';
import type { LlmClient, LlmCompletion, LlmRouter } from '../llm/types.js';
import type { StageRecorder } from '../metrics/index.js';

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

/**
 * A Kafka worker's view of its LLM calls: each answer tells `health` the LLM serves (ending an
 * outage pause), is charged to the budget and counted in the request metrics; an answer from the
 * response log is not a call, so it is counted apart and says nothing of the LLM's health. Wrap
 * it inside the concurrency limiter, so latency measures the call, not the wait for a slot.
 */
export function observeWorkerCalls(router: LlmRouter, o: { health: { success(): void }; budget?: Budget | undefined; metrics?: StageRecorder | undefined }): LlmRouter {
  const { health, budget, metrics } = o;
  return observeRouter(router, {
    onSuccess: (_stage, completion, ms, client) => {
      if (completion.fromLog === true) {
        metrics?.llmFromLog?.(completion.usage.prompt_tokens, completion.usage.completion_tokens);
        return;
      }
      health.success();
      budget?.record(client.model, completion.usage);
      metrics?.llmRequest({
        model: client.model,
        outcome: 'ok',
        seconds: ms / 1000,
        promptTokens: completion.usage.prompt_tokens,
        completionTokens: completion.usage.completion_tokens,
      });
    },
    onError: (_s, err, ms, client) => metrics?.llmRequest({ model: client.model, outcome: err.code, seconds: ms / 1000 }),
  });
}
