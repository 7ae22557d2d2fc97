/**
 * What a failed Kafka connection or request means for security, in one line a user can act on:
 * a refused SASL login (KAFKA_AUTH), a TLS certificate that is not trusted or not for this host,
 * or a client and listener that disagree on TLS (KAFKA_TLS), an ACL that denies an operation
 * (KAFKA_DENIED). kafkajs reports these as a bare "Closed connection", "self-signed certificate in
 * certificate chain" or "Not authorized to access topics", wrapped in retry errors; this module
 * looks through the wrappers once, at the boundary, and names the cause, the settings involved
 * and what to do.
 */
import { SASL_MECHANISMS } from '../config/kafka-security.js';
import { WebscaleError } from '../core/errors.js';
import { lastKafkaIdentity, type KafkaIdentity } from './security.js';

interface Link {
  name?: string;
  message: string;
  code?: string;
  type?: string;
}

/** The error and the errors it wraps (kafkajs' `originalError`, `cause`), outermost first. */
function chain(err: unknown): Link[] {
  const out: Link[] = [];
  let e = err as { name?: unknown; message?: unknown; code?: unknown; type?: unknown; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    out.push({
      ...(typeof e.name === 'string' ? { name: e.name } : {}),
      message: typeof e.message === 'string' ? e.message : String(e),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
    });
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return out;
}

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

const DENIED_TYPES: Record<string, string> = {
  TOPIC_AUTHORIZATION_FAILED: 'access to a topic',
  GROUP_AUTHORIZATION_FAILED: 'access to a consumer group',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'the use of a transactional id',
  CLUSTER_AUTHORIZATION_FAILED: 'a cluster operation',
};

function mechanismName(id: KafkaIdentity): string {
  return (id.mechanism ?? 'SASL').toUpperCase();
}

/** Who the broker sees, in words. */
export function principalOf(id: KafkaIdentity): string {
  if (id.mechanism === 'oauthbearer') return "the OAUTHBEARER token's principal";
  if (id.username !== undefined) return `user "${id.username}"`;
  if (id.protocol === 'SSL') return "the client certificate's principal (or ANONYMOUS without one)";
  return 'the anonymous principal (no SASL)';
}

function at(id: KafkaIdentity): string {
  return `Kafka at ${id.brokers.join(', ')}`;
}

function credentialsHint(id: KafkaIdentity): string {
  if (id.mechanism === 'oauthbearer') return 'check the token (kafka.sasl.oauthbearer.tokenCommand or tokenFile) and that the cluster accepts its issuer';
  return 'check the user name and password (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE; kafka.sasl.*) and that the cluster has this user for this mechanism';
}

function afterPrefix(message: string): string {
  // "SASL SCRAM SHA512 authentication failed: Authentication failed during ..." -> the broker's part.
  const i = message.indexOf('failed: ');
  return i >= 0 ? message.slice(i + 'failed: '.length) : message;
}

export interface SecurityFailure {
  error: WebscaleError;
  /**
   * false when the symptom could also be a passing fault (a connection closed during a broker
   * restart): the caller should see it again before giving up.
   */
  certain: boolean;
}

/**
 * The security cause of a failed connection attempt, or null when the failure is something else
 * (nothing listening, a timeout: the reachability check's business).
 */
export function securityFailure(err: unknown, id: KafkaIdentity): SecurityFailure | null {
  if (err instanceof WebscaleError && (err.code === 'KAFKA_AUTH' || err.code === 'KAFKA_TLS' || err.code === 'CONFIG_INVALID')) return { error: err, certain: true };
  const links = chain(err);
  const tls = id.protocol === 'SSL' || id.protocol === 'SASL_SSL';
  const sasl = id.mechanism !== undefined;
  const fail = (code: 'KAFKA_AUTH' | 'KAFKA_TLS', message: string, certain = true): SecurityFailure => ({
    error: new WebscaleError(code, message, { cause: err, context: { brokers: [...id.brokers], protocol: id.protocol, ...(id.mechanism ? { mechanism: id.mechanism } : {}) } }),
    certain,
  });

  // An error we raised ourselves inside kafkajs (the OAUTHBEARER token provider) keeps its words.
  const own = links.find((l) => l.name === 'WebscaleError' && (l.code === 'KAFKA_AUTH' || l.code === 'KAFKA_TLS'));
  if (own) return fail('KAFKA_AUTH', own.message);

  const saslError = links.find((l) => l.name === 'KafkaJSSASLAuthenticationError');
  if (saslError) {
    if (/not supported by the server/.test(saslError.message)) {
      return fail('KAFKA_AUTH', `${at(id)} does not offer SASL ${mechanismName(id)} on this listener; set KAFKA_SASL_MECHANISM (kafka.sasl.mechanism) to one it offers (${SASL_MECHANISMS.join(', ')}), or use the port of the listener that has it`);
    }
    return fail('KAFKA_AUTH', `${at(id)} refused the ${mechanismName(id)} login of ${principalOf(id)}: ${afterPrefix(saslError.message)}; ${credentialsHint(id)}`);
  }

  const saslState = links.find((l) => l.type === 'ILLEGAL_SASL_STATE' || l.type === 'UNSUPPORTED_SASL_MECHANISM');
  if (saslState) {
    return fail('KAFKA_AUTH', `${at(id)} takes no SASL login on this listener (${saslState.message}); use the port of its SASL listener, or set KAFKA_SECURITY_PROTOCOL (kafka.securityProtocol) to ${tls ? 'SSL' : 'PLAINTEXT'}`);
  }

  const coded = links.find((l) => l.code !== undefined && (UNTRUSTED.has(l.code) || EXPIRED.has(l.code) || l.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || l.code.startsWith('ERR_SSL_')));
  if (coded?.code !== undefined) {
    const reason = coded.message.replace(/^Connection error: /, '');
    if (UNTRUSTED.has(coded.code)) {
      return fail('KAFKA_TLS', `the TLS certificate of ${at(id)} is not trusted (${reason}); give the CA that signed it in KAFKA_TLS_CA (kafka.ssl.caFile)${id.caFile ? `: ${id.caFile} does not hold it` : ''}`);
    }
    if (EXPIRED.has(coded.code)) {
      return fail('KAFKA_TLS', `the TLS certificate of ${at(id)} is not valid now (${reason}); renew the broker's certificate, or check this machine's clock`);
    }
    if (coded.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return fail('KAFKA_TLS', `the TLS certificate of ${at(id)} is not for the host dialled (${reason}); connect by a name the certificate holds, or set KAFKA_TLS_SERVER_NAME (kafka.ssl.serverName) to one`);
    }
    if (/WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE/.test(coded.code)) {
      return fail('KAFKA_TLS', `the TLS handshake with ${at(id)} failed (${reason}): the listener there does not speak TLS; use the cluster's TLS port, or set KAFKA_SECURITY_PROTOCOL (kafka.securityProtocol) to ${sasl ? 'SASL_PLAINTEXT' : 'PLAINTEXT'}`);
    }
    return fail('KAFKA_TLS', `${at(id)} refused the TLS handshake (${reason}); check the client certificate and key (KAFKA_TLS_CERT, KAFKA_TLS_KEY) and that the broker trusts their CA`);
  }

  if (tls && links.some((l) => /before secure TLS connection was established/.test(l.message))) {
    return fail(
      'KAFKA_TLS',
      `the TLS handshake with ${at(id)} failed (the server hung up): the listener there probably does not speak TLS; use the cluster's TLS port, or set KAFKA_SECURITY_PROTOCOL (kafka.securityProtocol) to ${sasl ? 'SASL_PLAINTEXT' : 'PLAINTEXT'}`,
      false,
    );
  }

  if (links.some((l) => l.name === 'KafkaJSConnectionClosedError')) {
    if (!tls) {
      return fail('KAFKA_TLS', `${at(id)} closed the connection without answering: the listener there probably expects TLS; set KAFKA_SECURITY_PROTOCOL (kafka.securityProtocol) to ${sasl ? 'SASL_SSL' : 'SSL or SASL_SSL'} with KAFKA_TLS_CA, or use the cluster's plaintext port`, false);
    }
    if (!sasl) {
      return fail('KAFKA_AUTH', `${at(id)} closed the connection without answering: the listener there probably expects a SASL login; set KAFKA_SECURITY_PROTOCOL=SASL_SSL and KAFKA_SASL_MECHANISM with its credentials (kafka.sasl.*), or use the cluster's TLS-only port`, false);
    }
    return fail('KAFKA_AUTH', `${at(id)} closed the connection during the TLS and ${mechanismName(id)} set-up; check the port, KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_MECHANISM against the cluster's listeners`, false);
  }
  return null;
}

/**
 * An ACL refusal (a broker's *_AUTHORIZATION_FAILED) as KAFKA_DENIED naming the principal and
 * what to ask for, or null for any other error.
 */
export function deniedFailure(err: unknown, id: KafkaIdentity, what?: string): WebscaleError | null {
  if (err instanceof WebscaleError && err.code === 'KAFKA_DENIED') return err;
  const link = chain(err).find((l) => l.type !== undefined && l.type in DENIED_TYPES);
  if (!link?.type) return null;
  const denied = what ?? DENIED_TYPES[link.type] ?? 'this operation';
  return new WebscaleError(
    'KAFKA_DENIED',
    `${at(id)} denies ${principalOf(id)} ${denied} (${link.type}: an ACL); ask the cluster's administrator for ACLs on the pipeline's topics, consumer groups and transactional ids (prefix-matched ACLs on the topic prefix cover them all), or use a principal that has them`,
    { cause: err, context: { brokers: [...id.brokers], kafkaType: link.type } },
  );
}

/**
 * For the command line's last word on a failure: a Kafka error that reached it uncaught, as the
 * security or ACL error it is (for the client last made), or null when it is neither.
 */
export function explainKafkaError(err: unknown): WebscaleError | null {
  if (err instanceof WebscaleError && err.code !== 'KAFKA' && err.code !== 'INTERNAL') return null;
  const id = lastKafkaIdentity();
  if (!id) return null;
  // Only certain causes: mid-run, a closed connection is a broker going away, not a TLS mismatch
  // (the start-up check would have met that first).
  const security = securityFailure(err, id);
  return deniedFailure(err, id) ?? (security?.certain ? security.error : null);
}

/** Whether an error is a broker's ACL refusal: retrying, or restarting a consumer, cannot help. */
export function isAuthorizationFailure(err: unknown): boolean {
  return chain(err).some((l) => l.type !== undefined && l.type in DENIED_TYPES);
}
