/**
 * The batching client against the stand-in's Batch and Files endpoints: a wave becomes one batch
 * whose answers equal the online ones; an expiring batch, failing lines and a batch that fails
 * validation are finished online; a restart over the same state file collects the batch it had
 * submitted (also when only the upload was recorded) and submits nothing again.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import type { LlmStage } from '../../src/core/records.js';
import { OUTPUT_JSON_SCHEMAS } from '../../src/llm/contract.js';
import { acquireAgent, type AgentLease } from '../../src/llm/http.js';
import { OpenAiClient } from '../../src/llm/openai.js';
import { BatchApi } from '../../src/llm/batch/api.js';
import { BatchingClient } from '../../src/llm/batch/client.js';
import { customIdFor, readResultLine } from '../../src/llm/batch/lines.js';
import { chatBody } from '../../src/llm/wire.js';
import { BatchStateLog } from '../../src/llm/batch/state.js';
import { BatchStats } from '../../src/llm/batch/stats.js';
import type { LlmRequest } from '../../src/llm/types.js';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';

let server: StandInLlm;
let lease: AgentLease;
let dir: string;
let online: OpenAiClient;
const open: { client: BatchingClient; state: BatchStateLog }[] = [];

const RETRY = { maxRetries: 2, backoffInitial: 10, backoffMax: 50 };
const BATCH = configSchema.parse({ llm: { batch: { enabled: true, window: 50, pollInterval: 20 } } }).llm.batch;

beforeAll(async () => {
  server = await startStandInLlm({ model: 'stand-in' });
  lease = acquireAgent(8);
  online = new OpenAiClient({ url: server.url, model: 'stand-in', timeoutMs: 5000, retry: RETRY, responseFormat: 'openai', dispatcher: lease.dispatcher });
});
afterAll(async () => {
  await online.close();
  await lease.release();
  await server.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsrl-batch-'));
  server.batches.hold(false);
});
afterEach(async () => {
  for (const { client, state } of open.splice(0)) {
    await client.close();
    await state.close();
  }
});

async function batching(statePath = join(dir, 'state.jsonl'), overrides: Partial<typeof BATCH> = {}): Promise<{ client: BatchingClient; stats: BatchStats; state: BatchStateLog }> {
  const state = await BatchStateLog.open(statePath);
  const stats = new BatchStats();
  const api = new BatchApi({ url: server.url, dispatcher: lease.dispatcher, timeoutMs: 5000, retry: RETRY });
  const client = new BatchingClient({ api, online, model: 'stand-in', responseFormat: 'openai', config: { ...BATCH, ...overrides }, state, stats });
  open.push({ client, state });
  return { client, stats, state };
}

function request(n: number, stage: LlmStage = 'generate', extra = ''): LlmRequest {
  return {
    stage,
    messages: [
      { role: 'system', content: `Write one question. Answer as JSON with "question" and "answer".` },
      { role: 'user', content: `<document>\nThe lighthouse number ${n} guarded the harbour lighthouse coast for decades ${extra}\n</document>\npersona: keeper ${n}` },
    ],
    jsonSchema: OUTPUT_JSON_SCHEMAS[stage],
    temperature: 1,
    maxTokens: 256,
    seed: n,
  };
}

async function onlineTexts(requests: LlmRequest[]): Promise<string[]> {
  const before = server.stats().total;
  const texts = (await Promise.all(requests.map((r) => online.complete(r)))).map((c) => c.text);
  expect(server.stats().total - before).toBe(requests.length);
  return texts;
}

async function untilFileHas(path: string, text: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await readFile(path, 'utf8').catch(() => '')).includes(text)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${text} in ${path}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('BatchingClient against the stand-in Batch API', () => {
  it('sends a wave as one batch and answers each request as the online call does, with no online call', async () => {
    const { client, stats } = await batching();
    const requests = [1, 2, 3, 4, 5].map((n) => request(n));
    const created = server.batches.created().length;
    const chats = server.stats().total;
    const completions = await Promise.all(requests.map((r) => client.complete(r)));
    expect(server.stats().total).toBe(chats);
    const batches = server.batches.created().slice(created);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.customIds).toHaveLength(5);
    expect(batches[0]?.status).toBe('completed');
    expect(completions.map((c) => c.text)).toEqual(await onlineTexts(requests));
    expect(completions.every((c) => c.usage.prompt_tokens > 0 && c.usage.completion_tokens > 0)).toBe(true);
    expect(stats.toJSON()).toMatchObject({ batches: { submitted: 1, by_status: { completed: 1 } }, lines: { submitted: 5, answered: 5, retried_online: 0 } });
    expect(stats.tokens.generate.requests).toBe(5);
  });

  it('splits a wave at maxRequests and makes one line of the same request asked twice at once', async () => {
    const { client, stats } = await batching(undefined, { maxRequests: 2 });
    const created = server.batches.created().length;
    const requests = [1, 2, 3, 1].map((n) => request(n));
    const texts = (await Promise.all(requests.map((r) => client.complete(r)))).map((c) => c.text);
    const batches = server.batches.created().slice(created);
    expect(batches.map((b) => b.customIds.length)).toEqual([2, 1]);
    expect(texts[3]).toBe(texts[0]);
    expect(stats.linesSubmitted).toBe(3);
  });

  it('an expired batch: answered lines from its output file, the expired ones online', async () => {
    const { client, stats } = await batching();
    server.batches.script({ expireAfter: 2 });
    const requests = [11, 12, 13, 14, 15].map((n) => request(n));
    const chats = server.stats().total;
    const texts = (await Promise.all(requests.map((r) => client.complete(r)))).map((c) => c.text);
    expect(server.stats().total - chats).toBe(3);
    expect(server.batches.created().at(-1)?.status).toBe('expired');
    expect(texts).toEqual(await onlineTexts(requests));
    expect(stats.toJSON()).toMatchObject({ batches: { by_status: { expired: 1 } }, lines: { answered: 2, retried_online: 3, retried_by_reason: { expired: 3 } } });
  });

  it('failing lines (a 500 in the error file) are retried online, the rest answered by the batch', async () => {
    const { client, stats } = await batching();
    server.batches.script({ failLines: 2 });
    const requests = [21, 22, 23, 24].map((n) => request(n)).concat([request(25, 'check', '[[batchfail]]')]);
    const chats = server.stats().total;
    const texts = (await Promise.all(requests.map((r) => client.complete(r)))).map((c) => c.text);
    expect(server.stats().total - chats).toBe(3);
    expect(texts).toEqual(await onlineTexts(requests));
    expect(stats.toJSON()).toMatchObject({ lines: { answered: 2, retried_online: 3, retried_by_reason: { failed: 3 } } });
  });

  it('a batch that fails validation sends all its requests online', async () => {
    const { client, stats } = await batching();
    server.batches.script({ failValidation: true });
    const requests = [31, 32, 33].map((n) => request(n));
    const texts = (await Promise.all(requests.map((r) => client.complete(r)))).map((c) => c.text);
    expect(texts).toEqual(await onlineTexts(requests));
    expect(server.batches.created().at(-1)?.status).toBe('failed');
    expect(stats.toJSON()).toMatchObject({ batches: { by_status: { failed: 1 } }, lines: { answered: 0, retried_by_reason: { batch_failed: 3 } } });
  });

  it('a batch refused for a full queue (token_limit_exceeded) is submitted again later, not sent online', async () => {
    const { client, stats } = await batching();
    server.batches.script({ failValidation: true, errorCode: 'token_limit_exceeded' });
    const requests = [35, 36, 37].map((n) => request(n));
    const created = server.batches.created().length;
    const chats = server.stats().total;
    const texts = (await Promise.all(requests.map((r) => client.complete(r)))).map((c) => c.text);
    expect(server.stats().total).toBe(chats);
    const batches = server.batches.created().slice(created);
    expect(batches.map((b) => b.status)).toEqual(['failed', 'completed']);
    expect(batches[1]?.customIds.sort()).toEqual(batches[0]?.customIds.sort());
    expect(texts).toEqual(await onlineTexts(requests));
    expect(stats.toJSON()).toMatchObject({ batches: { submitted: 2, by_status: { failed: 1, completed: 1 } }, lines: { submitted: 6, resubmitted: 3, answered: 3, retried_online: 0 } });
  });

  it('a restart over the same state file collects the submitted batch and submits nothing again', async () => {
    const statePath = join(dir, 'restart.jsonl');
    const first = await batching(statePath);
    server.batches.hold(true);
    const requests = [41, 42, 43].map((n) => request(n));
    const created = server.batches.created().length;
    const pending = requests.map((r) => first.client.complete(r).catch((e: unknown) => e));
    await until(() => server.batches.created().length === created + 1 && server.batches.created().at(-1)?.status === 'in_progress');
    // The first process goes away mid-batch (its waiting requests are refused).
    await first.client.close();
    await first.state.close();
    for (const r of await Promise.all(pending)) expect(r).toMatchObject({ code: 'LLM_ABORTED' });
    expect(await readFile(statePath, 'utf8')).toContain('"event":"submitted"');

    server.batches.hold(false);
    const uploads = server.batches.stats().uploads;
    const chats = server.stats().total;
    const second = await batching(statePath);
    const texts = (await Promise.all(requests.map((r) => second.client.complete(r)))).map((c) => c.text);
    expect(server.batches.created().length).toBe(created + 1);
    expect(server.batches.stats().uploads).toBe(uploads);
    expect(server.stats().total).toBe(chats);
    expect(texts).toEqual(await onlineTexts(requests));
    expect(second.stats.toJSON()).toMatchObject({ batches: { submitted: 0, adopted: 1 }, lines: { answered: 3 } });
  });

  it('a restart that finds only the upload recorded looks the batch up by its file; one never created is submitted anew', async () => {
    const statePath = join(dir, 'adopt.jsonl');
    const first = await batching(statePath);
    server.batches.hold(true);
    const requests = [51, 52].map((n) => request(n));
    const created = server.batches.created().length;
    const pending = requests.map((r) => first.client.complete(r).catch((e: unknown) => e));
    await until(() => server.batches.created().length === created + 1);
    await untilFileHas(statePath, '"event":"submitted"');
    await first.client.close();
    await first.state.close();
    await Promise.all(pending);
    // Keep only the `submitting` event, as if the process died before the batch id was written;
    // and add an upload whose batch was never created, holding two more requests.
    const events = (await readFile(statePath, 'utf8')).split('\n').filter((l) => l.includes('"submitting"'));
    expect(events).toHaveLength(1);
    const never = [53, 54].map((n) => request(n));
    const neverIds = never.map((r) => customIdFor(server.url, JSON.stringify({ model: 'stand-in', ...chatBody(r, 'openai') })));
    const orphan = JSON.stringify({ event: 'submitting', file_id: 'file-never-batched', custom_ids: neverIds, at: Date.now() });
    await writeFile(statePath, events.join('\n') + '\n' + orphan + '\n');

    server.batches.hold(false);
    const second = await batching(statePath);
    const all = [...requests, ...never];
    const texts = (await Promise.all(all.map((r) => second.client.complete(r)))).map((c) => c.text);
    const batches = server.batches.created().slice(created);
    // The adopted batch, and one new batch for the two requests whose batch was never made.
    expect(batches.map((b) => b.customIds.length)).toEqual([2, 2]);
    expect(batches[1]?.customIds.sort()).toEqual([...neverIds].sort());
    expect(texts).toEqual(await onlineTexts(all));
    expect(second.stats.toJSON()).toMatchObject({ batches: { submitted: 1, adopted: 1 }, lines: { answered: 4, retried_online: 0 } });
    expect(await readFile(statePath, 'utf8')).toMatch(/"event":"submitted","file_id":"file-standin-\d+","batch_id":"batch_standin_\d+"/);
  });
});

describe('batch result lines and the state file', () => {
  const context = { url: 'http://x/v1', batch: 'b' };

  it('reads answers, failed lines, expired and cancelled lines, and ignores what is not a result line', () => {
    const body = { choices: [{ message: { content: '{"a":1}' }, finish_reason: 'stop' }], usage: { prompt_tokens: 7, completion_tokens: 3 }, model: 'm' };
    expect(readResultLine(JSON.stringify({ id: 'r1', custom_id: 'c1', response: { status_code: 200, request_id: 'q', body }, error: null }), 'fallback', context)).toEqual({
      customId: 'c1',
      outcome: { kind: 'answer', completion: { text: '{"a":1}', model: 'm', usage: { prompt_tokens: 7, completion_tokens: 3 }, finishReason: 'stop' } },
    });
    const failed = readResultLine(JSON.stringify({ custom_id: 'c2', response: { status_code: 400, body: { error: { message: 'bad schema' } } }, error: null }), 'f', context);
    expect(failed).toEqual({ customId: 'c2', outcome: { kind: 'retry', reason: 'failed', detail: 'status 400: bad schema' } });
    expect(readResultLine(JSON.stringify({ custom_id: 'c3', response: null, error: { code: 'batch_expired', message: 'late' } }), 'f', context)?.outcome).toMatchObject({ reason: 'expired' });
    expect(readResultLine(JSON.stringify({ custom_id: 'c4', response: null, error: { code: 'batch_cancelled', message: 'x' } }), 'f', context)?.outcome).toMatchObject({ reason: 'cancelled' });
    // A 200 whose body is not a chat completion is retried online, not trusted.
    expect(readResultLine(JSON.stringify({ custom_id: 'c5', response: { status_code: 200, body: { nope: true } } }), 'f', context)?.outcome).toMatchObject({ kind: 'retry', reason: 'failed' });
    expect(readResultLine('{"custom_id": ', 'f', context)).toBeUndefined();
    expect(readResultLine(JSON.stringify({ response: {} }), 'f', context)).toBeUndefined();
  });

  it('custom ids are stable, differ by endpoint and body, and fit OpenAI\'s 64 characters', () => {
    const a = customIdFor('http://a/v1', '{"x":1}');
    expect(customIdFor('http://a/v1', '{"x":1}')).toBe(a);
    expect(customIdFor('http://b/v1', '{"x":1}')).not.toBe(a);
    expect(customIdFor('http://a/v1', '{"x":2}')).not.toBe(a);
    expect(a.length).toBeLessThanOrEqual(64);
  });

  it('the state file survives a torn last line and keeps what earlier runs recorded', async () => {
    const path = join(dir, 'torn.jsonl');
    const good = [
      JSON.stringify({ event: 'submitting', file_id: 'f1', custom_ids: ['a', 'b'], at: 1 }),
      JSON.stringify({ event: 'submitted', file_id: 'f1', batch_id: 'b1', at: 2 }),
      JSON.stringify({ event: 'submitting', file_id: 'f2', custom_ids: ['c'], at: 3 }),
      JSON.stringify({ event: 'collected', batch_id: 'b1', status: 'completed', at: 4 }),
    ];
    await writeFile(path, good.join('\n') + '\n{"event":"submitted","file_id":"f2","bat');
    const state = await BatchStateLog.open(path);
    expect(state.earlierBatches()).toEqual([
      { fileId: 'f1', batchId: 'b1', customIds: ['a', 'b'], collected: true },
      { fileId: 'f2', batchId: undefined, customIds: ['c'], collected: false },
    ]);
    expect(state.earlierBatchOf('c')?.fileId).toBe('f2');
    await state.submitted('f2', 'b2');
    await state.close();
    const reread = await BatchStateLog.open(path);
    expect(reread.earlierBatchOf('c')?.batchId).toBe('b2');
    await reread.close({ remove: true });
  });
});
