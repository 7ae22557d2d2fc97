/**
 * All prompt text of the pipeline, written for this project. Each stage's prompt has a version in
 * `PROMPT_VERSIONS`; bump it whenever the wording changes, because it goes into every QA record's
 * provenance and into the record id.
 *
 * Layout for servers with a prefix cache (vLLM, llama.cpp, TGI): the fixed instructions are the
 * system message, then the user message starts with the document. Everything that is the same for
 * all personas of one document comes before anything that differs per persona, so the persona's
 * calls share the longest possible prefix: document, domain, then few-shot examples (re-sampled
 * per persona), then the persona itself last.
 *
 * Two styles, chosen by `pipeline.promptStyle`: `full`, the detailed wording for capable models,
 * and `compact`, the same rules in a few short, plain lines, for tiny local models (100M-300M
 * parameters) that lose the thread of a long instruction and copy placeholders from it. The
 * style is part of the prompt version, so records say which wording produced them.
 */
import { DOMAINS, type Domain, type LlmStage } from '../core/records.js';
import type { ChatMessage } from '../llm/types.js';
import type { FewshotExample } from './fewshot.js';

export const PROMPT_STYLES = ['full', 'compact'] as const;
export type PromptStyle = (typeof PROMPT_STYLES)[number];

export const PROMPT_VERSIONS = {
  filter: 'filter@1',
  identify: 'identify@1',
  generate: 'generate@1',
  check: 'check@1',
} as const satisfies Record<LlmStage, string>;

/** Versions of the compact wording; bump these when it changes, as for `PROMPT_VERSIONS`. */
export const COMPACT_PROMPT_VERSIONS = {
  filter: 'filter@compact-1',
  identify: 'identify@compact-1',
  generate: 'generate@compact-1',
  check: 'check@compact-2',
} as const satisfies Record<LlmStage, string>;

/** The version recorded for a stage's prompt in the given style. */
export function promptVersion(stage: LlmStage, style: PromptStyle = 'full'): string {
  return style === 'compact' ? COMPACT_PROMPT_VERSIONS[stage] : PROMPT_VERSIONS[stage];
}

/** Appended to a document the prompt had to cut, so the model does not judge the cut itself. */
const CUT_NOTE = '[... the rest of the document is omitted for length ...]';

function documentBlock(text: string, cut: boolean): string {
  return `<document>\n${text}${cut ? `\n${CUT_NOTE}` : ''}\n</document>`;
}

export const FILTER_SYSTEM = `You screen source documents for a pipeline that turns text into question-answer pairs used to train language models with verifiable rewards. Decide whether the document you are given is a usable source.

A document qualifies when all of these hold:
- It is informative: it states facts, explains an idea, works through a problem, reports events, or describes code, data or a procedure.
- It is self-contained enough that a reader can follow its main content without other pages.
- It has enough substance that at least one question with a short answer that can be checked (a number, a date, a name, a short phrase) could be drawn from it and verified against it.

A document does not qualify when it is mostly:
- boilerplate: cookie or legal notices, navigation menus, lists of links, tag clouds, login or error pages;
- advertising or bare product listings with nothing to learn from;
- a fragment that depends on context it does not include (a stray table row, the middle of a chat, a caption without its subject);
- spam, gibberish, or garbled machine output.

Do not judge difficulty, topic, tone, writing quality or format. Simple or advanced, casual or formal, prose, source code, mathematics, tables: all are welcome, because a varied dataset is the goal. Reject only documents from which no verifiable question could be drawn.

Reply with one JSON object and nothing else:
{"reasoning": "<one or two sentences explaining the verdict>", "qualified": <true or false>}`;

export const FILTER_SYSTEM_COMPACT = `You decide if a text can be used to write a quiz question with a short answer that can be checked against the text.
qualified is true when the text gives facts, explains something, works through a problem, reports events, or describes code, data or steps.
qualified is false when the text is mostly menus, links, ads, legal or cookie notices, error pages, spam, gibberish, or a piece that makes no sense without missing context.
Topic, difficulty and style do not matter.
Reply in JSON with the fields reasoning (your reason, in one sentence) and qualified.`;

export function filterMessages(documentText: string, cut: boolean, style: PromptStyle = 'full'): ChatMessage[] {
  if (style === 'compact') {
    return [
      { role: 'system', content: FILTER_SYSTEM_COMPACT },
      { role: 'user', content: `${documentBlock(documentText, cut)}\n\nCan a quiz question be written from this text?` },
    ];
  }
  return [
    { role: 'system', content: FILTER_SYSTEM },
    { role: 'user', content: `${documentBlock(documentText, cut)}\n\nIs this document a usable source?` },
  ];
}

export const IDENTIFY_SYSTEM = `You label source documents for a pipeline that writes question-answer pairs from them.

First, choose the document's domain: exactly one from this list, spelled exactly as written here:
${DOMAINS.map((d) => `- ${d}`).join('\n')}
When several domains fit, choose the most relevant one. When none clearly fits, choose Other.

Second, name between 1 and 3 personas: kinds of people who would genuinely read this document and have questions about it, for example "high-school chemistry teacher", "amateur astronomer" or "backend developer". Write each persona as a short noun phrase of a few words. Make the personas clearly different from one another; give fewer than 3 if the document interests only one or two kinds of reader.

Reply with one JSON object and nothing else:
{"reasoning": "<one or two sentences>", "domain": "<one domain from the list>", "personas": ["<persona>", "..."]}`;

export const IDENTIFY_SYSTEM_COMPACT = `You label a text.
domain: the one field from this list that fits the text best (Other if none fits): ${DOMAINS.join(', ')}.
personas: one or two kinds of people who would read this text, each a few words, such as "nurse" or "history student".
Reply in JSON with the fields reasoning (one sentence), domain and personas.`;

export function identifyMessages(documentText: string, cut: boolean, style: PromptStyle = 'full'): ChatMessage[] {
  if (style === 'compact') {
    return [
      { role: 'system', content: IDENTIFY_SYSTEM_COMPACT },
      { role: 'user', content: `${documentBlock(documentText, cut)}\n\nWhat is the domain of this text, and who would read it?` },
    ];
  }
  return [
    { role: 'system', content: IDENTIFY_SYSTEM },
    { role: 'user', content: `${documentBlock(documentText, cut)}\n\nGive the domain and the personas for this document.` },
  ];
}

export const GENERATE_SYSTEM = `You write one question-answer pair from a source document. The pair trains language models with verifiable rewards: a model will be shown only the question, and its reply will be graded against your answer.

You are given the document, examples of good pairs written from other materials, and a persona. Follow these rules:
1. Speak as the persona. The question should sound like something this person would really want to know, in their voice and with their interests.
2. Take everything from the document. The question and the answer must be fully supported by it; add no facts that it does not contain.
3. Keep the answer short and easy to check: a number, a date, a name or a short phrase, never a sentence of explanation. Exactly one answer must be correct.
4. The question will be read without the document. Give it the brief background a reader needs (who, what, when, which system or formula). Never point at the document: no "according to the text", "in the passage", "the article says" or "the material above".
5. The question must not contain the answer or give it away, directly or through an obvious hint.
6. Where the document allows, prefer a question that needs understanding or a small step of reasoning (a calculation, a comparison, combining two facts) over one that copies a single sentence.

Reply with one JSON object and nothing else:
{"reasoning": "<how the answer follows from the document>", "question": "<the question>", "answer": "<the short answer>"}`;

export const GENERATE_SYSTEM_COMPACT = `You write one quiz question and its answer from a text.
- The answer is short: a number, a date, a name or a few words.
- Take the question and the answer only from the text.
- The question must make sense to someone who has not seen the text: name who or what it is about, and never say "the text" or "the passage".
- The question must not contain or hint at the answer.
- Ask what the given reader would want to know.
Reply in JSON with the fields question, answer and reasoning (where the text gives the answer, in one sentence).`;

export interface FewshotForPrompt {
  example: FewshotExample;
  /** The material as shown (possibly cut to `fewshotMaxChars`). */
  material: string;
}

export function generateMessages(args: {
  documentText: string;
  cut: boolean;
  domain: Domain;
  examples: readonly FewshotForPrompt[];
  persona: string;
  style?: PromptStyle;
}): ChatMessage[] {
  if (args.style === 'compact') return generateMessagesCompact(args);
  const parts = [documentBlock(args.documentText, args.cut), `Domain of the document: ${args.domain}`];
  if (args.examples.length > 0) {
    const shown = args.examples.map(({ example, material }, i) =>
      [
        `<example ${i + 1}>`,
        `Material:\n${material}`,
        `Persona: ${example.persona}`,
        `Question: ${example.question}`,
        `Answer: ${example.answer}`,
        `</example ${i + 1}>`,
      ].join('\n'),
    );
    parts.push(`Examples of good pairs, each written from its own material (not from the document above):\n\n${shown.join('\n\n')}`);
  }
  parts.push(`Now write one question-answer pair from the document above, asked by this persona: ${args.persona}`);
  return [
    { role: 'system', content: GENERATE_SYSTEM },
    { role: 'user', content: parts.join('\n\n') },
  ];
}

/**
 * Compact generation prompt: examples first, each as question and answer only (a tiny model
 * copies any material it is shown, so the examples' materials are left out), then the document
 * and the reader last, closest to the reply.
 */
function generateMessagesCompact(args: {
  documentText: string;
  cut: boolean;
  examples: readonly FewshotForPrompt[];
  persona: string;
}): ChatMessage[] {
  const parts = [documentBlock(args.documentText, args.cut)];
  if (args.examples.length > 0) {
    const shown = args.examples.map(({ example }) => `Question: ${example.question}\nAnswer: ${example.answer}`);
    parts.push(`The kind of pair wanted (from other texts):\n${shown.join('\n\n')}`);
  }
  parts.push(`Reader: ${args.persona}\nWrite one question and its short answer from the text above.`);
  return [
    { role: 'system', content: GENERATE_SYSTEM_COMPACT },
    { role: 'user', content: parts.join('\n\n') },
  ];
}

export const CHECK_SYSTEM = `You review a question-answer pair that was written from a source document. The pair will be used without the document: a model will see only the question, and its reply will be graded against the answer. Judge three things:

- has_context: true when the question can be understood on its own and carries the background it needs; false when it points at an unseen source ("the text", "the passage", "the article", "the material above") or depends on details a reader could not know.
- answer_correct: true when the answer is correct, supported by the document, and is what the question asks for; false when it is wrong, unsupported, ambiguous, or answers a different question.
- info_leakage: true when the question states the answer or gives it away so that no knowledge or reasoning is needed; false otherwise.

Reply with one JSON object and nothing else:
{"reasoning": "<brief justification of the three verdicts>", "has_context": <true or false>, "answer_correct": <true or false>, "info_leakage": <true or false>}`;

export function checkMessages(args: {
  documentText: string;
  cut: boolean;
  question: string;
  answer: string;
  style?: PromptStyle;
}): ChatMessage[] {
  if (args.style === 'compact') {
    return [
      { role: 'system', content: CHECK_SYSTEM_COMPACT },
      {
        role: 'user',
        content: `${documentBlock(args.documentText, args.cut)}\n\nQuestion: ${args.question}\nAnswer: ${args.answer}\n\nGrade this question and answer.`,
      },
    ];
  }
  return [
    { role: 'system', content: CHECK_SYSTEM },
    {
      role: 'user',
      content: `${documentBlock(args.documentText, args.cut)}\n\nQuestion: ${args.question}\nAnswer: ${args.answer}\n\nGive your three verdicts.`,
    },
  ];
}

export const CHECK_SYSTEM_COMPACT = `You grade a quiz question and answer written from a text. Later the question is shown alone, without the text, and replies are graded against the answer.
has_context: true if the question can be understood on its own; false if it mentions "the text" or "the passage" or needs details it does not give.
answer_correct: true if the text supports the answer and it answers what the question asks; false if it is wrong, not supported by the text, or answers something else.
info_leakage: true if the question itself already states the answer or gives it away, so no knowledge is needed; false otherwise.
Reply in JSON with the fields reasoning (one sentence), has_context, answer_correct and info_leakage.`;
