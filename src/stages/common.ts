/**
 * Small helpers shared by the stages: building typed rejections, reading a stage's LLM settings
 * from the config, cutting text on a word boundary, and the hashing that makes sampling and
 * LLM seeds reproducible (same document + persona + `pipeline.seed` -> same draw, every run).
 */
import { createHash } from 'node:crypto';
import type { PipelineConfig } from '../config/schema.js';
import { structuredCall, type StructuredResult } from '../llm/structured.js';
import type { ChatMessage, JsonSchemaSpec } from '../llm/types.js';
import { promptVersion } from './prompts.js';
import type { StageContext } from './types.js';
import {
  sumUsage,
  type LlmStage,
  type ReasonCode,
  type Rejection,
  type RejectionStage,
  type StageTrace,
} from '../core/records.js';

export interface RejectionInput {
  docId: string;
  stage: RejectionStage;
  reason: ReasonCode;
  detail: string;
  persona?: string | null;
  /** Trace of the LLM calls spent on this document or pair so far (for `usage`). */
  trace?: readonly StageTrace[];
}

export function makeRejection(input: RejectionInput): Rejection {
  return {
    doc_id: input.docId,
    stage: input.stage,
    reason: input.reason,
    detail: input.detail,
    persona: input.persona ?? null,
    line: null,
    usage: sumUsage(input.trace ?? []),
    created_at: Date.now(),
  };
}

/**
 * One structured LLM call of a stage: the stage's temperature and token cap (from `llm`,
 * overridden per stage by `llm.stages.<stage>`), re-asks, the prompt version of the configured
 * prompt style, the reproducible seed and the run's abort signal.
 */
export function callStageLlm<S extends LlmStage>(
  ctx: StageContext,
  stage: S,
  messages: ChatMessage[],
  seed: number,
  jsonSchema?: JsonSchemaSpec,
): Promise<StructuredResult<S>> {
  const { config } = ctx;
  const override = config.llm.stages[stage];
  return structuredCall(ctx.llm.forStage(stage), {
    stage,
    promptVersion: promptVersion(stage, config.pipeline.promptStyle),
    messages,
    temperature: override?.temperature ?? config.llm.temperature,
    maxTokens: override?.maxTokens ?? config.llm.maxTokens,
    maxReasks: config.llm.maxReasks,
    sendSchema: config.llm.jsonSchema,
    seed,
    signal: ctx.signal,
    ...(jsonSchema === undefined ? {} : { jsonSchema }),
  });
}

export interface CutText {
  text: string;
  /** Characters removed from the end (0 when the text fit). */
  cut: number;
}

/**
 * Keep at most `max` characters. Prefer to stop at the last whitespace when it lies in the final
 * tenth of the budget (a cut mid-word confuses models and looks like garbage to the filter); a
 * surrogate pair is never split.
 */
export function cutText(text: string, max: number): CutText {
  if (text.length <= max) return { text, cut: 0 };
  let end = max;
  const floor = Math.floor(max * 0.9);
  for (let i = max; i > floor; i--) {
    if (/\s/.test(text[i] ?? '')) {
      end = i;
      break;
    }
  }
  const code = text.charCodeAt(end - 1);
  if (end > 0 && code >= 0xd800 && code <= 0xdbff) end--;
  const kept = text.slice(0, end).trimEnd();
  return { text: kept, cut: text.length - kept.length };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A hash of the parts, joined with a separator that cannot occur in them by accident. */
export function hashParts(...parts: ReadonlyArray<string | number>): Buffer {
  return createHash('sha256').update(parts.map(String).join('\u0000'), 'utf8').digest();
}

export interface Seeds {
  /** Seeds the few-shot sampling PRNG. */
  sampling: number;
  /** Sent to the LLM server as `seed` (31 bits: some servers reject larger or negative ints). */
  llm: number;
}

export function deriveSeeds(...parts: ReadonlyArray<string | number>): Seeds {
  const digest = hashParts(...parts);
  return { sampling: digest.readUInt32BE(0), llm: digest.readUInt32BE(4) & 0x7fffffff };
}

/** A PRNG returning floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a tiny, well-known 32-bit generator. Plenty for picking a few examples, and
 * written here so the sampling does not depend on a library's internal algorithm changing.
 */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shorten model text for a rejection detail. */
export function clip(text: string, max = 500): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** The document as prompts show it: cut to `pipeline.promptDocumentChars` when that is set. */
export function promptDocument(text: string, cfg: PipelineConfig): CutText {
  return cfg.promptDocumentChars === undefined ? { text, cut: 0 } : cutText(text, cfg.promptDocumentChars);
}
