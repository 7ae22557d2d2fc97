/**
 * Stage 3: one question-answer pair per generation task (one task per persona). Few-shot
 * examples come from the identified domain's library, drawn with a PRNG seeded from
 * document id + persona + `pipeline.seed`; the LLM `seed` comes from the same hash. Re-running a
 * document therefore sends byte-identical prompts with the same seed, and a different persona of
 * the same document gets its own draw.
 */
import type { GenerationTask, QaCandidate } from '../core/records.js';
import { OUTPUT_JSON_SCHEMAS, withReasoningLast } from '../llm/contract.js';
import { MAX_PAIR_CHARS, callStageLlm, clip, cutText, deriveSeeds, makeRejection, mulberry32, promptDocument } from './common.js';
import { generateMessages, type FewshotForPrompt } from './prompts.js';
import type { StageFn } from './types.js';

export const generateStage: StageFn<GenerationTask, QaCandidate> = async (task, ctx) => {
  const { doc, persona } = task;
  const pipeline = ctx.config.pipeline;
  const seeds = deriveSeeds(doc.id, persona, pipeline.seed);
  const rng = mulberry32(seeds.sampling);
  const examples: FewshotForPrompt[] = ctx.fewshot.sample(task.domain, pipeline.fewshotPerPrompt, rng).map((example) => ({
    example,
    material:
      pipeline.fewshotMaxChars === undefined
        ? example.original_material
        : cutText(example.original_material, pipeline.fewshotMaxChars).text,
  }));

  const shown = promptDocument(doc.text, pipeline);
  const result = await callStageLlm(
    ctx,
    'generate',
    {
      text: shown.text,
      cut: shown.cut > 0 || task.truncated_chars > 0,
      build: (documentText, cut) => generateMessages({ documentText, cut, domain: task.domain, examples, persona, style: pipeline.promptStyle }),
    },
    seeds.llm,
    pipeline.reasoningLast ? withReasoningLast(OUTPUT_JSON_SCHEMAS.generate) : undefined,
  );
  const trace = [...task.trace, result.trace];
  // The pair comes from the text the model saw: the check stage judges it against that text.
  const seenTask =
    result.fit.cutChars > 0 ? { ...task, doc: { ...doc, text: result.fit.text }, truncated_chars: task.truncated_chars + result.fit.cutChars } : task;

  let problem: string | null = null;
  if (!result.ok) problem = `${result.error}; last reply: ${clip(result.raw, 300)}`;
  else if (result.value.question.trim() === '') problem = 'the model returned an empty question';
  if (problem !== null || !result.ok) {
    return {
      outputs: [],
      rejections: [
        makeRejection({
          docId: doc.id,
          stage: 'generate',
          reason: 'generate.invalid_output',
          detail: problem ?? 'invalid output',
          persona,
          trace,
          domain: task.domain,
          // What the model did return, when it parsed: an empty question beside its answer.
          ...(result.ok ? { question: clip(result.value.question, MAX_PAIR_CHARS), answer: clip(result.value.answer, MAX_PAIR_CHARS) } : {}),
        }),
      ],
    };
  }
  return {
    outputs: [
      {
        task: seenTask,
        question: result.value.question.trim(),
        // An empty answer passes on: the check stage records it as check.empty_answer.
        answer: result.value.answer.trim(),
        generate_reasoning: result.value.reasoning,
        fewshot_ids: examples.map((e) => e.example.id),
        trace,
      },
    ],
    rejections: [],
  };
};
