import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebscaleError } from '../../src/core/errors.js';
import type { LlmStage } from '../../src/core/records.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { acquireAgent } from '../../src/llm/http.js';
import { OpenAiClient, type OpenAiClientOptions } from '../../src/llm/openai.js';
import type { ErrorCode } from '../../src/core/errors.js';
import { structuredCall } from '../../src/llm/structured.js';
import type { LlmRequest } from '../../src/llm/types.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let server: StandInLlm;
const clients: OpenAiClient[] = [];

beforeAll(async () => {
  server = await startStandInLlm({ apiKey: 'sk-test-secret' });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  expect(server.pendingFaults()).toBe(0);
  server.requests.length = 0;
});

function client(overrides: Partial<OpenAiClientOptions> = {}): { client: OpenAiClient; retries: string[] } {
  const retries: string[] = [];
  const c = new OpenAiClient({
    url: server.url,
    model: 'm-1',
    apiKey: 'sk-test-secret',
    timeoutMs: 2000,
    retry: { maxRetries: 3, backoffInitial: 10, backoffMax: 50 },
    responseFormat: 'openai',
    connections: 8,
    events: { onRetry: (stage, code) => retries.push(`${stage ?? '-'}:${code}`) },
    ...overrides,
  });
  clients.push(c);
  return { client: c, retries };
}

function request(stage: LlmStage = 'filter', text = 'A document about photosynthesis and chlorophyll.', extra: Partial<LlmRequest> = {}): LlmRequest {
  return {
    stage,
    messages: [
      { role: 'system', content: 'You screen documents.' },
      { role: 'user', content: `<document>\n${text}\n</document>` },
    ],
    jsonSchema: OUTPUT_JSON_SCHEMAS[stage],
    temperature: 0.3,
    maxTokens: 256,
    seed: 42,
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<WebscaleError> {
  try {
    await promise;
  } catch (err) {
    return err as WebscaleError;
  }
  throw new Error('expected the call to fail');
}

function chatRequests(): number {
  return server.requests.filter((r) => r.path === '/v1/chat/completions').length;
}

describe('OpenAiClient against the stand-in server', () => {
  it('sends the OpenAI request shape with bearer auth and reads content, usage and model', async () => {
    const { client: c } = client();
    const out = await c.complete(request('filter'));
    expect(JSON.parse(out.text)).toEqual({ reasoning: 'The document is informative.', qualified: true });
    expect(out.finishReason).toBe('stop');
    expect(out.model).toBe('m-1');
    expect(out.usage.prompt_tokens).toBeGreaterThan(0);
    expect(out.usage.completion_tokens).toBeGreaterThan(0);
    const sent = server.requests.at(-1);
    expect(sent?.headers['authorization']).toBe('Bearer sk-test-secret');
    expect(sent?.body).toMatchObject({
      model: 'm-1',
      temperature: 0.3,
      max_tokens: 256,
      seed: 42,
      response_format: { type: 'json_schema', json_schema: { name: 'filter_verdict', strict: true, schema: OUTPUT_JSON_SCHEMAS.filter.schema } },
    });
  });

  it('leaves response_format out when the schema is turned off', async () => {
    const { client: c } = client({ responseFormat: 'none' });
    await c.complete(request('filter'));
    expect(server.requests.at(-1)?.body).not.toHaveProperty('response_format');
  });

  it('answers every stage deterministically, with markers steering the verdicts', async () => {
    const { client: c } = client();
    const doc = 'Chlorophyll absorbs light. Chlorophyll is green. [[domain:Natural Science]] [[personas:botanist,gardener,teacher,chef]]';
    const identify = JSON.parse((await c.complete(request('identify', doc))).text);
    expect(identify).toMatchObject({ domain: 'Natural Science', personas: ['botanist', 'gardener', 'teacher', 'chef'] });
    const generate = JSON.parse((await c.complete(request('generate', doc))).text);
    expect(generate.answer).toBe('Chlorophyll');
    expect(generate.question.toLowerCase()).not.toContain('chlorophyll');
    const check = JSON.parse((await c.complete(request('check', `${doc} [[leak]]`))).text);
    expect(check).toMatchObject({ has_context: true, answer_correct: true, info_leakage: true });
    const filter = JSON.parse((await c.complete(request('filter', 'spam [[unqualified]]'))).text);
    expect(filter.qualified).toBe(false);
    const bad = await c.complete(request('filter', 'text [[badjson]]'));
    expect(() => JSON.parse(bad.text)).toThrow();
  });

  it('retries 500, 502 and 503 and then succeeds', async () => {
    const { client: c, retries } = client();
    server.script({ type: 'status', status: 500 }, { type: 'status', status: 502 }, { type: 'status', status: 503 });
    const out = await c.complete(request('check'));
    expect(JSON.parse(out.text).answer_correct).toBe(true);
    expect(chatRequests()).toBe(4);
    expect(retries).toEqual(['check:LLM_SERVER', 'check:LLM_SERVER', 'check:LLM_SERVER']);
  });

  it('gives up after maxRetries with LLM_SERVER and the status in the context, no secret', async () => {
    const { client: c } = client({ retry: { maxRetries: 1, backoffInitial: 5, backoffMax: 5 } });
    server.script({ type: 'status', status: 503 }, { type: 'status', status: 503 });
    const err = await failure(c.complete(request()));
    expect(err.code).toBe('LLM_SERVER');
    expect(err.retryable).toBe(true);
    expect(err.context).toMatchObject({ status: 503, url: `${server.url}/chat/completions`, attempts: 2 });
    expect(JSON.stringify({ m: err.message, c: err.context })).not.toContain('sk-test-secret');
    expect(chatRequests()).toBe(2);
  });

  const noRetry: [number, ErrorCode][] = [
    [400, 'LLM_CLIENT'],
    [401, 'LLM_AUTH'],
    [404, 'LLM_UNAVAILABLE'],
    [405, 'LLM_UNAVAILABLE'],
    [422, 'LLM_CLIENT'],
    [501, 'LLM_UNAVAILABLE'],
  ];
  it.each(noRetry)('does not retry %i (%s)', async (status, code) => {
    const { client: c, retries } = client();
    server.script({ type: 'status', status });
    const err = await failure(c.complete(request()));
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(false);
    expect(chatRequests()).toBe(1);
    expect(retries).toEqual([]);
  });

  it('does not retry a 429 that says insufficient_quota', async () => {
    const { client: c } = client();
    server.script('quota');
    const err = await failure(c.complete(request()));
    expect(err.code).toBe('LLM_QUOTA');
    expect(chatRequests()).toBe(1);
  });

  it('rejects a wrong API key with LLM_AUTH at once', async () => {
    const { client: c } = client({ apiKey: 'sk-wrong' });
    const err = await failure(c.complete(request()));
    expect(err.code).toBe('LLM_AUTH');
    expect(chatRequests()).toBe(1);
  });

  it('honours Retry-After in seconds', async () => {
    const { client: c, retries } = client();
    server.script({ type: 'rate_limit', retryAfterSeconds: 1 });
    const started = performance.now();
    await c.complete(request());
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(2500);
    expect(retries).toEqual(['filter:LLM_RATE_LIMITED']);
    const [first, second] = server.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(990);
  });

  it('honours retry-after-ms and an HTTP-date Retry-After', async () => {
    const { client: c } = client();
    server.script({ type: 'rate_limit', retryAfterMs: 300 });
    let started = performance.now();
    await c.complete(request());
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);

    server.script({ type: 'rate_limit', retryAfterDateMs: 1500 });
    started = performance.now();
    await c.complete(request());
    // An HTTP-date has one-second resolution: the wait is at least what is left of it.
    expect(performance.now() - started).toBeGreaterThanOrEqual(400);
  });

  it('times out a hanging request with LLM_TIMEOUT and retries it', async () => {
    const { client: c, retries } = client({ timeoutMs: 200 });
    server.script('hang');
    const started = performance.now();
    const out = await c.complete(request());
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
    expect(JSON.parse(out.text).qualified).toBe(true);
    expect(retries).toEqual(['filter:LLM_TIMEOUT']);

    server.script('hang', 'hang');
    const { client: strict } = client({ timeoutMs: 150, retry: { maxRetries: 1, backoffInitial: 1, backoffMax: 1 } });
    const err = await failure(strict.complete(request()));
    expect(err.code).toBe('LLM_TIMEOUT');
    expect(err.retryable).toBe(true);
  });

  it('retries a connection reset as LLM_NETWORK', async () => {
    const { client: c, retries } = client();
    server.script('reset');
    const out = await c.complete(request());
    expect(JSON.parse(out.text).qualified).toBe(true);
    expect(retries).toEqual(['filter:LLM_NETWORK']);
  });

  it('treats malformed JSON and text/plain 200s as retryable LLM_BAD_RESPONSE', async () => {
    const { client: c, retries } = client();
    server.script('malformed_json', 'text_plain');
    const out = await c.complete(request());
    expect(JSON.parse(out.text).qualified).toBe(true);
    expect(retries).toEqual(['filter:LLM_BAD_RESPONSE', 'filter:LLM_BAD_RESPONSE']);

    server.script('text_plain', 'text_plain');
    const { client: strict } = client({ retry: { maxRetries: 1, backoffInitial: 1, backoffMax: 1 } });
    const err = await failure(strict.complete(request()));
    expect(err.code).toBe('LLM_BAD_RESPONSE');
    expect(err.context['contentType']).toContain('text/plain');
  });

  it('passes invalid and fenced content through to the structured layer, which copes', async () => {
    const { client: c } = client();
    server.script('code_fence');
    const fenced = await structuredCall(c, { stage: 'filter', promptVersion: 't', messages: request().messages, temperature: 0, maxTokens: 64, maxReasks: 0 });
    expect(fenced.ok).toBe(true);

    server.script('invalid_content');
    const reasked = await structuredCall(c, { stage: 'filter', promptVersion: 't', messages: request().messages, temperature: 0, maxTokens: 64, maxReasks: 1 });
    expect(reasked.ok).toBe(true);
    expect(reasked.trace.calls).toBe(2);
  });

  it('aborts at once on the caller signal, in flight or during a backoff, without retrying', async () => {
    const { client: c } = client();
    server.script('hang');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const err = await failure(c.complete(request('filter', 'x', { signal: controller.signal })));
    expect(err.code).toBe('LLM_ABORTED');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(chatRequests()).toBe(1);

    server.requests.length = 0;
    server.script({ type: 'rate_limit', retryAfterSeconds: 30 });
    const again = new AbortController();
    setTimeout(() => again.abort(), 100);
    const err2 = await failure(c.complete(request('filter', 'x', { signal: again.signal })));
    expect(err2.code).toBe('LLM_ABORTED');
    expect(chatRequests()).toBe(1);
  });

  it('never opens more connections than the cap', async () => {
    const slow = await startStandInLlm({ latencyMs: 100 });
    const lease = acquireAgent(3);
    try {
      const c = new OpenAiClient({
        url: slow.url,
        timeoutMs: 5000,
        retry: { maxRetries: 0, backoffInitial: 1, backoffMax: 1 },
        responseFormat: 'openai',
        dispatcher: lease.dispatcher,
      });
      const results = await Promise.all(Array.from({ length: 12 }, () => c.complete(request())));
      expect(results).toHaveLength(12);
      expect(slow.stats().maxInFlight).toBe(3);
      expect(slow.stats().total).toBe(12);
      // No model configured: the field is left out and the label says so.
      expect(slow.requests.at(-1)?.body).not.toHaveProperty('model');
      expect(c.model).toBe('default');
    } finally {
      await lease.release();
      await slow.close();
    }
  });

  it('close() does not hang on a request the server never answers', async () => {
    const c = new OpenAiClient({ url: server.url, apiKey: 'sk-test-secret', timeoutMs: 30_000, retry: { maxRetries: 0, backoffInitial: 1, backoffMax: 1 }, responseFormat: 'openai', connections: 2 });
    server.script('hang');
    const pending = c.complete(request()).catch((e: unknown) => e as WebscaleError);
    while (server.stats().inFlight === 0) await new Promise((r) => setTimeout(r, 10));
    const started = performance.now();
    await c.close();
    expect(performance.now() - started).toBeLessThan(4000);
    expect(((await pending) as WebscaleError).code).toBe('LLM_NETWORK');
  });

  it('probe: reachable, wrong key, nothing listening', async () => {
    await client().client.probe();
    await expect(client({ apiKey: 'nope' }).client.probe()).rejects.toMatchObject({ code: 'LLM_AUTH' });
    const gone = await startStandInLlm();
    const url = gone.url;
    await gone.close();
    const err = await failure(client({ url }).client.probe());
    expect(err.code).toBe('LLM_UNREACHABLE');
    expect(err.message).toContain(url);
    expect(err.message).toContain('ECONNREFUSED');
  });
});
