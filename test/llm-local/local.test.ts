/**
 * The local llama.cpp backend against the real default model (SmolLM2 135M from PyPI): one
 * grammar-constrained structured call per pipeline stage, token accounting, seeded
 * reproducibility, no state carried between requests, aborts (running and queued), the context
 * limit and the closed-client error. Prompts and maxTokens are kept small: CI has 2 cores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWebscaleError, type WebscaleError } from '../../src/core/errors.js';
import type { LlmStage } from '../../src/core/records.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { createLocalClient } from '../../src/llm/local.js';
import { localModelName } from '../../src/llm/local-model-path.js';
import { structuredCall } from '../../src/llm/structured.js';
import type { ChatMessage, LlmClient, LlmRequest } from '../../src/llm/types.js';
import { ensureModel, localConfig } from './helpers.js';

const DOC =
  'The Great Barrier Reef, off the coast of Queensland, Australia, is the largest coral reef system in the world. ' +
  'It is made of over 2,900 individual reefs and 900 islands stretching over 2,300 kilometres. ' +
  'It became a World Heritage Site in 1981. Rising sea temperatures caused mass coral bleaching in 1998, 2002, 2016 and 2017.';

const PROMPTS: Record<LlmStage, ChatMessage[]> = {
  filter: [
    { role: 'system', content: 'You decide whether a document is informative enough to write an exam question from. Reply with one JSON object.' },
    { role: 'user', content: `Document:\n${DOC}\n\nGive "reasoning" (one sentence) and "qualified" (true or false).` },
  ],
  identify: [
    { role: 'system', content: 'You classify documents by domain and name who would ask about them. Reply with one JSON object.' },
    { role: 'user', content: `Document:\n${DOC}\n\nGive "reasoning" (one sentence), "domain" and "personas" (up to 3 short job titles).` },
  ],
  generate: [
    { role: 'system', content: 'You write one self-contained question whose answer is a short fact from the document. Reply with one JSON object.' },
    { role: 'user', content: `Document:\n${DOC}\n\nPersona: a geography teacher.\nGive "reasoning" (one sentence), "question" and "answer" (a few words).` },
  ],
  check: [
    { role: 'system', content: 'You check a question and answer against their source document. Reply with one JSON object.' },
    {
      role: 'user',
      content:
        `Document:\n${DOC}\n\nQuestion: In which year did the Great Barrier Reef become a World Heritage Site?\nAnswer: 1981\n\n` +
        'Give "reasoning" (one sentence), "has_context", "answer_correct" and "info_leakage" (true or false each).',
    },
  ],
};

function request(stage: LlmStage, extra: Partial<LlmRequest> = {}): LlmRequest {
  return { stage, messages: PROMPTS[stage], jsonSchema: OUTPUT_JSON_SCHEMAS[stage], temperature: 0.7, maxTokens: 160, ...extra };
}

async function rejection(promise: Promise<unknown>): Promise<WebscaleError> {
  try {
    await promise;
  } catch (err) {
    if (isWebscaleError(err)) return err;
    throw new Error(`expected a WebscaleError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected the call to fail');
}

describe('local llama.cpp client on the default model', () => {
  let client: LlmClient & { readonly contextSize: number };
  let modelName = '';

  beforeAll(async () => {
    const modelPath = ensureModel();
    modelName = localModelName(modelPath);
    // A 160-character cap per free-text field keeps every reply well under maxTokens.
    client = await createLocalClient(localConfig(modelPath, { maxStringChars: 160 }));
  }, 600_000);

  afterAll(async () => {
    await client?.close();
  });

  it('reports the GGUF base name as its model and the configured context size', () => {
    expect(client.backend).toBe('local');
    expect(client.model).toBe(modelName);
    expect(modelName).not.toMatch(/[/\\]|\.gguf$/);
    expect(client.contextSize).toBeGreaterThanOrEqual(2048);
  });

  for (const stage of ['filter', 'identify', 'generate', 'check'] as const) {
    it(`returns JSON that validates against the ${stage} contract`, async () => {
      const result = await structuredCall(client, {
        stage,
        promptVersion: 'test',
        messages: PROMPTS[stage],
        temperature: 0.5,
        maxTokens: 200,
        maxReasks: 0,
        seed: 7,
      });
      if (!result.ok) throw new Error(`${stage}: ${result.error}\n${result.raw}`);
      expect(result.trace.calls).toBe(1);
      expect(result.trace.model).toBe(modelName);
      expect(result.trace.prompt_tokens).toBeGreaterThan(50);
      expect(result.trace.completion_tokens).toBeGreaterThan(5);
      // The grammar bounds what the model may write: the identify domain comes from the enum.
      if (stage === 'identify') {
        const value = result.value as { domain: string; personas: string[] };
        const schema = OUTPUT_JSON_SCHEMAS.identify.schema as { properties: { domain: { enum: string[] } } };
        expect(schema.properties.domain.enum).toContain(value.domain);
        expect(value.personas.length).toBeGreaterThanOrEqual(1);
        expect(value.personas.length).toBeLessThanOrEqual(3);
      }
    });
  }

  it('gives the same text for the same seed and prompt at temperature > 0, with no state carried over', async () => {
    const first = await client.complete(request('generate', { seed: 42, temperature: 0.9 }));
    // A different request in between must not influence the next one.
    await client.complete(request('filter', { seed: 3, temperature: 0.9 }));
    const again = await client.complete(request('generate', { seed: 42, temperature: 0.9 }));
    expect(again.text).toBe(first.text);
    expect(again.usage).toEqual(first.usage);
    // And the seed matters: some other seed samples a different reply.
    const others = [];
    for (const seed of [1, 2]) others.push((await client.complete(request('generate', { seed, temperature: 0.9 }))).text);
    expect(others.some((t) => t !== first.text)).toBe(true);
  });

  it('counts prompt and completion tokens and reports finishReason length at maxTokens', async () => {
    const full = await client.complete(request('check', { seed: 1 }));
    expect(full.finishReason).toBe('stop');
    expect(full.usage.prompt_tokens).toBeGreaterThan(50);
    expect(full.usage.completion_tokens).toBeGreaterThan(0);
    expect(full.usage.completion_tokens).toBeLessThanOrEqual(160);

    const cut = await client.complete(request('check', { seed: 1, maxTokens: 4 }));
    expect(cut.finishReason).toBe('length');
    expect(cut.usage.completion_tokens).toBe(4);
    expect(cut.usage.prompt_tokens).toBe(full.usage.prompt_tokens);
  });

  it('aborts a running call with LLM_ABORTED', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    // The grammar demands a 1000-character story: this runs for many seconds unless the abort works.
    const err = await rejection(
      client.complete({
        stage: 'generate',
        messages: [{ role: 'user', content: 'Write a very long story about a lighthouse keeper.' }],
        jsonSchema: { name: 'story', schema: { type: 'object', properties: { story: { type: 'string', minLength: 1000, maxLength: 1500 } }, required: ['story'] } },
        temperature: 0.8,
        maxTokens: 1500,
        signal: controller.signal,
      }),
    );
    expect(err.code).toBe('LLM_ABORTED');
    expect(Date.now() - started).toBeLessThan(10_000);
    // The client stays usable after an abort.
    const next = await client.complete(request('filter', { seed: 5 }));
    expect(next.usage.completion_tokens).toBeGreaterThan(0);
  });

  it('serialises calls on one sequence and aborts a queued call without touching the running one', async () => {
    const controller = new AbortController();
    const running = client.complete(request('filter', { seed: 11 }));
    const queued = client.complete(request('filter', { seed: 12, signal: controller.signal }));
    controller.abort();
    expect((await rejection(queued)).code).toBe('LLM_ABORTED');
    expect((await running).finishReason).toBe('stop');

    const pre = new AbortController();
    pre.abort();
    expect((await rejection(client.complete(request('filter', { signal: pre.signal })))).code).toBe('LLM_ABORTED');
  });

  it('fails a prompt longer than the context with a non-retryable LLM_CONTEXT_EXCEEDED naming the limit', async () => {
    const long = `${DOC} `.repeat(60);
    const err = await rejection(client.complete({ ...request('filter'), messages: [{ role: 'user', content: long }] }));
    expect(err.code).toBe('LLM_CONTEXT_EXCEEDED');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/promptDocumentChars/);
    expect(err.context['promptTokens']).toBeGreaterThan(client.contextSize);
    expect(err.context['contextLimit']).toBe(client.contextSize);
  });

  it('reports the context it runs with and counts prompts exactly as it evaluates them', async () => {
    const window = await client.contextWindow?.();
    expect(window?.tokens).toBe(client.contextSize);
    const counter = window?.counter;
    expect(counter).toBeDefined();
    const completion = await client.complete(request('filter', { maxTokens: 8 }));
    expect(counter?.promptTokens(PROMPTS.filter)).toBe(completion.usage.prompt_tokens);
    // A prefix of at most N tokens, by the model's own tokenizer.
    const n = counter?.prefixChars(DOC, 10) ?? 0;
    expect(n).toBeGreaterThan(10);
    expect(n).toBeLessThan(DOC.length);
    expect(counter?.prefixChars(DOC, 10_000)).toBe(DOC.length);
  });
});

describe('local client lifecycle', () => {
  it('runs with no more context than the model was trained on (GGUF metadata), whatever is configured', async () => {
    const client = await createLocalClient(localConfig(ensureModel(), { contextSize: 1_000_000 }));
    try {
      const window = await client.contextWindow?.();
      // SmolLM2-135M: llama.context_length = 8192.
      expect(window?.tokens).toBe(8192);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('refuses calls after close', async () => {
    const client = await createLocalClient(localConfig(ensureModel()));
    await client.close();
    const err = await rejection(client.complete(request('filter')));
    expect(err.code).toBe('LLM_CLIENT');
  }, 120_000);

  it('gives CONFIG_INVALID with a model:fetch hint for a missing model file', async () => {
    const err = await rejection(createLocalClient(localConfig('/nonexistent/dir/missing-model.gguf')));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('npm run model:fetch');
    expect(err.message).toContain('--model-path');
    expect(err.message).toContain('/nonexistent/dir/missing-model.gguf');
    expect(err.message.split('\n')).toHaveLength(1);
  });
});
