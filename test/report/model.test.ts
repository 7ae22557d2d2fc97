/**
 * The report's figures from records alone (no summary), its bounds (examples per reason, distinct
 * personas, clipped strings, page size), prices, and the escaping of every string from the data.
 */
import { describe, expect, it } from 'vitest';
import type { QaRecord, Rejection } from '../../src/core/records.js';
import { ReportBuilder, costOf, escapeHtml, formatReportText, renderReportHtml, type ReportSource } from '../../src/report/index.js';

const SOURCE: ReportSource = { kind: 'run', label: '/tmp/run', inputs: { rejections: 'qa.rejections.jsonl' } };

function rejection(over: Partial<Rejection> = {}): Rejection {
  return {
    doc_id: 'doc-1',
    stage: 'check',
    reason: 'check.incorrect',
    detail: 'answer_correct=false: wrong year',
    persona: 'historian',
    line: null,
    usage: { prompt_tokens: 100, completion_tokens: 10 },
    created_at: 1,
    question: 'In what year did the Congress of Vienna end?',
    answer: '1816',
    domain: 'Social Science',
    ...over,
  };
}

function qa(over: Partial<QaRecord> = {}): QaRecord {
  return {
    id: 'qa-1',
    doc_id: 'doc-2',
    question: 'In what year did the Congress of Vienna end?',
    answer: '1815',
    domain: 'Social Science',
    persona: 'historian',
    source_url: null,
    source: null,
    source_text: null,
    checks: { has_context: true, answer_correct: true, info_leakage: false, reasoning: 'ok' },
    provenance: { pipeline_version: '1', prompt_versions: {}, models: { generate: 'big-model', check: 'small-model' }, fewshot_ids: [], truncated_chars: 0 },
    usage: {
      prompt_tokens: 300,
      completion_tokens: 30,
      by_stage: { generate: { prompt_tokens: 200, completion_tokens: 20 }, check: { prompt_tokens: 100, completion_tokens: 10 } },
    },
    created_at: 2,
    ...over,
  };
}

describe('ReportBuilder from records', () => {
  it('counts rejections by stage and reason, the verification rate, the domain and persona mix and tokens', () => {
    const b = new ReportBuilder();
    b.addQa(qa());
    b.addQa(qa({ domain: 'Math', persona: 'teacher' }));
    b.addQa(qa({ domain: 'Math', persona: 'teacher' }));
    b.addRejection(rejection());
    b.addRejection(rejection({ stage: 'filter', reason: 'filter.too_short', detail: '4 words', persona: null, question: null, answer: null, domain: null, usage: { prompt_tokens: 0, completion_tokens: 0 } }));
    b.addRejection(rejection({ stage: 'identify', reason: 'identify.unknown_domain', persona: null, question: null, answer: null, domain: null, personas: ['a', 'b'] }));
    const r = b.build(SOURCE);
    expect(r.qaKept).toBe(3);
    expect(r.rejections).toBe(3);
    expect(r.reasons.map((x) => [x.stage, x.reason, x.count])).toEqual([
      ['filter', 'filter.too_short', 1],
      ['identify', 'identify.unknown_domain', 1],
      ['check', 'check.incorrect', 1],
    ]);
    expect(r.reasons[1]?.examples[0]?.personas).toEqual(['a', 'b']);
    expect(r.reasons[2]?.examples[0]).toMatchObject({ question: 'In what year did the Congress of Vienna end?', answer: '1816', persona: 'historian', domain: 'Social Science' });
    // 3 kept of 4 checked.
    expect(r.verification).toEqual({ passed: 3, checked: 4, rate: 0.75 });
    // By pairs, then by name.
    expect(r.domains).toEqual([
      { name: 'Math', kept: 2, rejected: 0 },
      { name: 'Social Science', kept: 1, rejected: 1 },
    ]);
    expect(r.personas.find((p) => p.name === 'historian')).toEqual({ name: 'historian', kept: 1, rejected: 1 });
    // Summed from the records: 3 x 330 + 110 + 0 + 110.
    expect(r.tokens).toEqual({ prompt: 1100, completion: 110, calls: null, exact: false });
    expect(r.tokensPerKeptPair).toBeCloseTo(1210 / 3);
    expect(r.tokensOnKeptPath).toBe(330);
    expect(r.models).toEqual({ generate: ['big-model'], check: ['small-model'] });
    expect(r.cost.totalUsd).toBeNull();
    expect(r.cost.note).toContain('no prices given');
    expect(r.stageTimesNote).toContain('no stage times');
  });

  it('the summary, when there is one, gives exact tokens, stage flow and the slowest stages', () => {
    const b = new ReportBuilder({ prices: { m: { input: 2, output: 10 } } });
    b.addQa(qa());
    const r = b.build(SOURCE, {
      qa_kept: 1,
      stages: { filter: { in: 4, out: 2, rejected: 2 }, check: { in: 1, out: 1, rejected: 0 } },
      tokens: { by_stage: { filter: { prompt: 1_000_000, completion: 0, calls: 4 }, check: { prompt: 0, completion: 100_000, calls: 1 } }, total: { prompt: 1_000_000, completion: 100_000, calls: 5 } },
      models: { filter: 'm', check: 'm', generate: 'm' },
      stage_time_ms: { filter: { records: 4, total: 400, max: 150 }, check: { records: 1, total: 2000, max: 2000 }, generate: { records: 0, total: 0, max: 0 } },
    });
    expect(r.tokens).toEqual({ prompt: 1_000_000, completion: 100_000, calls: 5, exact: true });
    expect(r.stages.find((s) => s.stage === 'filter')).toEqual({ stage: 'filter', in: 4, out: 2, rejected: 2 });
    expect(r.stageTimes.map((s) => [s.stage, s.meanMs])).toEqual([
      ['check', 2000],
      ['filter', 100],
    ]);
    // 1M prompt tokens at $2 + 100k completion at $10 = $3, one kept pair.
    expect(r.cost.totalUsd).toBeCloseTo(3);
    expect(r.cost.perKeptPairUsd).toBeCloseTo(3);
  });

  it('keeps at most N examples per reason, clips them, and caps distinct personas', () => {
    const b = new ReportBuilder({ examplesPerReason: 2, maxPersonas: 10, exampleChars: 50 });
    for (let i = 0; i < 1000; i++) b.addRejection(rejection({ doc_id: `d${i}`, persona: `persona ${i}`, question: 'Q'.repeat(10_000) }));
    const r = b.build(SOURCE);
    expect(r.reasons).toHaveLength(1);
    expect(r.reasons[0]?.count).toBe(1000);
    expect(r.reasons[0]?.examples).toHaveLength(2);
    expect(r.reasons[0]?.examples[0]?.question).toHaveLength(51);
    // 10 personas by name, the other 990 counted together.
    expect(r.personasDistinct).toBe(10);
    expect(r.personasCapped).toBe(true);
    expect(r.personas.find((p) => p.name === '(other)')?.rejected).toBe(990);
    expect(r.personas.reduce((n, p) => n + p.rejected, 0)).toBe(1000);
    expect(r.personas.filter((p) => p.name === '(other)')).toHaveLength(1);
    // The 10 named ones, then one (other) row.
    expect(r.personas).toHaveLength(11);
  });

  it('the HTML page stays small however many rejections there are', () => {
    const b = new ReportBuilder();
    for (let i = 0; i < 20_000; i++) {
      b.addRejection(rejection({ doc_id: `d${i}`, reason: `check.reason_${i % 40}` as Rejection['reason'], persona: `persona ${i}`, question: 'why '.repeat(2000), domain: `domain ${i % 300}` }));
    }
    const html = renderReportHtml(b.build(SOURCE));
    expect(html.length).toBeLessThan(500_000);
    expect(formatReportText(b.build(SOURCE)).length).toBeLessThan(200_000);
  });

  it('prices by model, with "*" for the rest, and names a model without a price', () => {
    expect(costOf({ prompt_tokens: 1_000_000, completion_tokens: 1_000_000 }, 'a', { a: { input: 1, output: 3 } })).toBe(4);
    expect(costOf({ prompt_tokens: 500_000, completion_tokens: 0 }, 'b', { '*': { input: 2, output: 0 } })).toBe(1);
    expect(costOf({ prompt_tokens: 1, completion_tokens: 1 }, 'b', { a: { input: 1, output: 1 } })).toBeNull();
    const b = new ReportBuilder({ prices: { 'big-model': { input: 1, output: 1 } } });
    b.addQa(qa());
    expect(b.build(SOURCE).cost.note).toBe('cost unknown: no price for small-model (add it, or "*", to the prices file)');
  });
});

describe('escaping', () => {
  it('escapes the five HTML characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('no string from the data reaches the page unescaped, in text or in chart labels and titles', () => {
    const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>'`;
    const b = new ReportBuilder();
    b.addRejection(rejection({ doc_id: evil, reason: evil as Rejection['reason'], stage: evil as Rejection['stage'], detail: evil, persona: evil, question: evil, answer: evil, domain: evil, personas: [evil] }));
    b.addQa(qa({ domain: evil as QaRecord['domain'], persona: evil, provenance: { ...qa().provenance, models: { check: evil } } }));
    const html = renderReportHtml(b.build({ kind: 'run', label: evil, inputs: { [evil]: evil } }, { stage_time_ms: { [evil]: { records: 1, total: 5, max: 5 } } }));
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toContain(evil);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('the text report shows control characters as U+FFFD, so model text cannot drive the terminal', () => {
    const b = new ReportBuilder();
    b.addRejection(rejection({ question: 'What\u001b[2J\u001b]0;pwned\u0007 is\r this?' }));
    const text = formatReportText(b.build(SOURCE));
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    // (The carriage return is whitespace: it becomes a space.)
    expect(text).toContain('Q: What\ufffd[2J\ufffd]0;pwned\ufffd is this?');
  });
});
