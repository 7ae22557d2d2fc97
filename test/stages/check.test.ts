import { describe, expect, it } from 'vitest';
import type { QaCandidate } from '../../src/core/records.js';
import { answerInQuestion, checkStage, notAQuestion, unseenSourceReference } from '../../src/stages/check.js';
import { Decontaminator } from '../../src/stages/decontaminate.js';
import { PIPELINE_VERSION } from '../../src/stages/paths.js';
import { PROSE, USAGE_PER_CALL, makeConfig, makeCtx, makeDoc, userText } from './helpers.js';

function candidate(question: string, answer: string, persona = 'barge captain'): QaCandidate {
  return {
    task: {
      doc: makeDoc(),
      domain: 'Social Science',
      persona,
      persona_index: 0,
      persona_count: 2,
      truncated_chars: 12,
      trace: [
        { stage: 'filter', model: 'model-filter', prompt_version: 'filter@1', ...USAGE_PER_CALL, calls: 1 },
        { stage: 'identify', model: 'model-identify', prompt_version: 'identify@1', ...USAGE_PER_CALL, calls: 1 },
      ],
    },
    question,
    answer,
    generate_reasoning: 'r',
    fewshot_ids: ['social_science/0', 'social_science/2'],
    trace: [
      { stage: 'filter', model: 'model-filter', prompt_version: 'filter@1', ...USAGE_PER_CALL, calls: 1 },
      { stage: 'identify', model: 'model-identify', prompt_version: 'identify@1', ...USAGE_PER_CALL, calls: 1 },
      { stage: 'generate', model: 'model-generate', prompt_version: 'generate@1', prompt_tokens: 300, completion_tokens: 50, calls: 2 },
    ],
  };
}

const Q = 'The body that regulates shipping on the Rhine was founded at a famous 19th-century European peace congress. In what year?';
const PASS = { reasoning: 'Correct: 1815.', has_context: true, answer_correct: true, info_leakage: false };

describe('deterministic pre-checks (no LLM call)', () => {
  it.each([
    ['check.empty_answer', Q, '   '],
    ['check.answer_too_long', Q, 'x'.repeat(201)],
    ['check.leakage', 'Was the Rhine commission founded in 1815 or in 1830?', '1815'],
    ['check.leakage', 'Which river, the Rhine, flows through Lake Constance?', 'the Rhine'],
    ['check.no_context', 'According to the text, when was the commission founded?', '1815'],
    ['check.no_context', 'In the passage above, which waterfall is named?', 'Rhine Falls'],
    ['check.no_context', 'The article mentions a waterfall; where is it?', 'Schaffhausen'],
  ])('%s for %j', async (reason, question, answer) => {
    const ctx = makeCtx();
    const res = await checkStage(candidate(question, answer), ctx);
    expect(ctx.router.totalRequests).toBe(0);
    expect(res.outputs).toEqual([]);
    expect(res.rejections[0]).toMatchObject({ doc_id: 'doc-1', stage: 'check', reason, persona: 'barge captain', question, answer, domain: 'Social Science' });
    // Usage so far: filter + identify + generate.
    expect(res.rejections[0]?.usage).toEqual({ prompt_tokens: 500, completion_tokens: 90 });
  });

  it('treats numbers as whole tokens', () => {
    expect(answerInQuestion('What happened in 18150 BC?', '1815')).toBe(false);
    expect(answerInQuestion('Is the length 1,230 km?', '1230')).toBe(true);
    expect(answerInQuestion('Is the length 1230 km?', '1,230 km')).toBe(true);
    expect(answerInQuestion('If x^2 = 4 and x > 0, what is x?', '2')).toBe(false);
    expect(answerInQuestion('Which is larger, 12.5 or 125?', '12')).toBe(false);
    expect(answerInQuestion('Who wrote "MARIE CURIE: a life"?', 'Marie Curie')).toBe(true);
    expect(answerInQuestion('Who discovered radium with Pierre Curie?', 'Marie Curie')).toBe(false);
  });

  describe('numeric answers of any length', () => {
    it.each([
      ['the rule of 72', 'Rule of ____: dividing 72 by the annual interest rate estimates the doubling time. Name the rule.', '72'],
      ['a version number', 'Which X____R6 component was renamed in version 11?', '11'],
      ['a single digit', 'A hexagon has 6 sides; how many sides does a regular hexagon have?', '6'],
      ['thousands separators in the question', 'The ship carried 1,000 tons; how many tons did it carry?', '1000'],
      ['thousands separators in the answer', 'The ship carried 1000 tons; how many tons did it carry?', '1,000'],
      ['a decimal, trailing zero dropped', 'The fare rose to $2.50 in 1990; what was the fare?', '2.5'],
      ['a percentage', 'If 72% of voters turned out, what share turned out (percent)?', '72%'],
      ['a number followed by its ordinal ending', 'Which amendment, the 19th, granted women the vote? Give its number.', '19'],
      ['a number followed by a unit', 'A 5km race is how many kilometres long?', '5'],
      ['a minus sign in the answer', 'The lake froze at -40 degrees; what was the temperature?', '-40'],
      ['a minus sign in the question only', 'At -40 the scales agree; at what value do Celsius and Fahrenheit agree (magnitude)?', '40'],
      ['a range', 'The war lasted 1914-1918; in which year did it end?', '1918'],
      ['a number with a unit in the answer', 'Is the pole 5 m or 7 m long?', '5 m'],
      ['a decade', 'In the 1960s, which decade began the space race? Answer with its first year.', '1960'],
    ])('leaks: %s', (_what, question, answer) => {
      expect(answerInQuestion(question, answer)).toBe(true);
    });

    it.each([
      ['50 inside 150', 'What is half of 150?', '50'],
      ['11 inside 110', 'What is one tenth of 110?', '11'],
      ['a prefix of a decimal', 'Which is larger, 12.5 or 125?', '12'],
      ['a decimal that differs', 'Is pi about 3.14159?', '3.14'],
      ['a digit inside an identifier', 'Which X____R6 component was renamed in version 11?', '6'],
      ['a digit inside a model name', 'How many bits wide are x86 registers in 64-bit mode?', '86'],
      ['an exponent', 'If x^2 = 4 and x > 0, what is x?', '2'],
      ['an exponent of ten', 'How many zeros does 10^6 have?', '6'],
      ['a version that differs', 'What changed between versions 1.2.3 and 1.3?', '1.2'],
      ['a number with leading zeros kept as written', 'Which agent is 007 in the novels, numbered how without the zeros?', '7'],
    ])('does not leak: %s', (_what, question, answer) => {
      expect(answerInQuestion(question, answer)).toBe(false);
    });

    it('keeps the short exemption for answers without a number', () => {
      expect(answerInQuestion('Is lead, symbol Pb, a metal? Give its symbol.', 'Pb')).toBe(false);
      expect(answerInQuestion('Is it true that no one answered? Say yes or no.', 'no')).toBe(false);
      expect(answerInQuestion('Which element has the symbol Fe, iron?', 'Iron')).toBe(true);
    });

    it('rejects the issue examples before any LLM call', async () => {
      for (const [question, answer] of [
        ['Rule of ____: dividing 72 by the annual interest rate estimates what?', '72'],
        ['Which X____R6 component was renamed in version 11?', '11'],
      ] as const) {
        const ctx = makeCtx();
        const res = await checkStage(candidate(question, answer), ctx);
        expect(ctx.router.totalRequests).toBe(0);
        expect(res.rejections[0]).toMatchObject({ reason: 'check.leakage' });
      }
    });
  });

  it('does not mistake ordinary uses of "text", "passage" or "document" for an unseen source', () => {
    for (const q of [
      'What did the passage of the Civil Rights Act of 1964 outlaw?',
      'In the Document Object Model, which method returns an element by its id?',
      'According to the text of the US Constitution, how many senators does each state have?',
      'Which HTML element holds the title of a web document?',
      'What material is the Golden Gate Bridge deck made of?',
    ]) {
      expect(unseenSourceReference(q), q).toBeNull();
    }
    for (const q of [
      'Based on the provided document, what is the capital?',
      'What does this article say about inflation?',
      'Which year is mentioned above?',
      'From the given excerpt, how many moons are listed?',
      'As described in the material, what is the boiling point?',
    ]) {
      expect(unseenSourceReference(q), q).not.toBeNull();
    }
  });
});

describe('question shape', () => {
  it('accepts real questions, with or without a question mark', () => {
    for (const q of [
      'In which year did Lind publish his treatise on scurvy?',
      'Name the Zen temple whose bridge crosses a valley of maples.',
      'How many seconds of waggling correspond to a kilometre of flight',
      'Is the product abc of a primitive Pythagorean triple always divisible by 60?',
    ]) {
      expect(notAQuestion(q), q).toBeNull();
    }
  });

  it('rejects fragments, statements and "the answer is" before any LLM call', async () => {
    for (const q of ['1', 'Frederick Banting', 'The answer is: 1753', 'Honeybees dance on the comb to share directions.']) {
      expect(notAQuestion(q), q).not.toBeNull();
    }
    const ctx = makeCtx();
    const result = await checkStage(candidate('The answer is: 1753', 'The text is incomplete'), ctx);
    expect(result.rejections.map((r) => r.reason)).toEqual(['check.not_a_question']);
    expect(ctx.router.clients.check.requests).toHaveLength(0);
  });
});

describe('LLM check', () => {
  it('passes and builds the sink record with provenance and usage', async () => {
    const ctx = makeCtx();
    ctx.router.clients.check.reply(PASS);
    const res = await checkStage(candidate(Q, '1815'), ctx);
    expect(res.rejections).toEqual([]);
    const rec = res.outputs[0];
    expect(rec).toBeDefined();
    if (!rec) return;
    expect(rec).toMatchObject({
      doc_id: 'doc-1',
      question: Q,
      answer: '1815',
      domain: 'Social Science',
      persona: 'barge captain',
      source_url: 'https://example.org/rhine',
      source: 'test',
      source_text: null,
      checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: 'Correct: 1815.' },
    });
    expect(rec.id).toMatch(/^[0-9a-f]{32}$/);
    expect(rec.provenance).toEqual({
      pipeline_version: PIPELINE_VERSION,
      prompt_versions: { filter: 'filter@1', identify: 'identify@1', generate: 'generate@1', check: 'check@1' },
      models: { filter: 'model-filter', identify: 'model-identify', generate: 'model-generate', check: 'model-check' },
      fewshot_ids: ['social_science/0', 'social_science/2'],
      truncated_chars: 12,
      language: null,
    });
    expect(rec.usage).toEqual({
      prompt_tokens: 600,
      completion_tokens: 110,
      by_stage: {
        filter: USAGE_PER_CALL,
        identify: USAGE_PER_CALL,
        generate: { prompt_tokens: 300, completion_tokens: 50 },
        check: USAGE_PER_CALL,
      },
    });
    // The check prompt shows the document before the pair.
    const text = userText(ctx.router.clients.check.requests[0]);
    expect(text.indexOf(PROSE)).toBeLessThan(text.indexOf(Q));
  });

  it('gives the same id for the same document and persona, another for another persona', async () => {
    const ids: string[] = [];
    for (const persona of ['barge captain', 'barge captain', 'hydrologist']) {
      const ctx = makeCtx();
      ctx.router.clients.check.reply(PASS);
      const res = await checkStage(candidate(Q, '1815', persona), ctx);
      ids.push(res.outputs[0]?.id ?? '');
    }
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).not.toBe(ids[2]);
  });

  it('includes the source text only when configured', async () => {
    const ctx = makeCtx({ config: makeConfig({ pipeline: { includeSourceText: true } }) });
    ctx.router.clients.check.reply(PASS);
    const res = await checkStage(candidate(Q, '1815'), ctx);
    expect(res.outputs[0]?.source_text).toBe(PROSE);
  });

  it.each([
    [{ ...PASS, has_context: false, answer_correct: false }, 'check.no_context', 'has_context=false'],
    [{ ...PASS, answer_correct: false, info_leakage: true }, 'check.incorrect', 'answer_correct=false'],
    [{ ...PASS, info_leakage: true }, 'check.leakage', 'info_leakage=true'],
  ])('the first failing verdict gives the reason (%#)', async (verdicts, reason, prefix) => {
    const ctx = makeCtx();
    ctx.router.clients.check.reply({ ...verdicts, reasoning: 'model says so' });
    const res = await checkStage(candidate(Q, '1815'), ctx);
    expect(res.outputs).toEqual([]);
    expect(res.rejections[0]?.reason).toBe(reason);
    expect(res.rejections[0]?.detail).toBe(`${prefix}: model says so`);
    // The rejected pair itself, so the checker's verdict can be judged.
    expect(res.rejections[0]).toMatchObject({ question: Q, answer: '1815', domain: 'Social Science' });
    expect(res.rejections[0]?.usage).toEqual({ prompt_tokens: 600, completion_tokens: 110 });
  });

  it('rejects as check.invalid_output after re-asks', async () => {
    const ctx = makeCtx({ config: makeConfig({ llm: { maxReasks: 1 } }) });
    ctx.router.clients.check.reply('looks good to me', { has_context: 'sure' });
    const res = await checkStage(candidate(Q, '1815'), ctx);
    expect(ctx.router.clients.check.requests).toHaveLength(2);
    expect(res.rejections[0]?.reason).toBe('check.invalid_output');
  });

  it('rejects benchmark-contaminated pairs without calling the LLM', async () => {
    const dec = new Decontaminator(13);
    dec.add('made-up-bench', `Trivia: ${Q} Give a year.`);
    const ctx = makeCtx({ decontaminator: dec });
    const res = await checkStage(candidate(Q, '1815'), ctx);
    expect(ctx.router.totalRequests).toBe(0);
    expect(res.rejections[0]?.reason).toBe('check.contaminated');
    expect(res.rejections[0]?.detail).toContain('made-up-bench');
  });
});
