import { Agent, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { credentialFor, isHuggingFaceUrl, sameOrigin } from '../../src/llm/credentials.js';
import { clearRegisteredSecrets } from '../../src/core/redact.js';
import { loadConfig } from '../../src/config/load.js';
import { guardCredential } from '../../src/llm/hf.js';
import { classifyHttpError } from '../../src/llm/retry.js';
import { checkReachable, createLlmRouter, type LlmRouterOptions } from '../../src/llm/router.js';
import type { LlmRequest } from '../../src/llm/types.js';
import { filterMessages } from '../../src/stages/prompts.js';
import { captureLogger } from '../support/capture-logger.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

const HF_TOKEN = 'hf_routingTestToken0123456789abcdef';
const KEY_A = 'sk-key-for-server-a';
const KEY_B = 'sk-key-for-server-b';

describe('which hosts get the HF token', () => {
  it.each([
    'https://huggingface.co/api/models/org/m',
    'https://router.huggingface.co/v1',
    'https://api-inference.huggingface.co/models/org/m',
    'https://ROUTER.HuggingFace.co/v1',
    'https://my-endpoint.us-east-1.aws.endpoints.huggingface.cloud/v1',
    'https://someone-some-space.hf.space/v1',
  ])('%s: yes', (url) => expect(isHuggingFaceUrl(url)).toBe(true));

  it.each([
    'http://router.huggingface.co/v1', // not over https
    'https://huggingface.co.evil.example/v1',
    'https://evilhuggingface.co/v1',
    'https://huggingface.cloud/v1', // only Inference Endpoints under it
    'https://hf.space/v1',
    'https://hf.co/v1',
    'http://127.0.0.1:8080/v1',
    'not a url',
  ])('%s: no', (url) => expect(isHuggingFaceUrl(url)).toBe(false));
});

describe('credentialFor', () => {
  it('gives an API key to its own origin only (scheme, host and port), and the HF token to HF hosts only', () => {
    const creds = { hfToken: HF_TOKEN, apiKey: KEY_A, apiKeyUrl: 'https://api.example.com/v1' };
    expect(credentialFor('https://api.example.com/other/v1/models', creds)).toEqual({ value: KEY_A, kind: 'apiKey' });
    expect(credentialFor('http://api.example.com/v1', creds)).toBeUndefined();
    expect(credentialFor('https://api.example.com:8443/v1', creds)).toBeUndefined();
    expect(credentialFor('https://evil.example/v1', creds)).toBeUndefined();
    expect(credentialFor('https://router.huggingface.co/v1', creds)).toEqual({ value: HF_TOKEN, kind: 'hfToken' });
    // A key configured for an HF URL wins there.
    expect(credentialFor('https://router.huggingface.co/v1', { ...creds, apiKeyUrl: 'https://router.huggingface.co/v1' })?.kind).toBe('apiKey');
    expect(sameOrigin('https://u:p@h.example/v1', 'https://h.example:443/x')).toBe(true);
  });

  it("HfClient's fetch refuses a request that would carry the credential to a host it does not belong to", async () => {
    const sent: string[] = [];
    const inner = (async (input: string | URL | Request) => {
      sent.push(String(input));
      return new Response('{}', { status: 200 });
    }) as typeof fetch;
    const guarded = guardCredential(inner, HF_TOKEN, { hfToken: HF_TOKEN });
    await guarded('https://huggingface.co/api/models/org/m', { headers: { Authorization: `Bearer ${HF_TOKEN}` } });
    await guarded('https://api.provider.example/v1/chat/completions', {});
    await expect(guarded('https://api.provider.example/v1/chat/completions', { headers: { Authorization: `Bearer ${HF_TOKEN}` } })).rejects.toMatchObject({ code: 'LLM_AUTH' });
    expect(sent).toEqual(['https://huggingface.co/api/models/org/m', 'https://api.provider.example/v1/chat/completions']);
  });
});

describe('token routing, asserted at the stand-in', () => {
  let a: StandInLlm;
  let b: StandInLlm;
  let tgi: StandInLlm;
  beforeAll(async () => {
    [a, b, tgi] = await Promise.all([startStandInLlm(), startStandInLlm(), startStandInLlm({ mode: 'tgi' })]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close(), tgi.close()]);
  });
  afterEach(() => {
    for (const s of [a, b, tgi]) s.requests.length = 0;
  });

  const request: LlmRequest = {
    stage: 'filter',
    messages: filterMessages('Photosynthesis turns light into chemical energy.', false),
    jsonSchema: OUTPUT_JSON_SCHEMAS.filter,
    temperature: 0,
    maxTokens: 64,
  };

  /** Probe every client and send one call per stage, so every URL the router uses is hit. */
  async function exercise(input: ConfigInput, opts: LlmRouterOptions = {}): Promise<void> {
    const router = createLlmRouter(configSchema.parse({ ...input, llm: { maxRetries: 0, ...input.llm } }), opts);
    try {
      await checkReachable(router);
      for (const stage of ['filter', 'identify', 'generate', 'check'] as const) await router.forStage(stage).complete({ ...request, stage });
    } finally {
      await router.close();
    }
  }

  const authorizations = (s: StandInLlm) => s.requests.map((r) => r.headers['authorization']);

  it('an OpenAI-compatible URL that is not Hugging Face gets no HF token (requests and probe)', async () => {
    await exercise({ llm: { url: a.url, token: HF_TOKEN } });
    expect(a.requests.length).toBeGreaterThanOrEqual(5);
    expect(authorizations(a)).toEqual(a.requests.map(() => undefined));
  });

  it('a self-hosted TGI behind the hf backend gets no HF token (/info, chat, probe)', async () => {
    await exercise({ llm: { backend: 'hf', url: tgi.url, token: HF_TOKEN } });
    expect(tgi.requests.map((r) => r.path)).toEqual(expect.arrayContaining(['/info', '/v1/chat/completions', '/v1/models']));
    expect(authorizations(tgi)).toEqual(tgi.requests.map(() => undefined));
  });

  it('llm.apiKey reaches only llm.url; a stage overriding the URL with another server gets no key, and a warning says why', async () => {
    const log = captureLogger('warn');
    await exercise({ llm: { url: a.url, apiKey: KEY_A, token: HF_TOKEN, stages: { check: { url: b.url } } } }, { logger: log.logger });
    expect(a.requests.length).toBeGreaterThan(0);
    expect(new Set(authorizations(a))).toEqual(new Set([`Bearer ${KEY_A}`]));
    expect(b.requests.length).toBeGreaterThan(0);
    expect(authorizations(b)).toEqual(b.requests.map(() => undefined));
    const warning = log.lines().find((l) => l['stage'] === 'check');
    expect(warning?.['msg']).toContain('llm.stages.check.apiKey');
    expect(log.text()).not.toContain(KEY_A);
  });

  it("a stage's own key reaches only that stage's URL", async () => {
    await exercise({ llm: { url: a.url, apiKey: KEY_A, stages: { check: { url: b.url, apiKey: KEY_B } } } });
    expect(new Set(authorizations(a))).toEqual(new Set([`Bearer ${KEY_A}`]));
    expect(new Set(authorizations(b))).toEqual(new Set([`Bearer ${KEY_B}`]));
  });

  describe('Hugging Face hosts do get the token', () => {
    // Requests to the HF host are delivered to a stand-in by a dispatcher that rewrites the origin,
    // so the URL the client chose is the HF one and the headers are the ones really sent.
    let agent: Agent;
    let dispatcherTo: (root: string) => Dispatcher;
    beforeAll(() => {
      agent = new Agent();
      dispatcherTo = (root) => agent.compose((dispatch) => (opts, handler) => dispatch({ ...opts, origin: root }, handler));
    });
    afterAll(async () => {
      await agent.close();
    });

    it('router.huggingface.co as an OpenAI-compatible URL', async () => {
      await exercise({ llm: { url: 'https://router.huggingface.co/v1', model: 'org/m', token: HF_TOKEN } }, { dispatcher: dispatcherTo(a.root) });
      expect(a.requests.length).toBeGreaterThan(0);
      expect(new Set(authorizations(a))).toEqual(new Set([`Bearer ${HF_TOKEN}`]));
    });

    it('an Inference Endpoint behind the hf backend', async () => {
      await exercise(
        { llm: { backend: 'hf', url: 'https://my-ep.us-east-1.aws.endpoints.huggingface.cloud/v1', token: HF_TOKEN } },
        { dispatcher: dispatcherTo(tgi.root) },
      );
      expect(tgi.requests.length).toBeGreaterThan(0);
      expect(new Set(authorizations(tgi))).toEqual(new Set([`Bearer ${HF_TOKEN}`]));
    });
  });
});

describe('secrets a server echoes back', () => {
  afterEach(() => clearRegisteredSecrets());

  it('configured secrets are cut out of LLM error messages (which reach dead letters and rejections)', async () => {
    await loadConfig({
      env: { OPENAI_API_KEY: KEY_A, HF_TOKEN: 'hf_shortish', WEBSCALE_LLM_URL: 'http://127.0.0.1:9/v1', WEBSCALE_SCHEMA_REGISTRY_URL: 'https://sr:registry-pass-word@sr.example' },
    });
    const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY_A}. Token hf_shortish, registry registry-pass-word.` } });
    const err = classifyHttpError({ status: 401, body, headers: {}, url: 'http://127.0.0.1:9/v1/chat/completions' });
    expect(err.code).toBe('LLM_AUTH');
    expect(err.message).toContain('Incorrect API key provided: [redacted]');
    for (const secret of [KEY_A, 'hf_shortish', 'registry-pass-word']) expect(err.message).not.toContain(secret);
  });
});
