// Kafka security settings: the KAFKA_* environment variables land on their config keys, the file
// and the environment merge, contradictions are config errors naming every bad path, and the
// passwords are handed to the redactor.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { kafkaSecurityEnv } from '../../src/config/kafka-security.js';
import { clearRegisteredSecrets, redactString } from '../../src/core/redact.js';

const LLM = { WEBSCALE_LLM_URL: 'http://llm:8000/v1' };

afterEach(() => clearRegisteredSecrets());

async function configError(env: Record<string, string>, file?: string): Promise<string> {
  try {
    await loadConfig({ env: { ...LLM, ...env }, ...(file ? { file } : {}) });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a config error');
}

describe('Kafka security config', () => {
  it('defaults to PLAINTEXT with nothing else set', async () => {
    const c = await loadConfig({ env: LLM });
    expect(c.kafka.securityProtocol).toBe('PLAINTEXT');
    expect(c.kafka.ssl.rejectUnauthorized).toBe(true);
    expect(c.kafka.sasl.mechanism).toBeUndefined();
  });

  it('maps every KAFKA_* variable onto its key, names in any case', async () => {
    const c = await loadConfig({
      env: {
        ...LLM,
        KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
        KAFKA_SASL_USERNAME: 'svc-pipeline',
        KAFKA_SASL_PASSWORD: 's3cret-password',
        KAFKA_TLS_CA: '/etc/kafka/ca.pem',
        KAFKA_TLS_CERT: '/etc/kafka/tls.crt',
        KAFKA_TLS_KEY: '/etc/kafka/tls.key',
        KAFKA_TLS_KEY_PASSWORD: 'key-password-1',
        KAFKA_TLS_SERVER_NAME: 'kafka.internal',
        KAFKA_TLS_REJECT_UNAUTHORIZED: 'true',
      },
    });
    expect(c.kafka.securityProtocol).toBe('SASL_SSL');
    expect(c.kafka.sasl).toMatchObject({ mechanism: 'scram-sha-256', username: 'svc-pipeline', password: 's3cret-password' });
    expect(c.kafka.ssl).toEqual({ caFile: '/etc/kafka/ca.pem', certFile: '/etc/kafka/tls.crt', keyFile: '/etc/kafka/tls.key', keyPassword: 'key-password-1', serverName: 'kafka.internal', rejectUnauthorized: true });
    // Both passwords are cut out of anything printed from now on.
    expect(redactString('login s3cret-password with key-password-1')).toBe('login [redacted] with [redacted]');
  });

  it('takes OAUTHBEARER token sources and a password file from the environment', () => {
    expect(kafkaSecurityEnv({ KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'gcloud auth print-access-token', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: '/var/run/token', KAFKA_SASL_PASSWORD_FILE: '/run/pw', KAFKA_SASL_USERNAME: '' })).toEqual({
      sasl: { oauthbearer: { tokenCommand: 'gcloud auth print-access-token', tokenFile: '/var/run/token' }, passwordFile: '/run/pw' },
    });
  });

  it('lets the environment override the file, key by key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-kafka-sec-'));
    const file = join(dir, 'c.yaml');
    await writeFile(file, 'kafka:\n  securityProtocol: SASL_SSL\n  ssl:\n    caFile: /file/ca.pem\n  sasl:\n    mechanism: plain\n    username: from-file\n    passwordFile: /file/pw\n');
    const c = await loadConfig({ file, env: { ...LLM, KAFKA_SASL_USERNAME: 'from-env' } });
    expect(c.kafka.sasl).toMatchObject({ mechanism: 'plain', username: 'from-env', passwordFile: '/file/pw' });
    expect(c.kafka.ssl.caFile).toBe('/file/ca.pem');
  });

  it('refuses contradictions, naming every bad path at once', async () => {
    const message = await configError({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_TLS_KEY: '/k.pem' });
    expect(message).toMatch(/kafka\.ssl\.certFile: a client certificate needs both certFile and keyFile/);
    expect(message).toMatch(/kafka\.sasl\.username: SCRAM-SHA-512 needs a user name/);
    expect(message).toMatch(/kafka\.sasl\.password: SCRAM-SHA-512 needs exactly one of password and passwordFile/);
  });

  it('refuses settings that would be ignored', async () => {
    expect(await configError({ KAFKA_TLS_CA: '/ca.pem' })).toMatch(/kafka\.ssl: TLS settings \(caFile\) are set but securityProtocol is PLAINTEXT/);
    expect(await configError({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SASL_MECHANISM: 'plain' })).toMatch(/kafka\.sasl\.mechanism: a SASL mechanism is set but securityProtocol is SSL/);
    expect(await configError({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT' })).toMatch(/kafka\.sasl\.mechanism: securityProtocol SASL_PLAINTEXT needs a mechanism/);
    expect(await configError({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_USERNAME: 'x' })).toMatch(
      /kafka\.sasl\.oauthbearer: OAUTHBEARER needs exactly one of tokenCommand and tokenFile.*kafka\.sasl\.username: not used by OAUTHBEARER/,
    );
    expect(await configError({ KAFKA_SECURITY_PROTOCOL: 'TLS' })).toMatch(/kafka\.securityProtocol/);
    expect(await configError({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_TLS_REJECT_UNAUTHORIZED: 'maybe' })).toMatch(/kafka\.ssl\.rejectUnauthorized/);
    expect(await configError({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'GSSAPI' })).toMatch(/kafka\.sasl\.mechanism/);
  });
});
