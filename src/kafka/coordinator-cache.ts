/**
 * A cache for kafkajs' transaction-coordinator lookups.
 *
 * kafkajs 2.2.4 sends FindCoordinator (key type TRANSACTION) to the broker before every
 * transactional request it makes: AddPartitionsToTxn, AddOffsetsToTxn and EndTxn each look the
 * coordinator up again, so one commit costs three extra round trips, and for the broker each is a
 * lookup of the `__transaction_state` partition that owns the id. With one transactional producer
 * per input partition (see `runtime/partition-owner.ts`) a worker commits up to one transaction
 * per partition per interval, and on our 2-core bench those lookups more than doubled the broker's
 * CPU per document. The Java client keeps the coordinator until a request says it moved; kafkajs
 * has no such cache and no option for one, so we add it here, by hand, to kafkajs' `Cluster`:
 * the answer is kept per client (per producer) for `ttlMs`.
 *
 * Staleness is bounded two ways: the entry expires after `ttlMs`, and a commit that fails because
 * the coordinator moved leaves its producer stuck, which `PartitionOwner` replaces with a fresh
 * producer (a new `Cluster`, so an empty cache). The same client's group-coordinator lookup (one
 * per `sendOffsets`) is cached with it; consumers and admin clients, which never look up a
 * transaction coordinator, are left alone.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** kafkajs' FindCoordinator key type for transactional ids (protocol/coordinatorTypes.js). */
const TRANSACTION = 1;

interface CoordinatorQuery {
  groupId: string;
  coordinatorType?: number;
}

type FindMetadata = (this: object, query: CoordinatorQuery) => Promise<unknown>;

interface ClusterPrototype {
  findGroupCoordinatorMetadata: FindMetadata;
}

const cache = new WeakMap<object, Map<string, { at: number; value: unknown }>>();
let installed = false;

/** Default lifetime of a cached coordinator. */
export const COORDINATOR_CACHE_TTL_MS = 10_000;

/**
 * Patches kafkajs once per process. Throws when the installed kafkajs no longer has the method
 * this relies on (a kafkajs upgrade must revisit this file rather than lose the cache silently).
 */
export function installTransactionCoordinatorCache(ttlMs = COORDINATOR_CACHE_TTL_MS): void {
  if (installed) return;
  const Cluster = require('kafkajs/src/cluster/index.js') as { prototype: ClusterPrototype };
  const original = Cluster.prototype.findGroupCoordinatorMetadata;
  if (typeof original !== 'function') {
    throw new Error('kafkajs Cluster.findGroupCoordinatorMetadata is gone: revisit src/kafka/coordinator-cache.ts');
  }
  Cluster.prototype.findGroupCoordinatorMetadata = async function (this: object, query: CoordinatorQuery): Promise<unknown> {
    let entries = cache.get(this);
    // Only a transactional producer's client looks up a transaction coordinator; its group
    // lookups (one per sendOffsets) are cached with it. Consumers and admins are left alone.
    if (query.coordinatorType !== TRANSACTION && entries === undefined) return original.call(this, query);
    if (!entries) cache.set(this, (entries = new Map()));
    const key = `${query.coordinatorType ?? 0}:${query.groupId}`;
    const hit = entries.get(key);
    if (hit && Date.now() - hit.at < ttlMs) return hit.value;
    const value = await original.call(this, query);
    entries.set(key, { at: Date.now(), value });
    return value;
  };
  installed = true;
}
