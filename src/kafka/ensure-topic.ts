/**
 * Creates a small internal topic (a progress log, a state log, a quota board) the first time a
 * process needs it, the same way everywhere: the replication factor follows the cluster (up to
 * 3), `min.insync.replicas` follows the replication factor (up to 2), and the topic's own configs
 * come from the caller. Pipeline topics are not made here: `webscale-rl topics apply` owns those,
 * with specs, drift reports and readiness checks.
 *
 * Several processes start at once and each may find the topic missing; whoever loses the race to
 * create it carries on, since the topic it wanted now exists.
 */
import type { Admin } from 'kafkajs';
import { WebscaleError } from '../core/errors.js';

export interface EnsureTopicOptions {
  topic: string;
  partitions: number;
  /** The topic's configs apart from `min.insync.replicas`, which this sets from the cluster. */
  configEntries: readonly { name: string; value: string }[];
  /** What the topic is, for the error: "cannot create <what> <topic>: <cause>". */
  what: string;
}

/** After a failed create: how often, and how far apart, the topic list is asked again. */
const LIST_ATTEMPTS = 10;
const LIST_INTERVAL_MS = 500;

/** Replicas for a topic on a cluster of `brokers`: as many as there are brokers, up to 3. */
function replicationFactorFor(brokers: number): number {
  return Math.max(1, Math.min(3, brokers));
}

/**
 * After a create that failed: whether every one of `topics` is listed now, asking the broker a few
 * times (a create that timed out may have gone through, and a broker that has just started can
 * answer UNKNOWN_TOPIC_OR_PARTITION for a topic it created a moment ago and not list it yet).
 */
export async function listedAfterFailedCreate(admin: Admin, topics: readonly string[]): Promise<boolean> {
  for (let attempt = 0; attempt < LIST_ATTEMPTS; attempt++) {
    const listed = new Set(await admin.listTopics().catch(() => [] as string[]));
    if (topics.every((t) => listed.has(t))) return true;
    await new Promise((r) => setTimeout(r, LIST_INTERVAL_MS));
  }
  return false;
}

/**
 * Creates `topic` when it does not exist and waits until its partitions have leaders. `admin`
 * must be connected. Resolves to true when this call created the topic, false when it existed
 * (or another process created it meanwhile); an existing topic is left as it is. Any failure
 * (listing, describing the cluster, creating) is a retryable KAFKA error naming the topic.
 */
export async function ensureTopic(admin: Admin, o: EnsureTopicOptions): Promise<boolean> {
  try {
    if ((await admin.listTopics()).includes(o.topic)) return false;
    const replicationFactor = replicationFactorFor((await admin.describeCluster()).brokers.length);
    // kafkajs answers false, without throwing, when the broker says TOPIC_ALREADY_EXISTS.
    return await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: o.topic,
          numPartitions: o.partitions,
          replicationFactor,
          configEntries: [...o.configEntries, { name: 'min.insync.replicas', value: String(Math.min(2, replicationFactor)) }],
        },
      ],
    });
  } catch (err) {
    // The topic may exist all the same: another process created it while we asked, a create that
    // timed out went through, or the wait for leaders gave up after it was made (seen on a fresh
    // KRaft broker).
    if (await listedAfterFailedCreate(admin, [o.topic])) return false;
    throw new WebscaleError('KAFKA', `cannot create ${o.what} ${o.topic}: ${(err as Error).message}`, { retryable: true, cause: err });
  }
}
