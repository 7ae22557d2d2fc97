/**
 * Stage 4: quality check of one QA candidate, cheapest test first.
 *  1. Deterministic checks that save an LLM call: not a question at all, empty answer, over-long
 *     answer, answer written out in the question, question pointing at an unseen "text/passage".
 *  2. Decontamination against the benchmarks (deterministic too, so it also runs before the LLM;
 *     a contaminated pair is dropped whatever the verdicts would be).
 *  3. The LLM's three verdicts; all must pass (has_context, answer_correct, !info_leakage).
 * On a pass it builds the sink record with provenance and token usage from the trace.
 */
import type { Config } from '../config/schema.js';
import type { CheckVerdicts, QaCandidate, QaRecord, ReasonCode, StageTrace, TokenUsage } from '../core/records.js';
import { sumUsage } from '../core/records.js';
import { MAX_PAIR_CHARS, callStageLlm, clip, deriveSeeds, makeRejection, promptDocument, sha256Hex } from './common.js';
import { hasNoSpaceScript, hasQuestionMark, wordList } from '../text/index.js';
import { PIPELINE_VERSION } from './paths.js';
import { checkMessages } from './prompts.js';
import type { StageFn } from './types.js';

/**
 * Non-numeric answers shorter than this (normalised) are not tested for leakage: "no", "Pb" or "x"
 * occur by chance. Answers with a number in them are always tested: a number that appears in the
 * question gives the answer away however short it is ("rule of ____: dividing 72 by ..." / "72").
 */
export const MIN_LEAK_CHECK_CHARS = 3;
/** The same floor for answers in Chinese, Japanese, Thai...: two characters are a whole word there ("北京"). */
export const MIN_LEAK_CHECK_CHARS_NO_SPACE_SCRIPT = 2;

/**
 * Runs of letters and digits, with the joins that belong inside one token: a decimal point or a
 * thousands comma between digits ("3.14", "1,000"), and a power's caret ("x^2", "10^6": an exponent
 * belongs to its base, as in "x²", which NFKC folds to "x2").
 */
const RAW_TOKEN = /[\p{L}\p{M}\p{N}]+(?:(?:(?<=\p{N})[.,](?=\p{N})|\^(?=[\p{L}\p{N}]))[\p{L}\p{M}\p{N}]+)*/gu;
const LEADING_NUMBER = /^\p{N}+(?:[.,]\p{N}+)*/u;
const GROUPED_THOUSANDS = /^\p{N}{1,3}(?:,\p{N}{3})+(?:\.\p{N}+)?$/u;

/** One number in a canonical spelling: "1,000" -> "1000", "2.50" -> "2.5", "3.0" -> "3". */
function canonicalNumber(text: string): string[] {
  // A comma between digits is a thousands separator only in groups of three ("1,000", "12,345.6");
  // otherwise it separates numbers ("1,2,3"; a decimal comma "3,5" splits too, the same way on
  // both sides, so it still matches itself).
  const parts = GROUPED_THOUSANDS.test(text) ? [text.replace(/,/g, '')] : text.split(',');
  return parts.map((p) => {
    const m = /^(\p{N}+)\.(\p{N}+)$/u.exec(p);
    if (m === null) return p; // an integer, or a dotted version such as 1.2.3, kept as written
    const fraction = (m[2] ?? '').replace(/0+$/, '');
    return fraction === '' ? (m[1] ?? p) : `${m[1] ?? ''}.${fraction}`;
  });
}

/**
 * The tokens leakage is judged on, lower-cased after NFKC. A number is a token of its own and is
 * compared by value spelling, never by substring:
 * - "50" is not in "150", "12" is not in "12.5", "1969" is not in "1969.5" or "19690";
 * - "1,000" = "1000", "2.50" = "2.5";
 * - signs are not part of a number ("-5" and "5" are the same token): the hyphen is as often a
 *   range or a dash ("1990-1995", "COVID-19") as a minus, and the magnitude is what gives an
 *   answer away;
 * - a number followed by letters is the number plus a suffix: "72GB", "11th", "1960s", "5km" hold
 *   the tokens "72", "11", "1960", "5" (the unit or ordinal ending follows as its own token), so
 *   "the 11th edition" gives away "11"; "72%" is "72" because "%" is not a letter;
 * - letters followed by a number are one identifier: "R6", "x86", "H2O", "mp3" do not contain
 *   "6", "86", "2", "3";
 * - a power is one token: "x^2 = 4" does not give away "2".
 * Not handled: a space as thousands separator ("1 000" is two tokens), spelled-out numbers.
 */
export function leakTokens(text: string): string[] {
  const out: string[] = [];
  for (const m of text.normalize('NFKC').toLowerCase().matchAll(RAW_TOKEN)) {
    const tok = m[0];
    // Chinese, Japanese, Thai... run words together: "水的沸点是多少" is six words, not one.
    if (hasNoSpaceScript(tok)) for (const word of wordList(tok)) pushLeakToken(out, word);
    else pushLeakToken(out, tok);
  }
  return out;
}

function pushLeakToken(out: string[], tok: string): void {
  const number = tok.includes('^') ? null : LEADING_NUMBER.exec(tok);
  if (number === null) {
    out.push(tok);
    return;
  }
  out.push(...canonicalNumber(number[0]));
  const suffix = tok.slice(number[0].length);
  if (suffix !== '') out.push(suffix);
}

const isNumberToken = (tok: string): boolean => /^\p{N}/u.test(tok);

/**
 * Whether the answer appears word for word (as whole tokens, see `leakTokens`) in the question.
 * An answer with a number in it is tested at any length; one without is tested from
 * `MIN_LEAK_CHECK_CHARS` characters.
 */
export function answerInQuestion(question: string, answer: string): boolean {
  const a = leakTokens(answer);
  if (a.length === 0) return false;
  const noSpaceScript = hasNoSpaceScript(answer);
  const minChars = noSpaceScript ? MIN_LEAK_CHECK_CHARS_NO_SPACE_SCRIPT : MIN_LEAK_CHECK_CHARS;
  if (!a.some(isNumberToken) && a.join('').length < minChars) return false;
  const q = leakTokens(question);
  outer: for (let i = 0; i + a.length <= q.length; i++) {
    for (let j = 0; j < a.length; j++) if (q[i + j] !== a[j]) continue outer;
    return true;
  }
  // ICU's dictionary may cut the same characters differently in the question and in the answer
  // ("北京大学" one word alone, two inside a sentence); with no spaces to respect, the answer's
  // characters in a row in the question give it away.
  return noSpaceScript && !a.some(isNumberToken) && q.join('').includes(a.join(''));
}

const SOURCE_NOUN = '(?:text|passage|material|article|document|excerpt|paragraph|reading|snippet|source text)';
/**
 * Phrases by which a question points at a document the reader never sees. Kept specific so real
 * questions survive: "the passage of the 1964 Act" or "the Document Object Model" must pass.
 */
const NO_CONTEXT_PATTERNS: readonly RegExp[] = [
  new RegExp(
    `\\b(?:according to|based on|as per|as (?:stated|described|mentioned|noted|shown|discussed|explained|outlined|presented|given) in)\\s+(?:the|this|that)\\s+(?:above\\s+|preceding\\s+|following\\s+|given\\s+|provided\\s+|original\\s+|source\\s+)?${SOURCE_NOUN}\\b(?!\\s+of\\b)`,
    'i',
  ),
  new RegExp(`\\b(?:in|from|within)\\s+(?:the\\s+)?(?:above|preceding|following|given|provided|original|source)\\s+${SOURCE_NOUN}\\b`, 'i'),
  new RegExp(`\\b(?:in|from)\\s+this\\s+${SOURCE_NOUN}\\b`, 'i'),
  new RegExp(`\\bthe\\s+${SOURCE_NOUN}\\s+(?:above|below)\\b`, 'i'),
  new RegExp(
    `\\b(?:the|this)\\s+${SOURCE_NOUN}\\s+(?:mentions|mentioned|states|stated|says|said|describes|described|notes|discusses|explains|suggests|claims|argues|indicates|refers to|highlights)\\b`,
    'i',
  ),
  /\b(?:mentioned|described|discussed|stated|listed|shown|given|cited)\s+(?:above|below)\b/i,
  // "this passage", "this article": a self-contained question has no such thing in view. Not
  // "this material" or "this document", which a question can introduce itself ("a steel with
  // yield strength 250 MPa: what is this material's ...").
  /\bthis\s+(?:text|passage|article|excerpt|paragraph|snippet)\b/i,
];

/** Characters of a question read to count its words: the first few words decide the shape. */
const QUESTION_SAMPLE_CHARS = 2000;

/** Fewer words than this and a "question" cannot carry the background it needs. */
export const MIN_QUESTION_WORDS = 4;

/** Words a question may open with when it has no question mark (interrogatives, imperatives). */
const QUESTION_OPENERS = new Set(
  'what which who whom whose when where why how name give state list identify calculate compute find determine estimate explain is are was were do does did can could should would will has have had in on at for by from to of during after before under if'.split(
    ' ',
  ),
);

/**
 * Why the text is not a question at all, or null: too short to be self-contained, or neither a
 * question mark nor a question-like opening ("The answer is: 1753" from a tiny model).
 */
export function notAQuestion(question: string): string | null {
  // Words as the question's script counts them (Intl.Segmenter): "光速是多少？" is four words.
  const words = wordList(question, QUESTION_SAMPLE_CHARS, MIN_QUESTION_WORDS);
  if (words.length < MIN_QUESTION_WORDS) return `${words.length} word(s), a self-contained question needs at least ${MIN_QUESTION_WORDS}`;
  const first = (words[0] ?? '').toLowerCase().replace(/[^\p{L}]/gu, '');
  if (!hasQuestionMark(question) && !QUESTION_OPENERS.has(first)) return 'no question mark and no question-like opening word';
  if (/\bthe answer is\b/i.test(question)) return 'the question states "the answer is"';
  return null;
}

/** The phrase by which the question refers to an unseen source, or null. */
export function unseenSourceReference(question: string): string | null {
  for (const re of NO_CONTEXT_PATTERNS) {
    const m = re.exec(question);
    if (m) return m[0];
  }
  return null;
}

function usageByStage(trace: readonly StageTrace[]): Record<string, TokenUsage> {
  const out: Record<string, TokenUsage> = {};
  for (const t of trace) {
    const u = out[t.stage] ?? { prompt_tokens: 0, completion_tokens: 0 };
    u.prompt_tokens += t.prompt_tokens;
    u.completion_tokens += t.completion_tokens;
    out[t.stage] = u;
  }
  return out;
}

/** Stable record id: the same document, persona and prompt/pipeline versions give the same id. */
export function qaRecordId(docId: string, persona: string, promptVersions: Record<string, string>): string {
  const versions = Object.keys(promptVersions)
    .sort()
    .map((k) => `${k}=${promptVersions[k] ?? ''}`)
    .join(',');
  return sha256Hex([docId, persona, PIPELINE_VERSION, versions].join('\u0000')).slice(0, 32);
}

export function buildQaRecord(candidate: QaCandidate, verdicts: CheckVerdicts, trace: readonly StageTrace[], config: Config): QaRecord {
  const { task } = candidate;
  const promptVersions: Record<string, string> = {};
  const models: Record<string, string> = {};
  for (const t of trace) {
    promptVersions[t.stage] = t.prompt_version;
    models[t.stage] = t.model;
  }
  return {
    id: qaRecordId(task.doc.id, task.persona, promptVersions),
    doc_id: task.doc.id,
    question: candidate.question,
    answer: candidate.answer,
    domain: task.domain,
    persona: task.persona,
    source_url: task.doc.url,
    source: task.doc.source,
    source_text: config.pipeline.includeSourceText ? task.doc.text : null,
    checks: verdicts,
    provenance: {
      pipeline_version: PIPELINE_VERSION,
      prompt_versions: promptVersions,
      models,
      fewshot_ids: [...candidate.fewshot_ids],
      truncated_chars: task.truncated_chars,
      language: task.doc.language ?? null,
    },
    usage: { ...sumUsage(trace), by_stage: usageByStage(trace) },
    created_at: Date.now(),
  };
}

export const checkStage: StageFn<QaCandidate, QaRecord> = async (candidate, ctx) => {
  const { task, question, answer } = candidate;
  const { doc, persona } = task;
  const pipeline = ctx.config.pipeline;
  const reject = (reason: ReasonCode, detail: string, trace: readonly StageTrace[]) => ({
    outputs: [],
    rejections: [
      makeRejection({
        docId: doc.id,
        stage: 'check',
        reason,
        detail,
        persona,
        trace,
        question: clip(question, MAX_PAIR_CHARS),
        answer: clip(answer, MAX_PAIR_CHARS),
        domain: task.domain,
      }),
    ],
  });

  // 1. Deterministic checks.
  const malformed = notAQuestion(question);
  if (malformed !== null) return reject('check.not_a_question', malformed, candidate.trace);
  if (answer.trim() === '') return reject('check.empty_answer', 'the answer is empty', candidate.trace);
  if (answer.length > pipeline.maxAnswerChars) {
    return reject('check.answer_too_long', `answer has ${answer.length} characters, limit ${pipeline.maxAnswerChars}`, candidate.trace);
  }
  if (answerInQuestion(question, answer)) {
    return reject('check.leakage', `the answer ${JSON.stringify(clip(answer, 100))} appears verbatim in the question`, candidate.trace);
  }
  const reference = unseenSourceReference(question);
  if (reference !== null) {
    return reject('check.no_context', `the question refers to an unseen source: "${reference}"`, candidate.trace);
  }

  // 2. Decontamination.
  const contamination = ctx.decontaminator.check(question, answer);
  if (contamination.contaminated) {
    return reject(
      'check.contaminated',
      `overlaps benchmark ${contamination.benchmark ?? 'unknown'}: "${contamination.ngram ?? ''}"`,
      candidate.trace,
    );
  }

  // 3. The LLM's verdicts.
  const shown = promptDocument(doc.text, pipeline);
  const result = await callStageLlm(
    ctx,
    'check',
    {
      text: shown.text,
      cut: shown.cut > 0 || task.truncated_chars > 0,
      build: (documentText, cut) => checkMessages({ documentText, cut, question, answer, style: pipeline.promptStyle }),
    },
    deriveSeeds(doc.id, persona, 'check', pipeline.seed).llm,
  );
  const trace = [...candidate.trace, result.trace];
  if (!result.ok) return reject('check.invalid_output', `${result.error}; last reply: ${clip(result.raw, 300)}`, trace);

  const v = result.value;
  const reasoning = clip(v.reasoning || '(no reasoning given)', 1000);
  if (!v.has_context) return reject('check.no_context', `has_context=false: ${reasoning}`, trace);
  if (!v.answer_correct) return reject('check.incorrect', `answer_correct=false: ${reasoning}`, trace);
  if (v.info_leakage) return reject('check.leakage', `info_leakage=true: ${reasoning}`, trace);

  const verdicts: CheckVerdicts = {
    has_context: v.has_context,
    answer_correct: v.answer_correct,
    info_leakage: v.info_leakage,
    reasoning: v.reasoning,
  };
  // A checker with a smaller context than the generator judged less of the document: the record
  // says so in truncated_chars (source_text stays the text the pair was drawn from).
  const checked = result.fit.cutChars > 0 ? { ...candidate, task: { ...task, truncated_chars: task.truncated_chars + result.fit.cutChars } } : candidate;
  return { outputs: [buildQaRecord(checked, verdicts, trace, ctx.config)], rejections: [] };
};
