/**
 * The LLM output contract (ARCHITECTURE.md): one JSON object per stage, field names fixed.
 * `*_JSON_SCHEMA` is what we send to the server to constrain decoding; the zod validators are what
 * we accept back, a little more forgiving than the schema (small models stray): personas may come
 * as one comma-separated string, booleans as "true"/"yes", domains with odd case or spacing.
 * Persona clean-up (trim, de-duplicate, cap) happens in the identify stage, not here.
 */
import { z } from 'zod';
import { DOMAINS, type LlmStage } from '../core/records.js';
import type { JsonSchemaSpec } from './types.js';

const looseBoolean = z.union([
  z.boolean(),
  z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(z.enum(['true', 'false', 'yes', 'no']))
    .transform((s) => s === 'true' || s === 'yes'),
]);

const text = z.string();

export const filterOutput = z.object({ reasoning: text.default(''), qualified: looseBoolean });

/** The domain is kept as a string here so an unknown one can become `identify.unknown_domain`. */
export const identifyOutput = z.object({
  reasoning: text.default(''),
  domain: z.string(),
  personas: z.union([z.array(z.string()), z.string().transform((s) => s.split(/[,;\n]/))]),
});

export const generateOutput = z.object({ reasoning: text.default(''), question: z.string(), answer: z.string() });

export const checkOutput = z.object({
  reasoning: text.default(''),
  has_context: looseBoolean,
  answer_correct: looseBoolean,
  info_leakage: looseBoolean,
});

export type FilterOutput = z.output<typeof filterOutput>;
export type IdentifyOutput = z.output<typeof identifyOutput>;
export type GenerateOutput = z.output<typeof generateOutput>;
export type CheckOutput = z.output<typeof checkOutput>;

function objectSchema(properties: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const reasoning = { type: 'string' };

export const OUTPUT_JSON_SCHEMAS: Record<LlmStage, JsonSchemaSpec> = {
  filter: { name: 'filter_verdict', schema: objectSchema({ reasoning, qualified: { type: 'boolean' } }) },
  identify: {
    name: 'domain_and_personas',
    schema: objectSchema({
      reasoning,
      domain: { type: 'string', enum: [...DOMAINS] },
      personas: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 },
    }),
  },
  generate: {
    name: 'question_answer',
    schema: objectSchema({ reasoning, question: { type: 'string' }, answer: { type: 'string' } }),
  },
  check: {
    name: 'quality_verdicts',
    schema: objectSchema({
      reasoning,
      has_context: { type: 'boolean' },
      answer_correct: { type: 'boolean' },
      info_leakage: { type: 'boolean' },
    }),
  },
};

/**
 * The same output schema with `reasoning` moved after the other fields (`pipeline.reasoningLast`).
 * Reasoning first lets a capable model think before it commits; a tiny one instead copies
 * document text into the reasoning and carries on with it where the question should start.
 */
export function withReasoningLast(spec: JsonSchemaSpec): JsonSchemaSpec {
  const properties = (spec.schema['properties'] ?? {}) as Record<string, unknown>;
  if (!('reasoning' in properties)) return spec;
  const { reasoning: reasoningField, ...rest } = properties;
  return { name: spec.name, schema: objectSchema({ ...rest, reasoning: reasoningField }) };
}

export const OUTPUT_VALIDATORS = {
  filter: filterOutput,
  identify: identifyOutput,
  generate: generateOutput,
  check: checkOutput,
} as const;
