/**
 * The development broker's SASL_SSL listener, for the security tests. `scripts/kafka.sh start`
 * writes what a client needs (the listener's address, the CA file, a client certificate and the
 * users' passwords) to `<broker home>/security/client.json`; this module reads it from the broker
 * home the tests' broker uses: WEBSCALE_KAFKA_HOME, else kafka.sh's default. A broker without the
 * listener (started by an older kafka.sh) is a failure that says how to fix it, never a skip: CI
 * starts a fresh broker, which always has it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import type { Kafka } from 'kafkajs';
import { configSchema } from '../../src/config/schema.js';
import { createKafka } from '../../src/kafka/client.js';
import { brokers } from './kafka.js';

export interface SecureBroker {
  plaintextBrokers: string[];
  saslSslBrokers: string[];
  mechanisms: string[];
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  clientKeyPassword: string;
  users: { webscale: string; admin: string };
}

export function brokerHome(): string {
  const env = process.env['WEBSCALE_KAFKA_HOME'];
  if (env) return env;
  const cache = process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache');
  return join(cache, 'webscale-rl', 'kafka', process.env['KAFKA_VERSION'] ?? '4.4.0');
}

let cached: SecureBroker | undefined;

/** The SASL_SSL listener's settings; throws, saying what to do, when the broker has none. */
export function secureBroker(): SecureBroker {
  if (cached) return cached;
  const file = join(brokerHome(), 'security', 'client.json');
  if (!existsSync(file)) {
    throw new Error(
      `${file} is missing: the broker at ${brokers().join(',')} was not started by a scripts/kafka.sh with a SASL_SSL listener. ` +
        'Restart it with the current script (npm run kafka:stop && npm run kafka:start), or point WEBSCALE_KAFKA_HOME and KAFKA_BROKERS at a broker that has one',
    );
  }
  const info = JSON.parse(readFileSync(file, 'utf8')) as SecureBroker;
  const mismatch = !info.plaintextBrokers.some((b) => brokers().includes(b));
  if (mismatch) {
    throw new Error(
      `${file} describes the broker at ${info.plaintextBrokers.join(',')}, but the tests use KAFKA_BROKERS=${brokers().join(',')}: set WEBSCALE_KAFKA_HOME to the home of the broker the tests use`,
    );
  }
  cached = info;
  return info;
}

/** The CLI's environment for the SASL_SSL listener with a SASL user (SCRAM-SHA-512 by default). */
export function saslSslEnv(opts: { mechanism?: string; user?: 'webscale' | 'admin'; password?: string } = {}): Record<string, string> {
  const s = secureBroker();
  const user = opts.user ?? 'webscale';
  return {
    KAFKA_BROKERS: s.saslSslBrokers.join(','),
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: opts.mechanism ?? 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD: opts.password ?? s.users[user],
    KAFKA_TLS_CA: s.caFile,
  };
}

/** A kafkajs client on the SASL_SSL listener, made by our own client factory (SCRAM-SHA-512). */
export function secureKafka(user: 'webscale' | 'admin' = 'admin'): Kafka {
  const s = secureBroker();
  const config = configSchema.parse({
    kafka: {
      brokers: s.saslSslBrokers,
      clientId: 'webscale-rl-test',
      securityProtocol: 'SASL_SSL',
      ssl: { caFile: s.caFile },
      sasl: { mechanism: 'scram-sha-512', username: user, password: s.users[user] },
    },
    logLevel: 'silent',
  });
  return createKafka(config, { overrides: { retry: { retries: 3 } } });
}

/** An unsigned JWT the broker's unsecured OAUTHBEARER validator accepts, for `sub`. */
export function unsecuredJwt(sub: string, lifetimeSeconds = 3600): string {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none' })}.${b64({ sub, iat: now, exp: now + lifetimeSeconds })}.`;
}

export const { AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;
