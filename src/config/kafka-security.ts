/**
 * How the Kafka clients authenticate and encrypt: `kafka.securityProtocol` (Kafka's own four
 * names), `kafka.ssl` (CA bundle, client certificate and key, server name) and `kafka.sasl`
 * (PLAIN, SCRAM-SHA-256/512 with a password or a password file, OAUTHBEARER with a token from a
 * command or a file), from the config file or the `KAFKA_*` environment variables of
 * `kafkaSecurityEnv`. Contradictions (a SASL protocol without a mechanism, a CA file with
 * PLAINTEXT) are config errors naming the path, not settings silently ignored. The files named
 * here are read when a Kafka client is made (`src/kafka/security.ts`), so `run` never needs them.
 */
import { z } from 'zod';
import { duration } from './duration.js';

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

/** kafkajs' mechanism names; upper case (`SCRAM-SHA-512`, as Kafka writes them) is accepted too. */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

const lowerCase = (v: unknown): unknown => (typeof v === 'string' ? v.toLowerCase() : v);
const upperCase = (v: unknown): unknown => (typeof v === 'string' ? v.toUpperCase() : v);

export const kafkaSslSchema = z
  .object({
    /** PEM file of the CA certificates to trust; unset: Node's bundled public CAs. */
    caFile: z.string().min(1).optional(),
    /** PEM client certificate (chain) for brokers that authenticate clients by certificate. */
    certFile: z.string().min(1).optional(),
    /** PEM private key of certFile, PKCS#8 or PKCS#1, encrypted (then keyPassword) or not. */
    keyFile: z.string().min(1).optional(),
    keyPassword: z.string().min(1).optional(),
    /** Name checked against the broker's certificate (and sent as SNI) instead of the host dialled. */
    serverName: z.string().min(1).optional(),
    /** false accepts any certificate: an eavesdropper's too. For a throwaway test cluster only. */
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict();

export const oauthBearerSchema = z
  .object({
    /**
     * Shell command (run with /bin/sh -c) that prints a token on stdout: the bare token, or JSON
     * with `access_token` (or `token`) and optionally `expires_in` seconds.
     */
    tokenCommand: z.string().min(1).optional(),
    /** File holding the token (a Kubernetes projected service-account token, say); read again on every refresh. */
    tokenFile: z.string().min(1).optional(),
    /** Longest the token command may run. */
    commandTimeout: duration.default(30_000),
  })
  .strict();

export const kafkaSaslSchema = z
  .object({
    mechanism: z.preprocess(lowerCase, z.enum(SASL_MECHANISMS)).optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** File whose content (less a trailing newline) is the password; read once at start. */
    passwordFile: z.string().min(1).optional(),
    oauthbearer: oauthBearerSchema.default(oauthBearerSchema.parse({})),
  })
  .strict();

export const kafkaSecurityShape = {
  /** Kafka's `security.protocol`: TLS (SSL, SASL_SSL) and SASL (SASL_*) on or off. */
  securityProtocol: z.preprocess(upperCase, z.enum(SECURITY_PROTOCOLS)).default('PLAINTEXT'),
  ssl: kafkaSslSchema.default(kafkaSslSchema.parse({})),
  sasl: kafkaSaslSchema.default(kafkaSaslSchema.parse({})),
};

export interface KafkaSecuritySettings {
  securityProtocol: SecurityProtocol;
  ssl: z.output<typeof kafkaSslSchema>;
  sasl: z.output<typeof kafkaSaslSchema>;
}

export function usesTls(protocol: SecurityProtocol): boolean {
  return protocol === 'SSL' || protocol === 'SASL_SSL';
}

export function usesSasl(protocol: SecurityProtocol): boolean {
  return protocol === 'SASL_SSL' || protocol === 'SASL_PLAINTEXT';
}

interface Issue {
  path: (string | number)[];
  message: string;
}

/**
 * Every contradiction in the security settings, as issues with paths relative to `kafka`. A
 * setting that would be ignored is an error: a CA file with PLAINTEXT means the user believes the
 * traffic is encrypted.
 */
export function kafkaSecurityIssues(k: KafkaSecuritySettings): Issue[] {
  const issues: Issue[] = [];
  const protocol = k.securityProtocol;
  const { ssl, sasl } = k;
  if (!usesTls(protocol)) {
    const set = (['caFile', 'certFile', 'keyFile', 'keyPassword', 'serverName'] as const).filter((key) => ssl[key] !== undefined);
    if (set.length > 0 || !ssl.rejectUnauthorized) {
      issues.push({
        path: ['ssl'],
        message: `TLS settings (${[...set, ...(ssl.rejectUnauthorized ? [] : ['rejectUnauthorized'])].join(', ')}) are set but securityProtocol is ${protocol}, which uses no TLS: set KAFKA_SECURITY_PROTOCOL (kafka.securityProtocol) to SSL or SASL_SSL`,
      });
    }
  }
  if ((ssl.certFile === undefined) !== (ssl.keyFile === undefined)) {
    issues.push({ path: ['ssl', ssl.certFile === undefined ? 'certFile' : 'keyFile'], message: 'a client certificate needs both certFile and keyFile (KAFKA_TLS_CERT, KAFKA_TLS_KEY)' });
  }
  if (ssl.keyPassword !== undefined && ssl.keyFile === undefined) {
    issues.push({ path: ['ssl', 'keyPassword'], message: 'keyPassword is set without keyFile (KAFKA_TLS_KEY)' });
  }
  if (!usesSasl(protocol)) {
    if (sasl.mechanism !== undefined) {
      issues.push({ path: ['sasl', 'mechanism'], message: `a SASL mechanism is set but securityProtocol is ${protocol}: set KAFKA_SECURITY_PROTOCOL (kafka.securityProtocol) to SASL_SSL (or SASL_PLAINTEXT)` });
    }
    return issues;
  }
  if (sasl.mechanism === undefined) {
    issues.push({ path: ['sasl', 'mechanism'], message: `securityProtocol ${protocol} needs a mechanism: KAFKA_SASL_MECHANISM (kafka.sasl.mechanism) = ${SASL_MECHANISMS.map((m) => m.toUpperCase()).join(', ')}` });
    return issues;
  }
  if (sasl.mechanism === 'oauthbearer') {
    const { tokenCommand, tokenFile } = sasl.oauthbearer;
    if ((tokenCommand === undefined) === (tokenFile === undefined)) {
      issues.push({
        path: ['sasl', 'oauthbearer'],
        message: `OAUTHBEARER needs exactly one of tokenCommand and tokenFile (KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND, KAFKA_SASL_OAUTHBEARER_TOKEN_FILE)${tokenCommand !== undefined ? ', not both' : ''}`,
      });
    }
    for (const key of ['username', 'password', 'passwordFile'] as const) {
      if (sasl[key] !== undefined) issues.push({ path: ['sasl', key], message: 'not used by OAUTHBEARER (it sends a token): remove it' });
    }
    return issues;
  }
  if (sasl.username === undefined) {
    issues.push({ path: ['sasl', 'username'], message: `${sasl.mechanism.toUpperCase()} needs a user name: KAFKA_SASL_USERNAME (kafka.sasl.username)` });
  }
  if ((sasl.password === undefined) === (sasl.passwordFile === undefined)) {
    issues.push({
      path: ['sasl', sasl.password === undefined ? 'password' : 'passwordFile'],
      message: `${sasl.mechanism.toUpperCase()} needs exactly one of password and passwordFile (KAFKA_SASL_PASSWORD, KAFKA_SASL_PASSWORD_FILE)${sasl.password !== undefined ? ', not both' : ''}`,
    });
  }
  return issues;
}

type Env = Record<string, string | undefined>;

/** The environment variables that set Kafka security, with the config path each sets. */
export const KAFKA_SECURITY_ENV = {
  KAFKA_SECURITY_PROTOCOL: 'securityProtocol',
  KAFKA_TLS_CA: 'ssl.caFile',
  KAFKA_TLS_CERT: 'ssl.certFile',
  KAFKA_TLS_KEY: 'ssl.keyFile',
  KAFKA_TLS_KEY_PASSWORD: 'ssl.keyPassword',
  KAFKA_TLS_SERVER_NAME: 'ssl.serverName',
  KAFKA_TLS_REJECT_UNAUTHORIZED: 'ssl.rejectUnauthorized',
  KAFKA_SASL_MECHANISM: 'sasl.mechanism',
  KAFKA_SASL_USERNAME: 'sasl.username',
  KAFKA_SASL_PASSWORD: 'sasl.password',
  KAFKA_SASL_PASSWORD_FILE: 'sasl.passwordFile',
  KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND: 'sasl.oauthbearer.tokenCommand',
  KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: 'sasl.oauthbearer.tokenFile',
} as const;

/**
 * The `kafka` keys the environment sets (empty variables count as unset, as everywhere else). A
 * boolean the schema refuses is passed on as it is, so the config error names it.
 */
export function kafkaSecurityEnv(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(KAFKA_SECURITY_ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = name === 'KAFKA_TLS_REJECT_UNAUTHORIZED' ? (z.stringbool().safeParse(raw).data ?? raw) : raw;
    const keys = path.split('.');
    let node = out;
    for (const key of keys.slice(0, -1)) {
      node[key] = (node[key] as Record<string, unknown> | undefined) ?? {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1] ?? path] = value;
  }
  return out;
}
