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
 *
 * Every document leaves with a language: the one it came with (crawl headers) or the detector's
 * (`src/text/language.ts`), set on the document that goes on. With `pipeline.languages` set, a
 * document in another language is rejected as `filter.language` before any LLM call.
 */
import type { PipelineConfig } from '../config/schema.js';
import type { DocumentRecord, FilteredDocument, Rejection, StageTrace } from '../core/records.js';
import { detectLanguage, primaryLanguage } from '../text/index.js';
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

/** The document with its language: kept when it came with one, else detected. */
async function withLanguage(input: DocumentRecord, pipeline: PipelineConfig): Promise<{ doc: DocumentRecord; confidence: number | null }> {
  if (input.language !== undefined && input.language !== null && input.language !== '') return { doc: input, confidence: null };
  const detected = await detectLanguage(input.text, pipeline.languageMinConfidence);
  return { doc: { ...input, language: detected.language }, confidence: detected.confidence };
}

/** The rejection for a language `pipeline.languages` does not list, or null. */
function languageRejection(doc: DocumentRecord, confidence: number | null, pipeline: PipelineConfig): Rejection | null {
  if (pipeline.languages === 'all') return null;
  const language = doc.language ? primaryLanguage(doc.language) : 'und';
  const allowed = pipeline.languages.map(primaryLanguage);
  if (allowed.includes(language)) return null;
  const how = confidence === null ? 'given with the document' : `detected, confidence ${confidence.toFixed(2)}`;
  const what = doc.language ? `language ${doc.language}` : `language undetermined (below ${pipeline.languageMinConfidence})`;
  return makeRejection({ docId: doc.id, stage: 'filter', reason: 'filter.language', detail: `${what} (${how}); pipeline.languages: ${allowed.join(', ')}` });
}

export const filterStage: StageFn<DocumentRecord, FilteredDocument> = async (input, ctx) => {
  const pipeline = ctx.config.pipeline;
  const { doc: tagged, confidence } = await withLanguage(input, pipeline);
  const language = tagged.language ?? null;
  const pre = prefilter(tagged, pipeline);
  if (!pre.ok) return { outputs: [], rejections: [pre.rejection], language };
  const wrongLanguage = languageRejection(tagged, confidence, pipeline);
  if (wrongLanguage !== null) return { outputs: [], rejections: [wrongLanguage], language };
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
      language,
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
      language,
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
      language,
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
    language,
  };
};
