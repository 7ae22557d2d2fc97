/**
 * The compact prompt style (pipeline.promptStyle: compact) and the LLM-filter switch
 * (pipeline.llmFilter): what each stage sends and records with them, and that the defaults keep
 * the full wording and the LLM filter.
 */
import { describe, expect, it } from 'vitest';
import { LLM_STAGES } from '../../src/core/records.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { checkStage } from '../../src/stages/check.js';
import { filterStage, LLM_FILTER_OFF } from '../../src/stages/filter.js';
import { generateStage } from '../../src/stages/generate.js';
import { identifyStage } from '../../src/stages/identify.js';
import {
  CHECK_SYSTEM,
  CHECK_SYSTEM_COMPACT,
  COMPACT_PROMPT_VERSIONS,
  FILTER_SYSTEM_COMPACT,
  GENERATE_SYSTEM_COMPACT,
  IDENTIFY_SYSTEM_COMPACT,
  PROMPT_VERSIONS,
  checkMessages,
  generateMessages,
  promptVersion,
} from '../../src/stages/prompts.js';
import { PROSE, makeConfig, makeCtx, makeDoc, userText } from './helpers.js';

const compact = () => makeConfig({ pipeline: { promptStyle: 'compact' } });

describe('prompt styles', () => {
  it('defaults to the full wording and versions', () => {
    const c = makeConfig();
    expect(c.pipeline.promptStyle).toBe('full');
    expect(c.pipeline.llmFilter).toBe(true);
    for (const s of LLM_STAGES) {
      expect(promptVersion(s)).toBe(PROMPT_VERSIONS[s]);
      expect(promptVersion(s, 'compact')).toBe(COMPACT_PROMPT_VERSIONS[s]);
      expect(COMPACT_PROMPT_VERSIONS[s]).not.toBe(PROMPT_VERSIONS[s]);
    }
  });

  it('keeps compact system prompts short and free of copyable placeholders', () => {
    for (const system of [FILTER_SYSTEM_COMPACT, IDENTIFY_SYSTEM_COMPACT, GENERATE_SYSTEM_COMPACT, CHECK_SYSTEM_COMPACT]) {
      expect(system.length).toBeLessThan(CHECK_SYSTEM.length + 200);
      // A tiny model copies template values such as "<one or two sentences>" or "..." verbatim.
      expect(system).not.toMatch(/<[a-z ]+>|"\.\.\."|\{"/);
    }
    // The same three verdicts are asked for, under their contract names.
    for (const field of ['has_context', 'answer_correct', 'info_leakage']) expect(CHECK_SYSTEM_COMPACT).toContain(field);
  });

  it('compact generate: document block first, examples as question and answer only, reader last', () => {
    const messages = generateMessages({
      documentText: PROSE,
      cut: false,
      domain: 'Other',
      persona: 'river boat captain',
      style: 'compact',
      examples: [
        {
          example: { id: 'x1', domain: 'Other', original_material: 'MATERIAL-NOT-SHOWN', persona: 'p', question: 'How long is X?', answer: '3 km' },
          material: 'MATERIAL-NOT-SHOWN',
        },
      ],
    });
    expect(messages[0]).toEqual({ role: 'system', content: GENERATE_SYSTEM_COMPACT });
    const user = messages[1]?.content ?? '';
    expect(user.startsWith(`<document>\n${PROSE}\n</document>`)).toBe(true);
    expect(user).toContain('Question: How long is X?\nAnswer: 3 km');
    expect(user).not.toContain('MATERIAL-NOT-SHOWN');
    expect(user.indexOf('river boat captain')).toBeGreaterThan(user.indexOf('How long is X?'));
  });

  it('compact check shows the document, the question and the answer', () => {
    const [system, user] = checkMessages({ documentText: PROSE, cut: true, question: 'Q?', answer: 'A', style: 'compact' });
    expect(system?.content).toBe(CHECK_SYSTEM_COMPACT);
    expect(user?.content).toContain('<document>\n');
    expect(user?.content).toContain('[... the rest of the document is omitted for length ...]');
    expect(user?.content).toContain('Question: Q?\nAnswer: A');
  });

  it('each stage sends the compact wording and records its version', async () => {
    const ctx = makeCtx({ config: compact() });
    ctx.router.clients.filter.reply({ reasoning: 'facts', qualified: true });
    const [fd] = (await filterStage(makeDoc(), ctx)).outputs;
    expect(ctx.router.clients.filter.requests[0]?.messages[0]?.content).toBe(FILTER_SYSTEM_COMPACT);
    expect(fd?.trace[0]?.prompt_version).toBe(COMPACT_PROMPT_VERSIONS.filter);

    ctx.router.clients.identify.reply({ reasoning: 'r', domain: 'Other', personas: ['boat captain'] });
    const [task] = (await identifyStage(fd!, ctx)).outputs;
    expect(ctx.router.clients.identify.requests[0]?.messages[0]?.content).toBe(IDENTIFY_SYSTEM_COMPACT);

    ctx.router.clients.generate.reply({ reasoning: 'r', question: 'How long is the Rhine in kilometres?', answer: '1,230' });
    const [cand] = (await generateStage(task!, ctx)).outputs;
    expect(userText(ctx.router.clients.generate.requests[0])).toContain('Reader: boat captain');

    ctx.router.clients.check.reply({ reasoning: 'ok', has_context: true, answer_correct: true, info_leakage: false });
    const [qa] = (await checkStage(cand!, ctx)).outputs;
    expect(qa?.provenance.prompt_versions).toEqual(COMPACT_PROMPT_VERSIONS);
  });
});

describe('pipeline.reasoningLast', () => {
  const order = (req: { jsonSchema: { schema: Record<string, unknown> } } | undefined) =>
    Object.keys((req?.jsonSchema.schema['properties'] ?? {}) as object);

  it('sends the generate schema with reasoning after question and answer, same fields and name', async () => {
    const ctx = makeCtx({ config: makeConfig({ pipeline: { reasoningLast: true } }) });
    ctx.router.clients.filter.reply({ reasoning: 'facts', qualified: true });
    const [fd] = (await filterStage(makeDoc(), ctx)).outputs;
    ctx.router.clients.identify.reply({ reasoning: 'r', domain: 'Other', personas: ['boat captain'] });
    const [task] = (await identifyStage(fd!, ctx)).outputs;
    ctx.router.clients.generate.reply({ question: 'How long is the Rhine in kilometres?', answer: '1,230', reasoning: 'r' });
    const [cand] = (await generateStage(task!, ctx)).outputs;
    ctx.router.clients.check.reply({ reasoning: 'wrong', has_context: true, answer_correct: false, info_leakage: false });
    const res = await checkStage(cand!, ctx);
    // All three verdicts still decide.
    expect(res.rejections[0]?.reason).toBe('check.incorrect');

    const gen = ctx.router.clients.generate.requests[0];
    expect(gen?.jsonSchema.name).toBe(OUTPUT_JSON_SCHEMAS.generate.name);
    expect(order(gen)).toEqual(['question', 'answer', 'reasoning']);
    expect(gen?.jsonSchema.schema['required']).toEqual(['question', 'answer', 'reasoning']);
    // The other stages keep the contract's order (for check, measured: verdicts first made the
    // 135M model reject nearly everything, whatever the pair).
    expect(order(ctx.router.clients.check.requests[0])).toEqual(['reasoning', 'has_context', 'answer_correct', 'info_leakage']);
    expect(order(ctx.router.clients.filter.requests[0])).toEqual(['reasoning', 'qualified']);
    expect(order(ctx.router.clients.identify.requests[0])).toEqual(['reasoning', 'domain', 'personas']);
  });

  it('is off by default: the contract order, reasoning first', async () => {
    const ctx = makeCtx();
    ctx.router.clients.generate.reply({ reasoning: 'r', question: 'How long is the Rhine in kilometres?', answer: '1,230' });
    await generateStage(
      { doc: makeDoc(), domain: 'Other', persona: 'p', persona_index: 0, persona_count: 1, truncated_chars: 0, trace: [] },
      ctx,
    );
    expect(order(ctx.router.clients.generate.requests[0])).toEqual(['reasoning', 'question', 'answer']);
  });
});

describe('pipeline.llmFilter: false', () => {
  const noLlm = () => makeConfig({ pipeline: { llmFilter: false } });

  it('passes a pre-filtered document without an LLM call and records the skip', async () => {
    const ctx = makeCtx({ config: noLlm() });
    const res = await filterStage(makeDoc(), ctx);
    expect(ctx.router.totalRequests).toBe(0);
    expect(res.rejections).toEqual([]);
    expect(res.outputs[0]).toMatchObject({ filter_reasoning: LLM_FILTER_OFF.reasoning, truncated_chars: 0 });
    expect(res.outputs[0]?.trace).toEqual([
      { stage: 'filter', model: 'none', prompt_version: LLM_FILTER_OFF.promptVersion, prompt_tokens: 0, completion_tokens: 0, calls: 0 },
    ]);
  });

  it('still applies the heuristic pre-filter', async () => {
    const ctx = makeCtx({ config: noLlm() });
    const res = await filterStage(makeDoc('far too short'), ctx);
    expect(res.outputs).toEqual([]);
    expect(res.rejections[0]?.reason).toBe('filter.too_short');
  });

  it('shows the skipped filter in the provenance of the final record, with every check still required', async () => {
    const ctx = makeCtx({ config: noLlm() });
    const [fd] = (await filterStage(makeDoc(), ctx)).outputs;
    ctx.router.clients.identify.reply({ reasoning: 'r', domain: 'Other', personas: ['boat captain'] });
    const [task] = (await identifyStage(fd!, ctx)).outputs;
    ctx.router.clients.generate.reply({ reasoning: 'r', question: 'How long is the Rhine in kilometres?', answer: '1,230' });
    const [cand] = (await generateStage(task!, ctx)).outputs;

    ctx.router.clients.check.reply({ reasoning: 'wrong', has_context: true, answer_correct: false, info_leakage: false });
    expect((await checkStage(cand!, ctx)).rejections[0]?.reason).toBe('check.incorrect');

    ctx.router.clients.check.reply({ reasoning: 'ok', has_context: true, answer_correct: true, info_leakage: false });
    const [qa] = (await checkStage(cand!, ctx)).outputs;
    expect(qa?.provenance.prompt_versions['filter']).toBe(LLM_FILTER_OFF.promptVersion);
    expect(qa?.provenance.models['filter']).toBe('none');
  });
});
