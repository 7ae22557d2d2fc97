/**
 * The provider side of batch mode: OpenAI's Files and Batches endpoints, spoken over undici.
 *   POST {url}/files                 multipart, purpose=batch, the JSONL of requests -> file id
 *   POST {url}/batches               {input_file_id, endpoint, completion_window, metadata}
 *   GET  {url}/batches/{id}          status: validating, in_progress, finalizing, completed,
 *                                    failed, expired, cancelling, cancelled
 *   GET  {url}/batches?limit&after   to find a batch by its input file after a lost answer
 *   GET  {url}/files/{id}/content    output_file_id / error_file_id: JSONL, streamed line by line
 * Every call runs in the LLM layer's retry loop (429, 5xx, timeouts, resets) and every failure
 * leaves as a classified `WebscaleError`, as the chat client's do. Creating a batch is the one
 * call that is not idempotent: before it is retried after an answer that never came, the recent
 * batches are searched for one made from the same file, so a lost answer never pays twice.
 */
import { createInterface } from 'node:readline';
import { FormData, request, type Dispatcher } from 'undici';
import { WebscaleError } from '../../core/errors.js';
import { abortedError, classifyHttpError, classifyNetworkError, safeUrl, withRetries, type RetryPolicy } from '../retry.js';

export const BATCH_STATUSES = ['validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** Statuses after which a batch changes no more. */
export const TERMINAL_STATUSES: ReadonlySet<BatchStatus> = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** The fields of OpenAI's Batch object this module reads. */
export interface BatchObject {
  id: string;
  status: BatchStatus;
  inputFileId: string;
  outputFileId: string | null;
  errorFileId: string | null;
  requestCounts: { total: number; completed: number; failed: number } | null;
  /** Validation errors of a `failed` batch (`errors.data[].message`), first few. */
  errors: string[];
  /** Their codes (`errors.data[].code`), e.g. `token_limit_exceeded`. */
  errorCodes: string[];
}

export interface BatchApiOptions {
  /** Base URL ending in /v1. */
  url: string;
  apiKey?: string | undefined;
  dispatcher: Dispatcher;
  /** Per-attempt timeout of status calls; uploads and downloads get at least 10 minutes. */
  timeoutMs: number;
  retry: RetryPolicy;
}

/** The endpoint every line of our batches calls. */
export const CHAT_ENDPOINT = '/v1/chat/completions';

const TRANSFER_TIMEOUT_MS = 10 * 60_000;

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** Read a Batch object; anything else is LLM_BAD_RESPONSE (retryable, like a garbled chat reply). */
export function parseBatchObject(json: unknown, url: string): BatchObject {
  const bad = (why: string): WebscaleError =>
    new WebscaleError('LLM_BAD_RESPONSE', `batch endpoint answered something that is not a batch: ${why}`, { retryable: true, context: { url: safeUrl(url) } });
  if (typeof json !== 'object' || json === null) throw bad('not an object');
  const o = json as Record<string, unknown>;
  const id = str(o['id']);
  if (id === null) throw bad('no id');
  const status = o['status'];
  if (typeof status !== 'string' || !(BATCH_STATUSES as readonly string[]).includes(status)) throw bad(`unknown status ${JSON.stringify(status)}`);
  const counts = o['request_counts'];
  const errors = (o['errors'] as { data?: unknown } | null | undefined)?.data;
  return {
    id,
    status: status as BatchStatus,
    inputFileId: str(o['input_file_id']) ?? '',
    outputFileId: str(o['output_file_id']),
    errorFileId: str(o['error_file_id']),
    requestCounts:
      typeof counts === 'object' && counts !== null
        ? { total: num((counts as Record<string, unknown>)['total']), completed: num((counts as Record<string, unknown>)['completed']), failed: num((counts as Record<string, unknown>)['failed']) }
        : null,
    errors: Array.isArray(errors)
      ? errors
          .slice(0, 3)
          .map((e) => {
            const m = (e as Record<string, unknown> | null)?.['message'];
            return typeof m === 'string' ? m : JSON.stringify(e);
          })
      : [],
    errorCodes: Array.isArray(errors) ? errors.map((e) => (e as Record<string, unknown> | null)?.['code']).filter((c): c is string => typeof c === 'string') : [],
  };
}

export class BatchApi {
  readonly url: string;

  constructor(private readonly options: BatchApiOptions) {
    this.url = options.url.replace(/\/+$/, '');
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (json) headers['content-type'] = 'application/json';
    if (this.options.apiKey !== undefined) headers['authorization'] = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  /**
   * One HTTP exchange with a per-attempt timeout. Returns the response for the caller to read
   * (it must consume or dump the body); non-2xx answers are read and classified here.
   */
  private async exchange(
    url: string,
    init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string | FormData; timeoutMs: number; signal?: AbortSignal | undefined },
    read: (body: Dispatcher.ResponseData['body']) => Promise<unknown>,
  ): Promise<unknown> {
    if (init.signal?.aborted) throw abortedError(url);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, init.timeoutMs);
    const onAbort = (): void => controller.abort();
    init.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await request(url, {
        method: init.method,
        headers: init.headers,
        body: init.body ?? null,
        dispatcher: this.options.dispatcher,
        signal: controller.signal,
      });
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await response.body.text();
        throw classifyHttpError({ status: response.statusCode, body: text, headers: response.headers, url });
      }
      return await read(response.body);
    } catch (err) {
      if (err instanceof WebscaleError) throw err;
      if (init.signal?.aborted) throw abortedError(url);
      if (timedOut) {
        throw new WebscaleError('LLM_TIMEOUT', `batch request timed out after ${init.timeoutMs} ms`, { retryable: true, cause: err, context: { url: safeUrl(url) } });
      }
      throw classifyNetworkError(err, url);
    } finally {
      clearTimeout(timer);
      init.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async json(url: string, method: 'GET' | 'POST', body: string | FormData | undefined, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    return this.exchange(url, { method, headers: this.headers(typeof body === 'string'), ...(body === undefined ? {} : { body }), timeoutMs, signal }, async (b) => {
      const text = await b.text();
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new WebscaleError('LLM_BAD_RESPONSE', 'batch endpoint answered with a body that is not JSON', { retryable: true, cause: err, context: { url: safeUrl(url), bodyStart: text.slice(0, 120) } });
      }
    });
  }

  private retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetries(fn, { policy: this.options.retry, signal });
  }

  /** Upload a JSONL of requests with purpose=batch; returns the file id. */
  async uploadBatchFile(jsonl: string, filename: string, signal?: AbortSignal): Promise<string> {
    const url = `${this.url}/files`;
    const json = await this.retrying(() => {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([jsonl], { type: 'application/jsonl' }), filename);
      return this.json(url, 'POST', form, Math.max(this.options.timeoutMs, TRANSFER_TIMEOUT_MS), signal);
    }, signal);
    const id = str((json as Record<string, unknown> | null)?.['id']);
    if (id === null) throw new WebscaleError('LLM_BAD_RESPONSE', 'file upload answered without a file id', { context: { url: safeUrl(url) } });
    return id;
  }

  /**
   * Create a batch from an uploaded file. A retry after a lost answer first looks for a batch
   * already made from this file (the first attempt may have reached the provider).
   */
  async createBatch(fileId: string, completionWindow: string, metadata: Record<string, string>, signal?: AbortSignal): Promise<BatchObject> {
    const url = `${this.url}/batches`;
    const body = JSON.stringify({ input_file_id: fileId, endpoint: CHAT_ENDPOINT, completion_window: completionWindow, metadata });
    let attempted = false;
    return this.retrying(async () => {
      if (attempted) {
        const existing = await this.findBatchByFile(fileId, signal);
        if (existing !== undefined) return existing;
      }
      attempted = true;
      return parseBatchObject(await this.json(url, 'POST', body, this.options.timeoutMs, signal), url);
    }, signal);
  }

  async getBatch(id: string, signal?: AbortSignal): Promise<BatchObject> {
    const url = `${this.url}/batches/${encodeURIComponent(id)}`;
    return this.retrying(async () => parseBatchObject(await this.json(url, 'GET', undefined, this.options.timeoutMs, signal), url), signal);
  }

  /**
   * The batch made from `fileId`, among the most recent `pages` x 100 batches (newest first), or
   * undefined. Used after a lost answer to a create, and on a restart that finds an upload
   * recorded without its batch.
   */
  async findBatchByFile(fileId: string, signal?: AbortSignal, pages = 10): Promise<BatchObject | undefined> {
    let after: string | undefined;
    for (let page = 0; page < pages; page++) {
      const url = `${this.url}/batches?limit=100${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`;
      const json = (await this.json(url, 'GET', undefined, this.options.timeoutMs, signal)) as Record<string, unknown> | null;
      const data = Array.isArray(json?.['data']) ? (json['data'] as unknown[]) : [];
      for (const item of data) {
        const batch = parseBatchObject(item, url);
        if (batch.inputFileId === fileId) return batch;
      }
      if (json?.['has_more'] !== true || data.length === 0) return undefined;
      after = str(json['last_id']) ?? str((data[data.length - 1] as Record<string, unknown> | null)?.['id']) ?? undefined;
      if (after === undefined) return undefined;
    }
    return undefined;
  }

  /**
   * Stream a result file line by line (output and error files are JSONL of up to 50,000 lines):
   * only one line is held at a time. A failure mid-way retries the whole file, so `onLine` must
   * tolerate seeing a line twice.
   */
  async fileLines(fileId: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const url = `${this.url}/files/${encodeURIComponent(fileId)}/content`;
    await this.retrying(
      () =>
        this.exchange(url, { method: 'GET', headers: { ...this.headers(false), accept: '*/*' }, timeoutMs: Math.max(this.options.timeoutMs, TRANSFER_TIMEOUT_MS), signal }, async (body) => {
          const lines = createInterface({ input: body, crlfDelay: Infinity });
          for await (const line of lines) if (line.trim() !== '') onLine(line);
        }),
      signal,
    );
  }

  /**
   * Start-up check for batch mode: GET {url}/batches?limit=1. A server without the Batch API
   * (vLLM, llama.cpp, Ollama answer 404) is LLM_UNAVAILABLE, with the fix in the message.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    const url = `${this.url}/batches?limit=1`;
    try {
      await this.json(url, 'GET', undefined, Math.min(this.options.timeoutMs, 10_000), signal);
    } catch (err) {
      const e = WebscaleError.from(err);
      if (e.code === 'LLM_UNAVAILABLE') {
        throw new WebscaleError('LLM_UNAVAILABLE', `${safeUrl(this.url)} has no Batch API (GET /batches: ${e.message}); run without --batch`, { cause: e });
      }
      throw e;
    }
  }
}
