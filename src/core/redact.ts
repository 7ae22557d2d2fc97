/**
 * Secret redaction for everything that leaves the process as text: log lines (the pino logger in
 * `logger.ts` runs every logged object, binding and message through here), error messages printed
 * by the CLI, and URLs put into error context.
 *
 * Three layers, because no single one catches everything:
 * - by key, at any depth: a property named like a credential (`token`, `apiKey`, `api_key`,
 *   `password`, `secret`, `authorization`, `cookie`, ... and names ending in `token`, `apikey`,
 *   `password` or `secret`, so `hfToken` and `clientSecret` too) has its value replaced, whatever
 *   the value is; counters such as `prompt_tokens` or `tokens` are not credentials and stay;
 * - by shape, inside any string: URL user-info (`https://user:pass@host` -> `https://[redacted]@host`),
 *   `Bearer` credentials, Hugging Face tokens (`hf_` + 20 or more letters and digits), and
 *   the values of credential-named query parameters (`?api_key=...`);
 * - by value: secrets the process knows (the configured token and keys, registered by
 *   `loadConfig` through `registerSecret`) are cut out of any string, so a server that echoes a key
 *   back in an error body does not put it in our logs.
 *
 * The walk follows objects, arrays, Maps, Sets and errors to any depth with a cycle guard, and
 * turns an error into a plain object with its `code`, `retryable`, `context` and whole `cause`
 * chain (pino's own error serializer keeps only the cause's message and stack).
 */

export const REDACTED = '[redacted]';

/** Names (lower-cased, `_` and `-` removed) whose values are credentials. */
const SECRET_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'passwd',
  'pwd',
  'credentials',
  'privatekey',
  'saslpassword',
  'userinfo',
]);
const SECRET_KEY_SUFFIXES = ['token', 'apikey', 'password', 'secret'];

/** Whether a property of this name holds a credential. */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SECRET_KEYS.has(k) || SECRET_KEY_SUFFIXES.some((s) => k.endsWith(s));
}

const known = new Set<string>();
/** Values shorter than this are not registered: cutting "abc" out of every log line helps no one. */
const MIN_SECRET_LENGTH = 6;

/** Remember a secret value so it is cut out of every string that passes through here. */
export function registerSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= MIN_SECRET_LENGTH) known.add(value);
}

/** Forget the registered secrets (tests). */
export function clearRegisteredSecrets(): void {
  known.clear();
}

// scheme://user[:password]@ ... ; user-info may hold any character but '/', '?', '#', '@' and spaces.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"<>]+@/gi;
// `Bearer <credential>` as an Authorization header prints it; 8+ characters keeps prose ("Bearer tokens") readable.
const AUTH_SCHEME = /\b(Bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}/g;
const HF_TOKEN = /\bhf_[A-Za-z0-9]{20,}\b/g;
const SECRET_QUERY = /([?&;])([^=&#\s]+)=([^&#\s]*)/g;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A string with every credential it carries replaced by `[redacted]`. */
export function redactString(text: string): string {
  let out = text;
  for (const secret of known) {
    if (out.includes(secret)) out = out.replace(new RegExp(escapeRegExp(secret), 'g'), REDACTED);
  }
  if (out.includes('@')) out = out.replace(URL_USERINFO, `$1${REDACTED}@`);
  out = out.replace(AUTH_SCHEME, `$1$2${REDACTED}`);
  out = out.replace(HF_TOKEN, REDACTED);
  if (out.includes('=')) out = out.replace(SECRET_QUERY, (all, sep: string, name: string) => (isSecretKey(name) ? `${sep}${name}=${REDACTED}` : all));
  return out;
}

/**
 * A URL fit for an error or a log line: no user-info, credential-named query parameters redacted;
 * path, host and port kept (they are what an operator needs to find the failing service).
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactString(url);
  }
  u.username = '';
  u.password = '';
  for (const name of [...u.searchParams.keys()]) if (isSecretKey(name)) u.searchParams.set(name, REDACTED);
  return redactString(u.toString());
}

/** Deeper than this, a value is summarised instead of walked (logs do not need it, stacks do not overflow). */
const MAX_DEPTH = 24;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  if (depth > MAX_DEPTH) return '[too deep]';
  // Binary data and dates are not walked: they carry no keys, and their JSON form is theirs.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date) return value;
  if (value instanceof URL) return redactUrl(value.href);
  seen.add(value);
  try {
    if (value instanceof Error) return serializeError(value, depth, seen);
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    if (value instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value) out[String(k)] = isSecretKey(String(k)) ? REDACTED : walk(v, depth + 1, seen);
      return out;
    }
    if (value instanceof Set) return [...value].map((v) => walk(v, depth + 1, seen));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (!isPlainObject(value) && typeof toJSON === 'function') {
      return walk((toJSON as () => unknown).call(value), depth + 1, seen);
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[key];
      out[key] = isSecretKey(key) && v !== undefined && v !== null ? REDACTED : walk(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function serializeError(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: err.constructor?.name && err.constructor.name !== 'Object' ? err.constructor.name : err.name,
    message: redactString(err.message),
  };
  if (typeof err.stack === 'string') out['stack'] = redactString(err.stack);
  // Own enumerable fields (WebscaleError's code, retryable, context, retryAfterMs; undici's code...).
  for (const key of Object.keys(err)) {
    if (key in out) continue;
    const v = (err as unknown as Record<string, unknown>)[key];
    out[key] = isSecretKey(key) && v !== undefined && v !== null ? REDACTED : walk(v, depth + 1, seen);
  }
  if (err.cause !== undefined) out['cause'] = walk(err.cause, depth + 1, seen);
  if (err instanceof AggregateError && Array.isArray(err.errors)) out['errors'] = err.errors.map((e: unknown) => walk(e, depth + 1, seen));
  return out;
}

/**
 * A copy of `value` with every credential redacted, at any depth: by key name, inside strings
 * (URL user-info, bearer tokens, HF tokens, registered secrets), errors turned into plain objects
 * with their context and cause chain. Cycles become `"[Circular]"`. The input is not changed.
 */
export function redact(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}
