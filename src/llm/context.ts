/**
 * What fits in a model's context: the window a client knows (configured for a server, the real
 * one for the local model), a token counter (a conservative character-based estimate, or the local
 * model's own tokenizer), and the reading of a server's "context length exceeded" answer: which
 * servers say it how, and the limit and token counts they state.
 *
 * The estimate errs towards too many tokens, so a document cut by it fits; when it errs the other
 * way (an unusual tokenizer, a server that adds hidden tokens), the server's 400 names the limit
 * and the stage retries once with a document shrunk to fit it (src/stages/context-fit.ts).
 */
import { WebscaleError } from '../core/errors.js';
import type { ChatMessage } from './types.js';

/** Counts tokens the way a model would (or a little more). */
export interface TokenCounter {
  /** Tokens of a whole chat prompt, chat template included. */
  promptTokens(messages: readonly ChatMessage[]): number;
  /** Length (UTF-16 units) of the longest prefix of `text` that takes at most `maxTokens` tokens. */
  prefixChars(text: string, maxTokens: number): number;
}

/** A model's context: prompt and completion together must fit `tokens`. */
export interface ContextWindow {
  tokens: number;
  /** The model's own tokenizer, when it is at hand (the local backend); else the estimate is used. */
  counter?: TokenCounter;
}

/** Default characters per token of the estimate: real tokenizers give ~4 for English prose, ~3 for code. */
export const DEFAULT_CHARS_PER_TOKEN = 3;

/**
 * Tokens a chat template adds around each message (role markers, separators; OpenAI documents
 * 3-4, Llama 3 and ChatML templates use 4-6) and once per prompt (BOS, the assistant header).
 */
export const MESSAGE_OVERHEAD_TOKENS = 8;
export const PROMPT_OVERHEAD_TOKENS = 16;

/**
 * Estimated tokens of a text: ASCII characters at `charsPerToken` per token, every other code
 * point one token (CJK characters are about one token each in current tokenizers, accented
 * letters inside Latin words far less). Cheap: one pass over the UTF-16 units.
 */
export function estimateTokens(text: string, charsPerToken: number = DEFAULT_CHARS_PER_TOKEN): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) ascii++;
    // A low surrogate completes a pair already counted at its high half.
    else if (code < 0xdc00 || code > 0xdfff) other++;
  }
  return Math.ceil(ascii / charsPerToken) + other;
}

/** The estimate as a `TokenCounter`. */
export function estimatingCounter(charsPerToken: number = DEFAULT_CHARS_PER_TOKEN): TokenCounter {
  const asciiCost = 1 / charsPerToken;
  return {
    promptTokens(messages) {
      let n = PROMPT_OVERHEAD_TOKENS;
      for (const m of messages) n += MESSAGE_OVERHEAD_TOKENS + estimateTokens(m.content, charsPerToken);
      return n;
    },
    prefixChars(text, maxTokens) {
      if (maxTokens <= 0) return 0;
      let cost = 0;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        const c = code < 0x80 ? asciiCost : code >= 0xdc00 && code <= 0xdfff ? 0 : 1;
        // ceil(cost) is what estimateTokens reports for the prefix; stop before it passes the budget.
        if (Math.ceil(cost + c - 1e-9) > maxTokens) return i;
        cost += c;
      }
      return text.length;
    },
  };
}

/** A counter whose counts are `factor` times those of `inner` (calibrated on a server's own count). */
export function scaledCounter(inner: TokenCounter, factor: number): TokenCounter {
  if (factor <= 1) return inner;
  return {
    promptTokens: (messages) => Math.ceil(inner.promptTokens(messages) * factor),
    prefixChars: (text, maxTokens) => inner.prefixChars(text, Math.floor(maxTokens / factor)),
  };
}

/** What a server said about an overflow: each number only when it said it. */
export interface ContextOverflow {
  /** The model's context in tokens (vLLM `max_model_len`, llama.cpp `n_ctx`, TGI `max_total_tokens`). */
  limit?: number;
  /** Tokens of the prompt as the server counted them. */
  promptTokens?: number;
  /** Completion tokens the request asked for. */
  completionTokens?: number;
}

/**
 * The phrasings of the servers we speak to (checked against their sources and real replies):
 * - OpenAI: code `context_length_exceeded`; "This model's maximum context length is N tokens.
 *   However, your messages resulted in M tokens." or "... you requested M tokens (P in the
 *   messages, C in the completion)."
 * - vLLM: the same sentence as OpenAI's, or (newer) "... However, you requested C output tokens
 *   and your prompt contains at least P input tokens, for a total of at least M tokens", "...
 *   However, your request has P input tokens", "'max_tokens' or 'max_completion_tokens' is too
 *   large: C. This model's maximum context length is N tokens and your request has P input tokens".
 * - TGI (422): "Input validation error: `inputs` tokens + `max_new_tokens` must be <= N. Given: P
 *   `inputs` tokens and C `max_new_tokens`", or "`inputs` must have less than N tokens. Given: P".
 * - llama.cpp server: type `exceed_context_size_error`, "request (P tokens) exceeds the available
 *   context size (N tokens), try increasing it" (older: "the request exceeds the available context
 *   size"), with `n_prompt_tokens` and `n_ctx` in the error object.
 */
const OVERFLOW_SIGNS: readonly RegExp[] = [
  /context_length_exceeded/,
  /exceed_context_size_error/,
  /maximum context length is \d+/i,
  /exceeds? the available context size/i,
  /`inputs` tokens \+ `max_new_tokens` must be <=/,
  /`inputs` must have less than \d+ tokens/,
  /input tokens exceed the configured limit/i,
  /exceeds the context window/i,
];

const LIMIT_PATTERNS: readonly RegExp[] = [
  /maximum context length is (\d+)/i,
  /available context size \((\d+) tokens?\)/i,
  /`max_new_tokens` must be <= (\d+)/,
  /`inputs` must have less than (\d+) tokens/,
  /configured limit of (\d+) tokens/i,
  /"n_ctx"\s*:\s*(\d+)/,
];

const PROMPT_PATTERNS: readonly RegExp[] = [
  /\((\d+) in the messages/i,
  /\((\d+) in your prompt/i,
  /prompt contains at least (\d+) input tokens/i,
  /request has (\d+) input tokens/i,
  /messages resulted in (\d+) tokens/i,
  /Given: (\d+) `inputs` tokens/,
  /`inputs` must have less than \d+ tokens\. Given: (\d+)/,
  /request \((\d+) tokens?\) exceeds/i,
  /"n_prompt_tokens"\s*:\s*(\d+)/,
];

const COMPLETION_PATTERNS: readonly RegExp[] = [
  /(\d+) in the completion/i,
  /(\d+) for the completion/i,
  /requested (\d+) output tokens/i,
  /and (\d+) `max_new_tokens`/,
  /is too large: (\d+)/i,
];

function firstNumber(text: string, patterns: readonly RegExp[]): number | undefined {
  for (const re of patterns) {
    const m = re.exec(text);
    if (m?.[1] !== undefined) {
      const n = Number(m[1]);
      if (Number.isSafeInteger(n) && n > 0) return n;
    }
  }
  return undefined;
}

/**
 * Whether an error body says the request does not fit the model's context, and the numbers it
 * gives. `body` is the raw response body (the numbers may sit in fields beside the message).
 */
export function parseContextOverflow(body: string): ContextOverflow | undefined {
  if (!OVERFLOW_SIGNS.some((re) => re.test(body))) return undefined;
  const out: ContextOverflow = {};
  const limit = firstNumber(body, LIMIT_PATTERNS);
  const promptTokens = firstNumber(body, PROMPT_PATTERNS);
  const completionTokens = firstNumber(body, COMPLETION_PATTERNS);
  if (limit !== undefined) out.limit = limit;
  if (promptTokens !== undefined) out.promptTokens = promptTokens;
  if (completionTokens !== undefined) out.completionTokens = completionTokens;
  return out;
}

/** The numbers an LLM_CONTEXT_EXCEEDED error carries in its context (see `retry.ts`). */
export function contextOverflowOf(err: WebscaleError): ContextOverflow {
  const out: ContextOverflow = {};
  const read = (key: string): number | undefined => {
    const v = err.context[key];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const limit = read('contextLimit');
  const promptTokens = read('promptTokens');
  const completionTokens = read('completionTokens');
  if (limit !== undefined) out.limit = limit;
  if (promptTokens !== undefined) out.promptTokens = promptTokens;
  if (completionTokens !== undefined) out.completionTokens = completionTokens;
  return out;
}

/** The context fields of an LLM_CONTEXT_EXCEEDED error for `overflow`. */
export function overflowContext(overflow: ContextOverflow): Record<string, number> {
  const out: Record<string, number> = {};
  if (overflow.limit !== undefined) out['contextLimit'] = overflow.limit;
  if (overflow.promptTokens !== undefined) out['promptTokens'] = overflow.promptTokens;
  if (overflow.completionTokens !== undefined) out['completionTokens'] = overflow.completionTokens;
  return out;
}
