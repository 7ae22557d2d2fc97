/**
 * Starts a reader that follows a small internal topic from its beginning (the quota board, the
 * dedup claims), and keeps trying until it runs. Such a reader has no committed position and no
 * backlog to protect: what matters is that it never silently stays down, since a worker whose
 * quota reader never started would not see the others' spend (and pass the budget), and one whose
 * claims reader never started would not see the others' documents (and keep duplicates).
 *
 * Once `consumer.run` has started, kafkajs itself restarts the reader after a crash (the caller
 * creates the consumer with `retry.restartOnFailure` answering true); what this covers is the step
 * before: connecting and subscribing, which fail on a broker that is restarting or has not yet
 * published the metadata of a topic another process created a moment ago.
 */
import type { Consumer, ConsumerRunConfig } from 'kafkajs';
import type { Logger } from 'pino';
import { backoffDelay } from '../llm/retry.js';

/**
 * The longest fetch wait of such a reader. A fetch returns as soon as a record arrives (any byte
 * will do), so a longer wait delays nothing that happens; it only stops an idle reader asking the
 * broker ten times a second while nobody writes.
 */
export function followFetchWait(fetchMaxWait: number): number {
  return Math.max(fetchMaxWait, 500);
}

const START_BACKOFF = { maxRetries: Infinity, backoffInitial: 250, backoffMax: 5_000 };

export interface FollowTopicOptions {
  topic: string;
  run: ConsumerRunConfig;
  /** Stops the attempts (the process is shutting down). */
  signal: AbortSignal;
  log: Logger;
  /** What the reader is, for the log: "<what> could not start". */
  what: string;
  /** Test seam: the wait before attempt `n` (1-based). */
  delay?: (attempt: number) => number;
}

/**
 * Connects, subscribes from the beginning and runs `consumer`, retrying with capped backoff until
 * it runs or `signal` aborts. Resolves true once running, false when aborted first.
 */
export async function followTopic(consumer: Consumer, o: FollowTopicOptions): Promise<boolean> {
  const delay = o.delay ?? ((attempt: number) => backoffDelay(attempt - 1, START_BACKOFF));
  for (let attempt = 1; ; attempt++) {
    if (o.signal.aborted) return false;
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: o.topic, fromBeginning: true });
      await consumer.run(o.run);
      if (attempt > 1) o.log.info({ topic: o.topic, attempts: attempt }, `${o.what} started`);
      return true;
    } catch (err) {
      const wait = delay(attempt);
      o.log.warn({ err, topic: o.topic, attempt, retryInMs: Math.round(wait) }, `${o.what} could not start; retrying`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        o.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }
}
