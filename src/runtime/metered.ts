/**
 * Wraps a router so every completed LLM call is accounted in the run statistics by stage (tokens
 * and calls, re-asks included), whatever backend answered it.
 */
import type { LlmStage, TokenUsage } from '../core/records.js';
import type { LlmClient, LlmRouter } from '../llm/types.js';

export function meterRouter(router: LlmRouter, onCall: (stage: LlmStage, usage: TokenUsage) => void): LlmRouter {
  const wrapped = new Map<LlmStage, LlmClient>();
  return {
    forStage(stage) {
      let client = wrapped.get(stage);
      if (!client) {
        const inner = router.forStage(stage);
        client = {
          backend: inner.backend,
          model: inner.model,
          async complete(request) {
            const completion = await inner.complete(request);
            onCall(stage, completion.usage);
            return completion;
          },
          close: () => inner.close(),
        };
        wrapped.set(stage, client);
      }
      return client;
    },
    close: () => router.close(),
  };
}
