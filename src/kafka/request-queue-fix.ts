/**
 * A fix for kafkajs 2.2.4's idle request queue (kafkajs issue #1556, unfixed upstream).
 *
 * Every broker connection of kafkajs has a `RequestQueue`. After each check of its pending
 * requests it schedules the next check with `setTimeout(throttledUntil - now)`; when nothing is
 * throttled `throttledUntil` is -1, so the delay is negative, Node runs it after 1 ms, and the
 * check schedules itself again: each connection wakes its process about a thousand times a second
 * for as long as it lives, with nothing to send. One stage worker holds a connection per
 * transactional producer (one per input partition, see `runtime/partition-owner.ts`), plus its
 * consumers and followers, so an idle worker spent about 55 ms of CPU a second (measured on this
 * project's machine, 12 partitions), and on a 2-core machine shared with the broker those wake-ups
 * took CPU from the work.
 *
 * The fixed rule: a check is scheduled only while requests wait to be sent, at the end of the
 * client-side throttle if there is one, else after kafkajs' own 10 ms interval. Nothing else
 * depends on the loop: a request that cannot go at once is pushed to `pending` and schedules a
 * check; a reply or a timed-out request runs the check at once (kafkajs' `fulfillRequest` and
 * request timeout), which is what frees room under `maxInFlightRequests`.
 *
 * Written by hand because kafkajs is no longer released: the patch is applied to the prototype
 * once per process, and fails loudly if a kafkajs upgrade moves the method.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** kafkajs' CHECK_PENDING_REQUESTS_INTERVAL (network/requestQueue/index.js). */
export const CHECK_PENDING_INTERVAL_MS = 10;

export interface RequestQueueLike {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** How long until the next check of a queue, or null for none (nothing waits to be sent). */
export function nextCheckDelay(pending: number, throttledUntil: number, now: number): number | null {
  if (pending === 0) return null;
  const untilUnthrottled = throttledUntil - now;
  return untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_INTERVAL_MS;
}

function scheduleCheckPendingRequests(this: RequestQueueLike): void {
  if (this.throttleCheckTimeoutId) return;
  const delay = nextCheckDelay(this.pending.length, this.throttledUntil, Date.now());
  if (delay === null) return;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delay);
}

let installed = false;

type RequestQueueClass = { prototype: RequestQueueLike } & (new (options: Record<string, unknown>) => RequestQueueLike);

/** The kafkajs `RequestQueue` class (for tests). */
export function requestQueueClass(): RequestQueueClass {
  return require('kafkajs/src/network/requestQueue/index.js') as RequestQueueClass;
}

/** Patches kafkajs once per process; throws when the installed kafkajs lacks the method. */
export function installRequestQueueFix(): void {
  if (installed) return;
  const RequestQueue = requestQueueClass();
  if (typeof RequestQueue.prototype.scheduleCheckPendingRequests !== 'function' || typeof RequestQueue.prototype.checkPendingRequests !== 'function') {
    throw new Error('kafkajs RequestQueue.scheduleCheckPendingRequests is gone: revisit src/kafka/request-queue-fix.ts');
  }
  RequestQueue.prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  installed = true;
}
