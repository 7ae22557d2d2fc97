/** The LLM layer: clients, routing per stage, structured output. */
export type { ChatMessage, JsonSchemaSpec, LlmClient, LlmCompletion, LlmRequest, LlmRouter } from './types.js';
export { OUTPUT_JSON_SCHEMAS, OUTPUT_VALIDATORS } from './contract.js';
export type { CheckOutput, FilterOutput, GenerateOutput, IdentifyOutput } from './contract.js';
export { structuredCall } from './structured.js';
export type { StructuredCallOptions, StructuredResult } from './structured.js';
export { parseLenientJson } from './lenient-json.js';
