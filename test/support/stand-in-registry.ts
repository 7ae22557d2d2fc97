/**
 * A stand-in Confluent Schema Registry for tests: a real HTTP(S) server on 127.0.0.1 speaking the
 * part of the registry's REST API our clients use, with the registry's own content type and error
 * bodies (`{"error_code": 40403, "message": "Schema not found"}`):
 * - `POST /subjects/{subject}/versions` `{"schema": "..."}` -> `{"id": n}` (one id per distinct
 *   schema text, as the registry gives the same id to the same schema under any subject);
 * - `GET /schemas/ids/{id}` -> `{"schema": "..."}`, 404 / 40403 when unknown;
 * - `GET /subjects` -> the subjects registered.
 * Auth as Confluent's basic-auth and OAuth (bearer) set-ups answer it: 401 `{"error_code": 401,
 * "message": "Unauthorized"}` without valid credentials. TLS with a key and certificate handed in.
 * `stop()` closes the listener and every open connection (a registry that is down: connection
 * refused) and `start()` listens again on the same port (the outage is over).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface StandInRegistryOptions {
  basic?: { username: string; password: string };
  /** Bearer tokens accepted (a function: the set may change while the test runs). */
  bearer?: () => readonly string[];
  tls?: { key: Buffer; cert: Buffer };
}

export interface StandInRegistry {
  url: string;
  port: number;
  /** Every request, as `METHOD path`. */
  calls: string[];
  /** Authorization headers seen. */
  authorizations: (string | undefined)[];
  schemas: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': CONTENT_TYPE });
  res.end(JSON.stringify(body));
}

function authorised(req: IncomingMessage, opts: StandInRegistryOptions): boolean {
  const header = req.headers.authorization;
  if (!opts.basic && !opts.bearer) return true;
  if (opts.basic && header === `Basic ${Buffer.from(`${opts.basic.username}:${opts.basic.password}`).toString('base64')}`) return true;
  if (opts.bearer && header?.startsWith('Bearer ') && opts.bearer().includes(header.slice('Bearer '.length))) return true;
  return false;
}

export async function startStandInRegistry(opts: StandInRegistryOptions = {}): Promise<StandInRegistry> {
  const schemas: string[] = [];
  const subjects = new Set<string>();
  const calls: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      calls.push(`${req.method} ${path}`);
      authorizations.push(req.headers.authorization);
      if (!authorised(req, opts)) return send(res, 401, { error_code: 401, message: 'Unauthorized' });
      const register = /^\/subjects\/([^/]+)\/versions$/.exec(path);
      if (req.method === 'POST' && register) {
        let schema: unknown;
        try {
          schema = (JSON.parse(body) as { schema?: unknown }).schema;
        } catch {
          return send(res, 422, { error_code: 42201, message: 'Invalid schema' });
        }
        if (typeof schema !== 'string') return send(res, 422, { error_code: 42201, message: 'Invalid schema' });
        subjects.add(decodeURIComponent(register[1] ?? ''));
        let id = schemas.indexOf(schema) + 1;
        if (id === 0) id = schemas.push(schema);
        return send(res, 200, { id });
      }
      const byId = /^\/schemas\/ids\/(\d+)$/.exec(path);
      if (req.method === 'GET' && byId) {
        const schema = schemas[Number(byId[1]) - 1];
        if (schema === undefined) return send(res, 404, { error_code: 40403, message: 'Schema not found' });
        return send(res, 200, { schema });
      }
      if (req.method === 'GET' && path === '/subjects') return send(res, 200, [...subjects]);
      return send(res, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
    });
  };
  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createHttpServer(handler);
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    calls,
    authorizations,
    schemas,
    stop,
    start: listen,
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

export interface TestCa {
  dir: string;
  /** PEM files: the CA's certificate, and the server's key and certificate (SAN 127.0.0.1, localhost). */
  caPath: string;
  key: Buffer;
  cert: Buffer;
}

/** A throwaway CA and a server certificate it signed, made with openssl for this test run only. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'wsrl-ca-'));
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=webscale-rl test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext']);
  return { dir, caPath: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
}
