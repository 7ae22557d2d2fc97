/**
 * The HTTP plumbing shared by the LLM backends: one undici Agent per process and connection cap
 * (keep-alive, at most `concurrency` sockets per origin, so we never open more connections than
 * the server has slots for), and one JSON request attempt with a per-attempt timeout that is told
 * apart from the caller's abort. Every failure leaves here as a classified `WebscaleError`; the
 * retry loop (`retry.ts`) decides what to do with it. Also a `fetch`-shaped adapter so
 * `@huggingface/inference` goes through the same agent, timeout and classification.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { WebscaleError } from '../core/errors.js';
import type { AttemptGate, AttemptPermit } from './rate-limit/gate.js';
import { abortedError, classifyHttpError, classifyNetworkError, parseRetryAfter, safeUrl } from './retry.js';

interface SharedAgent {
  agent: Agent;
  refs: number;
}

const agents = new Map<number, SharedAgent>();

export interface AgentLease {
  dispatcher: Dispatcher;
  /** Drop this holder's reference; the agent closes when the last holder releases it. */
  release(): Promise<void>;
}

/**
 * The process-wide agent for this connection cap. Reference-counted so that a router and a
 * stand-alone client can share it and the sockets still close when both are done (tests and
 * short CLI runs must not hang on idle keep-alive sockets).
 */
export function acquireAgent(connections: number): AgentLease {
  let entry = agents.get(connections);
  if (entry === undefined) {
    entry = {
      agent: new Agent({
        connections,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        // Timeouts are ours (llm.timeout, per attempt); undici's defaults (300 s) would cut
        // long generations on their own schedule and with their own error codes.
        headersTimeout: 0,
        bodyTimeout: 0,
      }),
      refs: 0,
    };
    agents.set(connections, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    dispatcher: held.agent,
    async release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0 && agents.get(connections) === held) {
        agents.delete(connections);
        await closeAgent(held.agent);
      }
    },
  };
}

/** How long a closing agent may wait for requests still running before its sockets are cut. */
const CLOSE_GRACE_MS = 2000;

/** Requests running per dispatcher, so a closing agent knows whether anything is left to wait for. */
const running = new WeakMap<Dispatcher, number>();

/**
 * Close gracefully, but never hang shutdown on a request nobody aborted (a hung server). undici's
 * `close()` waits for running requests without limit, and a `destroy()` after it no longer cuts
 * them, so we wait for our own count to drain, then close, or destroy when the grace runs out.
 */
async function closeAgent(agent: Agent): Promise<void> {
  const deadline = Date.now() + CLOSE_GRACE_MS;
  while ((running.get(agent) ?? 0) > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if ((running.get(agent) ?? 0) > 0) await agent.destroy();
  else await agent.close();
}

export interface HttpAttempt {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  dispatcher: Dispatcher;
  /** Cap for a server's cold-model wait estimate. */
  backoffMax?: number | undefined;
  /** The endpoint's rate limit: waited for before the attempt (outside its timeout), told the outcome after. */
  gate?: AttemptGate | undefined;
}

export interface HttpJsonResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as received (already checked to be JSON). */
  text: string;
  json: unknown;
}

/**
 * One request whose 2xx answer must be JSON. Throws LLM_TIMEOUT when `timeoutMs` passes (headers
 * and body both count), LLM_ABORTED when the caller's signal fires, LLM_NETWORK on socket
 * failures, the `classifyHttpError` code on non-2xx, LLM_BAD_RESPONSE (retryable) on a 2xx whose
 * body is not JSON.
 */
export async function attemptJson(attempt: HttpAttempt): Promise<HttpJsonResult> {
  const { url, signal } = attempt;
  if (signal?.aborted) throw abortedError(url);
  const permit: AttemptPermit | undefined = attempt.gate === undefined ? undefined : await attempt.gate.admit(attempt.body, signal);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, attempt.timeoutMs);
  const onAbort = (): void => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const dispatcher = attempt.dispatcher;
  running.set(dispatcher, (running.get(dispatcher) ?? 0) + 1);
  const failure = (err: unknown): WebscaleError => {
    if (signal?.aborted) return abortedError(url);
    if (timedOut) {
      return new WebscaleError('LLM_TIMEOUT', `LLM request timed out after ${attempt.timeoutMs} ms`, {
        retryable: true,
        cause: err,
        context: { url: safeUrl(url), timeoutMs: attempt.timeoutMs },
      });
    }
    return classifyNetworkError(err, url);
  };
  try {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: attempt.method,
        headers: attempt.headers,
        body: attempt.body ?? null,
        dispatcher: attempt.dispatcher,
        signal: controller.signal,
      });
    } catch (err) {
      permit?.settle({ status: 0 });
      throw failure(err);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (err) {
      permit?.settle({ status: 0, headers: response.headers as Record<string, string | string[] | undefined> });
      throw failure(err);
    }
    const status = response.statusCode;
    const headers = response.headers as Record<string, string | string[] | undefined>;
    if (status < 200 || status >= 300) {
      permit?.settle({ status, headers, retryAfterMs: parseRetryAfter(headers) });
      throw classifyHttpError({ status, body: text, headers, url, ...(attempt.backoffMax === undefined ? {} : { backoffMax: attempt.backoffMax }) });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      permit?.settle({ status, headers });
      const contentType = String(headers['content-type'] ?? 'none');
      throw new WebscaleError('LLM_BAD_RESPONSE', `LLM server answered ${status} with a body that is not JSON (content-type ${contentType})`, {
        retryable: true,
        cause: err,
        context: { status, url: safeUrl(url), contentType, bodyStart: text.slice(0, 120) },
      });
    }
    permit?.settle({ status, headers, json });
    return { status, headers, text, json };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    running.set(dispatcher, (running.get(dispatcher) ?? 1) - 1);
  }
}

export interface FetchAdapterOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  backoffMax?: number | undefined;
}

function headersToRecord(headers: unknown): Record<string, string> {
  if (headers === undefined || headers === null) return {};
  if (headers instanceof Headers) return Object.fromEntries(headers.entries());
  if (Array.isArray(headers)) return Object.fromEntries(headers as [string, string][]);
  return { ...(headers as Record<string, string>) };
}

/**
 * A `fetch` for libraries that take one (`@huggingface/inference`): each call is one
 * `attemptJson` on our agent with our timeout, so the library only ever sees a 2xx JSON
 * `Response`, and every failure is thrown straight through the library as a classified
 * `WebscaleError`, ready for the caller's retry loop.
 */
export function attemptFetch(options: FetchAdapterOptions): typeof fetch {
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const method = (init?.method ?? 'GET').toUpperCase() === 'POST' ? 'POST' : 'GET';
    const body = typeof init?.body === 'string' ? init.body : undefined;
    if (init?.body !== undefined && init.body !== null && body === undefined) {
      throw new WebscaleError('INTERNAL', 'attemptFetch only sends string bodies');
    }
    const result = await attemptJson({
      url,
      method,
      headers: headersToRecord(init?.headers),
      body,
      timeoutMs: options.timeoutMs,
      signal: init?.signal ?? undefined,
      dispatcher: options.dispatcher,
      backoffMax: options.backoffMax,
    });
    return new Response(result.text, { status: result.status, headers: { 'content-type': 'application/json' } });
  };
  return fn as typeof fetch;
}

/**
 * Startup probe: GET `url` once, no retries. Any HTTP answer proves the server is there (a 404
 * from a server without that route is fine); a 401/403 is reported as LLM_AUTH, since every real
 * call would fail the same way; no answer at all is LLM_UNREACHABLE with a one-line message.
 */
export async function probeEndpoint(options: {
  url: string;
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}): Promise<void> {
  try {
    await attemptJson({ ...options, method: 'GET' });
  } catch (err) {
    if (!(err instanceof WebscaleError)) throw err;
    switch (err.code) {
      case 'LLM_NETWORK':
      case 'LLM_TIMEOUT':
        if (err.context['status'] === undefined) {
          const why = typeof err.context['errno'] === 'string' ? err.context['errno'] : err.message;
          throw new WebscaleError('LLM_UNREACHABLE', `LLM endpoint ${safeUrl(options.url)} is unreachable (${why}); is the server running and the URL right?`, {
            cause: err,
            context: { url: safeUrl(options.url) },
          });
        }
        return;
      case 'LLM_AUTH':
      case 'LLM_ABORTED':
        throw err;
      default:
        // The server answered (an error status, or a body that is not JSON): it is reachable.
        return;
    }
  }
}
