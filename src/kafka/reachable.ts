/**
 * Start-up check of the Kafka commands: can any configured broker be reached, and does it let us
 * in? Without it a command meets a stopped broker deep inside kafkajs, retries for minutes and
 * ends on a bare ECONNREFUSED. Here it fails within `kafka.connectTimeout`, naming the addresses
 * it tried, what went wrong, and what to do about it; a refused login, an untrusted certificate,
 * a TLS mismatch or an ACL hiding a needed topic fail at once (`security-errors.ts`).
 */
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import type { Admin } from 'kafkajs';
import { createKafka } from './client.js';
import { deniedFailure, securityFailure } from './security-errors.js';
import { kafkaIdentity, type KafkaIdentity } from './security.js';

const ATTEMPT_GAP_MS = 1000;

/** What a connection error means, in words. */
export function describeConnectError(err: unknown): string {
  const text = `${(err as Error)?.message ?? String(err)} ${String((err as { cause?: unknown })?.cause ?? '')}`;
  if (/ECONNREFUSED/.test(text)) return 'connection refused (nothing listens there)';
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return 'host name not found';
  if (/ETIMEDOUT|timed? ?out/i.test(text)) return 'no answer (timed out)';
  if (/EHOSTUNREACH|ENETUNREACH/.test(text)) return 'host unreachable';
  return (err as Error)?.message ?? String(err);
}

export function brokersUnreachable(brokers: readonly string[], why: string, waitedMs: number): WebscaleError {
  const local = brokers.some((b) => /^(127\.0\.0\.1|localhost|\[::1\]):19092$/.test(b));
  const hint = local
    ? 'start the development broker with `npm run kafka:start`, or point --brokers (env KAFKA_BROKERS) at your cluster'
    : 'check --brokers (env KAFKA_BROKERS), the network path to the cluster, and its listeners';
  return new WebscaleError('KAFKA_UNREACHABLE', `cannot reach Kafka at ${brokers.join(', ')}: ${why}, for ${Math.round(waitedMs / 1000)} s; ${hint}`, {
    context: { brokers: [...brokers] },
  });
}

/**
 * Resolves once a broker answers (a metadata round trip through an admin client); rejects with
 * KAFKA_UNREACHABLE after `kafka.connectTimeout`. Retries on its own schedule with kafkajs'
 * retries off and its logging silent, so a down broker costs one line, not a page of stack traces.
 */
/**
 * The pipeline topics a command needs that the cluster lacks, in one error that says how to create
 * them, and which other prefix holds them when one does (a wrong --topic-prefix).
 */
export function missingTopicsError(prefix: string, suffixes: readonly string[], existing: readonly string[]): WebscaleError | null {
  const have = new Set(existing);
  const missing = suffixes.filter((s) => !have.has(prefix + s));
  if (missing.length === 0) return null;
  const first = missing[0] ?? '';
  const otherPrefixes = [...new Set(existing.filter((t) => t.endsWith(first) && t !== prefix + first).map((t) => t.slice(0, t.length - first.length)))];
  const names = missing.map((s) => prefix + s).join(', ');
  const hint =
    otherPrefixes.length > 0
      ? `the cluster has them under ${otherPrefixes.slice(0, 3).map((p) => `"${p}"`).join(', ')}${otherPrefixes.length > 3 ? ` and ${otherPrefixes.length - 3} other prefixes` : ''}: pass that as --topic-prefix (env WEBSCALE_TOPIC_PREFIX), or create these with \`webscale-rl topics apply --topic-prefix ${prefix}\``
      : `create the pipeline's topics with \`webscale-rl topics apply\` (same --brokers and --topic-prefix)`;
  return new WebscaleError('USAGE', `missing Kafka ${missing.length === 1 ? 'topic' : 'topics'} ${names}; ${hint}`, { context: { missing: missing.map((s) => prefix + s) } });
}

export interface ReachableOptions {
  /** Topic suffixes (after kafka.topicPrefix) the command needs; missing ones are a USAGE error. */
  topics?: readonly string[];
  signal?: AbortSignal;
}

/** Uncertain security symptoms (a closed connection) seen this many times in a row are believed. */
const UNCERTAIN_ATTEMPTS = 2;

/**
 * Of the topics the cluster did not list, the first that exists but that an ACL hides from us:
 * a metadata request for it by name answers TOPIC_AUTHORIZATION_FAILED rather than "unknown".
 */
async function deniedTopic(admin: Admin, names: readonly string[], id: KafkaIdentity): Promise<WebscaleError | null> {
  for (const name of names) {
    try {
      await admin.fetchTopicMetadata({ topics: [name] });
    } catch (err) {
      const denied = deniedFailure(err, id, `access to topic ${name}`);
      if (denied) return denied;
    }
  }
  return null;
}

export async function ensureBrokersReachable(config: Pick<Config, 'kafka' | 'logLevel'>, opts: ReachableOptions = {}): Promise<void> {
  const { signal } = opts;
  const started = Date.now();
  const deadline = started + config.kafka.connectTimeout;
  const kafka = createKafka(config, { clientIdSuffix: 'probe', overrides: { retry: { retries: 0 }, connectionTimeout: Math.min(5000, config.kafka.connectTimeout) } });
  const id = kafkaIdentity(config.kafka);
  let last: unknown;
  let uncertain: { message: string; count: number } | undefined;
  for (;;) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await admin.describeCluster();
      if (opts.topics) {
        const prefix = config.kafka.topicPrefix;
        const listed = await admin.listTopics();
        const missing = missingTopicsError(prefix, opts.topics, listed);
        if (missing) {
          const names = opts.topics.map((s) => prefix + s).filter((t) => !listed.includes(t));
          throw (await deniedTopic(admin, names, id)) ?? missing;
        }
      }
      return;
    } catch (err) {
      if (err instanceof WebscaleError) throw err;
      // A refused login, an untrusted certificate, a client and listener that disagree on TLS:
      // waiting does not fix them, so say so now (a symptom a passing fault could also cause is
      // believed once it repeats).
      const security = securityFailure(err, id);
      if (security?.certain) throw security.error;
      if (security) {
        uncertain = uncertain?.message === security.error.message ? { message: uncertain.message, count: uncertain.count + 1 } : { message: security.error.message, count: 1 };
        if (uncertain.count >= UNCERTAIN_ATTEMPTS) throw security.error;
      } else {
        uncertain = undefined;
      }
      last = security?.error ?? err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (signal?.aborted) throw new WebscaleError('INTERRUPTED', 'interrupted while connecting to Kafka');
    if (Date.now() + ATTEMPT_GAP_MS >= deadline) break;
    await new Promise((r) => setTimeout(r, ATTEMPT_GAP_MS));
  }
  if (last instanceof WebscaleError) throw last;
  throw brokersUnreachable(config.kafka.brokers, describeConnectError(last), Date.now() - started);
}
