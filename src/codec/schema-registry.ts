/**
 * A minimal Confluent Schema Registry client (the REST subset a producer and a consumer need):
 * register a schema under a subject to get its id, and fetch a schema by id. Ids and schemas are
 * cached for the life of the client, as they never change once assigned.
 *
 * Transport failures are `KAFKA` errors marked retryable (the registry is infrastructure; a worker
 * retries rather than dead-lettering the record); a registry that answers but refuses the schema
 * (e.g. 409 incompatible) is a non-retryable `CODEC` error.
 *
 * Credentials in the URL's user-info (`https://user:pass@registry:8081`, the usual way to give a
 * registry's basic-auth key and secret) are sent as an `Authorization: Basic` header (undici drops
 * user-info from a request URL) and kept out of everything else: the URL in error messages and
 * context is the one without them.
 */
import { request } from 'undici';
import { WebscaleError } from '../core/errors.js';
import { redactString, redactUrl } from '../core/redact.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SchemaRegistryOptions {
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
}

export class SchemaRegistryClient {
  /** The registry URL without user-info: safe for errors and logs. */
  private readonly baseUrl: string;
  private readonly authorization: string | undefined;
  private readonly timeoutMs: number;
  private readonly idsBySubjectSchema = new Map<string, Promise<number>>();
  private readonly schemasById = new Map<number, Promise<string>>();

  constructor(url: string, opts: SchemaRegistryOptions = {}) {
    const { base, authorization } = splitUserInfo(url);
    this.baseUrl = base.replace(/\/+$/, '');
    this.authorization = authorization;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
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

  private badResponse(what: string, body: unknown): WebscaleError {
    return new WebscaleError('CODEC', `schema registry: unexpected ${what} response ${JSON.stringify(body).slice(0, 200)}`, {
      context: { registry: redactUrl(this.baseUrl) },
    });
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    let res;
    try {
      res = await request(url, {
        method,
        headers: {
          accept: CONTENT_TYPE,
          ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }),
          ...(this.authorization === undefined ? {} : { authorization: this.authorization }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new WebscaleError('KAFKA', `schema registry unreachable: ${redactString((err as Error).message)}`, {
        cause: err,
        retryable: true,
        context: { url: redactUrl(url), method },
      });
    }
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return parsed;
    const message = (parsed as { message?: unknown }).message;
    const detail = `schema registry ${method} ${path}: HTTP ${res.statusCode}${typeof message === 'string' ? ` ${redactString(message)}` : ''}`;
    if (res.statusCode >= 500 || res.statusCode === 429) {
      throw new WebscaleError('KAFKA', detail, { retryable: true, context: { url: redactUrl(url), status: res.statusCode } });
    }
    throw new WebscaleError('CODEC', detail, { context: { url: redactUrl(url), status: res.statusCode } });
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
