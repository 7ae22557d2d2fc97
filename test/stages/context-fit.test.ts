import { describe, expect, it } from 'vitest';
import { isWebscaleError, WebscaleError } from '../../src/core/errors.js';
import type { GenerationTask, QaCandidate } from '../../src/core/records.js';
import { estimateTokens, estimatingCounter, type ContextWindow } from '../../src/llm/context.js';
import { classifyHttpError } from '../../src/llm/retry.js';
import type { ChatMessage } from '../../src/llm/types.js';
import { checkStage } from '../../src/stages/check.js';
import { completionReserve, fitPrompt, refitAfterOverflow, type DocumentPrompt } from '../../src/stages/context-fit.js';
import { filterStage } from '../../src/stages/filter.js';
import { generateStage } from '../../src/stages/generate.js';
import { identifyStage } from '../../src/stages/identify.js';
import { contextErrorBody } from '../support/stand-in-llm.js';
import { makeConfig, makeCtx, makeDoc, ScriptedClient, ScriptedRouter, USAGE_PER_CALL, userText } from './helpers.js';

const counter = estimatingCounter(3);

/** A long document: numbered sentences, so where a cut fell is easy to see. */
function longText(sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) out.push(`Sentence ${i} tells how the river carried barges of grain past the old harbour walls.`);
  return out.join(' ');
}

const SYSTEM = 'You answer questions about the document. '.repeat(10);

function prompt(text: string, cut = false): DocumentPrompt {
  return {
    text,
    cut,
    build: (t, c) => [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `<document>\n${t}${c ? '\n[cut]' : ''}\n</document>\n\nQuestion please.` },
    ],
  };
}

function documentOf(messages: readonly ChatMessage[]): string {
  const user = messages.find((m) => m.role === 'user')?.content ?? '';
  return /<document>\n([\s\S]*?)(?:\n\[cut\])?\n<\/document>/.exec(user)?.[1] ?? '';
}

describe('fitPrompt', () => {
  it('leaves a prompt that fits alone, and caps the completion to what is left', () => {
    const fitted = fitPrompt(prompt('A short document.'), 4096, 8000, counter);
    expect(fitted.cutChars).toBe(0);
    expect(fitted.text).toBe('A short document.');
    const tokens = counter.promptTokens(fitted.messages);
    expect(fitted.maxTokens).toBe(4096 - tokens);
  });

  it('cuts the document, and only the document, to the longest prefix that leaves the reply its tokens', () => {
    const text = longText(2000); // ~170k characters, ~57k estimated tokens
    const window = 4096;
    const maxTokens = 1024;
    const fitted = fitPrompt(prompt(text), window, maxTokens, counter);
    expect(fitted.cutChars).toBeGreaterThan(0);
    expect(fitted.text.length + fitted.cutChars).toBe(text.length);
    expect(text.startsWith(fitted.text)).toBe(true);
    expect(documentOf(fitted.messages)).toBe(fitted.text);
    expect(fitted.messages[0]?.content).toBe(SYSTEM);
    expect(fitted.messages[1]?.content).toContain('[cut]');
    const tokens = counter.promptTokens(fitted.messages);
    expect(tokens).toBeLessThanOrEqual(window - maxTokens);
    expect(fitted.maxTokens).toBe(maxTokens);
    // Near the longest possible: at most a word boundary (10% of the document budget) short.
    const overhead = counter.promptTokens(prompt('', true).build('', true));
    expect(estimateTokens(fitted.text)).toBeGreaterThan(0.88 * (window - maxTokens - overhead));
    // The cut lands between words.
    expect(text[fitted.text.length]).toMatch(/\s/);
  });

  it('keeps half the window for the prompt when maxTokens is as large as the context', () => {
    expect(completionReserve(4096, 4096)).toBe(2048);
    expect(completionReserve(4096, 500)).toBe(500);
    const fitted = fitPrompt(prompt(longText(500)), 4096, 4096, counter);
    const tokens = counter.promptTokens(fitted.messages);
    expect(tokens).toBeLessThanOrEqual(2048);
    expect(tokens).toBeGreaterThan(1800);
    expect(fitted.maxTokens).toBe(4096 - tokens);
  });

  it('refuses with LLM_CONTEXT_EXCEEDED when the prompt without its document cannot fit', () => {
    let error: unknown;
    try {
      fitPrompt(prompt(longText(10)), 200, 100, counter);
    } catch (err) {
      error = err;
    }
    expect(isWebscaleError(error, 'LLM_CONTEXT_EXCEEDED')).toBe(true);
    expect((error as WebscaleError).context['contextLimit']).toBe(200);
  });
});

describe('refitAfterOverflow', () => {
  it('cuts to the limit the server stated, calibrated on the prompt tokens it counted', () => {
    const doc = prompt(longText(300));
    // We sent it whole; the server counted twice the tokens we estimate (an unusual tokenizer).
    const sent = doc.build(doc.text, false);
    const estimated = counter.promptTokens(sent);
    const current = { messages: sent, text: doc.text, cutChars: 0, maxTokens: 512 };
    const next = refitAfterOverflow(doc, current, sent, { limit: 2048, promptTokens: 2 * estimated, completionTokens: 512 }, undefined, 512, counter);
    expect(next).toBeDefined();
    // What the server would count now: twice our estimate; it must fit 2048 with the reply.
    expect(2 * counter.promptTokens(next?.messages ?? [])).toBeLessThanOrEqual(2048 - 512);
    expect(next?.cutChars).toBe(doc.text.length - (next?.text.length ?? 0));
    expect(doc.text.startsWith(next?.text ?? 'x')).toBe(true);
  });

  it('halves the document when the server states no limit', () => {
    const doc = prompt(longText(100));
    const sent = doc.build(doc.text, false);
    const current = { messages: sent, text: doc.text, cutChars: 0, maxTokens: 512 };
    const next = refitAfterOverflow(doc, current, sent, {}, undefined, 512, counter);
    expect(next?.text.length).toBeLessThanOrEqual(doc.text.length / 2);
    expect(next?.text.length).toBeGreaterThan(doc.text.length * 0.45);
    expect(next?.cutChars).toBe(doc.text.length - (next?.text.length ?? 0));
    expect(next?.maxTokens).toBe(512);
  });

  it('adds to a cut made before the call, and gives up when nothing is left', () => {
    const doc = prompt(longText(100));
    const first = fitPrompt(doc, 1024, 256, counter);
    const next = refitAfterOverflow(doc, first, first.messages, {}, 1024, 256, counter);
    expect(next?.cutChars).toBe(doc.text.length - (next?.text.length ?? 0));
    expect(next?.cutChars).toBeGreaterThan(first.cutChars);
    const empty = { messages: doc.build('', true), text: '', cutChars: doc.text.length, maxTokens: 256 };
    expect(refitAfterOverflow(doc, empty, empty.messages, {}, undefined, 256, counter)).toBeUndefined();
  });
});

/** A scripted client that knows its context window, as the local one does. */
class WindowedClient extends ScriptedClient {
  constructor(
    model: string,
    private readonly window: ContextWindow | undefined,
  ) {
    super(model);
  }

  contextWindow(): Promise<ContextWindow | undefined> {
    return Promise.resolve(this.window);
  }
}

function routerWith(stage: 'filter' | 'identify' | 'generate' | 'check', client: ScriptedClient): ScriptedRouter {
  const router = new ScriptedRouter();
  router.clients[stage] = client;
  return router;
}

/** The error the OpenAI client throws for vLLM's 400 (same path as over HTTP). */
function vllmOverflow(limit: number, promptTokens: number, maxTokens: number): WebscaleError {
  const refusal = contextErrorBody('vllm', limit, promptTokens, maxTokens);
  return classifyHttpError({ status: refusal.status, body: JSON.stringify(refusal.body), headers: {}, url: 'http://vllm:8000/v1/chat/completions' });
}

const IDENTIFY_REPLY = { reasoning: 'r', domain: 'Other', personas: ['barge captain'] };

describe('stages fit the document to the model context', () => {
  const text = longText(1500); // 10x a 4096-token context, and then some

  it('identify: cuts up front to a known window, records the cut and passes the cut text on', async () => {
    const client = new WindowedClient('m', { tokens: 4096 });
    const ctx = makeCtx({ router: routerWith('identify', client), config: makeConfig({ llm: { maxTokens: 1024 } }) });
    client.reply(IDENTIFY_REPLY);
    const res = await identifyStage({ doc: makeDoc(text), filter_reasoning: 'ok', truncated_chars: 7, trace: [] }, ctx);
    expect(client.requests).toHaveLength(1);
    const req = client.requests[0];
    expect(counter.promptTokens(req?.messages ?? []) + (req?.maxTokens ?? 0)).toBeLessThanOrEqual(4096);
    const out = res.outputs[0];
    expect(out).toBeDefined();
    expect(text.startsWith(out?.doc.text ?? 'x')).toBe(true);
    expect(out?.doc.text.length).toBeLessThan(4096 * 3);
    expect(out?.truncated_chars).toBe(7 + text.length - (out?.doc.text.length ?? 0));
    expect(userText(req)).toContain(out?.doc.text);
    expect(userText(req)).toContain('omitted for length');
  });

  it('filter: an unknown window sends the document whole, then fits the limit a 400 states, once', async () => {
    const client = new WindowedClient('m', undefined);
    const ctx = makeCtx({ router: routerWith('filter', client), config: makeConfig({ llm: { maxTokens: 512 } }) });
    client.reply(vllmOverflow(4096, Math.ceil(text.length / 4), 512), { reasoning: 'fine', qualified: true });
    const res = await filterStage(makeDoc(text), ctx);
    expect(client.requests).toHaveLength(2);
    expect(userText(client.requests[0])).toContain(text);
    const second = client.requests[1];
    expect(counter.promptTokens(second?.messages ?? []) + (second?.maxTokens ?? 0)).toBeLessThanOrEqual(4096);
    const out = res.outputs[0];
    expect(out?.truncated_chars).toBeGreaterThan(text.length - 4096 * 4);
    expect(out?.truncated_chars).toBe(text.length - (out?.doc.text.length ?? 0));
    // The refused request cost nothing and is not a call in the trace.
    expect(out?.trace[0]?.calls).toBe(1);
    expect(out?.trace[0]?.prompt_tokens).toBe(USAGE_PER_CALL.prompt_tokens);

    // The limit is remembered for this client: the next long document is cut before the call.
    client.reply({ reasoning: 'fine', qualified: true });
    const again = await filterStage(makeDoc(text, 'doc-2'), ctx);
    expect(client.requests).toHaveLength(3);
    expect(again.outputs[0]?.truncated_chars).toBeGreaterThan(0);
  });

  it('gives up after one retry: a second overflow is thrown as LLM_CONTEXT_EXCEEDED', async () => {
    const client = new WindowedClient('m', undefined);
    const ctx = makeCtx({ router: routerWith('filter', client) });
    client.reply(vllmOverflow(4096, 50_000, 4096), vllmOverflow(4096, 5_000, 2048), { reasoning: 'never', qualified: true });
    await expect(filterStage(makeDoc(text), ctx)).rejects.toMatchObject({ code: 'LLM_CONTEXT_EXCEEDED' });
    expect(client.requests).toHaveLength(2);
  });

  it('halves the document when the 400 states no limit', async () => {
    const client = new WindowedClient('m', undefined);
    const ctx = makeCtx({ router: routerWith('filter', client) });
    const bare = new WebscaleError('LLM_CONTEXT_EXCEEDED', 'LLM server answered 400 (context length exceeded)', { context: { status: 400 } });
    client.reply(bare, { reasoning: 'fine', qualified: true });
    const res = await filterStage(makeDoc(text), ctx);
    expect(client.requests).toHaveLength(2);
    const kept = res.outputs[0]?.doc.text ?? '';
    expect(kept.length).toBeLessThanOrEqual(text.length / 2);
    expect(kept.length).toBeGreaterThan(text.length * 0.45);
    expect(res.outputs[0]?.truncated_chars).toBe(text.length - kept.length);
  });

  it('generate and check: a pair drawn from the cut text, and a record whose truncated_chars counts every cut', async () => {
    const genClient = new WindowedClient('gen', { tokens: 4096 });
    const checkClient = new WindowedClient('chk', { tokens: 2048 });
    const router = new ScriptedRouter();
    router.clients.generate = genClient;
    router.clients.check = checkClient;
    const ctx = makeCtx({ router, config: makeConfig({ llm: { maxTokens: 1024 }, pipeline: { includeSourceText: true } }) });
    const task: GenerationTask = { doc: makeDoc(text), domain: 'Other', persona: 'barge captain', persona_index: 0, persona_count: 1, truncated_chars: 0, trace: [] };
    genClient.reply({ reasoning: 'r', question: 'Which goods did the barges carry past the harbour walls?', answer: 'grain' });
    const gen = await generateStage(task, ctx);
    const candidate = gen.outputs[0] as QaCandidate;
    expect(candidate.task.truncated_chars).toBe(text.length - candidate.task.doc.text.length);
    expect(candidate.task.doc.text.length).toBeLessThan(4096 * 3);

    checkClient.reply({ reasoning: 'ok', has_context: true, answer_correct: true, info_leakage: false });
    const checked = await checkStage(candidate, ctx);
    const record = checked.outputs[0];
    expect(record).toBeDefined();
    // The checker's window is half the generator's: it saw less, and the record says so.
    const checkDoc = /<document>\n([\s\S]*?)\n\[\.\.\. the rest/.exec(userText(checkClient.requests[0]))?.[1] ?? '';
    expect(checkDoc.length).toBeGreaterThan(0);
    expect(checkDoc.length).toBeLessThan(candidate.task.doc.text.length);
    expect(record?.provenance.truncated_chars).toBe(text.length - checkDoc.length);
    expect(record?.source_text).toBe(candidate.task.doc.text);
  });
});
