// The start-up probe against the stand-in LLM speaking the real wire protocol: a healthy endpoint
// passes with one small request per stage schema; endpoints that cannot serve (401, 403, 404, 405,
// 501, unknown model, nothing listening, no URL, no model file) fail with one line naming the
// stage, the URL and the model; answers retries may cure, and unparseable answers, do not fail it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { WebscaleError } from '../../src/core/errors.js';
import type { LlmStage } from '../../src/core/records.js';
import { ENDPOINT_FAULT_CODES, isEndpointFault, probeStages, PROBE_MARKER } from '../../src/llm/probe.js';
import { createLlmRouter } from '../../src/llm/router.js';
import type { LlmClient, LlmCompletion, LlmRequest, LlmRouter } from '../../src/llm/types.js';
import { startStandInLlm, type StandInFailAll, type StandInLlm } from '../support/stand-in-llm.js';

const ALL: LlmStage[] = ['filter', 'identify', 'generate', 'check'];

let healthy: StandInLlm;

beforeAll(async () => {
  healthy = await startStandInLlm();
});
afterAll(async () => {
  await healthy.close();
});

function config(input: ConfigInput): Config {
  return configSchema.parse(input);
}

/** Probe with a router built from `input`; the router is always closed. */
async function probe(input: ConfigInput, stages: LlmStage[] = ALL): Promise<WebscaleError | undefined> {
  const c = config(input);
  const router = createLlmRouter(c);
  try {
    await probeStages(router, stages, { config: c });
    return undefined;
  } catch (err) {
    if (!(err instanceof WebscaleError)) throw err;
    return err;
  } finally {
    await router.close();
  }
}

async function failing(mode: StandInFailAll, extra: Partial<ConfigInput['llm']> = {}): Promise<{ err: WebscaleError | undefined; server: StandInLlm }> {
  const server = await startStandInLlm({ failAll: mode });
  try {
    const err = await probe({ llm: { url: server.url, model: 'qwen-7b', maxRetries: 3, backoffInitial: 10, backoffMax: 20, ...extra } });
    return { err, server };
  } finally {
    await server.close();
  }
}

function chatBodies(server: StandInLlm): Record<string, unknown>[] {
  return server.requests.filter((r) => r.method === 'POST').map((r) => r.body as Record<string, unknown>);
}

describe('probeStages against the stand-in', () => {
  it('passes a healthy endpoint with one small request per stage, each with its schema', async () => {
    healthy.requests.length = 0;
    expect(await probe({ llm: { url: healthy.url, model: 'm', temperature: 0.7, stages: { check: { temperature: 0.1 } } }, pipeline: { reasoningLast: true } })).toBeUndefined();
    const bodies = chatBodies(healthy);
    const schemas = bodies.map((b) => (b['response_format'] as { json_schema: { name: string } }).json_schema.name);
    expect(schemas.sort()).toEqual(['domain_and_personas', 'filter_verdict', 'quality_verdicts', 'question_answer']);
    for (const b of bodies) {
      expect(b['max_tokens']).toBeLessThanOrEqual(16);
      expect(b['model']).toBe('m');
      expect(JSON.stringify(b['messages'])).toContain(PROBE_MARKER);
    }
    // The stage's own settings travel with its probe: temperature override, reasoning-last schema.
    const check = bodies.find((b) => JSON.stringify(b).includes('quality_verdicts'));
    expect(check?.['temperature']).toBe(0.1);
    const generate = bodies.find((b) => JSON.stringify(b).includes('question_answer'));
    const props = Object.keys((generate?.['response_format'] as { json_schema: { schema: { properties: object } } }).json_schema.schema.properties);
    expect(props.at(-1)).toBe('reasoning');
    // One reachability check for the one shared client.
    expect(healthy.requests.filter((r) => r.method === 'GET' && r.path === '/v1/models')).toHaveLength(1);
  });

  it('probes only the stages it is given', async () => {
    healthy.requests.length = 0;
    expect(await probe({ llm: { url: healthy.url } }, ['identify', 'check'])).toBeUndefined();
    expect(chatBodies(healthy).map((b) => (b['response_format'] as { json_schema: { name: string } }).json_schema.name).sort()).toEqual([
      'domain_and_personas',
      'quality_verdicts',
    ]);
  });

  const unavailable: [StandInFailAll, string, RegExp][] = [
    [404, 'LLM_UNAVAILABLE', /answered 404 \(not found; check the URL/],
    [405, 'LLM_UNAVAILABLE', /answered 405 \(method not allowed/],
    [501, 'LLM_UNAVAILABLE', /answered 501 \(not implemented/],
    ['model_not_found', 'LLM_UNAVAILABLE', /model not found.*qwen-7b.*does not exist/],
    [401, 'LLM_AUTH', /401 \(not authorised/],
    [403, 'LLM_AUTH', /403 \(not authorised/],
  ];
  it.each(unavailable)('fails on an endpoint answering %s to everything: %s, one line naming stage, URL and model, no retries', async (mode, code, why) => {
    const { err, server } = await failing(mode);
    expect(err?.code).toBe(code);
    expect(err?.message.split('\n')).toHaveLength(1);
    expect(err?.message).toMatch(why);
    // A 401/403 already fails the reachability check shared by all four stages.
    expect(err?.message).toMatch(/LLM for stages? filter/);
    expect(err?.message).toContain(server.url);
    expect(err?.message).toContain('model qwen-7b');
    expect(isEndpointFault(err)).toBe(true);
    // Nothing was retried: at most one GET /models and one POST per stage schema, stopping at the first failure.
    expect(server.requests.filter((r) => r.method === 'POST').length).toBeLessThanOrEqual(1);
  });

  it('recognises vLLM\'s unknown-model answer from its body', async () => {
    const server = await startStandInLlm({ strictModel: true, model: 'served-model' });
    try {
      const err = await probe({ llm: { url: server.url, model: 'Served-Model' } });
      expect(err?.code).toBe('LLM_UNAVAILABLE');
      expect(err?.message).toMatch(/model not found.*Served-Model/);
      expect(await probe({ llm: { url: server.url, model: 'served-model' } })).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('names the one stage whose endpoint cannot serve when stages use different endpoints', async () => {
    const broken = await startStandInLlm({ failAll: 404 });
    try {
      const err = await probe({ llm: { url: healthy.url, model: 'big', stages: { check: { url: broken.url, model: 'small' } } } });
      expect(err?.code).toBe('LLM_UNAVAILABLE');
      expect(err?.message).toContain('stage check');
      expect(err?.message).toContain(`${broken.url}, model small`);
      expect(err?.context['stage']).toBe('check');
    } finally {
      await broken.close();
    }
  });

  it('keeps credentials and query strings out of the message', async () => {
    const server = await startStandInLlm({ failAll: 404 });
    try {
      const url = `http://user:s3cret@127.0.0.1:${server.port}/v1?api-key=k3y`;
      const err = await probe({ llm: { url, model: 'm' } });
      expect(err?.code).toBe('LLM_UNAVAILABLE');
      expect(err?.message).toContain(`http://127.0.0.1:${server.port}/v1`);
      expect(JSON.stringify({ m: err?.message, c: err?.context })).not.toMatch(/s3cret|k3y/);
    } finally {
      await server.close();
    }
  });

  it('fails when nothing listens: LLM_UNREACHABLE, fast', async () => {
    const gone = await startStandInLlm();
    const url = gone.url;
    await gone.close();
    const started = performance.now();
    const err = await probe({ llm: { url, model: 'm' } });
    expect(err?.code).toBe('LLM_UNREACHABLE');
    expect(err?.message).toMatch(/stages? filter.*cannot serve.*ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(ENDPOINT_FAULT_CODES.has('LLM_UNREACHABLE')).toBe(true);
  });

  it('fails through the Hugging Face backend on a TGI endpoint that answers 404', async () => {
    const tgi = await startStandInLlm({ mode: 'tgi', failAll: 404 });
    try {
      const err = await probe({ llm: { backend: 'hf', url: tgi.root, model: 'tgi', maxRetries: 1, backoffInitial: 10, backoffMax: 20 } });
      expect(err?.code).toBe('LLM_UNAVAILABLE');
      expect(err?.message).toContain('stage filter');
    } finally {
      await tgi.close();
    }
    const ok = await startStandInLlm({ mode: 'tgi' });
    try {
      expect(await probe({ llm: { backend: 'hf', url: ok.root, model: 'tgi' } })).toBeUndefined();
    } finally {
      await ok.close();
    }
  });

  it('fails with CONFIG_INVALID when no URL or model is configured, naming the stage', async () => {
    const noUrl = await probe({ llm: { backend: 'openai' } });
    expect(noUrl?.code).toBe('CONFIG_INVALID');
    expect(noUrl?.message).toMatch(/stage filter.*llm\.url/);
    const hfNothing = await probe({ llm: { backend: 'hf' } }, ['check']);
    expect(hfNothing?.code).toBe('CONFIG_INVALID');
    expect(hfNothing?.message).toMatch(/stage check.*model id/);
  });

  it('fails with CONFIG_INVALID when the local model file is missing, naming the path', async () => {
    const path = '/nonexistent/dir/missing-model.gguf';
    const err = await probe({ llm: { backend: 'local', local: { modelPath: path } } });
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain(`local model ${path}`);
    expect(err?.message).toMatch(/model:fetch|--model-path/);
    expect(err?.message.split('\n')).toHaveLength(1);
  });

  it('sends probe requests without retries and without failure events (the probe reports for itself)', async () => {
    const server = await startStandInLlm({ failAll: 404 });
    const events: string[] = [];
    const c = config({ llm: { url: server.url, maxRetries: 3, backoffInitial: 10, backoffMax: 20 } });
    const router = createLlmRouter(c, { events: { onFailure: (_s, code) => events.push(`failure ${code}`), onRetry: (_s, code) => events.push(`retry ${code}`) } });
    try {
      await expect(probeStages(router, ALL, { config: c })).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
      expect(events).toEqual([]);
    } finally {
      await router.close();
      await server.close();
    }
    // A server answering 503 to every chat request: one attempt per stage, then the run starts anyway.
    let posts = 0;
    const overloaded = createServer((req, res) => {
      if (req.method === 'POST') posts++;
      const status = req.method === 'POST' ? 503 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"data":[]}' : '{"error":"overloaded"}');
    });
    await new Promise<void>((resolve) => overloaded.listen(0, '127.0.0.1', resolve));
    const port = (overloaded.address() as AddressInfo).port;
    try {
      expect(await probe({ llm: { url: `http://127.0.0.1:${port}/v1`, maxRetries: 3, backoffInitial: 10, backoffMax: 20 } })).toBeUndefined();
      expect(posts).toBe(4);
    } finally {
      overloaded.closeAllConnections();
      await new Promise((resolve) => overloaded.close(resolve));
    }
  });

  it('lets the endpoint be fixed: a later probe passes', async () => {
    const server = await startStandInLlm({ failAll: 501 });
    try {
      expect((await probe({ llm: { url: server.url } }))?.code).toBe('LLM_UNAVAILABLE');
      server.setFailAll(undefined);
      expect(await probe({ llm: { url: server.url } })).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

/** A router over one fake client whose answers a test scripts per call. */
function fakeRouter(answer: (request: LlmRequest, call: number) => Promise<LlmCompletion>): { router: LlmRouter; requests: LlmRequest[] } {
  const requests: LlmRequest[] = [];
  const client: LlmClient = {
    backend: 'openai',
    model: 'fake',
    complete: (request) => {
      requests.push(request);
      return answer(request, requests.length);
    },
    close: async () => undefined,
  };
  return { router: { forStage: () => client, close: async () => undefined }, requests };
}

const completion = (text: string): LlmCompletion => ({ text, model: 'fake', usage: { prompt_tokens: 1, completion_tokens: 1 }, finishReason: 'length' });

describe('probeStages: what does not fail it', () => {
  it('an unparseable or off-schema answer is not a misconfiguration', async () => {
    const { router, requests } = fakeRouter(async () => completion('Sure! Here is {"reas'));
    await expect(probeStages(router, ALL, {})).resolves.toBeUndefined();
    expect(requests).toHaveLength(4);
    expect(requests.every((r) => r.probe === true && r.maxTokens <= 16)).toBe(true);
  });

  it('429, 5xx, timeouts and bad bodies do not fail it (retries and outage handling cure those)', async () => {
    const codes = ['LLM_RATE_LIMITED', 'LLM_SERVER', 'LLM_TIMEOUT', 'LLM_BAD_RESPONSE'] as const;
    const { router } = fakeRouter(async (request) => {
      throw new WebscaleError(codes[ALL.indexOf(request.stage)] ?? 'LLM_SERVER', 'transient', { retryable: true });
    });
    const warnings: unknown[] = [];
    const logger = { warn: (obj: unknown) => warnings.push(obj) } as unknown as import('pino').Logger;
    await expect(probeStages(router, ALL, { logger })).resolves.toBeUndefined();
    expect(warnings).toHaveLength(4);
  });

  it('retries a network failure twice, then reports the endpoint unreachable', async () => {
    const network = (): never => {
      throw new WebscaleError('LLM_NETWORK', 'LLM request failed: ECONNRESET', { retryable: true, context: { errno: 'ECONNRESET' } });
    };
    const down = fakeRouter(async () => network());
    const err = (await probeStages(down.router, ['generate'], {}).catch((e: unknown) => e)) as WebscaleError;
    expect(err.code).toBe('LLM_UNREACHABLE');
    expect(err.message).toMatch(/stage generate.*ECONNRESET/);
    expect(down.requests).toHaveLength(3);

    const flaky = fakeRouter(async (_r, call) => (call === 1 ? network() : completion('{}')));
    await expect(probeStages(flaky.router, ['generate'], {})).resolves.toBeUndefined();
    expect(flaky.requests).toHaveLength(2);
  });

  it('a request the server refuses (400) fails it: every real request would be refused too', async () => {
    const { router } = fakeRouter(async () => {
      throw new WebscaleError('LLM_CLIENT', "LLM server answered 400 (request rejected): Invalid value for response_format.type: 'json_schema'");
    });
    const err = (await probeStages(router, ALL, {}).catch((e: unknown) => e)) as WebscaleError;
    expect(err.code).toBe('LLM_CLIENT');
    expect(err.message).toMatch(/stage filter.*response_format.*would be refused/);
  });

  it('the caller\'s abort ends it with LLM_ABORTED', async () => {
    const controller = new AbortController();
    const { router } = fakeRouter(
      (request) =>
        new Promise((_resolve, reject) => {
          request.signal?.addEventListener('abort', () => reject(new WebscaleError('LLM_ABORTED', 'aborted')));
        }),
    );
    const pending = probeStages(router, ALL, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'LLM_ABORTED' });
  });

  it('ENDPOINT_FAULT_CODES: what pauses a worker mid-run, and only that', () => {
    expect([...ENDPOINT_FAULT_CODES].sort()).toEqual(['LLM_AUTH', 'LLM_QUOTA', 'LLM_UNAVAILABLE', 'LLM_UNREACHABLE']);
    expect(isEndpointFault(new WebscaleError('LLM_CLIENT', 'bad request'))).toBe(false);
    expect(isEndpointFault(new WebscaleError('LLM_INVALID_OUTPUT', 'stray'))).toBe(false);
    expect(isEndpointFault(new Error('LLM_AUTH'))).toBe(false);
  });
});
