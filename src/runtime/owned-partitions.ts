/**
 * The input partitions a stage worker owns, kept in step with its consumer group. On every group
 * join the partitions lost are released (their unfinished results dropped: the new owner fences
 * us and starts from the committed offset), and every assigned partition is taken (again): a
 * worker may have lost and regained a partition while it was frozen, so it never trusts an owner
 * from before the join. A kept partition whose committed offset nobody moved meanwhile keeps its
 * work in flight; otherwise that work is dropped. Records of a partition wait until it is taken.
 *
 * One owner of a partition at a time runs InitProducerId in this worker: a join that comes while an
 * older join's take is still flushing the previous owner (a broker restart: the flush waits on the
 * broker, the consume loop gives up waiting and kafkajs rejoins) takes that previous owner over and
 * flushes it after the older flush, instead of opening a fresh owner beside it. Otherwise the old
 * owner's producer, replaced after a stuck commit, would fence the fresh owner, which then let the
 * partition go until some later rebalance.
 */
import type { Logger } from 'pino';
import { WebscaleError } from '../core/errors.js';
import { backoffDelay } from '../llm/retry.js';
import type { PartitionOwner } from './partition-owner.js';
import { wait } from './wait.js';

/** Longest the consume loop waits for a partition to be taken before restarting the consumer. */
export const TAKE_WAIT_MS = 10_000;
const TAKE_BACKOFF = { maxRetries: 0, backoffInitial: 200, backoffMax: 5000 } as const;

export interface OwnedPartitionsOptions {
  /** Take a partition: fence earlier owners and read its committed offset. */
  open(partition: number): Promise<PartitionOwner>;
  /** Ends every retry loop (shutdown). */
  signal: AbortSignal;
  log: Logger;
  /** A partition this worker no longer owns (lost in a rebalance, or fenced). */
  onReleased?(partition: number): void;
  /** Commit an owner's finished work (the worker's commit, with its accounting); default `owner.commit()`. */
  flush?(owner: PartitionOwner): Promise<void>;
}


export class OwnedPartitions {
  private readonly owners = new Map<number, PartitionOwner>();
  private readonly taking = new Map<number, Promise<PartitionOwner | null>>();
  /** Bumped on every join: a take that finishes after a newer join is discarded. */
  private generation = 0;
  /** The previous owner of a partition being taken, and the join whose take is responsible for it. */
  private readonly flushing = new Map<number, { owner: PartitionOwner; generation: number }>();

  constructor(private readonly o: OwnedPartitionsOptions) {}

  /** Owners in use now (partitions being taken are not among them). */
  values(): IterableIterator<PartitionOwner> {
    return this.owners.values();
  }

  get inFlight(): number {
    let n = 0;
    for (const owner of this.owners.values()) n += owner.startedAt.size;
    return n;
  }

  get heldBytes(): number {
    let n = 0;
    for (const owner of this.owners.values()) n += owner.heldBytes;
    return n;
  }

  /** The group assigned these partitions (a join): release the others, take these. */
  assign(assigned: readonly number[]): void {
    const generation = ++this.generation;
    const keep = new Set(assigned);
    for (const [p, owner] of [...this.owners]) {
      if (keep.has(p)) continue;
      this.owners.delete(p);
      void owner.close();
      this.o.onReleased?.(p);
    }
    for (const p of [...this.taking.keys()]) if (!keep.has(p)) this.taking.delete(p);
    for (const [p, { owner }] of [...this.flushing]) {
      if (keep.has(p)) continue;
      this.flushing.delete(p);
      void owner.close();
      this.o.onReleased?.(p);
    }
    for (const p of assigned) {
      // A kept partition leaves the commit loop while it is taken again; one an older take is
      // still flushing passes to this take.
      const previous = this.owners.get(p) ?? this.flushing.get(p)?.owner;
      this.owners.delete(p);
      if (previous) this.flushing.set(p, { owner: previous, generation });
      this.taking.set(p, this.take(p, generation, previous));
    }
  }

  /**
   * The owner of a partition, waiting while it is being taken; null when it is not ours. kafkajs
   * heartbeats between messages, so the wait is bounded: past TAKE_WAIT_MS this throws, kafkajs
   * restarts the consumer and fetches again from the committed offset after rejoining.
   */
  async ownerFor(partition: number): Promise<PartitionOwner | null> {
    const taking = this.taking.get(partition);
    if (!taking) return this.owners.get(partition) ?? null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), TAKE_WAIT_MS)));
    const owner = await Promise.race([taking, timeout]);
    clearTimeout(timer);
    if (owner === 'timeout') throw new WebscaleError('KAFKA', `partition ${partition} could not be taken within ${TAKE_WAIT_MS} ms`, { retryable: true });
    return owner;
  }

  /**
   * Takes a partition again outside a join (fenced, but still assigned here): fences every other
   * producer of it and reads its committed offset. When nothing was committed, its records begin at
   * `startFrom` (where the caller seeks the consumer) before any record can reach the new owner.
   * Null when a join came first (it decides).
   */
  retake(partition: number, startFrom: bigint): Promise<PartitionOwner | null> {
    const busy = this.taking.get(partition);
    if (busy) return busy;
    const owner = this.owners.get(partition);
    if (owner?.active === true) return Promise.resolve(owner);
    const taking = this.take(partition, this.generation, undefined, startFrom);
    this.taking.set(partition, taking);
    return taking;
  }

  /** A newer owner fenced this one: let the partition go until a join hands it back. */
  release(owner: PartitionOwner): void {
    if (this.owners.get(owner.partition) === owner) this.owners.delete(owner.partition);
    void owner.close();
    this.o.onReleased?.(owner.partition);
  }

  async closeAll(): Promise<void> {
    this.generation++;
    this.taking.clear();
    const owners = [...this.owners.values(), ...[...this.flushing.values()].map((f) => f.owner)];
    this.owners.clear();
    this.flushing.clear();
    await Promise.all(owners.map((owner) => owner.close()));
  }

  /** Whether this join's take still answers for `previous` (no newer join took it over). */
  private responsibleFor(partition: number, generation: number): boolean {
    return this.flushing.get(partition)?.generation === generation;
  }

  private async take(partition: number, generation: number, previous: PartitionOwner | undefined, startFrom?: bigint): Promise<PartitionOwner | null> {
    // Flush what the previous life of the partition finished (refused if we had lost it). Commits
    // of one owner run one after the other: a flush handed over from an older join runs after it.
    if (previous) await (this.o.flush ? this.o.flush(previous) : previous.commit()).catch(() => undefined);
    for (let attempt = 0; ; attempt++) {
      if (generation !== this.generation || this.o.signal.aborted) break;
      try {
        const fresh = await this.o.open(partition);
        if (generation !== this.generation) {
          await fresh.close();
          break;
        }
        if (startFrom !== undefined) fresh.startFrom(startFrom);
        let owner = fresh;
        if (previous) this.flushing.delete(partition);
        if (previous && previous.active && previous.sameCommitAs(fresh)) {
          // Nobody committed for the partition since our last commit: our work in flight holds.
          previous.adoptProducerOf(fresh);
          owner = previous;
        }
        this.o.log.info({ partition, committed: String(fresh.committedOffset), keptWork: owner === previous }, 'partition taken');
        // In place before anything is awaited: a join meanwhile must find this owner.
        this.owners.set(partition, owner);
        this.taking.delete(partition);
        if (previous && owner !== previous) await previous.close();
        return owner;
      } catch (err) {
        this.o.log.warn({ err, partition, attempt }, 'could not take partition yet; retrying');
        await wait(backoffDelay(attempt, TAKE_BACKOFF), this.o.signal);
      }
    }
    if (previous && this.responsibleFor(partition, generation)) {
      this.flushing.delete(partition);
      await previous.close();
    }
    return null;
  }
}
