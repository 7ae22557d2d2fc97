import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistryClient, splitUserInfo } from '../../src/codec/schema-registry.js';
import type { WebscaleError } from '../../src/core/errors.js';
import { captureLogger as captured } from '../support/capture-logger.js';

describe('splitUserInfo', () => {
  it('moves user-info into a Basic header, percent-decoded, and leaves plain URLs alone', () => {
    expect(splitUserInfo('https://k%40y:p%3Ass@reg.example:8081/ctx')).toEqual({
      base: 'https://reg.example:8081/ctx',
      authorization: `Basic ${Buffer.from('k@y:p:ss').toString('base64')}`,
    });
    expect(splitUserInfo('http://127.0.0.1:8081')).toEqual({ base: 'http://127.0.0.1:8081', authorization: undefined });
  });
});

describe('schema registry credentials', () => {
  let server: Server;
  let port: number;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 50001, message: 'store error' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function failure(p: Promise<unknown>): Promise<WebscaleError> {
    try {
      await p;
    } catch (err) {
      return err as WebscaleError;
    }
    throw new Error('expected a failure');
  }

  it('sends user-info as Basic auth and keeps it out of the error and the log line (registry answering 500)', async () => {
    const registry = new SchemaRegistryClient(`http://sr-key:sr-pass-5ecret@127.0.0.1:${port}`);
    const err = await failure(registry.schemaById(7));
    expect(seen.at(-1)?.['authorization']).toBe(`Basic ${Buffer.from('sr-key:sr-pass-5ecret').toString('base64')}`);
    expect(err).toMatchObject({ code: 'SCHEMA_REGISTRY', retryable: true, context: { url: `http://127.0.0.1:${port}/schemas/ids/7`, status: 500 } });
    expect(JSON.stringify({ message: err.message, context: err.context })).not.toContain('sr-pass-5ecret');

    const log = captured();
    log.logger.error({ err, registry: `http://sr-key:sr-pass-5ecret@127.0.0.1:${port}` }, 'registry failed');
    expect(log.text()).not.toContain('sr-pass-5ecret');
    expect(log.lines()[0]?.['registry']).toBe(`http://[redacted]@127.0.0.1:${port}`);
  });

  it('keeps user-info out of an unreachable registry error and its log line', async () => {
    const registry = new SchemaRegistryClient('http://sr-key:sr-pass-unreach@127.0.0.1:1', { timeoutMs: 2000 });
    const err = await failure(registry.register('t-value', '"string"'));
    expect(err.code).toBe('SCHEMA_REGISTRY');
    expect(err.message).toContain('connection refused');
    expect(err.retryable).toBe(true);
    expect(err.context['url']).toBe('http://127.0.0.1:1/subjects/t-value/versions');
    const log = captured();
    log.logger.warn({ err }, 'registry unreachable');
    expect(`${err.message} ${JSON.stringify(err.context)} ${log.text()}`).not.toContain('sr-pass-unreach');
  });
});
