/**
 * Makes a cluster's topics match the specs without destroying data: creates missing topics,
 * compares existing ones (partitions, replication factor, configs) and reports drift. It never
 * deletes a topic, never lowers a partition count, and never alters configs in place (a shorter
 * retention would delete records); the only change to an existing topic is adding partitions,
 * and only when `allowPartitionIncrease` is set, because that moves keys to other partitions.
 */
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { WebscaleError } from '../core/errors.js';
import { createKafka } from '../kafka/client.js';
import { kafkaError } from '../kafka/errors.js';
import { listedAfterFailedCreate } from '../kafka/ensure-topic.js';
import { topicName } from '../kafka/topic-names.js';
import { loadTopicSpecs } from './spec.js';
import type { TopicSpec } from './spec.js';

const { ConfigResourceTypes } = kafkajs;

export interface ApplyTopicsOptions {
  /**
   * Replication factor for every topic instead of the spec's: a number, or 'auto' for the
   * spec's value capped at the number of live brokers. min.insync.replicas is capped to match.
   */
  replicationFactorOverride?: number | 'auto';
  /** Partition count for every topic instead of the spec's (tests use few partitions). */
  partitionsOverride?: number;
  /** Add partitions to existing topics that have fewer than the spec. Moves keys; default false. */
  allowPartitionIncrease?: boolean;
}

export type DriftKind = 'partitions' | 'replicationFactor' | 'config';

export interface TopicDrift {
  kind: DriftKind;
  /** 'partitions', 'replicationFactor' or the config name. */
  key: string;
  expected: string;
  actual: string;
  /** Whether this run changed the topic to match (only partition increases, when allowed). */
  fixed: boolean;
}

/** created: made by this run; ok: matches; updated: drift found and all of it fixed; drift: unfixed drift. */
export type TopicStatus = 'created' | 'ok' | 'updated' | 'drift';

export interface TopicReportEntry {
  suffix: string;
  topic: string;
  status: TopicStatus;
  /** The desired shape after overrides. */
  partitions: number;
  replicationFactor: number;
  drift: TopicDrift[];
}

export interface TopicsApplyReport {
  prefix: string;
  /** Live brokers in the cluster. */
  brokers: number;
  topics: TopicReportEntry[];
  /** Things a person should know (lowered replication factors...). */
  notes: string[];
  created: number;
  /** Topics with drift left unfixed. */
  drifted: number;
}

interface Desired {
  spec: TopicSpec;
  topic: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

function desiredShape(spec: TopicSpec, prefix: string, brokers: number, opts: ApplyTopicsOptions, notes: string[]): Desired {
  const override = opts.replicationFactorOverride;
  let replicationFactor = spec.replicationFactor;
  if (typeof override === 'number') replicationFactor = override;
  else if (override === 'auto' && brokers < replicationFactor) {
    replicationFactor = Math.max(1, brokers);
    notes.push(`${spec.suffix}: replication factor lowered from ${spec.replicationFactor} to ${replicationFactor} (${brokers} broker(s) in the cluster)`);
  }
  const configs = { ...spec.configs };
  const minIsr = configs['min.insync.replicas'];
  if (minIsr !== undefined && Number(minIsr) > replicationFactor) {
    // With acks=all, a min.insync.replicas above the replica count would refuse every write.
    configs['min.insync.replicas'] = String(replicationFactor);
  }
  return { spec, topic: topicName(prefix, spec.suffix), partitions: opts.partitionsOverride ?? spec.partitions, replicationFactor, configs };
}

/** Kafka reports numbers as strings, sometimes differently spelt ("8388608" vs "8388608.0"). */
function sameConfigValue(a: string, b: string): boolean {
  if (a === b) return true;
  const na = Number(a);
  const nb = Number(b);
  return a.trim() !== '' && b.trim() !== '' && Number.isFinite(na) && Number.isFinite(nb) && na === nb;
}

/**
 * New partitions take a moment to become usable: the metadata names a leader before that broker
 * serves the partition (KRaft applies metadata asynchronously), and kafkajs' admin does not retry
 * NOT_LEADER on ListOffsets. Wait until every partition answers a ListOffsets request.
 */
async function waitForTopicReady(admin: Admin, topic: string, partitions: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const parts = meta.topics[0]?.partitions ?? [];
      if (parts.length >= partitions && parts.every((p) => p.leader >= 0)) {
        const offsets = await admin.fetchTopicOffsets(topic);
        if (offsets.length >= partitions) return;
      }
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new WebscaleError('KAFKA', `partitions of ${topic} are not ready after ${timeoutMs} ms`, {
        retryable: true,
        ...(last === undefined ? {} : { cause: last }),
        context: { topic },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Creates missing topics and reports drift on existing ones. `admin` must be connected.
 * Throws KAFKA errors (retryable per kafkajs) when the cluster cannot be reached.
 */
export async function applyTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  prefix: string,
  opts: ApplyTopicsOptions = {},
): Promise<TopicsApplyReport> {
  try {
    const cluster = await admin.describeCluster();
    const brokers = cluster.brokers.length;
    const notes: string[] = [];
    const desired = specs.map((s) => desiredShape(s, prefix, brokers, opts, notes));
    const existing = new Set(await admin.listTopics());
    const entries = new Map<string, TopicReportEntry>();
    const entry = (d: Desired, status: TopicStatus, drift: TopicDrift[] = []): TopicReportEntry => ({
      suffix: d.spec.suffix,
      topic: d.topic,
      status,
      partitions: d.partitions,
      replicationFactor: d.replicationFactor,
      drift,
    });

    const missing = desired.filter((d) => !existing.has(d.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((d) => ({
            topic: d.topic,
            numPartitions: d.partitions,
            replicationFactor: d.replicationFactor,
            configEntries: Object.entries(d.configs).map(([name, value]) => ({ name, value })),
          })),
        });
      } catch (err) {
        // The wait for leaders can give up on a fresh broker after every topic was made: carry
        // on when they are all listed (each is then waited for below), else report the failure.
        if (!(await listedAfterFailedCreate(admin, missing.map((d) => d.topic)))) throw err;
      }
      // createTopics answers false when another client created some of them first; those are
      // then compared like any existing topic below.
      const now = new Set(await admin.listTopics());
      for (const d of missing) {
        if (!now.has(d.topic)) continue;
        await waitForTopicReady(admin, d.topic, d.partitions);
        entries.set(d.topic, entry(d, 'created'));
      }
    }

    const present = desired.filter((d) => existing.has(d.topic));
    if (present.length > 0) {
      const metadata = await admin.fetchTopicMetadata({ topics: present.map((d) => d.topic) });
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: present.map((d) => ({ type: ConfigResourceTypes.TOPIC, name: d.topic, configNames: Object.keys(d.configs) })),
      });
      for (const d of present) {
        const drift: TopicDrift[] = [];
        const meta = metadata.topics.find((t) => t.name === d.topic);
        const partitions = meta?.partitions.length ?? 0;
        const rf = Math.max(0, ...(meta?.partitions.map((p) => p.replicas.length) ?? [0]));
        if (partitions !== d.partitions) {
          const canFix = partitions < d.partitions && opts.allowPartitionIncrease === true;
          if (canFix) {
            await admin.createPartitions({ topicPartitions: [{ topic: d.topic, count: d.partitions }] });
            await waitForTopicReady(admin, d.topic, d.partitions);
          }
          drift.push({ kind: 'partitions', key: 'partitions', expected: String(d.partitions), actual: String(partitions), fixed: canFix });
        }
        if (rf !== d.replicationFactor) {
          drift.push({ kind: 'replicationFactor', key: 'replicationFactor', expected: String(d.replicationFactor), actual: String(rf), fixed: false });
        }
        const resource = described.resources.find((r) => r.resourceName === d.topic);
        for (const [name, value] of Object.entries(d.configs)) {
          const actual = resource?.configEntries.find((c) => c.configName === name)?.configValue ?? '(unset)';
          if (!sameConfigValue(value, actual)) drift.push({ kind: 'config', key: name, expected: value, actual, fixed: false });
        }
        const status: TopicStatus = drift.length === 0 ? 'ok' : drift.every((x) => x.fixed) ? 'updated' : 'drift';
        entries.set(d.topic, entry(d, status, drift));
      }
    }

    const topics = desired.map((d) => {
      const e = entries.get(d.topic);
      if (!e) throw new WebscaleError('KAFKA', `topic ${d.topic} was not created`, { retryable: true, context: { topic: d.topic } });
      return e;
    });
    return {
      prefix,
      brokers,
      topics,
      notes,
      created: topics.filter((t) => t.status === 'created').length,
      drifted: topics.filter((t) => t.status === 'drift').length,
    };
  } catch (err) {
    throw kafkaError(err, { operation: 'topics apply', prefix });
  }
}

/** A human-readable report, one line per topic plus one per drift. */
export function formatTopicsReport(report: TopicsApplyReport): string {
  const width = Math.max(...report.topics.map((t) => t.topic.length), 10);
  const lines = [`topics apply: prefix "${report.prefix}", ${report.brokers} broker(s)`];
  for (const t of report.topics) {
    lines.push(`  ${t.status.padEnd(8)} ${t.topic.padEnd(width)}  ${t.partitions} partitions, replication ${t.replicationFactor}`);
    for (const d of t.drift) {
      const what = d.kind === 'config' ? `config ${d.key}` : d.key;
      let action = d.fixed ? 'fixed' : 'left as is';
      if (!d.fixed && d.kind === 'partitions' && Number(d.actual) < Number(d.expected)) action += '; --allow-partition-increase adds partitions (moves keys)';
      if (!d.fixed && d.kind === 'partitions' && Number(d.actual) > Number(d.expected)) action += '; Kafka cannot remove partitions';
      if (!d.fixed && d.kind === 'config') action += '; alter it with kafka-configs if intended';
      lines.push(`  ${''.padEnd(8)} ${''.padEnd(width)}  drift: ${what} is ${d.actual}, spec says ${d.expected} (${action})`);
    }
  }
  for (const note of report.notes) lines.push(`  note: ${note}`);
  const ok = report.topics.filter((t) => t.status === 'ok').length;
  const updated = report.topics.filter((t) => t.status === 'updated').length;
  lines.push(`${report.created} created, ${ok} unchanged, ${updated} updated, ${report.drifted} with drift`);
  return lines.join('\n');
}

export interface RunTopicsApplyOptions extends ApplyTopicsOptions {
  /** Folder of topic specs; default: the package's `topics/`. */
  topicsDir?: string;
  /** Default: config.kafka.topicPrefix. */
  prefix?: string;
  logger?: Logger;
}

/**
 * `webscale-rl topics apply` in one call: loads the specs, connects an admin client to the
 * configured cluster, applies, disconnects. Replication factor defaults to 'auto' here, so the
 * command works against a one-broker development cluster (and says it lowered the factor).
 */
export async function runTopicsApply(config: Pick<Config, 'kafka' | 'logLevel'>, opts: RunTopicsApplyOptions = {}): Promise<TopicsApplyReport> {
  const specs = loadTopicSpecs(opts.topicsDir);
  const kafka = createKafka(config, { clientIdSuffix: 'admin', ...(opts.logger ? { logger: opts.logger } : {}) });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw kafkaError(err, { operation: 'connect', brokers: config.kafka.brokers });
  }
  try {
    return await applyTopics(admin, specs, opts.prefix ?? config.kafka.topicPrefix, {
      replicationFactorOverride: opts.replicationFactorOverride ?? 'auto',
      ...(opts.partitionsOverride === undefined ? {} : { partitionsOverride: opts.partitionsOverride }),
      ...(opts.allowPartitionIncrease === undefined ? {} : { allowPartitionIncrease: opts.allowPartitionIncrease }),
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
