/**
 * Turns the `kafka.securityProtocol`, `kafka.ssl` and `kafka.sasl` settings into kafkajs' `ssl`
 * (tls.connect options) and `sasl` options, reading the files they name. Done once per config,
 * when the first Kafka client is made, so every producer, consumer and admin of a command shares
 * one result. A file that cannot be read, a CA file without a certificate, a key its password
 * does not open or a certificate that does not match its key is a CONFIG_INVALID error (exit 2)
 * naming the setting and the file, before any connection is tried: the TLS handshake would only
 * say "bad decrypt" or hang up.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';
import type { Config } from '../config/schema.js';
import { usesSasl, usesTls, type SaslMechanism } from '../config/kafka-security.js';
import { WebscaleError } from '../core/errors.js';
import { registerSecret } from '../core/redact.js';
import { oauthBearerProvider } from './oauth-token.js';

type KafkaSettings = Config['kafka'];

export interface KafkaSecurityOptions {
  ssl?: ConnectionOptions;
  sasl?: SASLOptions;
}

/** Who a client is, for error messages: never a secret. */
export interface KafkaIdentity {
  brokers: readonly string[];
  protocol: KafkaSettings['securityProtocol'];
  mechanism?: SaslMechanism;
  username?: string;
  /** The CA file trusted, to name it when the broker's certificate is not signed by it. */
  caFile?: string;
}

export function kafkaIdentity(kafka: KafkaSettings, brokers: readonly string[] = kafka.brokers): KafkaIdentity {
  return {
    brokers,
    protocol: kafka.securityProtocol,
    ...(kafka.sasl.mechanism === undefined || !usesSasl(kafka.securityProtocol) ? {} : { mechanism: kafka.sasl.mechanism }),
    ...(kafka.sasl.username === undefined || !usesSasl(kafka.securityProtocol) ? {} : { username: kafka.sasl.username }),
    ...(kafka.ssl.caFile === undefined || !usesTls(kafka.securityProtocol) ? {} : { caFile: kafka.ssl.caFile }),
  };
}

function readSettingFile(setting: string, env: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (code ?? String(err));
    throw new WebscaleError('CONFIG_INVALID', `kafka.${setting} (${env}): cannot read ${path}: ${why}`, { cause: err, context: { setting, path } });
  }
}

/** A password file's content, less the newline `echo` and editors leave at the end. */
export function passwordFromFile(content: Buffer): string {
  return content.toString('utf8').replace(/\r?\n$/, '');
}

function tlsOptions(ssl: KafkaSettings['ssl']): ConnectionOptions {
  const out: ConnectionOptions = { rejectUnauthorized: ssl.rejectUnauthorized };
  if (ssl.caFile !== undefined) {
    const ca = readSettingFile('ssl.caFile', 'KAFKA_TLS_CA', ssl.caFile);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new WebscaleError('CONFIG_INVALID', `kafka.ssl.caFile (KAFKA_TLS_CA): ${ssl.caFile} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
    }
    out.ca = ca;
  }
  if (ssl.certFile !== undefined && ssl.keyFile !== undefined) {
    out.cert = readSettingFile('ssl.certFile', 'KAFKA_TLS_CERT', ssl.certFile);
    out.key = readSettingFile('ssl.keyFile', 'KAFKA_TLS_KEY', ssl.keyFile);
    if (ssl.keyPassword !== undefined) out.passphrase = ssl.keyPassword;
  }
  if (ssl.serverName !== undefined) out.servername = ssl.serverName;
  try {
    // The same parse the handshake will do, now, where the error can name the setting.
    createSecureContext({ ...(out.ca ? { ca: out.ca } : {}), ...(out.cert ? { cert: out.cert, key: out.key } : {}), ...(out.passphrase ? { passphrase: out.passphrase } : {}) });
  } catch (err) {
    throw new WebscaleError('CONFIG_INVALID', `kafka.ssl: ${describeTlsFileError(err, ssl)}`, { cause: err });
  }
  return out;
}

function describeTlsFileError(err: unknown, ssl: KafkaSettings['ssl']): string {
  const message = (err as Error).message ?? String(err);
  if (/bad decrypt|bad password|PEM_read_bio_PrivateKey|DECODER routines|interrupted or cancelled/i.test(message)) {
    return ssl.keyPassword === undefined
      ? `cannot read the private key ${ssl.keyFile ?? ''}: it is encrypted (give its password in KAFKA_TLS_KEY_PASSWORD, kafka.ssl.keyPassword) or not a PEM key`
      : `cannot decrypt the private key ${ssl.keyFile ?? ''} with kafka.ssl.keyPassword (KAFKA_TLS_KEY_PASSWORD): wrong password, or not a PEM key`;
  }
  if (/key values mismatch/i.test(message)) return `the client certificate ${ssl.certFile ?? ''} does not belong to the key ${ssl.keyFile ?? ''}`;
  if (/no start line|PEM|certificate|ASN1/i.test(message)) return `cannot read the certificates (${[ssl.caFile, ssl.certFile].filter(Boolean).join(', ')}): ${message}`;
  return message;
}

function saslOptions(kafka: KafkaSettings): SASLOptions {
  const { sasl } = kafka;
  switch (sasl.mechanism) {
    case 'oauthbearer':
      // The file is read again on every refresh; that it exists is checked now, with the others.
      if (sasl.oauthbearer.tokenFile !== undefined) readSettingFile('sasl.oauthbearer.tokenFile', 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', sasl.oauthbearer.tokenFile);
      return { mechanism: 'oauthbearer', oauthBearerProvider: oauthBearerProvider(sasl.oauthbearer) };
    case 'plain':
    case 'scram-sha-256':
    case 'scram-sha-512': {
      // The schema has made sure of a user name and exactly one of password and passwordFile.
      const password = sasl.password ?? passwordFromFile(readSettingFile('sasl.passwordFile', 'KAFKA_SASL_PASSWORD_FILE', sasl.passwordFile ?? ''));
      if (password.length === 0) throw new WebscaleError('CONFIG_INVALID', `kafka.sasl.passwordFile (KAFKA_SASL_PASSWORD_FILE): ${sasl.passwordFile ?? ''} is empty`);
      registerSecret(password);
      return { mechanism: sasl.mechanism, username: sasl.username ?? '', password };
    }
    case undefined:
      throw new WebscaleError('CONFIG_INVALID', `kafka.sasl.mechanism: securityProtocol ${kafka.securityProtocol} needs one`);
  }
}

const resolved = new WeakMap<KafkaSettings, KafkaSecurityOptions>();

/** The identity of the last client made, for errors that reach the command line without one. */
let lastIdentity: KafkaIdentity | undefined;

export function noteKafkaIdentity(id: KafkaIdentity): void {
  lastIdentity = id;
}

export function lastKafkaIdentity(): KafkaIdentity | undefined {
  return lastIdentity;
}

/**
 * kafkajs' `ssl` and `sasl` for these settings, with the files read (once per settings object).
 * Throws CONFIG_INVALID naming the setting when a file is missing or unusable.
 */
export function kafkaSecurityOptions(kafka: KafkaSettings): KafkaSecurityOptions {
  const cached = resolved.get(kafka);
  if (cached) return cached;
  const out: KafkaSecurityOptions = {};
  if (usesTls(kafka.securityProtocol)) out.ssl = tlsOptions(kafka.ssl);
  if (usesSasl(kafka.securityProtocol)) out.sasl = saslOptions(kafka);
  resolved.set(kafka, out);
  return out;
}
