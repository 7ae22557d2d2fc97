/**
 * Start-up check of the Kafka commands: can any configured broker be reached? Without it a
 * command meets a stopped broker deep inside kafkajs, retries for minutes and ends on a bare
 * ECONNREFUSED. Here it fails within `kafka.connectTimeout`, naming the addresses it tried, what
 * went wrong, and what to do about it.
 */
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import { createKafka } from './client.js';

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

export async function ensureBrokersReachable(config: Pick<Config, 'kafka' | 'logLevel'>, opts: ReachableOptions = {}): Promise<void> {
  const { signal } = opts;
  const started = Date.now();
  const deadline = started + config.kafka.connectTimeout;
  const kafka = createKafka(config, { clientIdSuffix: 'probe', overrides: { retry: { retries: 0 }, connectionTimeout: Math.min(5000, config.kafka.connectTimeout) } });
  let last: unknown;
  for (;;) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await admin.describeCluster();
      const missing = opts.topics ? missingTopicsError(config.kafka.topicPrefix, opts.topics, await admin.listTopics()) : null;
      if (missing) throw missing;
      return;
    } catch (err) {
      if (err instanceof WebscaleError) throw err;
      last = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (signal?.aborted) throw new WebscaleError('INTERRUPTED', 'interrupted while connecting to Kafka');
    if (Date.now() + ATTEMPT_GAP_MS >= deadline) break;
    await new Promise((r) => setTimeout(r, ATTEMPT_GAP_MS));
  }
  throw brokersUnreachable(config.kafka.brokers, describeConnectError(last), Date.now() - started);
}
