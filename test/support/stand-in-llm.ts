/**
 * A stand-in LLM server for tests and benchmarks: a real HTTP server on 127.0.0.1 speaking the
 * OpenAI chat-completions wire protocol (`POST /v1/chat/completions`, `GET /v1/models`), or, in
 * TGI mode, answering like Text Generation Inference (`GET /info`, TGI's `{type: "json", value}`
 * response_format, `{error, error_type}` error bodies).
 *
 * By default it answers each of the four pipeline stages with deterministic, valid content, so a
 * whole pipeline run can be checked end to end. The stage is read from the request's JSON schema
 * (name, or property names in TGI's shape), else from the system prompt. Markers in the request
 * text steer the answers: `[[unqualified]]`, `[[domain:X]]`, `[[personas:a,b]]`, `[[answer:X]]`,
 * `[[leak]]`, `[[incorrect]]`, `[[nocontext]]`, `[[badjson]]`; `[[fail500]]` always gets a 500, and
 * `[[fail:NNN]]` answers every request of that document with status NNN in the mode's error shape.
 *
 * With `contextLimit` it refuses prompts that do not fit, with the real servers' 400 (vLLM,
 * OpenAI or llama.cpp wording; TGI's 422).
 *
 * A fault script (`script(...)`) makes the next requests fail in chosen ways: 429 with
 * Retry-After or retry-after-ms, quota errors, any status, hangs, resets, malformed or non-JSON
 * bodies, replies that break the schema or come in code fences. It is for protocol and fault
 * tests, not a substitute for a real model. Scripted faults are for pipeline calls: the start-up
 * probe's requests (`PROBE_MARKER` in the prompt) are answered normally and leave the script alone.
 *
 * With `rateLimit` it enforces requests and tokens per minute the way OpenAI does: token buckets
 * that refill continuously (capacity `burstSeconds` of refill, default 60), a request admitted
 * only when both hold its cost (prompt + completion tokens, as its `usage` will report them), else
 * a 429 `rate_limit_exceeded`; every answer carries `x-ratelimit-limit-*`, `-remaining-*` and
 * `-reset-*` for requests and tokens, and a 429 also `retry-after-ms`.
 *
 * `failAll` (an option, or `setFailAll` at run time) makes the server misconfigured rather than
 * faulty: every request, probes included, gets the same answer: 401, 403, 404 (`{"detail": "Not
 * Found"}`, as FastAPI servers say it), 405, 501, or `model_not_found` (chat requests get OpenAI's
 * 404 `code: "model_not_found"` body; the model list still answers). With `strictModel`, a chat
 * request naming a model other than `model` gets vLLM's 404 "The model `x` does not exist.".
 *
 * In OpenAI mode it also serves the Files and Batch endpoints (`stand-in-batch.ts`), answering
 * batch lines as it answers online requests; `batches` scripts expiring batches and failing lines.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROBE_MARKER } from '../../src/llm/probe.js';
import { createBatchEndpoints, type StandInBatches } from './stand-in-batch.js';

export type StandInMode = 'openai' | 'tgi';

/** Faults that take no parameters, by name. */
export type StandInFaultName = 'quota' | 'hang' | 'malformed_json' | 'text_plain' | 'invalid_content' | 'code_fence' | 'reset';

export type StandInFault =
  | StandInFaultName
  /** 429; `retryAfterSeconds` -> `Retry-After: n`, `retryAfterMs` -> `retry-after-ms`, `retryAfterDateMs` -> an HTTP-date that far ahead. */
  | { type: 'rate_limit'; retryAfterSeconds?: number; retryAfterMs?: number; retryAfterDateMs?: number }
  /** Any error status with a body in the mode's error shape. */
  | { type: 'status'; status: number; message?: string; headers?: Record<string, string> }
  /** A 503 the way HF endpoints say a model is still loading (`estimated_time` in seconds). */
  | { type: 'loading'; estimatedTimeSeconds?: number }
  /** A normal answer after this extra delay. */
  | { type: 'delay'; ms: number };

/** A misconfigured endpoint: every request gets this answer (see the module comment). */
export type StandInFailAll = 401 | 403 | 404 | 405 | 501 | 'model_not_found';

export interface StandInRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body (undefined for GET or unparseable bodies). */
  body: unknown;
  receivedAt: number;
}

export interface StandInOptions {
  /** Delay before every normal answer, in ms (default 0). */
  latencyMs?: number;
  mode?: StandInMode;
  /** Port to listen on; default a random free one. */
  port?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`, else 401. */
  apiKey?: string;
  /** Model name reported in replies and `/v1/models`. */
  model?: string;
  /** Keep at most this many requests in `requests` (oldest dropped; default 10 000). */
  maxLog?: number;
  /**
   * Count start-up probe requests (`PROBE_MARKER`) in `stats()` (default true). The bench turns it
   * off: a worker started mid-run would otherwise add its probe to the stage's calls and timeline.
   */
  countProbes?: boolean;
  /**
   * The model's context in tokens: a chat request whose prompt tokens (as counted here) plus
   * `max_tokens` exceed it gets the real server's answer, a 400 (TGI: 422) naming the limit.
   */
  contextLimit?: number;
  /** Wording of that answer in OpenAI mode: vLLM's (default), OpenAI's, or llama.cpp server's. */
  contextErrorStyle?: 'vllm' | 'openai' | 'llamacpp';
  /** Answer every request like a misconfigured endpoint (`setFailAll` changes it later). */
  failAll?: StandInFailAll;
  /** Refuse chat requests for any model but `model`, as vLLM does (404 NotFoundError). */
  strictModel?: boolean;
  /** No Files and Batch endpoints (404), like a self-hosted server without the Batch API. */
  noBatchApi?: boolean;
  /**
   * Answer every pipeline request whose messages contain `marker` with `status` (probes are
   * answered normally): poison records whose cause can be removed at run time
   * (`setRefuseMarked(undefined)`), unlike the `[[fail:NNN]]` marker, which is in the data.
   */
  refuseMarked?: StandInRefusal;
  /** Enforce requests and tokens per minute with 429s (see the module comment). */
  rateLimit?: { rpm: number; tpm: number; burstSeconds?: number };
}

export interface StandInRefusal {
  marker: string;
  status: number;
}

/** What the rate-limit mode admitted and refused. */
export interface StandInRateStats {
  /** Admitted chat requests: when (epoch ms) and their tokens. */
  admitted: { at: number; tokens: number }[];
  /** Requests refused with 429, and when. */
  refused: number[];
}

export interface StandInLlm {
  /** Base URL ending in /v1. */
  url: string;
  /** The server root (no /v1), e.g. for TGI's `/info`. */
  root: string;
  port: number;
  mode: StandInMode;
  /** Received requests, oldest first (chat completions and everything else). */
  requests: StandInRequest[];
  /** Queue faults for the next chat-completion requests, one per request, in order. */
  script(...faults: StandInFault[]): void;
  /** Faults still queued. */
  pendingFaults(): number;
  /** Turn the misconfigured-endpoint answer on, change it, or (undefined) fix the endpoint. */
  setFailAll(mode: StandInFailAll | undefined): void;
  /** Refuse marked requests (see `refuseMarked`), or (undefined) stop refusing them. */
  setRefuseMarked(refusal: StandInRefusal | undefined): void;
  /** Chat-completion requests being handled right now, the most seen at once, and those refused as over `contextLimit`. */
  stats(): { total: number; inFlight: number; maxInFlight: number; contextRejections: number };
  /** The rate-limit mode's log (empty without `rateLimit`). */
  rateStats(): StandInRateStats;
  resetStats(): void;
  /** The Batch API side: scripts, hold, what was created (see `stand-in-batch.ts`). */
  batches: StandInBatches;
  close(): Promise<void>;
}

type Stage = 'filter' | 'identify' | 'generate' | 'check';

const SCHEMA_NAMES: Record<string, Stage> = {
  filter_verdict: 'filter',
  domain_and_personas: 'identify',
  question_answer: 'generate',
  quality_verdicts: 'check',
};

const DEFAULT_PERSONAS = ['curious student', 'working professional'];

const STOPWORDS = new Set(
  'about above after again against because before being below between could doing during further having other their theirs there these those through under until where which while would should shall might'.split(' '),
);

interface ChatMessageLike {
  role?: unknown;
  content?: unknown;
}

function messagesOf(body: Record<string, unknown>): { role: string; content: string }[] {
  const raw = Array.isArray(body['messages']) ? (body['messages'] as ChatMessageLike[]) : [];
  return raw.map((m) => ({ role: typeof m.role === 'string' ? m.role : 'user', content: typeof m.content === 'string' ? m.content : '' }));
}

/** Which stage a request is for: schema name, else schema properties (TGI), else the system prompt. */
export function detectStage(body: Record<string, unknown>): Stage | undefined {
  const format = body['response_format'] as Record<string, unknown> | undefined;
  let schema: unknown;
  if (format !== undefined && typeof format === 'object' && format !== null) {
    const js = format['json_schema'] as Record<string, unknown> | undefined;
    if (js !== undefined && typeof js['name'] === 'string' && SCHEMA_NAMES[js['name']] !== undefined) return SCHEMA_NAMES[js['name']];
    schema = js?.['schema'] ?? format['value'];
  }
  if (typeof schema === 'object' && schema !== null) {
    const props = Object.keys(((schema as Record<string, unknown>)['properties'] ?? {}) as object);
    if (props.includes('has_context')) return 'check';
    if (props.includes('personas')) return 'identify';
    if (props.includes('qualified')) return 'filter';
    if (props.includes('question')) return 'generate';
  }
  const messages = messagesOf(body);
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  const text = system !== '' ? system : messages.map((m) => m.content).join('\n');
  if (/"has_context"|has_context/.test(text)) return 'check';
  if (/"qualified"/.test(text)) return 'filter';
  if (/"personas"/.test(text)) return 'identify';
  if (/"question"/.test(text)) return 'generate';
  return undefined;
}

function marker(text: string, name: string): string | undefined {
  const match = new RegExp(`\\[\\[${name}:([^\\]]*)\\]\\]`).exec(text);
  return match?.[1];
}

/** The document of a request: the first `<document>` block of the user messages, else all of them. */
function documentOf(messages: { role: string; content: string }[]): string {
  const user = messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
  const block = /<document>\n?([\s\S]*?)\n?<\/document>/.exec(user);
  return block?.[1] ?? user;
}

/** The most frequent longish word of the document (first seen wins ties): a stable short answer. */
export function pickAnswer(document: string): string {
  const cleaned = document.replace(/\[\[[^\]]*\]\]/g, ' ');
  const counts = new Map<string, { count: number; first: number; word: string }>();
  let index = 0;
  for (const match of cleaned.matchAll(/[A-Za-z][A-Za-z-]{4,}/g)) {
    const word = match[0];
    const key = word.toLowerCase();
    if (STOPWORDS.has(key)) continue;
    const entry = counts.get(key);
    if (entry === undefined) counts.set(key, { count: 1, first: index++, word });
    else entry.count++;
  }
  let best: { count: number; first: number; word: string } | undefined;
  for (const entry of counts.values()) {
    if (best === undefined || entry.count > best.count || (entry.count === best.count && entry.first < best.first)) best = entry;
  }
  if (best !== undefined) return best.word;
  const any = /\S+/.exec(cleaned);
  return any?.[0] ?? 'unknown';
}

/** The default, deterministic answer content for one request. */
export function answerFor(body: Record<string, unknown>): string {
  const text = JSON.stringify(body);
  const messages = messagesOf(body);
  if (text.includes('[[badjson]]')) return 'Sorry, I can only answer in prose today: the document looks fine to me.';
  const stage = detectStage(body);
  switch (stage) {
    case 'filter': {
      const qualified = !text.includes('[[unqualified]]');
      return JSON.stringify({ reasoning: qualified ? 'The document is informative.' : 'The document is marked unqualified.', qualified });
    }
    case 'identify': {
      const domain = marker(text, 'domain') ?? 'Other';
      const listed = marker(text, 'personas');
      const personas = listed === undefined ? DEFAULT_PERSONAS : listed.split(',').map((p) => p.trim()).filter((p) => p !== '');
      return JSON.stringify({ reasoning: `Stand-in label for a ${domain} document.`, domain, personas });
    }
    case 'generate': {
      const document = documentOf(messages);
      const answer = marker(text, 'answer') ?? pickAnswer(document);
      const user = messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
      const persona = /persona:\s*([^\n]+)\s*$/i.exec(user.trimEnd())?.[1]?.trim();
      const initial = answer.charAt(0).toUpperCase();
      const question =
        `Which ${answer.length}-character term beginning with "${initial}" is the recurring key word of the ` +
        `source material on this subject${persona === undefined ? '' : `, as a ${persona} would ask`}?`;
      return JSON.stringify({ reasoning: 'The term recurs most often in the document.', question, answer });
    }
    case 'check': {
      const leak = text.includes('[[leak]]');
      const incorrect = text.includes('[[incorrect]]');
      const noContext = text.includes('[[nocontext]]');
      return JSON.stringify({
        reasoning: leak || incorrect || noContext ? 'The pair carries a failure marker.' : 'The pair is self-contained, correct and does not leak.',
        has_context: !noContext,
        answer_correct: !incorrect,
        info_leakage: leak,
      });
    }
    case undefined:
      return 'Hello from the stand-in LLM.';
  }
}

function tokensOf(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** Prompt tokens as the stand-in counts them: 4 characters a token, plus a chat template's few per message. */
export function standInPromptTokens(body: Record<string, unknown>): number {
  const messages = messagesOf(body);
  return tokensOf(messages.reduce((n, m) => n + m.content.length, 0)) + 4 * messages.length + 3;
}

/**
 * The body and status a real server sends for a request over its context. Wording from the
 * servers' sources: vLLM's OpenAI-compatible server (`{object: "error", message, type:
 * "BadRequestError", code: 400}`), OpenAI (`context_length_exceeded`), llama.cpp server
 * (`exceed_context_size_error` with `n_prompt_tokens` and `n_ctx`), TGI's validation error (422).
 */
export function contextErrorBody(
  style: 'vllm' | 'openai' | 'llamacpp' | 'tgi',
  limit: number,
  promptTokens: number,
  maxTokens: number,
): { status: number; body: unknown } {
  const total = promptTokens + maxTokens;
  switch (style) {
    case 'vllm':
      return {
        status: 400,
        body: {
          object: 'error',
          message:
            `This model's maximum context length is ${limit} tokens. However, you requested ${total} tokens ` +
            `(${promptTokens} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
          type: 'BadRequestError',
          param: null,
          code: 400,
        },
      };
    case 'openai':
      return {
        status: 400,
        body: {
          error: {
            message: `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${promptTokens} tokens. Please reduce the length of the messages.`,
            type: 'invalid_request_error',
            param: 'messages',
            code: 'context_length_exceeded',
          },
        },
      };
    case 'llamacpp':
      return {
        status: 400,
        body: {
          error: {
            code: 400,
            message: `request (${promptTokens} tokens) exceeds the available context size (${limit} tokens), try increasing it`,
            type: 'exceed_context_size_error',
            n_prompt_tokens: promptTokens,
            n_ctx: limit,
          },
        },
      };
    case 'tgi':
      return {
        status: 422,
        body: {
          error: `Input validation error: \`inputs\` tokens + \`max_new_tokens\` must be <= ${limit}. Given: ${promptTokens} \`inputs\` tokens and ${maxTokens} \`max_new_tokens\``,
          error_type: 'validation',
        },
      };
  }
}

const TGI_ERROR_TYPES: Record<number, string> = {
  400: 'validation',
  422: 'validation',
  424: 'generation',
  429: 'overloaded',
  500: 'incomplete_generation',
  503: 'unavailable',
};

const OPENAI_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** OpenAI's reset format: `1s`, `6m0s`, `250ms`. */
function resetText(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${Number(seconds.toFixed(3))}s`;
  return `${Math.floor(seconds / 60)}m${Number((seconds % 60).toFixed(3))}s`;
}

type RateVerdict =
  | { ok: true; headers: Record<string, string> }
  | { ok: false; headers: Record<string, string>; which: 'requests' | 'tokens'; limit: number; retryAfterMs: number };

/** The rate-limit mode's two buckets, OpenAI style (continuous refill, no debt). */
function rateBuckets(limits: { rpm: number; tpm: number; burstSeconds?: number }): { admit(tokens: number, now: number): RateVerdict } {
  const burst = (limits.burstSeconds ?? 60) / 60;
  const dims = {
    requests: { limit: limits.rpm, capacity: limits.rpm * burst, level: limits.rpm * burst },
    tokens: { limit: limits.tpm, capacity: limits.tpm * burst, level: limits.tpm * burst },
  };
  let at = Date.now();
  const headers = (now: number): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [name, d] of Object.entries(dims)) {
      out[`x-ratelimit-limit-${name}`] = String(d.limit);
      out[`x-ratelimit-remaining-${name}`] = String(Math.max(0, Math.floor(d.level)));
      out[`x-ratelimit-reset-${name}`] = resetText(((d.capacity - d.level) * 60_000) / d.limit);
    }
    void now;
    return out;
  };
  return {
    admit(tokens, now) {
      const elapsed = Math.max(0, now - at);
      at = Math.max(at, now);
      for (const d of Object.values(dims)) d.level = Math.min(d.capacity, d.level + (elapsed * d.limit) / 60_000);
      const cost = { requests: 1, tokens };
      for (const which of ['requests', 'tokens'] as const) {
        const d = dims[which];
        if (d.level < cost[which]) {
          const retryAfterMs = Math.ceil(((cost[which] - d.level) * 60_000) / d.limit);
          return { ok: false, headers: headers(now), which, limit: d.limit, retryAfterMs };
        }
      }
      dims.requests.level -= 1;
      dims.tokens.level -= tokens;
      return { ok: true, headers: headers(now) };
    },
  };
}

export async function startStandInLlm(options: StandInOptions = {}): Promise<StandInLlm> {
  const mode: StandInMode = options.mode ?? 'openai';
  const latencyMs = options.latencyMs ?? 0;
  const modelName = options.model ?? (mode === 'tgi' ? 'stand-in/tgi-model' : 'stand-in-model');
  const maxLog = options.maxLog ?? 10_000;
  const requests: StandInRequest[] = [];
  const faults: StandInFault[] = [];
  const pending = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  let total = 0;
  let contextRejections = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let sequence = 0;
  let failAll: StandInFailAll | undefined = options.failAll;
  let refuseMarked: StandInRefusal | undefined = options.refuseMarked;
  const rateStats: StandInRateStats = { admitted: [], refused: [] };
  const limiter = options.rateLimit === undefined ? undefined : rateBuckets(options.rateLimit);

  const later = (ms: number, fn: () => void): void => {
    if (ms <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const sendJson = (res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void => {
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const sendError = (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}, code?: string): void => {
    if (mode === 'tgi') {
      sendJson(res, status, { error: message, error_type: code ?? TGI_ERROR_TYPES[status] ?? 'error' }, headers);
    } else {
      sendJson(res, status, { error: { message, type: code ?? OPENAI_ERROR_TYPES[status] ?? 'server_error', param: null, code: code ?? null } }, headers);
    }
  };

  const completion = (body: Record<string, unknown>, content: string): Record<string, unknown> => {
    const promptChars = messagesOf(body).reduce((n, m) => n + m.content.length, 0);
    const promptTokens = tokensOf(promptChars);
    const completionTokens = tokensOf(content.length);
    sequence++;
    return {
      id: `chatcmpl-standin-${sequence}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: typeof body['model'] === 'string' && body['model'] !== '' ? body['model'] : modelName,
      system_fingerprint: mode === 'tgi' ? '3.0.0-native' : null,
      choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: mode === 'tgi' ? 'eos_token' : 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  };

  /** Reject a response_format the real server family would reject. */
  const formatProblem = (body: Record<string, unknown>): string | undefined => {
    const format = body['response_format'] as Record<string, unknown> | undefined;
    if (format === undefined || format === null || typeof format !== 'object') return undefined;
    const type = format['type'];
    if (mode === 'tgi') {
      if (type === 'json' || type === 'json_object' || type === 'regex') return undefined;
      return `Failed to deserialize the JSON body: response_format: unknown variant \`${String(type)}\`, expected \`json\` or \`regex\``;
    }
    if (type === 'json_schema' || type === 'json_object' || type === 'text') return undefined;
    return `Invalid value for response_format.type: '${String(type)}'`;
  };

  const handleChat = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): void => {
    const probe = JSON.stringify(body).includes(PROBE_MARKER);
    const counted = !probe || options.countProbes !== false;
    if (counted) {
      total++;
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
    }
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (counted) inFlight--;
      pending.delete(res);
    };
    pending.add(res);
    res.on('close', finish);
    res.on('finish', finish);

    const failWith = /\[\[fail:(\d{3})\]\]/.exec(JSON.stringify(body))?.[1];
    const fault = probe || failWith !== undefined ? undefined : faults.shift();
    const answer = (extraDelay = 0, shape: (content: string) => string | undefined = () => undefined): void => {
      later(latencyMs + extraDelay, () => {
        const content = answerFor(body);
        const override = shape(content);
        sendJson(res, 200, completion(body, override ?? content));
      });
    };
    const problem = formatProblem(body);
    if (problem !== undefined) {
      sendError(res, mode === 'tgi' ? 422 : 400, problem);
      return;
    }
    if (options.contextLimit !== undefined) {
      const promptTokens = standInPromptTokens(body);
      const maxTokens = typeof body['max_tokens'] === 'number' ? body['max_tokens'] : 16;
      if (promptTokens + maxTokens > options.contextLimit) {
        contextRejections++;
        const refusal = contextErrorBody(mode === 'tgi' ? 'tgi' : (options.contextErrorStyle ?? 'vllm'), options.contextLimit, promptTokens, maxTokens);
        sendJson(res, refusal.status, refusal.body);
        return;
      }
    }
    if (JSON.stringify(body['messages'] ?? body['inputs'] ?? '').includes('[[fail500]]')) {
      // A document this server can never answer, whatever the retries (a stuck record).
      later(latencyMs, () => sendError(res, 500, 'stand-in: this document always fails'));
      return;
    }
    if (failWith !== undefined) {
      sendError(res, Number(failWith), `stand-in refuses this document with ${failWith}`);
      return;
    }
    if (refuseMarked !== undefined && !probe && JSON.stringify(body['messages'] ?? body['inputs'] ?? '').includes(refuseMarked.marker)) {
      sendError(res, refuseMarked.status, `stand-in refuses requests marked ${refuseMarked.marker} with ${refuseMarked.status}`);
      return;
    }
    if (limiter !== undefined && fault === undefined) {
      const content = answerFor(body);
      const tokens = tokensOf(messagesOf(body).reduce((n, m) => n + m.content.length, 0)) + tokensOf(content.length);
      const now = Date.now();
      const verdict = limiter.admit(tokens, now);
      if (!verdict.ok) {
        rateStats.refused.push(now);
        sendError(res, 429, `Rate limit reached for ${verdict.which} per min: Limit ${verdict.limit}. Please try again in ${verdict.retryAfterMs}ms.`, {
          ...verdict.headers,
          'retry-after-ms': String(verdict.retryAfterMs),
        }, mode === 'tgi' ? undefined : 'rate_limit_exceeded');
        return;
      }
      rateStats.admitted.push({ at: now, tokens });
      later(latencyMs, () => sendJson(res, 200, completion(body, content), verdict.headers));
      return;
    }
    if (fault === undefined) {
      answer();
      return;
    }
    if (typeof fault === 'string') {
      switch (fault) {
        case 'quota':
          if (mode === 'tgi') sendError(res, 429, 'You exceeded your current quota', {}, 'insufficient_quota');
          else sendError(res, 429, 'You exceeded your current quota, please check your plan and billing details.', {}, 'insufficient_quota');
          return;
        case 'hang':
          return; // never answered; closed by the client's timeout or by close()
        case 'reset':
          req.socket.destroy();
          return;
        case 'malformed_json':
          later(latencyMs, () => {
            if (res.destroyed) return;
            const text = '{"id": "chatcmpl-broken", "choices": [{"message": {"content": "{\\"reas';
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
            res.end(text);
          });
          return;
        case 'text_plain':
          later(latencyMs, () => {
            if (res.destroyed) return;
            const text = 'The model is warming up, please come back later.';
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
            res.end(text);
          });
          return;
        case 'invalid_content':
          answer(0, () => JSON.stringify({ reasoning: 'Not sure what to say.', verdict: 'maybe' }));
          return;
        case 'code_fence':
          answer(0, (content) => '```json\n' + content + '\n```');
          return;
      }
    }
    switch (fault.type) {
      case 'rate_limit': {
        const headers: Record<string, string> = {};
        if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
        if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
        if (fault.retryAfterDateMs !== undefined) headers['retry-after'] = new Date(Date.now() + fault.retryAfterDateMs).toUTCString();
        sendError(res, 429, mode === 'tgi' ? 'Model is overloaded' : 'Rate limit reached for requests', headers);
        return;
      }
      case 'status':
        sendError(res, fault.status, fault.message ?? `stand-in error ${fault.status}`, fault.headers ?? {});
        return;
      case 'loading':
        sendJson(res, 503, { error: `Model ${modelName} is currently loading`, estimated_time: fault.estimatedTimeSeconds ?? 1 });
        return;
      case 'delay':
        answer(fault.ms);
        return;
    }
  };

  /** A batch line gets what the same request gets online, minus the scripted faults and latency. */
  const batchEndpoints = createBatchEndpoints((body) => {
    const problem = formatProblem(body);
    if (problem !== undefined) return { status: 400, body: { error: { message: problem, type: 'invalid_request_error', param: null, code: null } } };
    const text = JSON.stringify(body);
    const failWith = /\[\[fail:(\d{3})\]\]/.exec(text)?.[1];
    const status = JSON.stringify(body['messages'] ?? '').includes('[[fail500]]') ? 500 : failWith !== undefined ? Number(failWith) : 200;
    if (status !== 200) return { status, body: { error: { message: `stand-in error ${status}`, type: OPENAI_ERROR_TYPES[status] ?? 'server_error', param: null, code: null } } };
    return { status: 200, body: completion(body, answerFor(body)) };
  });

  const handle = (req: IncomingMessage, res: ServerResponse, rawBytes: Buffer): void => {
    const raw = rawBytes.toString('utf8');
    let body: unknown;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push({ method: req.method ?? 'GET', path, headers: { ...req.headers }, body, receivedAt: Date.now() });
    if (requests.length > maxLog) requests.splice(0, requests.length - maxLog);

    const isChat = req.method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions');
    switch (failAll) {
      case undefined:
        break;
      case 401:
        sendError(res, 401, 'Incorrect API key provided', {}, mode === 'tgi' ? 'unauthorized' : 'invalid_api_key');
        return;
      case 403:
        sendError(res, 403, 'You are not allowed to use this model');
        return;
      case 404:
        sendJson(res, 404, { detail: 'Not Found' });
        return;
      case 405:
        sendJson(res, 405, { detail: 'Method Not Allowed' }, { allow: 'GET' });
        return;
      case 501:
        sendError(res, 501, 'Not Implemented');
        return;
      case 'model_not_found':
        if (isChat) {
          const asked = typeof (body as Record<string, unknown> | undefined)?.['model'] === 'string' ? String((body as Record<string, unknown>)['model']) : modelName;
          sendError(res, 404, `The model \`${asked}\` does not exist or you do not have access to it.`, {}, 'model_not_found');
          return;
        }
        break;
    }
    if (options.strictModel === true && isChat && typeof body === 'object' && body !== null) {
      const asked = (body as Record<string, unknown>)['model'];
      if (typeof asked === 'string' && asked !== modelName) {
        sendJson(res, 404, { object: 'error', message: `The model \`${asked}\` does not exist.`, type: 'NotFoundError', param: null, code: 404 });
        return;
      }
    }
    if (options.apiKey !== undefined && req.headers['authorization'] !== `Bearer ${options.apiKey}`) {
      sendError(res, 401, 'Incorrect API key provided', {}, mode === 'tgi' ? 'unauthorized' : 'invalid_api_key');
      return;
    }
    if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
      sendJson(res, 200, { object: 'list', data: [{ id: modelName, object: 'model', created: 0, owned_by: 'stand-in' }] });
      return;
    }
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(200).end();
      return;
    }
    if (req.method === 'GET' && path === '/info' && mode === 'tgi') {
      sendJson(res, 200, {
        model_id: modelName,
        model_sha: null,
        max_concurrent_requests: 128,
        max_input_tokens: 4095,
        max_total_tokens: 4096,
        router: 'text-generation-router',
        version: '3.0.0',
      });
      return;
    }
    if (mode === 'openai' && options.noBatchApi !== true && batchEndpoints.handle(req, res, path, rawBytes, (status, payload) => sendJson(res, status, payload))) return;
    if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions')) {
      if (typeof body !== 'object' || body === null || !Array.isArray((body as Record<string, unknown>)['messages'])) {
        sendError(res, mode === 'tgi' ? 422 : 400, 'request body must be a JSON object with messages');
        return;
      }
      handleChat(req, res, body as Record<string, unknown>);
      return;
    }
    sendError(res, 404, `no route for ${req.method ?? 'GET'} ${path}`);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
    req.on('error', () => res.destroy());
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  server.requestTimeout = 0;
  server.maxConnections = 4096;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const root = `http://127.0.0.1:${port}`;

  return {
    url: `${root}/v1`,
    root,
    port,
    mode,
    requests,
    script(...more) {
      faults.push(...more);
    },
    pendingFaults: () => faults.length,
    setFailAll(mode) {
      failAll = mode;
    },
    setRefuseMarked(refusal) {
      refuseMarked = refusal;
    },
    stats: () => ({ total, inFlight, maxInFlight, contextRejections }),
    rateStats: () => rateStats,
    batches: batchEndpoints.control,
    resetStats() {
      total = 0;
      contextRejections = 0;
      maxInFlight = inFlight;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const res of pending) res.destroy();
      pending.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
