/**
 * The response log in-process: the key, the wrapper's accounting, and the embedded pipeline run
 * three times against the stand-in LLM (a real HTTP server) with one LMDB store: the first run
 * pays every call, the second pays none, and a third whose check prompt was changed pays only
 * check calls. The changed prompt is made by replacing the prompts module for the third run only.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { LlmStage, QaRecord, Rejection } from '../../src/core/records.js';
import type { InputItem } from '../../src/input/reader.js';
import { createHash } from 'node:crypto';
import { clientIdentity, keyMaterial, responseKey } from '../../src/llm/response-log/key.js';
import { LmdbResponseStore } from '../../src/llm/response-log/lmdb-store.js';
import { logRouter } from '../../src/llm/response-log/logged-router.js';
import type { LoggedResponse, ResponseStore } from '../../src/llm/response-log/store.js';
import type { LlmClient, LlmRequest } from '../../src/llm/types.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

const silent = pino({ level: 'silent' });

const request = (over: Partial<LlmRequest> = {}): LlmRequest => ({
  stage: 'check',
  messages: [
    { role: 'system', content: 'judge' },
    { role: 'user', content: 'a pair' },
  ],
  jsonSchema: { name: 'quality_verdicts', schema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } } },
  temperature: 0,
  maxTokens: 100,
  seed: 7,
  ...over,
});

describe('response log key', () => {
  it('changes with every part that decides the answer, and not with key order or the stage name', () => {
    const base = responseKey('openai|m|auto', request());
    const { seed: _seed, ...unseeded } = request();
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(responseKey('openai|m|auto', request())).toBe(base);
    expect(responseKey('openai|m|auto', request({ stage: 'filter' }))).toBe(base);
    const reordered = request({ jsonSchema: { schema: { properties: { b: { type: 'number' }, a: { type: 'string' } }, type: 'object' }, name: 'quality_verdicts' } });
    expect(responseKey('openai|m|auto', reordered)).toBe(base);
    const variants = [
      responseKey('openai|other|auto', request()),
      responseKey('openai|m|auto', request({ seed: 8 })),
      responseKey('openai|m|auto', unseeded),
      responseKey('openai|m|auto', request({ temperature: 0.5 })),
      responseKey('openai|m|auto', request({ maxTokens: 101 })),
      responseKey('openai|m|auto', request({ messages: [{ role: 'system', content: 'judge!' }] })),
      responseKey('openai|m|auto', request({ jsonSchema: { name: 'other', schema: {} } })),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('hashes exactly the sorted-key JSON of the request (the hand-written form equals the generic one)', () => {
    const awkward = 'quotes " and \\ backslash, tab\t, newline\n, NUL \u0000, emoji 🧪, CJK 漢字, lone \ud800 surrogate, \u2028';
    const { seed: _unseeded, ...unseeded } = request();
    const cases: LlmRequest[] = [
      request(),
      unseeded,
      request({ seed: 0, temperature: 1.25, maxTokens: 1 }),
      request({ messages: [] }),
      request({ messages: [{ role: 'user', content: awkward }, { role: 'assistant', content: '' }, { role: 'user', content: awkward.repeat(50) }] }),
      request({ jsonSchema: { name: 'n"ame', schema: { z: [1, 'two', null, { y: true, x: 2.5 }], a: {} } } }),
    ];
    for (const identity of ['openai|m|auto', 'local|smol "q4".gguf|123|strings=4000']) {
      for (const r of cases) {
        const expected = createHash('sha256').update(keyMaterial(identity, r)).digest('hex');
        expect(responseKey(identity, r)).toBe(expected);
        // Twice: the second call takes the schema's text from the cache.
        expect(responseKey(identity, r)).toBe(expected);
      }
    }
  });

  it('names the model per stage; the local model by its file', () => {
    const config = configSchema.parse({ llm: { url: 'http://x/v1', model: 'big', stages: { check: { model: 'small' } } } });
    expect(clientIdentity(config, 'generate')).toBe('openai|big|auto');
    expect(clientIdentity(config, 'check')).toBe('openai|small|auto');
    const local = configSchema.parse({ llm: { backend: 'local', local: { modelPath: '/nowhere/Tiny-Q4.gguf' } } });
    expect(clientIdentity(local, 'check')).toBe('local|Tiny-Q4|-1|strings=600');
  });
});

describe('logRouter', () => {
  function counting(): LlmClient & { calls: number } {
    const c = {
      backend: 'test',
      model: 'm',
      calls: 0,
      complete(r: LlmRequest) {
        c.calls++;
        return Promise.resolve({ text: `answer to ${r.messages.at(-1)?.content ?? ''}`, model: 'm-served', usage: { prompt_tokens: 11, completion_tokens: 3 }, finishReason: 'stop' });
      },
      close: () => Promise.resolve(),
    };
    return c;
  }

  it('answers a repeat from the log, marked fromLog, with the original usage; probes always reach the server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-rlog-'));
    const store = LmdbResponseStore.open({ path: join(dir, 'log.mdb') });
    const inner = counting();
    const config = configSchema.parse({ llm: { url: 'http://x/v1', model: 'm' } });
    const router = logRouter({ forStage: () => inner, close: () => Promise.resolve() }, store, config, silent);
    const first = await router.forStage('check').complete(request());
    const second = await router.forStage('check').complete(request());
    expect(inner.calls).toBe(1);
    expect(first.fromLog).toBeUndefined();
    expect(second).toEqual({ ...first, fromLog: true });
    await router.forStage('check').complete(request({ probe: true }));
    await router.forStage('check').complete(request({ probe: true }));
    expect(inner.calls).toBe(3);
    expect(router.counts).toEqual({ hits: 1, misses: 1, writes: 1, storeErrors: 0 });
    expect(store.count()).toBe(1);
    await store.close();
    // Durable: a new process (here: a new open) finds it.
    const reopened = LmdbResponseStore.open({ path: join(dir, 'log.mdb') });
    const again = logRouter({ forStage: () => inner, close: () => Promise.resolve() }, reopened, config, silent);
    expect((await again.forStage('check').complete(request())).fromLog).toBe(true);
    expect(inner.calls).toBe(3);
    await reopened.close();
  });

  it('a store that fails never fails the request: the call is made and the failure counted', async () => {
    const broken: ResponseStore = {
      kind: 'broken',
      get: () => Promise.reject(new Error('disk gone')),
      put: (_k: string, _v: LoggedResponse) => Promise.reject(new Error('disk gone')),
      close: () => Promise.resolve(),
    };
    const inner = counting();
    const router = logRouter({ forStage: () => inner, close: () => Promise.resolve() }, broken, configSchema.parse({ llm: { url: 'http://x/v1' } }), silent);
    const c = await router.forStage('filter').complete(request());
    expect(c.text).toContain('answer to');
    expect(inner.calls).toBe(1);
    expect(router.counts.storeErrors).toBe(2);
  });
});

describe('the embedded pipeline over one response log', () => {
  let llm: StandInLlm;
  let storePath: string;
  beforeAll(async () => {
    llm = await startStandInLlm({ latencyMs: 2 });
    storePath = join(await mkdtemp(join(tmpdir(), 'wsrl-rlog-run-')), 'responses.mdb');
  });
  afterAll(async () => {
    await llm?.close();
  });

  function prose(topic: string): string {
    const base = `The ${topic} was studied in detail by ${topic} researchers who measured the ${topic} growth over many ${topic} seasons and recorded careful ${topic} notes about what they saw of the ${topic} in the field and in the ${topic} laboratory.`;
    return `${base} ${base} ${base}`;
  }

  /** One run on fresh module instances (so a mocked prompts module takes effect). */
  async function run(): Promise<{ calls: Record<LlmStage, number>; fromLog: Record<LlmStage, number>; qa: QaRecord[]; rejections: Rejection[] }> {
    const { runEmbedded } = await import('../../src/runtime/embedded.js');
    const { createLlmRouter } = await import('../../src/llm/router.js');
    const { logRouter: wrap } = await import('../../src/llm/response-log/logged-router.js');
    const { LmdbResponseStore: Store } = await import('../../src/llm/response-log/lmdb-store.js');
    const { observeRouter } = await import('../../src/runtime/metered.js');
    const { loadFewshotLibrary, Decontaminator } = await import('../../src/stages/index.js');
    const config = configSchema.parse({ concurrency: 4, llm: { url: llm.url, model: 'stand-in' } });
    const store = Store.open({ path: storePath });
    const calls = { filter: 0, identify: 0, generate: 0, check: 0 };
    const fromLog = { filter: 0, identify: 0, generate: 0, check: 0 };
    const router = createLlmRouter(config, { logger: silent });
    const routed = observeRouter(wrap(router, store, config, silent), {
      onSuccess: (stage, completion) => void (completion.fromLog === true ? fromLog[stage]++ : calls[stage]++),
    });
    const items: InputItem[] = ['glacier', 'orchard', 'harbour [[badjson]]', 'volcano [[personas:a guide,a pilot,a cook]]'].map((t, i) => {
      const text = prose(t);
      return { kind: 'document', doc: { id: `d${i}`, text, url: null, source: null, ingested_at: 0 }, line: null, bytes: text.length };
    });
    const qa: QaRecord[] = [];
    const rejections: Rejection[] = [];
    try {
      await runEmbedded({
        config,
        llm: routed,
        fewshot: await loadFewshotLibrary(),
        decontaminator: Decontaminator.empty(),
        items: (async function* () {
          yield* items;
        })(),
        sinks: { qa: (r) => void qa.push(r), rejection: (r) => void rejections.push(r) },
        logger: silent,
      });
    } finally {
      await store.close();
      await router.close();
    }
    const strip = <T extends { created_at: number }>(list: T[]): T[] => list.map((r) => ({ ...r, created_at: 0 })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return { calls, fromLog, qa: strip(qa), rejections: strip(rejections) };
  }

  it('a second identical run makes 0 LLM calls; changing only the check prompt makes only check calls', async () => {
    const first = await run();
    for (const stage of ['filter', 'identify', 'generate', 'check'] as const) expect(first.calls[stage], stage).toBeGreaterThan(0);
    expect(first.qa.length).toBeGreaterThan(0);
    // The malformed replies were logged and replayed too: the same re-asks, the same rejection.
    expect(first.rejections.map((r) => r.reason)).toContain('filter.invalid_output');

    const second = await run();
    expect(second.calls).toEqual({ filter: 0, identify: 0, generate: 0, check: 0 });
    expect(second.fromLog).toEqual(first.calls);
    expect(second.qa).toEqual(first.qa);
    expect(second.rejections).toEqual(first.rejections);

    vi.resetModules();
    vi.doMock('../../src/stages/prompts.js', async (importOriginal) => {
      const orig = await importOriginal<typeof import('../../src/stages/prompts.js')>();
      return {
        ...orig,
        PROMPT_VERSIONS: { ...orig.PROMPT_VERSIONS, check: 'check@2' },
        promptVersion: (stage: LlmStage, style?: 'full' | 'compact') => (stage === 'check' ? 'check@2' : orig.promptVersion(stage, style)),
        checkMessages: (...a: Parameters<typeof orig.checkMessages>) =>
          orig.checkMessages(...a).map((m, i) => (i === 0 ? { ...m, content: `${m.content}\nWhen in doubt, say the answer is not correct.` } : m)),
      };
    });
    try {
      const third = await run();
      expect({ ...third.calls, check: 0 }).toEqual({ filter: 0, identify: 0, generate: 0, check: 0 });
      expect(third.calls.check).toBe(first.calls.check);
      expect(third.fromLog).toEqual({ ...first.calls, check: 0 });
      expect(third.qa.map((q) => q.provenance.prompt_versions['check'])).toEqual(first.qa.map(() => 'check@2'));
      expect(third.qa.map((q) => q.question).sort()).toEqual(first.qa.map((q) => q.question).sort());
    } finally {
      vi.doUnmock('../../src/stages/prompts.js');
      vi.resetModules();
    }
  });
});
