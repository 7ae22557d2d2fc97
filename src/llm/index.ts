/** The LLM layer: clients, routing per stage, structured output. */
export type { ChatMessage, JsonSchemaSpec, LlmClient, LlmCompletion, LlmRequest, LlmRouter } from './types.js';
export { OUTPUT_JSON_SCHEMAS, OUTPUT_VALIDATORS } from './contract.js';
export type { CheckOutput, FilterOutput, GenerateOutput, IdentifyOutput } from './contract.js';
export { structuredCall } from './structured.js';
export type { StructuredCallOptions, StructuredResult } from './structured.js';
export { parseLenientJson } from './lenient-json.js';
export { OpenAiClient, UNNAMED_MODEL } from './openai.js';
export type { OpenAiClientOptions } from './openai.js';
export { HfClient } from './hf.js';
export type { HfClientOptions } from './hf.js';
export { createLlmRouter, checkReachable, resolveStageSettings } from './router.js';
export type { ClientRouter, LlmRouterOptions, ResolvedBackend, StageSettings } from './router.js';
export { ConcurrencyLimiter, limitRouter } from './limiter.js';
export type { LimiterStats } from './limiter.js';
export { acquireAgent } from './http.js';
export type { AgentLease } from './http.js';
export type { LlmEvents, RetryDetail, RetryPolicy } from './retry.js';
export type { ResponseFormatShape } from './wire.js';
