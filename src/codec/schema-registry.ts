/**
 * A minimal Confluent Schema Registry client (the REST subset a producer and a consumer need):
 * register a schema under a subject to get its id, and fetch a schema by id. Ids and schemas are
 * cached for the life of the client, as they never change once assigned.
 *
 * Authentication, as Confluent Platform, Confluent Cloud, Redpanda, Aiven (Karapace) and Apicurio's
 * Confluent API take it: HTTP Basic (`username`/`password`, or the URL's user-info
 * `https://key:secret@host`, which undici would otherwise drop), or a bearer token (given, or read
 * from a file on every request so a token a sidecar rotates is picked up), plus any extra headers a
 * service wants with it (Confluent Cloud's OAuth asks for `target-sr-cluster` and
 * `Confluent-Identity-Pool-Id`). TLS: a CA bundle to trust instead of the system roots, and a
 * client certificate and key for registries that want mutual TLS.
 *
 * Failures are classified once, here:
 * - `SCHEMA_REGISTRY` (retryable): the registry cannot serve now: unreachable, TLS refused, no
 *   answer, 5xx, 429, or 401/403 (credentials are infrastructure, never a record's fault). A worker
 *   waits for it; it never dead-letters a record for it.
 * - `SCHEMA_UNKNOWN` (retryable): an id the registry does not have (404). Waited for a bounded
 *   time by the worker, then dead-lettered.
 * - `CODEC`: the registry answered and refused the schema (409 incompatible, 422 invalid).
 * The URL in messages and context never carries user-info, and no header value is ever logged.
 */
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { WebscaleError } from '../core/errors.js';
import { redactString, redactUrl } from '../core/redact.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SchemaRegistryOptions {
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
  /** HTTP Basic credentials (take precedence over user-info in the URL). */
  username?: string;
  password?: string;
  /** A bearer token sent as `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** A file holding the bearer token, read again for every request (rotated tokens). */
  bearerTokenFile?: string;
  /** Extra request headers (e.g. Confluent Cloud's `target-sr-cluster`). */
  headers?: Record<string, string>;
  /** PEM CA certificates to trust instead of the system's (a private CA). */
  ca?: string | Buffer;
  /** PEM client certificate and key, for a registry that wants mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** How Node names the TLS failures that mean "this certificate is not trusted". */
const UNTRUSTED_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** One readable cause for a request that got no HTTP answer. */
function transportCause(err: unknown): string {
  const codes: string[] = [];
  for (let e: unknown = err; e && typeof e === 'object' && codes.length < 5; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  const untrusted = codes.find((c) => UNTRUSTED_CERT_CODES.has(c));
  if (untrusted) return `its TLS certificate is not trusted (${untrusted}); give the registry's CA with kafka.schemaRegistry.ca (WEBSCALE_SCHEMA_REGISTRY_CA)`;
  if (codes.includes('ECONNREFUSED')) return 'connection refused';
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) return 'host not found';
  if (codes.some((c) => c.includes('TIMEOUT'))) return 'no answer in time';
  if (codes.includes('ECONNRESET') || codes.includes('UND_ERR_SOCKET')) return 'connection reset';
  return redactString(err instanceof Error ? err.message : String(err));
}

export class SchemaRegistryClient {
  /** The registry URL without user-info: safe for errors and logs. */
  private readonly baseUrl: string;
  private readonly basic: string | undefined;
  private readonly opts: SchemaRegistryOptions;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly idsBySubjectSchema = new Map<string, Promise<number>>();
  private readonly schemasById = new Map<number, Promise<string>>();

  constructor(url: string, opts: SchemaRegistryOptions = {}) {
    const { base, authorization } = splitUserInfo(url);
    this.baseUrl = base.replace(/\/+$/, '');
    this.opts = opts;
    this.basic =
      opts.username !== undefined
        ? `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`
        : authorization;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    const tls = {
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      ...(opts.cert === undefined ? {} : { cert: opts.cert }),
      ...(opts.key === undefined ? {} : { key: opts.key }),
    };
    this.dispatcher = Object.keys(tls).length > 0 ? new Agent({ connect: tls }) : undefined;
  }

  /** The registry's URL without credentials, for messages. */
  get url(): string {
    return this.baseUrl;
  }

  /** Registers (or finds) `schema` under `subject` and returns its global id. */
  register(subject: string, schema: string): Promise<number> {
    const key = `${subject}\u0000${schema}`;
    let id = this.idsBySubjectSchema.get(key);
    if (!id) {
      id = this.call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema }).then((body) => {
        const value = (body as { id?: unknown }).id;
        if (typeof value !== 'number') throw this.badResponse('register', body);
        this.schemasById.set(value, Promise.resolve(schema));
        return value;
      });
      // A failed call must not stay cached: the next record retries it.
      id.catch(() => this.idsBySubjectSchema.delete(key));
      this.idsBySubjectSchema.set(key, id);
    }
    return id;
  }

  /** The schema (JSON text) registered under a global id. */
  schemaById(id: number): Promise<string> {
    let schema = this.schemasById.get(id);
    if (!schema) {
      schema = this.call('GET', `/schemas/ids/${id}`).then((body) => {
        const value = (body as { schema?: unknown }).schema;
        if (typeof value !== 'string') throw this.badResponse('schema by id', body);
        return value;
      });
      schema.catch(() => this.schemasById.delete(id));
      this.schemasById.set(id, schema);
    }
    return schema;
  }

  /** Closes the TLS agent's connections (the default agent is shared and left alone). */
  async close(): Promise<void> {
    await this.dispatcher?.close();
  }

  private badResponse(what: string, body: unknown): WebscaleError {
    return new WebscaleError('CODEC', `schema registry: unexpected ${what} response ${JSON.stringify(body).slice(0, 200)}`, {
      context: { registry: redactUrl(this.baseUrl) },
    });
  }

  private authorization(): string | undefined {
    if (this.opts.bearerTokenFile !== undefined) {
      let token: string;
      try {
        token = readFileSync(this.opts.bearerTokenFile, 'utf8').trim();
      } catch (err) {
        throw new WebscaleError('SCHEMA_REGISTRY', `schema registry bearer token file ${this.opts.bearerTokenFile} cannot be read: ${(err as Error).message}`, {
          cause: err,
          retryable: true,
          context: { registry: this.baseUrl },
        });
      }
      return `Bearer ${token}`;
    }
    if (this.opts.bearerToken !== undefined) return `Bearer ${this.opts.bearerToken}`;
    return this.basic;
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    const authorization = this.authorization();
    let res;
    try {
      res = await request(url, {
        method,
        headers: {
          ...this.opts.headers,
          accept: CONTENT_TYPE,
          ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }),
          ...(authorization === undefined ? {} : { authorization }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(this.dispatcher === undefined ? {} : { dispatcher: this.dispatcher }),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new WebscaleError('SCHEMA_REGISTRY', `schema registry ${redactUrl(this.baseUrl).replace(/\/$/, '')} cannot be reached: ${transportCause(err)}`, {
        cause: err,
        retryable: true,
        context: { url: redactUrl(url), method },
      });
    }
    const text = await res.body.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) return parsed;
    const message = (parsed as { message?: unknown }).message;
    const detail = `schema registry ${method} ${path}: HTTP ${status}${typeof message === 'string' ? ` ${redactString(message).slice(0, 200)}` : ''}`;
    const context = { url: redactUrl(url), status };
    if (status === 401 || status === 403) {
      const how = authorization === undefined ? 'no credentials were sent: set kafka.schemaRegistry credentials' : 'check the schema registry credentials (kafka.schemaRegistry)';
      throw new WebscaleError('SCHEMA_REGISTRY', `${detail} (${status === 401 ? 'not authenticated' : 'not authorised'}; ${how})`, { retryable: true, context });
    }
    if (status >= 500 || status === 429 || status === 408) {
      throw new WebscaleError('SCHEMA_REGISTRY', detail, { retryable: true, context });
    }
    if (status === 404 && method === 'GET') throw new WebscaleError('SCHEMA_UNKNOWN', detail, { retryable: true, context });
    throw new WebscaleError('CODEC', detail, { context });
  }
}

/** The URL without user-info, and the user-info as a Basic authorization header value. */
export function splitUserInfo(url: string): { base: string; authorization: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { base: url, authorization: undefined };
  }
  if (u.username === '' && u.password === '') return { base: url, authorization: undefined };
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { base: u.toString(), authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
