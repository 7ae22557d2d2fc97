import { Agent, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebscaleError } from '../../src/core/errors.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { HfClient, endpointRoot, type HfClientOptions } from '../../src/llm/hf.js';
import { OpenAiClient } from '../../src/llm/openai.js';
import type { LlmRequest } from '../../src/llm/types.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let tgi: StandInLlm;
let openai: StandInLlm;
const clients: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  tgi = await startStandInLlm({ mode: 'tgi' });
  openai = await startStandInLlm({ mode: 'openai' });
});
afterAll(async () => {
  await tgi.close();
  await openai.close();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  expect(tgi.pendingFaults()).toBe(0);
  expect(openai.pendingFaults()).toBe(0);
  tgi.requests.length = 0;
  openai.requests.length = 0;
});

function hf(overrides: Partial<HfClientOptions> = {}): { client: HfClient; retries: string[] } {
  const retries: string[] = [];
  const client = new HfClient({
    endpointUrl: tgi.url,
    model: 'org/some-model',
    token: 'hf_test_token',
    timeoutMs: 2000,
    retry: { maxRetries: 3, backoffInitial: 10, backoffMax: 2000 },
    responseFormat: 'auto',
    connections: 8,
    events: { onRetry: (stage, code) => retries.push(`${stage ?? '-'}:${code}`) },
    ...overrides,
  });
  clients.push(client);
  return { client, retries };
}

const request: LlmRequest = {
  stage: 'identify',
  messages: [
    { role: 'system', content: 'Label the document.' },
    { role: 'user', content: '<document>\nA loop in Python. [[domain:Coding]]\n</document>' },
  ],
  jsonSchema: OUTPUT_JSON_SCHEMAS.identify,
  temperature: 0.5,
  maxTokens: 128,
  seed: 7,
};

function chats(server: StandInLlm) {
  return server.requests.filter((r) => r.path === '/v1/chat/completions');
}

async function failure(promise: Promise<unknown>): Promise<WebscaleError> {
  try {
    await promise;
  } catch (err) {
    return err as WebscaleError;
  }
  throw new Error('expected the call to fail');
}

describe('HfClient against a TGI-mode stand-in', () => {
  it('detects TGI from /info once and sends TGI grammar {type: "json", value}', async () => {
    const { client } = hf();
    const out = await client.complete(request);
    expect(JSON.parse(out.text)).toMatchObject({ domain: 'Coding', personas: ['curious student', 'working professional'] });
    expect(out.finishReason).toBe('eos_token');
    expect(out.usage.prompt_tokens).toBeGreaterThan(0);
    await client.complete(request);
    expect(tgi.requests.filter((r) => r.path === '/info')).toHaveLength(1);
    const sent = chats(tgi)[0];
    expect(sent?.body).toMatchObject({
      model: 'org/some-model',
      temperature: 0.5,
      max_tokens: 128,
      seed: 7,
      response_format: { type: 'json', value: OUTPUT_JSON_SCHEMAS.identify.schema },
    });
    // A self-hosted TGI is not a Hugging Face host: the HF token stays home.
    expect(tgi.requests.map((r) => r.headers['authorization'])).toEqual(tgi.requests.map(() => undefined));
    expect(sent?.headers['user-agent']).toContain('@huggingface/inference');
  });

  it('sends an API key to its endpoint (/info, chat, probe), and never the HF token', async () => {
    const { client } = hf({ apiKey: 'sk-tgi-gateway' });
    await client.complete(request);
    await client.probe();
    expect(tgi.requests.map((r) => r.path)).toEqual(['/info', '/v1/chat/completions', '/v1/models']);
    expect(new Set(tgi.requests.map((r) => r.headers['authorization']))).toEqual(new Set(['Bearer sk-tgi-gateway']));
  });

  it('the TGI stand-in rejects the OpenAI shape, so the detection matters', async () => {
    const { client } = hf({ responseFormat: 'openai' });
    const err = await failure(client.complete(request));
    expect(err.code).toBe('LLM_CLIENT');
    expect(err.context).toMatchObject({ status: 422, errorType: 'validation' });
    expect(chats(tgi)).toHaveLength(1);
  });

  it("turns the library's 503 loop off: one request per attempt, with our backoff", async () => {
    const { client } = hf({ retry: { maxRetries: 0, backoffInitial: 1, backoffMax: 1 } });
    tgi.script({ type: 'status', status: 503 });
    const err = await failure(client.complete(request));
    expect(err.code).toBe('LLM_SERVER');
    expect(chats(tgi)).toHaveLength(1);
  });

  it('retries TGI overload (429) and a cold model (503 estimated_time), waiting as told', async () => {
    const { client, retries } = hf();
    tgi.script({ type: 'rate_limit', retryAfterMs: 200 }, { type: 'loading', estimatedTimeSeconds: 0.3 });
    const started = performance.now();
    const out = await client.complete(request);
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    expect(JSON.parse(out.text).domain).toBe('Coding');
    expect(retries).toEqual(['identify:LLM_RATE_LIMITED', 'identify:LLM_SERVER']);
  });

  it('maps timeouts, resets and bad bodies like the OpenAI client', async () => {
    const { client, retries } = hf({ timeoutMs: 200, retry: { maxRetries: 4, backoffInitial: 10, backoffMax: 50 } });
    tgi.script('hang', 'reset', 'text_plain', 'malformed_json');
    const out = await client.complete(request);
    expect(JSON.parse(out.text).domain).toBe('Coding');
    expect(retries).toEqual(['identify:LLM_TIMEOUT', 'identify:LLM_NETWORK', 'identify:LLM_BAD_RESPONSE', 'identify:LLM_BAD_RESPONSE']);
  });

  it('does not retry a TGI validation error and keeps its words', async () => {
    const { client } = hf();
    tgi.script({ type: 'status', status: 422, message: 'Input validation error: max_new_tokens too large' });
    const err = await failure(client.complete(request));
    expect(err.code).toBe('LLM_CLIENT');
    expect(err.message).toContain('max_new_tokens too large');
    expect(chats(tgi)).toHaveLength(1);
  });

  it('aborts without retrying', async () => {
    const { client } = hf();
    await client.complete(request); // detection done
    tgi.requests.length = 0;
    tgi.script('hang');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await failure(client.complete({ ...request, signal: controller.signal }));
    expect(err.code).toBe('LLM_ABORTED');
    expect(chats(tgi)).toHaveLength(1);
  });

  it('the OpenAI client can talk TGI too when told to', async () => {
    const client = new OpenAiClient({ url: tgi.url, timeoutMs: 2000, retry: { maxRetries: 0, backoffInitial: 1, backoffMax: 1 }, responseFormat: 'tgi' });
    clients.push(client);
    const out = await client.complete(request);
    expect(JSON.parse(out.text).domain).toBe('Coding');
  });

  it('probes the endpoint', async () => {
    await hf().client.probe();
    expect(tgi.requests.at(-1)?.path).toBe('/v1/models');
  });
});

describe('HfClient against an OpenAI-mode endpoint', () => {
  it('finds no TGI /info and sends the OpenAI json_schema shape', async () => {
    const { client } = hf({ endpointUrl: openai.url });
    const out = await client.complete(request);
    expect(JSON.parse(out.text).domain).toBe('Coding');
    expect(out.finishReason).toBe('stop');
    expect(chats(openai)[0]?.body).toMatchObject({
      response_format: { type: 'json_schema', json_schema: { name: 'domain_and_personas', strict: true } },
    });
  });

  it('works with the endpoint root (the library appends /v1/chat/completions)', async () => {
    const { client } = hf({ endpointUrl: openai.root, responseFormat: 'none' });
    await client.complete(request);
    expect(chats(openai)).toHaveLength(1);
    expect(chats(openai)[0]?.body).not.toHaveProperty('response_format');
  });
});

describe('HfClient by model id (Inference Providers)', () => {
  // The library sends these calls to router.huggingface.co; a dispatcher that rewrites the origin
  // lands them on the stand-in instead, so the real request path and headers are exercised.
  function redirectTo(root: string): { dispatcher: Dispatcher; agent: Agent } {
    const agent = new Agent();
    const dispatcher = agent.compose((dispatch) => (opts, handler) => dispatch({ ...opts, origin: root }, handler));
    return { dispatcher, agent };
  }

  it('posts to the router /v1/chat/completions with the OpenAI json_schema shape and the HF token', async () => {
    const { dispatcher, agent } = redirectTo(openai.root);
    try {
      const { client } = hf({ endpointUrl: undefined, model: 'org/model-7b', dispatcher });
      const out = await client.complete(request);
      expect(JSON.parse(out.text).domain).toBe('Coding');
      const sent = chats(openai)[0];
      expect(sent?.headers['authorization']).toBe('Bearer hf_test_token');
      expect(sent?.body).toMatchObject({ model: 'org/model-7b', response_format: { type: 'json_schema', json_schema: { name: 'domain_and_personas' } } });
      expect(openai.requests.filter((r) => r.path === '/info')).toHaveLength(0);
    } finally {
      await agent.close();
    }
  });

  it('a non-HF key cannot use the router: LLM_CLIENT, nothing sent, not retried', async () => {
    const { dispatcher, agent } = redirectTo(openai.root);
    try {
      const { client, retries } = hf({ endpointUrl: undefined, model: 'org/model-7b', token: 'sk-not-hf', dispatcher });
      const err = await failure(client.complete(request));
      expect(err.code).toBe('LLM_CLIENT');
      expect(retries).toEqual([]);
      expect(chats(openai)).toHaveLength(0);
    } finally {
      await agent.close();
    }
  });

  it('needs a model id or an endpoint', () => {
    expect(() => new HfClient({ timeoutMs: 1, retry: { maxRetries: 0, backoffInitial: 1, backoffMax: 1 }, responseFormat: 'auto' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('endpointRoot', () => {
  it('strips /v1 and /chat/completions', () => {
    expect(endpointRoot('http://h:8080/v1/chat/completions')).toBe('http://h:8080');
    expect(endpointRoot('http://h:8080/v1/')).toBe('http://h:8080');
    expect(endpointRoot('http://h:8080')).toBe('http://h:8080');
  });
});
