"""How records are split across data-parallel ranks (shared by QaStream and both adapters).

A record belongs to shard `sha256(id) mod world_size`: the split depends only on the record id, so
it is the same on every restart, for any partition count (world_size may exceed the partitions)
and whatever a consumer-group rebalance does. Each rank therefore reads the whole sink and keeps
its share, in a consumer group of its own (`<group>.rank<r>-of-<n>`): ranks sharing one group would
be handed disjoint partitions and then drop most of them. Reading everything costs each rank the
sink's bandwidth, which for short QA records is small next to training.

DataLoader worker processes split a rank's shard once more the same way: worker w of W on rank r
of n is shard r * W + w of n * W.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} must be in [0, {self.count})")

    def owns(self, record_id: str) -> bool:
        return self.count == 1 or shard_of(record_id, self.count) == self.index

    def group_id(self, group_id: str) -> str:
        """The consumer group this shard reads in (the group itself when there is one shard)."""
        return group_id if self.count == 1 else f"{group_id}.rank{self.index}-of-{self.count}"


def shard_of(record_id: str, count: int) -> int:
    digest = hashlib.sha256(record_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def worker_shard(rank: int, world_size: int, worker_id: int = 0, num_workers: int = 1) -> Shard:
    """The shard of DataLoader worker `worker_id` (of `num_workers`) on data-parallel `rank`."""
    if num_workers < 1 or not 0 <= worker_id < num_workers:
        raise ValueError(f"worker id {worker_id} must be in [0, {num_workers})")
    return Shard(rank * num_workers + worker_id, world_size * num_workers)
