/**
 * The chat-completions wire format, shared by the OpenAI-compatible client and the Hugging Face
 * one (HF Inference Providers, TGI, vLLM, llama.cpp and Ollama all answer in this shape): how a
 * request's JSON schema becomes `response_format` for each server family, and how a reply becomes
 * an `LlmCompletion`. A reply without a usable `choices[0]` is LLM_BAD_RESPONSE (retryable: a
 * proxy or an overloaded server sometimes answers garbage once).
 */
import { WebscaleError } from '../core/errors.js';
import type { JsonSchemaSpec, LlmCompletion, LlmRequest } from './types.js';

/**
 * `openai`: `{type: "json_schema", json_schema: {name, schema, strict}}` (OpenAI, vLLM, llama.cpp
 * server, Ollama, HF Inference Providers). `tgi`: TGI's grammar, `{type: "json", value: schema}`.
 * `none`: no `response_format` (the prompt alone asks for JSON; parsing is lenient anyway).
 */
export type ResponseFormatShape = 'openai' | 'tgi' | 'none';

export function responseFormat(shape: ResponseFormatShape, spec: JsonSchemaSpec): Record<string, unknown> | undefined {
  switch (shape) {
    case 'openai':
      return { type: 'json_schema', json_schema: { name: spec.name, schema: spec.schema, strict: true } };
    case 'tgi':
      return { type: 'json', value: spec.schema };
    case 'none':
      return undefined;
  }
}

/** The request body fields common to both backends (the caller adds `model`). */
export function chatBody(request: LlmRequest, shape: ResponseFormatShape): Record<string, unknown> {
  const format = responseFormat(shape, request.jsonSchema);
  return {
    messages: request.messages,
    temperature: request.temperature,
    max_tokens: request.maxTokens,
    ...(request.seed === undefined ? {} : { seed: request.seed }),
    ...(format === undefined ? {} : { response_format: format }),
    stream: false,
  };
}

function tokenCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;
}

/** Read `choices[0].message.content`, `finish_reason`, `usage` and `model` from a reply. */
export function parseChatCompletion(json: unknown, fallbackModel: string, context: Record<string, unknown>): LlmCompletion {
  const bad = (why: string): WebscaleError =>
    new WebscaleError('LLM_BAD_RESPONSE', `LLM reply is not a chat completion: ${why}`, { retryable: true, context });
  if (typeof json !== 'object' || json === null) throw bad('not an object');
  const reply = json as Record<string, unknown>;
  const choices = reply['choices'];
  if (!Array.isArray(choices) || choices.length === 0) throw bad('no choices');
  const choice = choices[0] as Record<string, unknown> | null;
  if (typeof choice !== 'object' || choice === null) throw bad('choices[0] is not an object');
  const message = choice['message'] as Record<string, unknown> | null | undefined;
  if (typeof message !== 'object' || message === null) throw bad('choices[0].message is missing');
  const content = message['content'];
  // A null content (a refusal, or a tool call) is an empty answer: the structured layer re-asks.
  if (content !== null && content !== undefined && typeof content !== 'string') throw bad('message.content is not a string');
  const usage = (typeof reply['usage'] === 'object' && reply['usage'] !== null ? reply['usage'] : {}) as Record<string, unknown>;
  const finish = choice['finish_reason'];
  const model = reply['model'];
  return {
    text: typeof content === 'string' ? content : '',
    model: typeof model === 'string' && model !== '' ? model : fallbackModel,
    usage: { prompt_tokens: tokenCount(usage['prompt_tokens']), completion_tokens: tokenCount(usage['completion_tokens']) },
    finishReason: typeof finish === 'string' ? finish : null,
  };
}
