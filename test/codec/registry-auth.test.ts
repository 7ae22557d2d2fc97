/**
 * The schema registry client against a stand-in Confluent registry speaking the real REST API:
 * basic auth, bearer auth (a token, and a token file rotated while running), TLS with a CA made
 * for this run, and the error a user sees for each misconfiguration: one line, retryable (a worker
 * waits rather than dead-lettering), never carrying the secret.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TopicCodecs } from '../../src/codec/index.js';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { isWebscaleError, type WebscaleError } from '../../src/core/errors.js';
import { redactString } from '../../src/core/redact.js';
import { SAMPLES } from './samples.js';
import { makeTestCa, startStandInRegistry, type StandInRegistry, type TestCa } from '../support/stand-in-registry.js';

const TOPIC = 'webscale-rl.rejections';

function codecsFor(registry: Record<string, unknown>, url: string): TopicCodecs {
  return TopicCodecs.fromConfig(configSchema.parse({ kafka: { schemaRegistryUrl: url, schemaRegistry: registry }, logLevel: 'silent' }));
}

async function roundTrip(codecs: TopicCodecs): Promise<void> {
  const codec = codecs.for('Rejection', TOPIC);
  const buf = await codec.encode(SAMPLES.Rejection);
  expect(buf[0]).toBe(0);
  expect(await codec.decode(buf)).toStrictEqual(SAMPLES.Rejection);
}

async function failure(p: Promise<unknown>): Promise<WebscaleError> {
  try {
    await p;
  } catch (err) {
    if (isWebscaleError(err)) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('schema registry authentication and TLS (stand-in Confluent registry)', () => {
  let ca: TestCa;
  const open: StandInRegistry[] = [];
  const closing: TopicCodecs[] = [];
  beforeAll(() => {
    ca = makeTestCa();
  });
  afterAll(async () => {
    for (const c of closing) await c.close();
    for (const r of open) await r.close();
  });
  const registry = async (opts: Parameters<typeof startStandInRegistry>[0]): Promise<StandInRegistry> => {
    const r = await startStandInRegistry(opts);
    open.push(r);
    return r;
  };
  const codecs = (registryConfig: Record<string, unknown>, url: string): TopicCodecs => {
    const c = codecsFor(registryConfig, url);
    closing.push(c);
    return c;
  };

  it('basic auth from username/password; a wrong password is one retryable line without the password', async () => {
    const r = await registry({ basic: { username: 'sr-key', password: 'sr-secret-42' } });
    await roundTrip(codecs({ username: 'sr-key', password: 'sr-secret-42' }, r.url));
    expect(r.authorizations.at(-1)).toBe(`Basic ${Buffer.from('sr-key:sr-secret-42').toString('base64')}`);

    const err = await failure(codecs({ username: 'sr-key', password: 'wrong-pass-77' }, r.url).for('Rejection', TOPIC).encode(SAMPLES.Rejection));
    expect(err.code).toBe('SCHEMA_REGISTRY');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/HTTP 401 Unauthorized \(not authenticated; check the schema registry credentials/);
    expect(err.message).not.toContain('\n');
    expect(JSON.stringify({ m: err.message, c: err.context })).not.toContain('wrong-pass-77');

    const none = await failure(codecs({}, r.url).for('Rejection', TOPIC).encode(SAMPLES.Rejection));
    expect(none.message).toContain('no credentials were sent');
  });

  it('bearer auth from a token, and from a file re-read on each request (a rotated token)', async () => {
    let valid = ['tok-one'];
    const r = await registry({ bearer: () => valid });
    await roundTrip(codecs({ bearerToken: 'tok-one', headers: { 'target-sr-cluster': 'lsrc-1' } }, r.url));
    expect(r.authorizations.at(-1)).toBe('Bearer tok-one');

    const file = join(ca.dir, 'token');
    writeFileSync(file, 'tok-one\n');
    const c = codecs({ bearerTokenFile: file }, r.url);
    const codec = c.for('Rejection', 'other-topic');
    await codec.encode(SAMPLES.Rejection);
    // The token rotates: the old one is refused from now on, the file holds the new one.
    valid = ['tok-two'];
    writeFileSync(file, 'tok-two\n');
    const fresh = await c.for('Rejection', 'third-topic').encode(SAMPLES.Rejection);
    expect(r.authorizations.at(-1)).toBe('Bearer tok-two');
    expect(await codec.decode(fresh)).toStrictEqual(SAMPLES.Rejection);

    const bad = await failure(codecs({ bearerToken: 'tok-expired' }, r.url).for('Rejection', TOPIC).encode(SAMPLES.Rejection));
    expect(bad).toMatchObject({ code: 'SCHEMA_REGISTRY', retryable: true });
    expect(redactString(bad.message)).toBe(bad.message);
  });

  it('TLS: a registry whose certificate a private CA signed is refused without that CA (one line naming the fix) and works with it', async () => {
    const r = await registry({ tls: { key: ca.key, cert: ca.cert }, basic: { username: 'u', password: 'p-tls-9' } });
    const untrusted = await failure(codecs({ username: 'u', password: 'p-tls-9' }, r.url).for('Rejection', TOPIC).encode(SAMPLES.Rejection));
    expect(untrusted.code).toBe('SCHEMA_REGISTRY');
    expect(untrusted.message).toMatch(/TLS certificate is not trusted \(\w+\); give the registry's CA with kafka.schemaRegistry.ca/);
    await roundTrip(codecs({ username: 'u', password: 'p-tls-9', ca: ca.caPath }, r.url));
  });

  it('a registry that is down is a retryable SCHEMA_REGISTRY error, and the same codec works once it is back', async () => {
    const r = await registry({});
    const c = codecs({}, r.url);
    await r.stop();
    const down = await failure(c.for('Rejection', TOPIC).encode(SAMPLES.Rejection));
    expect(down).toMatchObject({ code: 'SCHEMA_REGISTRY', retryable: true });
    expect(down.message).toContain('connection refused');
    await r.start();
    await roundTrip(c);
  });

  it('takes credentials and TLS files from the environment, registers them as secrets, and names a missing CA file', async () => {
    const config = await loadConfig({
      env: {
        WEBSCALE_SCHEMA_REGISTRY_URL: 'https://127.0.0.1:1',
        WEBSCALE_SCHEMA_REGISTRY_USERNAME: 'env-user',
        WEBSCALE_SCHEMA_REGISTRY_PASSWORD: 'env-pass-31337',
        WEBSCALE_SCHEMA_REGISTRY_CA: join(ca.dir, 'missing.pem'),
      },
    });
    expect(config.kafka.schemaRegistry).toMatchObject({ username: 'env-user', password: 'env-pass-31337' });
    expect(redactString('the registry said env-pass-31337')).not.toContain('env-pass-31337');
    expect(() => TopicCodecs.fromConfig(config)).toThrow(/kafka.schemaRegistry.ca: cannot read .*missing.pem: ENOENT/);
    await expect(loadConfig({ env: { WEBSCALE_SCHEMA_REGISTRY_TOKEN: 't', WEBSCALE_SCHEMA_REGISTRY_USERNAME: 'u' } })).rejects.toThrow(/not both/);
  });
});
