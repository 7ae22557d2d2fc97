import { describe, expect, it } from 'vitest';
import { DOMAINS, type FilteredDocument } from '../../src/core/records.js';
import { normaliseDomain } from '../../src/stages/domains.js';
import { cleanPersonas, identifyStage } from '../../src/stages/identify.js';
import { IDENTIFY_SYSTEM } from '../../src/stages/prompts.js';
import { USAGE_PER_CALL, makeConfig, makeCtx, makeDoc } from './helpers.js';

function filtered(): FilteredDocument {
  return {
    doc: makeDoc(),
    filter_reasoning: 'ok',
    truncated_chars: 7,
    trace: [{ stage: 'filter', model: 'model-filter', prompt_version: 'filter@1', ...USAGE_PER_CALL, calls: 1 }],
  };
}

describe('domain normalisation', () => {
  it.each([
    ['Technology & Engineering', 'Technology & Engineering'],
    ['technology and engineering', 'Technology & Engineering'],
    ['  TECHNOLOGY&ENGINEERING ', 'Technology & Engineering'],
    ['medicine and health', 'Medicine & Health'],
    ['natural_science', 'Natural Science'],
    ['"Math".', 'Math'],
    ['travel  &  lifestyle', 'Travel & Lifestyle'],
    ['other', 'Other'],
  ])('%j -> %s', (raw, expected) => {
    expect(normaliseDomain(raw)).toBe(expected);
  });

  it.each(['Science', 'Mathematics', 'Sports', '', 'Technology'])('%j is unknown', (raw) => {
    expect(normaliseDomain(raw)).toBeNull();
  });

  it('maps every domain onto itself', () => {
    for (const d of DOMAINS) expect(normaliseDomain(d)).toBe(d);
  });
});

describe('persona clean-up', () => {
  it('trims, strips markers and quotes, drops empties and case-insensitive duplicates, caps', () => {
    expect(
      cleanPersonas(['  river cruise traveller ', '', '1. "Geography teacher"', 'River Cruise Traveller', '- logistics analyst', 'historian'], 3),
    ).toEqual(['river cruise traveller', 'Geography teacher', 'logistics analyst']);
  });
  it('respects a smaller cap', () => {
    expect(cleanPersonas(['a b', 'c d', 'e f'], 1)).toEqual(['a b']);
  });
});

describe('identifyStage', () => {
  it('lists the 10 domains exactly in its prompt', () => {
    for (const d of DOMAINS) expect(IDENTIFY_SYSTEM).toContain(`- ${d}\n`);
  });

  it('emits one task per persona with the normalised domain', async () => {
    const ctx = makeCtx();
    ctx.router.clients.identify.reply({
      reasoning: 'Geography of a river.',
      domain: 'social science',
      personas: ['geography teacher', ' barge captain ', 'Geography Teacher', 'European historian', 'tourist'],
    });
    const res = await identifyStage(filtered(), ctx);
    expect(res.rejections).toEqual([]);
    expect(res.outputs.map((t) => [t.domain, t.persona, t.persona_index, t.persona_count])).toEqual([
      ['Social Science', 'geography teacher', 0, 3],
      ['Social Science', 'barge captain', 1, 3],
      ['Social Science', 'European historian', 2, 3],
    ]);
    const task = res.outputs[0];
    expect(task?.truncated_chars).toBe(7);
    expect(task?.trace.map((t) => t.stage)).toEqual(['filter', 'identify']);
  });

  it('honours pipeline.maxPersonas', async () => {
    const ctx = makeCtx({ config: makeConfig({ pipeline: { maxPersonas: 2 } }) });
    ctx.router.clients.identify.reply({ reasoning: '', domain: 'Other', personas: ['a', 'b', 'c'] });
    const res = await identifyStage(filtered(), ctx);
    expect(res.outputs.map((t) => t.persona)).toEqual(['a', 'b']);
  });

  it('accepts personas as one comma-separated string', async () => {
    const ctx = makeCtx();
    ctx.router.clients.identify.reply({ reasoning: '', domain: 'Travel and Lifestyle', personas: 'hiker, boat tourist' });
    const res = await identifyStage(filtered(), ctx);
    expect(res.outputs.map((t) => [t.domain, t.persona])).toEqual([
      ['Travel & Lifestyle', 'hiker'],
      ['Travel & Lifestyle', 'boat tourist'],
    ]);
  });

  it('rejects an unknown domain with the returned name in detail', async () => {
    const ctx = makeCtx();
    ctx.router.clients.identify.reply({ reasoning: '', domain: 'Geography', personas: ['teacher'] });
    const res = await identifyStage(filtered(), ctx);
    expect(res.outputs).toEqual([]);
    expect(res.rejections[0]).toMatchObject({ stage: 'identify', reason: 'identify.unknown_domain', persona: null });
    expect(res.rejections[0]?.detail).toContain('"Geography"');
    // The personas the model proposed travel with it; no domain was decided.
    expect(res.rejections[0]?.personas).toEqual(['teacher']);
    expect(res.rejections[0]?.domain).toBeUndefined();
    // Usage counts the filter call and the identify call.
    expect(res.rejections[0]?.usage).toEqual({ prompt_tokens: 200, completion_tokens: 40 });
  });

  it('rejects when no persona survives clean-up', async () => {
    const ctx = makeCtx();
    ctx.router.clients.identify.reply({ reasoning: '', domain: 'Math', personas: ['  ', '""', '-'] });
    const res = await identifyStage(filtered(), ctx);
    expect(res.rejections[0]?.reason).toBe('identify.no_personas');
    expect(res.rejections[0]?.domain).toBe('Math');
  });

  it('rejects invalid output after re-asks', async () => {
    const ctx = makeCtx({ config: makeConfig({ llm: { maxReasks: 1 } }) });
    ctx.router.clients.identify.reply({ reasoning: '', domain: 'Math' }, { domain: 'Math', personas: 5 });
    const res = await identifyStage(filtered(), ctx);
    expect(ctx.router.clients.identify.requests).toHaveLength(2);
    expect(res.rejections[0]?.reason).toBe('identify.invalid_output');
    expect(res.rejections[0]?.detail).toMatch(/personas/);
  });
});
