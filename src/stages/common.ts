/**
 * Small helpers shared by the stages: building typed rejections, a stage's LLM call (its settings
 * from the config, the document fitted to the model's context), cutting text on a word boundary, and the hashing that makes sampling and
 * LLM seeds reproducible (same document + persona + `pipeline.seed` -> same draw, every run).
 */
import { createHash } from 'node:crypto';
import type { PipelineConfig } from '../config/schema.js';
import { contextOverflowOf, estimatingCounter, type ContextWindow } from '../llm/context.js';
import { structuredCall, type StructuredResult } from '../llm/structured.js';
import type { JsonSchemaSpec, LlmClient } from '../llm/types.js';
import { fitPrompt, refitAfterOverflow, type DocumentPrompt, type FittedPrompt } from './context-fit.js';
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
  /** The rejected pair (generate, check) and what identify decided (see `Rejection`). */
  question?: string | null;
  answer?: string | null;
  domain?: string | null;
  personas?: readonly string[] | null;
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
    // Set only when known, so the JSON lines of other rejections stay as they were.
    ...(input.question == null ? {} : { question: input.question }),
    ...(input.answer == null ? {} : { answer: input.answer }),
    ...(input.domain == null ? {} : { domain: input.domain }),
    ...(input.personas == null ? {} : { personas: [...input.personas] }),
  };
}

/** Context windows servers stated in an overflow, by client: later documents are cut to them up front. */
const learnedWindows = new WeakMap<LlmClient, ContextWindow>();

/** A stage's structured call, and the document as it was sent. */
export type StageCall<S extends LlmStage> = StructuredResult<S> & {
  /** `text`: the document as sent (a prefix of the one given); `cutChars`: what the context fit cut from it. */
  fit: { text: string; cutChars: number };
};

/**
 * One structured LLM call of a stage: the stage's temperature and token cap (from `llm`,
 * overridden per stage by `llm.stages.<stage>`), re-asks, the prompt version of the configured
 * prompt style, the reproducible seed and the run's abort signal.
 *
 * The document is cut to fit the model's context with room for the reply (`context-fit.ts`) when
 * the window is known: configured (`llm.contextSize`, per stage), the local model's, or stated by
 * the server in an earlier overflow. A request refused as too long is sent once more with the
 * document cut to what the server said; the caller records `fit.cutChars` in `truncated_chars`.
 */
export async function callStageLlm<S extends LlmStage>(
  ctx: StageContext,
  stage: S,
  doc: DocumentPrompt,
  seed: number,
  jsonSchema?: JsonSchemaSpec,
): Promise<StageCall<S>> {
  const { config } = ctx;
  const override = config.llm.stages[stage];
  const client = ctx.llm.forStage(stage);
  const maxTokens = override?.maxTokens ?? config.llm.maxTokens;
  const window = learnedWindows.get(client) ?? (await client.contextWindow?.(ctx.signal));
  const counter = window?.counter ?? estimatingCounter(config.llm.charsPerToken);
  let fitted: FittedPrompt =
    window === undefined
      ? { messages: doc.build(doc.text, doc.cut), text: doc.text, cutChars: 0, maxTokens }
      : fitPrompt(doc, window.tokens, maxTokens, counter);

  const result = await structuredCall(client, {
    stage,
    promptVersion: promptVersion(stage, config.pipeline.promptStyle),
    messages: fitted.messages,
    temperature: override?.temperature ?? config.llm.temperature,
    maxTokens: fitted.maxTokens,
    maxReasks: config.llm.maxReasks,
    sendSchema: config.llm.jsonSchema,
    seed,
    signal: ctx.signal,
    ...(jsonSchema === undefined ? {} : { jsonSchema }),
    refit: (error, sent) => {
      const overflow = contextOverflowOf(error);
      if (overflow.limit !== undefined && (window === undefined || overflow.limit < window.tokens)) {
        learnedWindows.set(client, { tokens: overflow.limit, ...(window?.counter === undefined ? {} : { counter: window.counter }) });
      }
      const next = refitAfterOverflow(doc, fitted, sent, overflow, window?.tokens, maxTokens, counter);
      ctx.logger.debug(
        { stage, overflow, cutChars: next?.cutChars, keptChars: next?.text.length },
        next === undefined ? 'prompt exceeds the model context; nothing left to cut' : 'prompt exceeds the model context; retrying with a shorter document',
      );
      if (next === undefined) return undefined;
      fitted = next;
      return { messages: next.messages, maxTokens: next.maxTokens };
    },
  });
  return { ...result, fit: { text: fitted.text, cutChars: fitted.cutChars } };
}

import { cutText, type CutText } from './cut-text.js';

export { cutText, type CutText };

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

/**
 * Longest question or answer a rejection carries (characters): enough to judge any pair a model
 * meant, while one rambling reply cannot swell the rejections topic.
 */
export const MAX_PAIR_CHARS = 4000;

/** Shorten model text for a rejection detail. */
export function clip(text: string, max = 500): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** The document as prompts show it: cut to `pipeline.promptDocumentChars` when that is set. */
export function promptDocument(text: string, cfg: PipelineConfig): CutText {
  return cfg.promptDocumentChars === undefined ? { text, cut: 0 } : cutText(text, cfg.promptDocumentChars);
}
