import { describe, expect, it } from 'vitest';
import { WebscaleError } from '../../src/core/errors.js';
import { filterStage } from '../../src/stages/filter.js';
import { PROMPT_VERSIONS } from '../../src/stages/prompts.js';
import { PROSE, USAGE_PER_CALL, makeConfig, makeCtx, makeDoc, userText } from './helpers.js';

describe('filterStage', () => {
  it('passes a qualified document with its reasoning and trace', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply({ reasoning: 'Factual article about the Rhine.', qualified: true });
    const res = await filterStage(makeDoc(), ctx);
    expect(res.rejections).toEqual([]);
    expect(res.outputs).toHaveLength(1);
    const out = res.outputs[0];
    expect(out?.filter_reasoning).toBe('Factual article about the Rhine.');
    expect(out?.truncated_chars).toBe(0);
    expect(out?.trace).toEqual([
      { stage: 'filter', model: 'model-filter', prompt_version: PROMPT_VERSIONS.filter, ...USAGE_PER_CALL, calls: 1 },
    ]);
    const req = ctx.router.clients.filter.requests[0];
    expect(userText(req)).toContain(PROSE);
    expect(req?.messages[0]?.role).toBe('system');
    expect(req?.temperature).toBe(1);
    expect(req?.maxTokens).toBe(4096);
    expect(typeof req?.seed).toBe('number');
    expect(req?.signal).toBe(ctx.signal);
  });

  it('rejects an unqualified document with the model reasoning as detail', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply({ reasoning: 'Only a navigation menu.', qualified: false });
    const res = await filterStage(makeDoc(), ctx);
    expect(res.outputs).toEqual([]);
    expect(res.rejections[0]).toMatchObject({
      doc_id: 'doc-1',
      stage: 'filter',
      reason: 'filter.unqualified',
      detail: 'Only a navigation menu.',
      persona: null,
      line: null,
      usage: USAGE_PER_CALL,
    });
  });

  it('accepts "true"/"yes" strings but nothing vaguer (unlike the reference, which passed anything but "N")', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply({ reasoning: 'fine', qualified: 'yes' });
    expect((await filterStage(makeDoc(), ctx)).outputs).toHaveLength(1);

    const ctx2 = makeCtx({ config: makeConfig({ llm: { maxReasks: 0 } }) });
    ctx2.router.clients.filter.reply({ reasoning: 'hmm', qualified: 'maybe' });
    const res = await filterStage(makeDoc(), ctx2);
    expect(res.outputs).toEqual([]);
    expect(res.rejections[0]?.reason).toBe('filter.invalid_output');
  });

  it('re-asks on bad JSON and then rejects as filter.invalid_output with the parse error', async () => {
    const ctx = makeCtx({ config: makeConfig({ llm: { maxReasks: 2 } }) });
    ctx.router.clients.filter.reply('I think it is fine', 'Sure! qualified', 'no json here either');
    const res = await filterStage(makeDoc(), ctx);
    expect(ctx.router.clients.filter.requests).toHaveLength(3);
    // The re-ask shows the model its previous reply.
    const third = ctx.router.clients.filter.requests[2];
    expect(third?.messages.some((m) => m.role === 'assistant' && m.content === 'Sure! qualified')).toBe(true);
    expect(res.outputs).toEqual([]);
    const rej = res.rejections[0];
    expect(rej?.reason).toBe('filter.invalid_output');
    expect(rej?.detail).toContain('no json here either');
    expect(rej?.usage).toEqual({ prompt_tokens: 300, completion_tokens: 60 });
  });

  it('recovers when a re-ask succeeds', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply('oops', '```json\n{"reasoning": "ok", "qualified": true,}\n```');
    const res = await filterStage(makeDoc(), ctx);
    expect(res.outputs).toHaveLength(1);
    expect(res.outputs[0]?.trace[0]?.calls).toBe(2);
  });

  it('does not call the LLM for documents the pre-filter rejects', async () => {
    const ctx = makeCtx();
    const res = await filterStage(makeDoc('Home | About | Contact'), ctx);
    expect(res.rejections[0]?.reason).toBe('filter.too_short');
    expect(ctx.router.totalRequests).toBe(0);
  });

  it('propagates transport errors to the runner', async () => {
    const ctx = makeCtx();
    ctx.router.clients.filter.reply(new WebscaleError('LLM_UNREACHABLE', 'connection refused', { retryable: true }));
    await expect(filterStage(makeDoc(), ctx)).rejects.toMatchObject({ code: 'LLM_UNREACHABLE' });
  });

  it('uses per-stage temperature and token overrides', async () => {
    const ctx = makeCtx({ config: makeConfig({ llm: { temperature: 0.7, stages: { filter: { temperature: 0, maxTokens: 256 } } } }) });
    ctx.router.clients.filter.reply({ reasoning: 'ok', qualified: true });
    await filterStage(makeDoc(), ctx);
    expect(ctx.router.clients.filter.requests[0]).toMatchObject({ temperature: 0, maxTokens: 256 });
  });

  it('cuts the document in the prompt to promptDocumentChars and records the cut', async () => {
    const ctx = makeCtx({ config: makeConfig({ pipeline: { promptDocumentChars: 200 } }) });
    ctx.router.clients.filter.reply({ reasoning: 'ok', qualified: true });
    const res = await filterStage(makeDoc(), ctx);
    const text = userText(ctx.router.clients.filter.requests[0]);
    expect(text).not.toContain('Congress of Vienna');
    expect(text).toContain('omitted for length');
    const out = res.outputs[0];
    expect(out?.truncated_chars).toBeGreaterThan(PROSE.length - 201);
    // The record keeps the whole document; only the prompt is cut.
    expect(out?.doc.text).toBe(PROSE);
  });

  it('sends the same seed for the same document and config seed', async () => {
    const seeds: Array<number | undefined> = [];
    for (const seed of [0, 0, 1]) {
      const ctx = makeCtx({ config: makeConfig({ pipeline: { seed } }) });
      ctx.router.clients.filter.reply({ reasoning: 'ok', qualified: true });
      await filterStage(makeDoc(), ctx);
      seeds.push(ctx.router.clients.filter.requests[0]?.seed);
    }
    expect(seeds[0]).toBe(seeds[1]);
    expect(seeds[0]).not.toBe(seeds[2]);
  });
});
