/**
 * The rate-limit headers of OpenAI-style APIs, read once here. OpenAI (and Azure OpenAI, vLLM
 * behind LiteLLM, Together, Groq and others that copy it) send on every answer:
 * `x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`
 * and the same three for `-tokens`; resets are durations such as `1s`, `6m0s`, `20ms` or
 * `1h2m3.5s` (a plain number is read as seconds). Some providers split tokens into
 * `-input-tokens` and `-output-tokens`; those are read too.
 */

export type HeaderBag = Record<string, string | string[] | undefined> | Headers;

export type LimitDimension = 'requests' | 'tokens' | 'inputTokens' | 'outputTokens';

export interface DimensionState {
  limit?: number;
  remaining?: number;
  /** Milliseconds until the limit is back to full, as the server says. */
  resetMs?: number;
}

export type RateLimitHeaders = Partial<Record<LimitDimension, DimensionState>>;

const SUFFIX: Record<LimitDimension, string> = {
  requests: 'requests',
  tokens: 'tokens',
  inputTokens: 'input-tokens',
  outputTokens: 'output-tokens',
};

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `1s`, `6m0s`, `20ms`, `1h2m3.5s`, `0.5` (seconds) -> milliseconds; undefined if unreadable. */
export function parseResetDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  if (value === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  let rest = value;
  while (rest !== '') {
    const match = /^(\d+(?:\.\d+)?)(ms|h|m|s)/.exec(rest);
    if (match === null) return undefined;
    total += Number(match[1]) * (unit[match[2] ?? 's'] ?? 1000);
    rest = rest.slice(match[0].length);
  }
  return Math.ceil(total);
}

function count(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** The rate-limit state an answer reports; dimensions it says nothing about are left out. */
export function readRateLimitHeaders(headers: HeaderBag): RateLimitHeaders {
  const out: RateLimitHeaders = {};
  for (const dim of Object.keys(SUFFIX) as LimitDimension[]) {
    const s = SUFFIX[dim];
    const state: DimensionState = {};
    const limit = count(header(headers, `x-ratelimit-limit-${s}`));
    const remaining = count(header(headers, `x-ratelimit-remaining-${s}`));
    const resetMs = parseResetDuration(header(headers, `x-ratelimit-reset-${s}`));
    if (limit !== undefined) state.limit = limit;
    if (remaining !== undefined) state.remaining = remaining;
    if (resetMs !== undefined) state.resetMs = resetMs;
    if (Object.keys(state).length > 0) out[dim] = state;
  }
  return out;
}
