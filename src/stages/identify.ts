/**
 * Stage 2: the document's domain (one of the 10) and up to `pipeline.maxPersonas` personas, then
 * one generation task per persona. The model's domain is normalised (case, spacing, "&" vs
 * "and"); one that still does not map is `identify.unknown_domain`, never silently "Other".
 * Personas are cleaned here because models return them with list markers, quotes, duplicates
 * and more than asked for.
 */
import type { FilteredDocument, GenerationTask } from '../core/records.js';
import { callStageLlm, clip, deriveSeeds, makeRejection, promptDocument } from './common.js';
import { normaliseDomain } from './domains.js';
import { identifyMessages } from './prompts.js';
import type { StageFn } from './types.js';

/** Personas longer than this are a model rambling, not a persona; they are cut. */
const MAX_PERSONA_CHARS = 120;

/** Trim, strip list markers and wrapping quotes, drop empties and case-insensitive duplicates, cap. */
export function cleanPersonas(raw: readonly string[], max: number): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const item of raw) {
    const persona = item
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/^(?:[-*•]|\d+[.)])\s+/, '')
      .replace(/^["'“”‘’`]+|["'“”‘’`]+$/g, '')
      .replace(/[.;,]+$/, '')
      .trim()
      .slice(0, MAX_PERSONA_CHARS)
      .trim();
    // A persona names people: without a single letter it is debris ("-", "1.", "...").
    if (!/\p{L}/u.test(persona)) continue;
    const k = persona.toLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(persona);
    if (out.length >= max) break;
  }
  return out;
}

export const identifyStage: StageFn<FilteredDocument, GenerationTask> = async (input, ctx) => {
  const { doc } = input;
  const pipeline = ctx.config.pipeline;
  const shown = promptDocument(doc.text, pipeline);
  const result = await callStageLlm(
    ctx,
    'identify',
    { text: shown.text, cut: shown.cut > 0 || input.truncated_chars > 0, build: (text, cut) => identifyMessages(text, cut, pipeline.promptStyle) },
    deriveSeeds(doc.id, 'identify', pipeline.seed).llm,
  );
  const trace = [...input.trace, result.trace];
  // A document cut to fit this model's context travels on cut: the next stages and the sink
  // record hold the text the pairs were drawn from, and `truncated_chars` counts the rest.
  // (A `promptDocumentChars` cut was already counted by the filter stage.)
  const seen = result.fit.cutChars > 0 ? { ...doc, text: result.fit.text } : doc;
  const truncatedChars = input.truncated_chars + result.fit.cutChars;
  const reject = (
    reason: 'identify.invalid_output' | 'identify.unknown_domain' | 'identify.no_personas',
    detail: string,
    found: { domain?: string; personas?: readonly string[] } = {},
  ) => ({
    outputs: [],
    rejections: [makeRejection({ docId: doc.id, stage: 'identify', reason, detail, trace, ...found })],
  });

  if (!result.ok) return reject('identify.invalid_output', `${result.error}; last reply: ${clip(result.raw, 300)}`);
  const domain = normaliseDomain(result.value.domain);
  const personas = cleanPersonas(result.value.personas, pipeline.maxPersonas);
  if (domain === null) {
    // The personas it proposed still say what the model made of the document.
    return reject('identify.unknown_domain', `model returned domain ${JSON.stringify(clip(result.value.domain, 200))}`, personas.length > 0 ? { personas } : {});
  }
  if (personas.length === 0) {
    return reject('identify.no_personas', `no usable persona in ${clip(JSON.stringify(result.value.personas), 300)}`, { domain });
  }
  return {
    outputs: personas.map((persona, i) => ({
      doc: seen,
      domain,
      persona,
      persona_index: i,
      persona_count: personas.length,
      truncated_chars: truncatedChars,
      trace: [...trace],
    })),
    rejections: [],
  };
};
