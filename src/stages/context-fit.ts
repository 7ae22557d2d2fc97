/**
 * Cutting a stage's document so its prompt fits the model's context with room for the reply.
 * A stage describes its prompt as a document plus a function that builds the messages around it;
 * this module finds the longest prefix of the document (cut on a word boundary, as `cutText`
 * does) whose prompt, counted by the model's tokenizer or the conservative estimate, leaves the
 * completion its tokens. Only the document is ever cut: instructions, examples, the persona and
 * the question under review stay whole.
 *
 * After a server's "context length exceeded" (the estimate was wrong for this tokenizer, or the
 * window was not configured), `refitAfterOverflow` cuts again to the limit the server stated,
 * calibrated on the prompt tokens it counted, or to half the document when it stated nothing.
 */
import { WebscaleError } from '../core/errors.js';
import { overflowContext, scaledCounter, type ContextOverflow, type TokenCounter } from '../llm/context.js';
import type { ChatMessage } from '../llm/types.js';
import { cutText } from './cut-text.js';

/** A stage's prompt around its document. */
export interface DocumentPrompt {
  /** The document as the stage shows it. */
  text: string;
  /** Whether `text` is already cut (the prompt then says the rest is omitted). */
  cut: boolean;
  /** The messages with `text` in place; `cut` says whether to add the omission note. */
  build: (text: string, cut: boolean) => ChatMessage[];
}

export interface FittedPrompt {
  messages: ChatMessage[];
  /** The document as sent: a prefix of `DocumentPrompt.text`. */
  text: string;
  /** Characters cut from the end of `DocumentPrompt.text` to fit (0 when it fit whole). */
  cutChars: number;
  /** The completion cap to send: the configured one, lowered so prompt + completion fit. */
  maxTokens: number;
}

/** Passes a prompt that is over budget gets before giving up on re-counting (the cut converges in one or two). */
const MAX_FIT_PASSES = 4;

/** A server that states no limit: the document is halved for the one retry. */
export const BLIND_SHRINK_FACTOR = 0.5;

/** Margin on a server's own token count when calibrating the estimate against it. */
const CALIBRATION_MARGIN = 1.1;

/**
 * Tokens kept for the completion: the configured cap, but never more than half the window, so a
 * `maxTokens` as large as the context (4096 of 4096) still leaves room for a document.
 */
export function completionReserve(windowTokens: number, maxTokens: number): number {
  return Math.max(1, Math.min(maxTokens, Math.floor(windowTokens / 2)));
}

function tooSmall(windowTokens: number, overhead: number, reserve: number): WebscaleError {
  return new WebscaleError(
    'LLM_CONTEXT_EXCEEDED',
    `the prompt without its document takes ${overhead} tokens and the reply needs ${reserve}: it cannot fit a context of ${windowTokens} tokens`,
    { context: { ...overflowContext({ limit: windowTokens, promptTokens: overhead, completionTokens: reserve }) } },
  );
}

/**
 * The prompt with the longest document prefix that leaves `completionReserve` tokens of the
 * window for the reply. Throws LLM_CONTEXT_EXCEEDED when not even an empty document would fit.
 */
export function fitPrompt(doc: DocumentPrompt, windowTokens: number, maxTokens: number, counter: TokenCounter): FittedPrompt {
  const reserve = completionReserve(windowTokens, maxTokens);
  const budget = windowTokens - reserve;
  const whole = doc.build(doc.text, doc.cut);
  const wholeTokens = counter.promptTokens(whole);
  if (wholeTokens <= budget) {
    return { messages: whole, text: doc.text, cutChars: 0, maxTokens: Math.min(maxTokens, windowTokens - wholeTokens) };
  }
  const overhead = counter.promptTokens(doc.build('', true));
  if (overhead >= budget) throw tooSmall(windowTokens, overhead, reserve);

  let chars = counter.prefixChars(doc.text, budget - overhead);
  let fitted: FittedPrompt | undefined;
  for (let pass = 0; pass < MAX_FIT_PASSES; pass++) {
    const kept = cutText(doc.text, chars);
    const messages = doc.build(kept.text, true);
    const tokens = counter.promptTokens(messages);
    fitted = { messages, text: kept.text, cutChars: kept.cut, maxTokens: Math.max(1, Math.min(maxTokens, windowTokens - tokens)) };
    if (tokens <= budget || kept.text === '') break;
    // Over by a little (template tokens at the cut, a word boundary the counter saw differently):
    // shrink in proportion, with a margin.
    chars = Math.floor(kept.text.length * Math.min(0.95, (budget - overhead) / Math.max(1, tokens - overhead)));
  }
  // Still over after every pass (a counter that disagrees with itself): send the last cut; a
  // server that refuses it gets the overflow retry.
  return fitted ?? { messages: whole, text: doc.text, cutChars: 0, maxTokens };
}

/**
 * The one retry after a context overflow: the document cut to fit the limit the server stated
 * (`overflow.limit`, else the window we thought we had), with the counter scaled up to the
 * server's own count of the prompt that was `sent`; when there is no limit to go by, or the fit
 * would change nothing, half the document. Undefined when nothing is left to cut.
 */
export function refitAfterOverflow(
  doc: DocumentPrompt,
  current: FittedPrompt,
  sent: readonly ChatMessage[],
  overflow: ContextOverflow,
  windowTokens: number | undefined,
  maxTokens: number,
  counter: TokenCounter,
): FittedPrompt | undefined {
  const limit = overflow.limit ?? windowTokens;
  const now: DocumentPrompt = { text: current.text, cut: doc.cut || current.cutChars > 0, build: doc.build };
  if (limit !== undefined) {
    const estimated = Math.max(1, counter.promptTokens(sent));
    const factor = Math.max(1, (overflow.promptTokens ?? 0) / estimated) * CALIBRATION_MARGIN;
    let fitted: FittedPrompt | undefined;
    try {
      fitted = fitPrompt(now, limit, maxTokens, scaledCounter(counter, factor));
    } catch {
      return undefined;
    }
    // A smaller completion cap alone can be the fix ("max_tokens is too large").
    if (fitted.cutChars > 0 || fitted.maxTokens < current.maxTokens) {
      return { ...fitted, cutChars: current.cutChars + fitted.cutChars };
    }
  }
  if (current.text === '') return undefined;
  const kept = cutText(current.text, Math.floor(current.text.length * BLIND_SHRINK_FACTOR));
  return {
    messages: doc.build(kept.text, true),
    text: kept.text,
    cutChars: current.cutChars + kept.cut,
    maxTokens: current.maxTokens,
  };
}
