import { describe, expect, it } from 'vitest';
import { WebscaleError } from '../../src/core/errors.js';
import { backoffDelay, classifyHttpError, parseRetryAfter, safeUrl, withRetries } from '../../src/llm/retry.js';

const policy = { maxRetries: 3, backoffInitial: 100, backoffMax: 1000 };

describe('backoffDelay', () => {
  it('is full jitter under a capped exponential ceiling', () => {
    expect(backoffDelay(0, policy, () => 0.999)).toBe(99);
    expect(backoffDelay(2, policy, () => 0.5)).toBe(200);
    expect(backoffDelay(10, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds, HTTP-dates and retry-after-ms (which wins)', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter({ 'retry-after': '2' }, now)).toBe(2000);
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500);
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }, now)).toBe(3000);
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 00:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': '5', 'retry-after-ms': '250' }, now)).toBe(250);
    expect(parseRetryAfter(new Headers({ 'Retry-After': '1' }), now)).toBe(1000);
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
  });
});

describe('classifyHttpError', () => {
  const cases: [number, string, string, boolean][] = [
    [400, '{"error":{"message":"bad"}}', 'LLM_CLIENT', false],
    [401, '{}', 'LLM_AUTH', false],
    [402, '{}', 'LLM_QUOTA', false],
    [403, '{}', 'LLM_AUTH', false],
    [404, '{}', 'LLM_UNAVAILABLE', false],
    [405, '', 'LLM_UNAVAILABLE', false],
    [501, '{"error":{"message":"not implemented"}}', 'LLM_UNAVAILABLE', false],
    // OpenAI, vLLM and Ollama saying the model is unknown; HF's router says it with a 400.
    [404, '{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}', 'LLM_UNAVAILABLE', false],
    [404, '{"object":"error","message":"The model `qwen-typo` does not exist.","type":"NotFoundError","param":null,"code":404}', 'LLM_UNAVAILABLE', false],
    [404, '{"error":"model \\"llama9\\" not found, try pulling it first"}', 'LLM_UNAVAILABLE', false],
    [400, '{"error":{"message":"The requested model \'org/typo\' does not exist.","code":"model_not_found"}}', 'LLM_UNAVAILABLE', false],
    // A 400 about the context or the schema is the request's fault, not the endpoint's.
    [400, '{"error":{"message":"This model\'s maximum context length is 4096 tokens."}}', 'LLM_CONTEXT_EXCEEDED', false],
    [408, '{}', 'LLM_TIMEOUT', true],
    [422, '{"error":"Input validation error","error_type":"validation"}', 'LLM_CLIENT', false],
    [424, '{"error":"Request failed during generation","error_type":"generation"}', 'LLM_SERVER', true],
    [429, '{"error":{"message":"slow down"}}', 'LLM_RATE_LIMITED', true],
    [429, '{"error":{"message":"quota","code":"insufficient_quota"}}', 'LLM_QUOTA', false],
    [500, 'oops', 'LLM_SERVER', true],
    [502, '', 'LLM_SERVER', true],
    [503, '{"error":"Model is currently loading","estimated_time":2.5}', 'LLM_SERVER', true],
  ];
  it.each(cases)('%i %s -> %s', (status, body, code, retryable) => {
    const err = classifyHttpError({ status, body, headers: {}, url: 'http://u:p@h/v1/chat/completions?key=secret' });
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.context['status']).toBe(status);
    expect(err.context['url']).toBe('http://h/v1/chat/completions');
  });

  it('names an unknown model as such, from the code or from the words of the body', () => {
    const vllm = classifyHttpError({ status: 404, body: '{"object":"error","message":"The model `qwen-typo` does not exist.","type":"NotFoundError","param":null,"code":404}', headers: {}, url: 'http://h/v1/chat/completions' });
    expect(vllm.message).toMatch(/model not found.*qwen-typo/);
    const plain = classifyHttpError({ status: 400, body: '{"error":"model \\"x\\" not found"}', headers: {}, url: 'http://h' });
    expect(plain.code).toBe('LLM_UNAVAILABLE');
    const route = classifyHttpError({ status: 404, body: 'Not Found', headers: {}, url: 'http://h/chat/completions' });
    expect(route.message).toMatch(/check the URL/);
    // A 5xx that mentions a model stays a (retryable) server error.
    expect(classifyHttpError({ status: 503, body: '{"error":"model not found in cache, loading"}', headers: {}, url: 'http://h' }).code).toBe('LLM_SERVER');
  });

  it('keeps the server message, TGI error type and wait hints', () => {
    const tgi = classifyHttpError({ status: 429, body: '{"error":"Model is overloaded","error_type":"overloaded"}', headers: { 'retry-after': '3' }, url: 'http://h' });
    expect(tgi.message).toContain('Model is overloaded');
    expect(tgi.context['errorType']).toBe('overloaded');
    expect(tgi.retryAfterMs).toBe(3000);
    const loading = classifyHttpError({ status: 503, body: '{"error":"loading","estimated_time":2.5}', headers: {}, url: 'http://h', backoffMax: 1000 });
    expect(loading.retryAfterMs).toBe(1000);
  });
});

describe('safeUrl', () => {
  it('drops credentials and query strings', () => {
    expect(safeUrl('https://user:pw@example.test/v1?api_key=x#y')).toBe('https://example.test/v1');
  });
});

describe('withRetries', () => {
  it('retries retryable errors, stops on others, and reports each retry', async () => {
    const seen: string[] = [];
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls++;
        if (calls < 3) throw new WebscaleError('LLM_SERVER', 'boom', { retryable: true });
        return 'ok';
      },
      { policy: { maxRetries: 5, backoffInitial: 1, backoffMax: 2 }, stage: 'check', events: { onRetry: (stage, code) => seen.push(`${stage}:${code}`) } },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual(['check:LLM_SERVER', 'check:LLM_SERVER']);

    calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new WebscaleError('LLM_CLIENT', 'no', { retryable: false });
        },
        { policy },
      ),
    ).rejects.toMatchObject({ code: 'LLM_CLIENT' });
    expect(calls).toBe(1);
  });

  it('gives up after maxRetries and records the attempts', async () => {
    let calls = 0;
    const failures: string[] = [];
    const err = await withRetries(
      async () => {
        calls++;
        throw new WebscaleError('LLM_NETWORK', 'down', { retryable: true });
      },
      { policy: { maxRetries: 2, backoffInitial: 1, backoffMax: 1 }, events: { onFailure: (_s, code) => failures.push(code) } },
    ).catch((e: unknown) => e as WebscaleError);
    expect(calls).toBe(3);
    expect(err.code).toBe('LLM_NETWORK');
    expect(err.context['attempts']).toBe(3);
    expect(failures).toEqual(['LLM_NETWORK']);
  });

  it('an abort interrupts the backoff wait and is never retried', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = Date.now();
    setTimeout(() => controller.abort(), 50);
    const err = await withRetries(
      async () => {
        calls++;
        throw new WebscaleError('LLM_RATE_LIMITED', 'wait', { retryable: true, retryAfterMs: 10_000 });
      },
      { policy, signal: controller.signal },
    ).catch((e: unknown) => e as WebscaleError);
    expect(err.code).toBe('LLM_ABORTED');
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
