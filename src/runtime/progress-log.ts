/**
 * The periodic counts line of the long-running Kafka commands (stage workers, the crawl bridge,
 * the folder follower): every `progressInterval` one info line through pino, with the counts as
 * fields for log queries and the same counts in words as the message for a person reading
 * `kubectl logs`. A worker that says nothing for minutes cannot be told from a stuck one.
 *
 * The snapshot may be asynchronous (lag asks the broker); a snapshot still running when the next
 * tick comes makes that tick skip, so a slow broker never piles up requests.
 */
import type { Logger } from 'pino';

export interface ProgressLog {
  stop(): void;
}

export interface ProgressLogOptions<T extends object> {
  /** Milliseconds between lines; 0 = no line at all. */
  intervalMs: number;
  log: Logger;
  snapshot: () => T | Promise<T>;
  /** The counts in words, the line's message. */
  describe: (snapshot: T) => string;
}

export function startProgressLog<T extends object>(o: ProgressLogOptions<T>): ProgressLog {
  if (o.intervalMs <= 0) return { stop: () => undefined };
  let busy = false;
  let stopped = false;
  const tick = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      const snap = await o.snapshot();
      if (!stopped) o.log.info({ progress: snap }, o.describe(snap));
    } catch (err) {
      o.log.debug({ err }, 'progress snapshot failed');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), o.intervalMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** `12,345`: counts in a log message are read by people. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
