/**
 * Chinese, Japanese, Thai, Arabic and Hindi are judged like English: long documents pass the
 * pre-filter and the LLM filter sees them, short ones are too short, their questions have the
 * shape of a question, and the answer written into the question is caught as leakage.
 */
import { describe, expect, it } from 'vitest';
import type { QaCandidate } from '../../src/core/records.js';
import { answerInQuestion, checkStage, leakTokens, notAQuestion } from '../../src/stages/check.js';
import { filterStage } from '../../src/stages/filter.js';
import { prefilter } from '../../src/stages/prefilter.js';
import { LONG_DOCS, QUESTIONS, SHORT_DOCS } from '../text/multilingual.js';
import { makeConfig, makeCtx, makeDoc, USAGE_PER_CALL } from './helpers.js';

const cfg = makeConfig().pipeline;

describe('pre-filter in scripts without spaces, right-to-left and Indic scripts', () => {
  it.each(Object.entries(LONG_DOCS))('%s: a few paragraphs pass every pre-filter rule', (lang, text) => {
    const r = prefilter({ ...makeDoc(text), language: lang }, cfg);
    expect(r.ok ? 'ok' : `${r.rejection.reason}: ${r.rejection.detail}`).toBe('ok');
  });

  it.each(Object.entries(SHORT_DOCS))('%s: one sentence is filter.too_short, counted in words', (_lang, text) => {
    const r = prefilter(makeDoc(text), cfg);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.rejection.reason).toBe('filter.too_short');
    expect(r.rejection.detail).toMatch(/^\d+ words, minimum 50$/);
  });

  it('the filter stage tags each document with its language and sends it to the LLM', async () => {
    for (const [lang, text] of Object.entries(LONG_DOCS)) {
      const ctx = makeCtx();
      ctx.router.clients.filter.reply({ reasoning: 'informative', qualified: true });
      const res = await filterStage(makeDoc(text, `doc-${lang}`), ctx);
      expect(res.rejections).toEqual([]);
      expect(res.outputs[0]?.doc.language).toBe(lang);
      expect(res.language).toBe(lang);
      expect(ctx.router.clients.filter.requests).toHaveLength(1);
    }
  });
});

function candidate(question: string, answer: string, language: string): QaCandidate {
  return {
    task: {
      doc: { ...makeDoc(LONG_DOCS.zh), language },
      domain: 'Travel & Lifestyle',
      persona: 'traveller',
      persona_index: 0,
      persona_count: 1,
      truncated_chars: 0,
      trace: [{ stage: 'filter', model: 'model-filter', prompt_version: 'filter@1', ...USAGE_PER_CALL, calls: 1 }],
    },
    question,
    answer,
    generate_reasoning: 'r',
    fewshot_ids: [],
    trace: [{ stage: 'generate', model: 'model-generate', prompt_version: 'generate@1', ...USAGE_PER_CALL, calls: 1 }],
  };
}

describe('question shape and leakage in every script', () => {
  it.each(Object.entries(QUESTIONS))('%s: the question has the shape of a question', (_lang, { question }) => {
    expect(notAQuestion(question)).toBeNull();
  });

  it('still turns away statements and stubs in these scripts', () => {
    expect(notAQuestion('答案是东海')).toMatch(/word\(s\)|no question mark/);
    expect(notAQuestion('长江在上海附近注入东海。')).toBe('no question mark and no question-like opening word');
    expect(notAQuestion('东海？')).toMatch(/^1 word\(s\)/);
    expect(notAQuestion('يلتقي النيل الأبيض بالنيل الأزرق عند الخرطوم.')).toBe('no question mark and no question-like opening word');
  });

  it.each(Object.entries(QUESTIONS))('%s: a question and its answer go through the check stage to a record', async (lang, { question, answer }) => {
    const ctx = makeCtx();
    ctx.router.clients.check.reply({ reasoning: 'ok', has_context: true, answer_correct: true, info_leakage: false });
    const res = await checkStage(candidate(question, answer, lang), ctx);
    expect(res.rejections.map((r) => `${r.reason}: ${r.detail}`)).toEqual([]);
    expect(res.outputs[0]?.provenance.language).toBe(lang);
  });

  it('catches an answer written into a Chinese, Japanese or Thai question', () => {
    expect(leakTokens('长江在哪里注入东海？')).toContain('东海');
    expect(answerInQuestion('长江在上海附近注入东海，这片海叫什么？', '东海')).toBe(true);
    expect(answerInQuestion('北京大学位于哪个城市的海淀区？', '北京大学')).toBe(true);
    expect(answerInQuestion('富士山は1707年に噴火しましたが、それは西暦何年ですか？', '1707年')).toBe(true);
    expect(answerInQuestion('富士山が最後に噴火したのは西暦何年ですか？', '1707年')).toBe(false);
    expect(answerInQuestion('แม่น้ำปิงและน่านรวมกันที่จังหวัดใด?', 'ปิงและน่าน')).toBe(true);
    expect(answerInQuestion('عند أي مدينة يلتقي النيلان، الخرطوم أم القاهرة؟', 'الخرطوم')).toBe(true);
    for (const { question, answer } of Object.values(QUESTIONS)) expect(answerInQuestion(question, answer), question).toBe(false);
  });

  it('the check stage rejects a CJK leak before any LLM call', async () => {
    const ctx = makeCtx();
    const res = await checkStage(candidate('长江在上海附近注入东海，这片海叫什么？', '东海', 'zh'), ctx);
    expect(res.rejections.map((r) => r.reason)).toEqual(['check.leakage']);
    expect(ctx.router.totalRequests).toBe(0);
  });

  it('keeps the number rules in CJK: 1707 is not in 17070, and a single CJK character is not tested', () => {
    expect(answerInQuestion('这座山在17070年前形成，它叫什么？', '1707')).toBe(false);
    expect(answerInQuestion('水的化学式是什么？', '水')).toBe(false);
  });
});
