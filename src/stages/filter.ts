/**
 * Stage 1: the heuristic pre-filter, then the LLM's verdict on whether the document can yield a
 * verifiable question. Only an explicit `qualified: true` passes (the reference implementation
 * let any verdict other than "N" through, so garbled replies counted as passes).
 *
 * `truncated_chars` on the output counts every character the models will not see: what the size
 * rule cut, what `pipeline.promptDocumentChars` leaves out of the prompts, and what was cut to fit
 * the model's context (see `callStageLlm`).
 *
 * With `pipeline.llmFilter: false` the LLM call is skipped: the document passes on the pre-filter
 * alone, and a zero-call trace entry (`LLM_FILTER_OFF`) says so in every record's provenance, so
 * output made that way can always be told apart from output of the full filter.
 */
import type { DocumentRecord, FilteredDocument, StageTrace } from '../core/records.js';
import { callStageLlm, clip, deriveSeeds, makeRejection, promptDocument } from './common.js';
import { prefilter } from './prefilter.js';
import { filterMessages } from './prompts.js';
import type { StageFn } from './types.js';

/** Trace entry and reasoning for a document passed without the LLM filter. */
export const LLM_FILTER_OFF = {
  model: 'none',
  promptVersion: 'filter:llm-off',
  reasoning: 'llm filter disabled (pipeline.llmFilter: false); passed the heuristic pre-filter only',
} as const;

export const filterStage: StageFn<DocumentRecord, FilteredDocument> = async (input, ctx) => {
  const pipeline = ctx.config.pipeline;
  const pre = prefilter(input, pipeline);
  if (!pre.ok) return { outputs: [], rejections: [pre.rejection] };
  const doc = pre.doc;

  const shown = promptDocument(doc.text, pipeline);
  if (!pipeline.llmFilter) {
    const skipped: StageTrace = {
      stage: 'filter',
      model: LLM_FILTER_OFF.model,
      prompt_version: LLM_FILTER_OFF.promptVersion,
      prompt_tokens: 0,
      completion_tokens: 0,
      calls: 0,
    };
    return {
      outputs: [{ doc, filter_reasoning: LLM_FILTER_OFF.reasoning, truncated_chars: pre.truncatedChars + shown.cut, trace: [skipped] }],
      rejections: [],
    };
  }
  const result = await callStageLlm(
    ctx,
    'filter',
    { text: shown.text, cut: shown.cut > 0 || pre.truncatedChars > 0, build: (text, cut) => filterMessages(text, cut, pipeline.promptStyle) },
    deriveSeeds(doc.id, 'filter', pipeline.seed).llm,
  );
  const trace = [result.trace];
  // What the model did not see stays out of the record from here on (see identify.ts).
  const seen = result.fit.cutChars > 0 ? { ...doc, text: result.fit.text } : doc;
  const truncatedChars = pre.truncatedChars + shown.cut + result.fit.cutChars;

  if (!result.ok) {
    const detail = `${result.error}; last reply: ${clip(result.raw, 300)}`;
    return {
      outputs: [],
      rejections: [makeRejection({ docId: doc.id, stage: 'filter', reason: 'filter.invalid_output', detail, trace })],
    };
  }
  if (result.value.qualified !== true) {
    return {
      outputs: [],
      rejections: [
        makeRejection({
          docId: doc.id,
          stage: 'filter',
          reason: 'filter.unqualified',
          detail: clip(result.value.reasoning || '(no reasoning given)', 1000),
          trace,
        }),
      ],
    };
  }
  return {
    outputs: [
      {
        doc: seen,
        filter_reasoning: result.value.reasoning,
        truncated_chars: truncatedChars,
        trace,
      },
    ],
    rejections: [],
  };
};
