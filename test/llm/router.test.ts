import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import type { WebscaleError } from '../../src/core/errors.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { ConcurrencyLimiter, limitRouter } from '../../src/llm/limiter.js';
import { checkReachable, createLlmRouter, resolveStageSettings } from '../../src/llm/router.js';
import type { LlmClient, LlmRequest } from '../../src/llm/types.js';
import { checkMessages, filterMessages, generateMessages, identifyMessages } from '../../src/stages/prompts.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let a: StandInLlm;
let b: StandInLlm;

beforeAll(async () => {
  a = await startStandInLlm();
  b = await startStandInLlm({ mode: 'tgi' });
});
afterAll(async () => {
  await a.close();
  await b.close();
});

function config(input: ConfigInput): Config {
  return configSchema.parse(input);
}

function req(stage: 'filter' | 'identify' | 'generate' | 'check', messages: LlmRequest['messages']): LlmRequest {
  return { stage, messages, jsonSchema: OUTPUT_JSON_SCHEMAS[stage], temperature: 0, maxTokens: 64 };
}

describe('resolveStageSettings', () => {
  it('layers stage overrides over the llm block and resolves auto', () => {
    const c = config({
      llm: { url: 'http://big:1/v1', model: 'big', temperature: 0.7, maxTokens: 1000, stages: { check: { model: 'small', temperature: 0, maxTokens: 50 } } },
    });
    expect(resolveStageSettings(c, 'generate')).toEqual({ backend: 'openai', url: 'http://big:1/v1', model: 'big', temperature: 0.7, maxTokens: 1000 });
    expect(resolveStageSettings(c, 'check')).toEqual({ backend: 'openai', url: 'http://big:1/v1', model: 'small', temperature: 0, maxTokens: 50 });
  });

  it('auto: a URL means openai, a token plus a model means hf, nothing means local', () => {
    expect(resolveStageSettings(config({ llm: { token: 'hf_x', model: 'org/m' } }), 'filter').backend).toBe('hf');
    expect(resolveStageSettings(config({ llm: { token: 'hf_x' } }), 'filter').backend).toBe('local');
    expect(resolveStageSettings(config({}), 'filter').backend).toBe('local');
    expect(resolveStageSettings(config({ llm: { token: 'hf_x', model: 'org/m', url: 'http://x:1/v1' } }), 'filter').backend).toBe('openai');
    expect(resolveStageSettings(config({ llm: { backend: 'hf', url: 'http://tgi:1' } }), 'filter').backend).toBe('hf');
    expect(resolveStageSettings(config({ llm: { url: 'http://x:1/v1', stages: { identify: { backend: 'local' } } } }), 'identify').backend).toBe('local');
  });
});

describe('createLlmRouter', () => {
  it('shares one client per (backend, url, model) and routes stage overrides to their own server', async () => {
    const c = config({
      concurrency: 4,
      llm: {
        url: a.url,
        model: 'big',
        maxRetries: 0,
        stages: { identify: { model: 'small' }, check: { backend: 'hf', url: b.url, model: 'checker' } },
      },
    });
    const router = createLlmRouter(c);
    try {
      expect(router.forStage('filter')).toBe(router.forStage('generate'));
      expect(router.forStage('identify')).not.toBe(router.forStage('filter'));
      expect(router.clients()).toHaveLength(3);
      expect(router.forStage('check').backend).toBe('hf');

      a.requests.length = 0;
      b.requests.length = 0;
      // Real stage prompts; with a schema it does not know, the stand-in reads the stage from the system prompt.
      const filter = await router.forStage('filter').complete({ ...req('filter', filterMessages('Photosynthesis [[unqualified]]', false)), jsonSchema: { name: 'x', schema: {} } });
      expect(JSON.parse(filter.text).qualified).toBe(false);
      const identify = await router.forStage('identify').complete(req('identify', identifyMessages('Code [[domain:Astrology]]', false)));
      expect(JSON.parse(identify.text).domain).toBe('Astrology');
      const check = await router.forStage('check').complete(req('check', checkMessages({ documentText: 'doc [[incorrect]]', cut: false, question: 'q?', answer: 'a' })));
      expect(JSON.parse(check.text)).toMatchObject({ answer_correct: false, has_context: true, info_leakage: false });

      const models = a.requests.filter((r) => r.method === 'POST').map((r) => (r.body as { model: string }).model);
      expect(models).toEqual(['big', 'small']);
      expect((b.requests.find((r) => r.method === 'POST')?.body as { model: string; response_format: unknown }).response_format).toMatchObject({ type: 'json' });

      await checkReachable(router);
    } finally {
      await router.close();
    }
  });

  it('honours jsonSchema: false and an explicit responseFormat', async () => {
    const off = createLlmRouter(config({ llm: { url: a.url, jsonSchema: false } }));
    const tgiShape = createLlmRouter(config({ llm: { url: b.url, responseFormat: 'tgi' } }));
    try {
      a.requests.length = 0;
      const llm = off.forStage('filter');
      const filter = await llm.complete(req('filter', filterMessages('text', false)));
      expect(a.requests.at(-1)?.body).not.toHaveProperty('response_format');
      // Without a schema the stand-in tells the stages apart by their system prompts.
      expect(JSON.parse(filter.text)).toHaveProperty('qualified', true);
      const identify = await llm.complete(req('identify', identifyMessages('text [[domain:Math]]', false)));
      expect(JSON.parse(identify.text)).toMatchObject({ domain: 'Math' });
      const doc = 'Mitochondria produce energy. Mitochondria have membranes.';
      const generate = await llm.complete(req('generate', generateMessages({ documentText: doc, cut: false, domain: 'Natural Science', examples: [], persona: 'biology teacher' })));
      const qa = JSON.parse(generate.text) as { question: string; answer: string };
      expect(qa.answer).toBe('Mitochondria');
      expect(qa.question).toContain('biology teacher');
      expect(qa.question).not.toContain('Mitochondria');
      const check = await llm.complete(req('check', checkMessages({ documentText: doc, cut: false, question: `${qa.question} [[nocontext]]`, answer: qa.answer })));
      expect(JSON.parse(check.text)).toMatchObject({ has_context: false, answer_correct: true, info_leakage: false });
      const out = await tgiShape.forStage('filter').complete(req('filter', filterMessages('text', false)));
      expect(JSON.parse(out.text).qualified).toBe(true);
    } finally {
      await off.close();
      await tgiShape.close();
    }
  });

  it('loads the local backend lazily, once, and reports a missing one as CONFIG_INVALID', async () => {
    let loads = 0;
    const fake: LlmClient = {
      backend: 'local',
      model: 'tiny.gguf',
      complete: async () => ({ text: '{"reasoning":"","qualified":true}', model: 'tiny.gguf', usage: { prompt_tokens: 1, completion_tokens: 1 }, finishReason: 'stop' }),
      close: async () => undefined,
    };
    const router = createLlmRouter(config({}), {
      loadLocal: async () => {
        await new Promise((r) => setTimeout(r, 5));
        loads++;
        return fake;
      },
    });
    expect(loads).toBe(0);
    expect(router.forStage('filter')).toBe(router.forStage('check'));
    await checkReachable(router);
    const out = await router.forStage('generate').complete(req('filter', []));
    expect(out.text).toContain('qualified');
    expect(router.forStage('filter').model).toBe('tiny.gguf');
    expect(limitRouter(router, new ConcurrencyLimiter(1)).forStage('check').model).toBe('tiny.gguf');
    expect(loads).toBe(1);
    await router.close();

    const missing = createLlmRouter(config({}), {
      loadLocal: async () => {
        throw Object.assign(new Error('no'), { code: 'CONFIG_INVALID' });
      },
    });
    await expect(checkReachable(missing)).rejects.toThrow('no');
    await missing.close();
  });

  it('loads the local model again after a failed load (the model file arrived later)', async () => {
    let attempts = 0;
    const fake: LlmClient = {
      backend: 'local',
      model: 'late.gguf',
      complete: async () => ({ text: '{"reasoning":"","qualified":true}', model: 'late.gguf', usage: { prompt_tokens: 1, completion_tokens: 1 }, finishReason: 'stop' }),
      close: async () => undefined,
    };
    const router = createLlmRouter(config({}), {
      loadLocal: async () => {
        attempts++;
        if (attempts === 1) throw Object.assign(new Error('model file not found'), { code: 'CONFIG_INVALID' });
        return fake;
      },
    });
    await expect(checkReachable(router)).rejects.toThrow('model file not found');
    await checkReachable(router);
    expect(router.forStage('filter').model).toBe('late.gguf');
    expect(attempts).toBe(2);
    await router.close();
  });

  it('checkReachable fails fast with LLM_UNREACHABLE when nothing listens', async () => {
    const gone = await startStandInLlm();
    const url = gone.url;
    await gone.close();
    const router = createLlmRouter(config({ llm: { url } }));
    try {
      const started = performance.now();
      const err = (await checkReachable(router).catch((e: unknown) => e)) as WebscaleError;
      expect(err.code).toBe('LLM_UNREACHABLE');
      expect(err.message).toMatch(/unreachable/);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await router.close();
    }
  });

  it('reports retries through the events hook, labelled by stage', async () => {
    const retries: string[] = [];
    const router = createLlmRouter(config({ llm: { url: a.url, backoffInitial: 1, backoffMax: 5 } }), {
      events: { onRetry: (stage, code) => retries.push(`${stage ?? '-'}:${code}`) },
    });
    try {
      a.script({ type: 'status', status: 502 }, { type: 'rate_limit' });
      await router.forStage('identify').complete(req('identify', identifyMessages('x', false)));
      expect(retries).toEqual(['identify:LLM_SERVER', 'identify:LLM_RATE_LIMITED']);
    } finally {
      await router.close();
    }
  });
});
