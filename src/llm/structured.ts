/**
 * One structured LLM exchange: send the request with the stage's JSON schema, parse the reply
 * leniently, validate it with zod, and re-ask (showing the model its mistake) up to `maxReasks`
 * times. The result says how many calls and tokens it took, so stages can put it in the trace.
 * Transport failures are not handled here: they propagate as `WebscaleError` (LLM_* codes).
 */
import type { z } from 'zod';
import type { LlmStage, StageTrace } from '../core/records.js';
import { OUTPUT_JSON_SCHEMAS, OUTPUT_VALIDATORS } from './contract.js';
import { parseLenientJson } from './lenient-json.js';
import { isWebscaleError, type WebscaleError } from '../core/errors.js';
import type { ChatMessage, JsonSchemaSpec, LlmClient, LlmCompletion } from './types.js';

export interface StructuredCallOptions {
  stage: LlmStage;
  promptVersion: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  maxReasks: number;
  /** Send `response_format` with the JSON schema (turn off for servers that reject it). */
  sendSchema?: boolean;
  seed?: number;
  signal?: AbortSignal;
  /** The output schema to send; default `OUTPUT_JSON_SCHEMAS[stage]` (same fields, any order). */
  jsonSchema?: JsonSchemaSpec;
  /**
   * Called at most once, when a request is refused as too long for the model's context
   * (LLM_CONTEXT_EXCEEDED), with the error and the messages that were sent: returns a shorter
   * prompt to start over with (re-ask turns are dropped), or undefined to give up (the error is
   * thrown). Without it the error is thrown at once.
   */
  refit?: (error: WebscaleError, sent: readonly ChatMessage[]) => RefitPrompt | undefined;
}

/** A prompt shortened after a context overflow, and the completion cap that fits with it. */
export interface RefitPrompt {
  messages: ChatMessage[];
  maxTokens: number;
}

type Validated<S extends LlmStage> = z.output<(typeof OUTPUT_VALIDATORS)[S]>;

export type StructuredResult<S extends LlmStage> =
  | { ok: true; value: Validated<S>; trace: StageTrace }
  | { ok: false; error: string; raw: string; trace: StageTrace };

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export async function structuredCall<S extends LlmStage>(
  client: LlmClient,
  options: StructuredCallOptions & { stage: S },
): Promise<StructuredResult<S>> {
  const { stage } = options;
  const validator = OUTPUT_VALIDATORS[stage] as unknown as z.ZodType<Validated<S>>;
  const trace: StageTrace = {
    stage,
    model: client.model,
    prompt_version: options.promptVersion,
    prompt_tokens: 0,
    completion_tokens: 0,
    calls: 0,
  };
  const schema = options.jsonSchema ?? OUTPUT_JSON_SCHEMAS[stage];
  let messages = [...options.messages];
  let maxTokens = options.maxTokens;
  let refitted = false;
  let lastError = 'no attempt made';
  let lastRaw = '';
  for (let attempt = 0; attempt <= options.maxReasks; attempt++) {
    let completion: LlmCompletion;
    try {
      completion = await client.complete({
        stage,
        messages,
        jsonSchema: schema,
        temperature: options.temperature,
        maxTokens,
        ...(options.seed === undefined ? {} : { seed: options.seed + attempt }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (err) {
      if (refitted || options.refit === undefined || !isWebscaleError(err, 'LLM_CONTEXT_EXCEEDED')) throw err;
      const next = options.refit(err, messages);
      if (next === undefined) throw err;
      refitted = true;
      messages = [...next.messages];
      maxTokens = next.maxTokens;
      // The refused request produced nothing: it does not count as a re-ask.
      attempt--;
      continue;
    }
    trace.calls++;
    trace.model = completion.model;
    trace.prompt_tokens += completion.usage.prompt_tokens;
    trace.completion_tokens += completion.usage.completion_tokens;
    lastRaw = completion.text;

    const parsed = parseLenientJson(completion.text);
    if (parsed.ok) {
      const validated = validator.safeParse(parsed.value);
      if (validated.success) return { ok: true, value: validated.data, trace };
      lastError = `output does not match the ${stage} schema: ${describeIssues(validated.error)}`;
    } else {
      lastError = parsed.error;
    }
    if (completion.finishReason === 'length') lastError += ' (generation hit max tokens)';
    messages.push(
      { role: 'assistant', content: completion.text },
      {
        role: 'user',
        content:
          `That reply could not be used: ${lastError}. Answer again with only one JSON object ` +
          `with the fields ${Object.keys((schema.schema as { properties: object }).properties).join(', ')}.`,
      },
    );
  }
  return { ok: false, error: lastError, raw: lastRaw.slice(0, 2000), trace };
}
