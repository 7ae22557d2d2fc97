/**
 * A minimal Confluent Schema Registry client (the REST subset a producer and a consumer need):
 * register a schema under a subject to get its id, and fetch a schema by id. Ids and schemas are
 * cached for the life of the client, as they never change once assigned.
 *
 * Transport failures are `KAFKA` errors marked retryable (the registry is infrastructure; a worker
 * retries rather than dead-lettering the record); a registry that answers but refuses the schema
 * (e.g. 409 incompatible) is a non-retryable `CODEC` error.
 */
import { request } from 'undici';
import { WebscaleError } from '../core/errors.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SchemaRegistryOptions {
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
}

export class SchemaRegistryClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly idsBySubjectSchema = new Map<string, Promise<number>>();
  private readonly schemasById = new Map<number, Promise<string>>();

  constructor(url: string, opts: SchemaRegistryOptions = {}) {
    this.baseUrl = url.replace(/\/+$/, '');
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
      context: { registry: this.baseUrl },
    });
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    let res;
    try {
      res = await request(url, {
        method,
        headers: { accept: CONTENT_TYPE, ...(body === undefined ? {} : { 'content-type': CONTENT_TYPE }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new WebscaleError('KAFKA', `schema registry unreachable: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
        context: { url, method },
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
    const detail = `schema registry ${method} ${path}: HTTP ${res.statusCode}${typeof message === 'string' ? ` ${message}` : ''}`;
    if (res.statusCode >= 500 || res.statusCode === 429) {
      throw new WebscaleError('KAFKA', detail, { retryable: true, context: { url, status: res.statusCode } });
    }
    throw new WebscaleError('CODEC', detail, { context: { url, status: res.statusCode } });
  }
}
