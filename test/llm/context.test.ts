import { describe, expect, it } from 'vitest';
import {
  contextOverflowOf,
  estimateTokens,
  estimatingCounter,
  MESSAGE_OVERHEAD_TOKENS,
  parseContextOverflow,
  PROMPT_OVERHEAD_TOKENS,
  scaledCounter,
} from '../../src/llm/context.js';
import { configSchema } from '../../src/config/schema.js';
import { ConcurrencyLimiter, limitRouter } from '../../src/llm/limiter.js';
import { classifyHttpError } from '../../src/llm/retry.js';
import { createLlmRouter } from '../../src/llm/router.js';
import { observeRouter } from '../../src/runtime/metered.js';
import { contextErrorBody } from '../support/stand-in-llm.js';

describe('token estimate', () => {
  it('counts ASCII at charsPerToken and every other code point as one token', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abc')).toBe(1);
    expect(estimateTokens('abcd')).toBe(2);
    expect(estimateTokens('a'.repeat(300))).toBe(100);
    expect(estimateTokens('a'.repeat(300), 4)).toBe(75);
    // CJK: one token per character, not one per three.
    expect(estimateTokens('東京都庁舎')).toBe(5);
    // A surrogate pair (one emoji) is one code point.
    expect(estimateTokens('😀😀')).toBe(2);
    expect(estimateTokens('né')).toBe(2);
  });

  it('errs on the high side of real tokenizers for English prose', () => {
    // ~4.2 characters per token for GPT-style tokenizers on English; the estimate must not be lower.
    const prose = 'The Rhine rises in the Swiss Alps and flows for about 1,230 kilometres to the North Sea near Rotterdam. ';
    expect(estimateTokens(prose)).toBeGreaterThanOrEqual(Math.ceil(prose.length / 4));
  });

  it('counts a prompt with per-message and per-prompt template overhead', () => {
    const counter = estimatingCounter(3);
    const messages = [
      { role: 'system' as const, content: 'x'.repeat(30) },
      { role: 'user' as const, content: 'y'.repeat(60) },
    ];
    expect(counter.promptTokens(messages)).toBe(PROMPT_OVERHEAD_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + 10 + 20);
  });

  it('prefixChars finds the longest prefix within the budget, by the same count', () => {
    const counter = estimatingCounter(3);
    const text = 'word '.repeat(1000) + '東京'.repeat(50);
    for (const budget of [0, 1, 7, 100, 1666, 1667, 1700, 5000]) {
      const n = counter.prefixChars(text, budget);
      expect(estimateTokens(text.slice(0, n))).toBeLessThanOrEqual(budget);
      if (n < text.length) expect(estimateTokens(text.slice(0, n + 1))).toBeGreaterThan(budget);
    }
    expect(counter.prefixChars('short', 100)).toBe(5);
    // Never splits a surrogate pair into a counted half.
    const emoji = '😀'.repeat(10);
    expect(counter.prefixChars(emoji, 3) % 2).toBe(0);
  });

  it('a scaled counter counts more and fits less', () => {
    const inner = estimatingCounter(3);
    const scaled = scaledCounter(inner, 2);
    const messages = [{ role: 'user' as const, content: 'z'.repeat(300) }];
    expect(scaled.promptTokens(messages)).toBe(2 * inner.promptTokens(messages));
    expect(scaled.prefixChars('z'.repeat(3000), 100)).toBe(150);
    expect(scaledCounter(inner, 0.5)).toBe(inner);
  });
});

describe('context-length-exceeded answers', () => {
  // Real wordings, from the servers' sources and from replies quoted in their issue trackers.
  const cases: Array<{ name: string; body: unknown; want: { limit?: number; promptTokens?: number; completionTokens?: number } }> = [
    {
      name: 'vLLM (requested M tokens, P in the messages, C in the completion)',
      body: contextErrorBody('vllm', 4096, 5000, 1000).body,
      want: { limit: 4096, promptTokens: 5000, completionTokens: 1000 },
    },
    {
      name: 'vLLM (newer: output tokens and at least P input tokens)',
      body: {
        error: {
          message:
            "This model's maximum context length is 131072 tokens. However, you requested 4096 output tokens and your prompt contains at least 130000 input tokens, for a total of at least 134096 tokens. Please reduce the length of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=130000)",
          type: 'BadRequestError',
          param: 'input_tokens',
          code: 400,
        },
      },
      want: { limit: 131072, promptTokens: 130000, completionTokens: 4096 },
    },
    {
      name: 'vLLM (max_tokens too large)',
      body: {
        error: {
          message:
            "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778). None",
          type: 'BadRequestError',
          param: null,
          code: 400,
        },
      },
      want: { limit: 4096, promptTokens: 2778, completionTokens: 8000 },
    },
    {
      name: 'OpenAI (context_length_exceeded, messages resulted in M tokens)',
      body: contextErrorBody('openai', 8192, 9000, 100).body,
      want: { limit: 8192, promptTokens: 9000 },
    },
    {
      name: 'llama.cpp server (exceed_context_size_error with n_prompt_tokens, n_ctx)',
      body: contextErrorBody('llamacpp', 4096, 4476, 512).body,
      want: { limit: 4096, promptTokens: 4476 },
    },
    {
      name: 'llama.cpp server (older wording, numbers only in fields)',
      body: { error: { code: 400, message: 'the request exceeds the available context size, try increasing it', type: 'exceed_context_size_error', n_prompt_tokens: 9000, n_ctx: 8192 } },
      want: { limit: 8192, promptTokens: 9000 },
    },
    {
      name: 'TGI (inputs + max_new_tokens)',
      body: contextErrorBody('tgi', 2048, 1218, 1500).body,
      want: { limit: 2048, promptTokens: 1218, completionTokens: 1500 },
    },
    {
      name: 'TGI (inputs must have less than N tokens)',
      body: { error: 'Input validation error: `inputs` must have less than 4095 tokens. Given: 6000', error_type: 'validation' },
      want: { limit: 4095, promptTokens: 6000 },
    },
  ];

  for (const c of cases) {
    it(`reads ${c.name}`, () => {
      const text = JSON.stringify(c.body);
      expect(parseContextOverflow(text)).toEqual(c.want);
      const status = c.name.startsWith('TGI') ? 422 : 400;
      const err = classifyHttpError({ status, body: text, headers: {}, url: 'http://h/v1/chat/completions' });
      expect(err.code).toBe('LLM_CONTEXT_EXCEEDED');
      expect(err.retryable).toBe(false);
      expect(contextOverflowOf(err)).toEqual(c.want);
    });
  }

  it('leaves other 400s alone', () => {
    for (const body of [
      { error: { message: "Invalid value for 'temperature': must be <= 2", type: 'invalid_request_error', code: null } },
      { error: 'Input validation error: `temperature` must be strictly positive', error_type: 'validation' },
    ]) {
      const text = JSON.stringify(body);
      expect(parseContextOverflow(text)).toBeUndefined();
      expect(classifyHttpError({ status: 400, body: text, headers: {}, url: 'http://h/v1' }).code).toBe('LLM_CLIENT');
    }
    // A model the server does not know is a misconfiguration (see probe.ts), not an overflow.
    const unknownModel = JSON.stringify({ object: 'error', message: 'The model `x` does not exist.', type: 'NotFoundError', code: 404 });
    expect(parseContextOverflow(unknownModel)).toBeUndefined();
    expect(classifyHttpError({ status: 400, body: unknownModel, headers: {}, url: 'http://h/v1' }).code).toBe('LLM_UNAVAILABLE');
  });

  it('does not mistake a 5xx or a rate limit that mentions context for an overflow', () => {
    const body = JSON.stringify({ error: { message: "This model's maximum context length is 4096 tokens.", type: 'server_error' } });
    expect(classifyHttpError({ status: 503, body, headers: {}, url: 'http://h/v1' }).code).toBe('LLM_SERVER');
    expect(classifyHttpError({ status: 429, body, headers: {}, url: 'http://h/v1' }).code).toBe('LLM_RATE_LIMITED');
  });
});

describe('context size per stage', () => {
  it('comes from llm.contextSize, overridden by llm.stages.<stage>.contextSize, through every router wrapper', async () => {
    const config = configSchema.parse({
      llm: { url: 'http://127.0.0.1:9/v1', model: 'm', contextSize: 32768, stages: { check: { contextSize: 8192 } } },
    });
    const router = createLlmRouter(config);
    try {
      const wrapped = observeRouter(limitRouter(router, new ConcurrencyLimiter(2)), {});
      expect(await wrapped.forStage('generate').contextWindow?.()).toEqual({ tokens: 32768 });
      expect(await wrapped.forStage('check').contextWindow?.()).toEqual({ tokens: 8192 });
      // Same server and model, different context: not one shared client.
      expect(router.forStage('check')).not.toBe(router.forStage('generate'));
    } finally {
      await router.close();
    }
  });

  it('is unknown for a server when not configured', async () => {
    const router = createLlmRouter(configSchema.parse({ llm: { url: 'http://127.0.0.1:9/v1' } }));
    try {
      expect(await router.forStage('filter').contextWindow?.()).toBeUndefined();
    } finally {
      await router.close();
    }
  });
});
