"""Dataset adapters over QaStream for data-parallel training.

Both adapters run the same generator (`shard_rows`): a QaStream for one shard (see sharding.py:
record id hash, a consumer group per shard) yielding rows in one of the formats of rows.py. The
torch adapter only adds DataLoader-worker discovery on top, so the tests of the datasets adapter
and of `shard_rows` cover its logic.

Offsets: `commit_every=N` commits after every N rows handed to the trainer (and at the end). Rows
a DataLoader has prefetched but the trainer has not yet trained on are then committed too: a crash
can skip up to the prefetch depth. For the exact guarantee, iterate `QaStream` yourself and call
`stream.commit()` after each trained batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webscale_rl.rows import ROW_FORMATS, to_row
from webscale_rl.sharding import Shard, worker_shard
from webscale_rl.stream import QaStream


def shard_rows(
    shard: Shard,
    row_format: str = "verl",
    commit_every: int | None = None,
    stream_options: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows of one shard of the sink, in `row_format`, committing every `commit_every` rows."""
    if row_format not in ROW_FORMATS:
        raise ValueError(f"unknown row format {row_format!r}; one of {ROW_FORMATS}")
    with QaStream(**(stream_options or {}), shard=shard) as stream:
        since_commit = 0
        for index, record in enumerate(stream):
            yield to_row(record, row_format, index)
            since_commit += 1
            if commit_every and since_commit >= commit_every:
                stream.commit()
                since_commit = 0
        if commit_every:
            stream.commit()


def _hf_generator(
    rank: int, world_size: int, row_format: str, commit_every: int | None, stream_options: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    yield from shard_rows(worker_shard(rank, world_size), row_format, commit_every, stream_options)


def hf_iterable_dataset(
    rank: int = 0,
    world_size: int = 1,
    row_format: str = "verl",
    commit_every: int | None = None,
    **stream_options: Any,
) -> Any:
    """A `datasets.IterableDataset` of this rank's rows (`stream_options` go to QaStream)."""
    import datasets

    return datasets.IterableDataset.from_generator(
        _hf_generator,
        gen_kwargs={
            "rank": rank,
            "world_size": world_size,
            "row_format": row_format,
            "commit_every": commit_every,
            "stream_options": stream_options,
        },
    )


try:
    import torch.utils.data as _torch_data
except ImportError:  # torch is an optional extra
    _torch_data = None

if _torch_data is None:

    def QaIterableDataset(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - stands in for the class
        raise ImportError("QaIterableDataset needs torch: pip install './clients/python[torch]'")

else:

    class QaIterableDataset(_torch_data.IterableDataset):
        """A torch IterableDataset of this rank's rows; DataLoader workers split it further."""

        def __init__(
            self,
            rank: int = 0,
            world_size: int = 1,
            row_format: str = "verl",
            commit_every: int | None = None,
            **stream_options: Any,
        ) -> None:
            super().__init__()
            self.rank = rank
            self.world_size = world_size
            self.row_format = row_format
            self.commit_every = commit_every
            self.stream_options = stream_options

        def __iter__(self) -> Iterator[dict[str, Any]]:
            info = _torch_data.get_worker_info()
            worker_id, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
            shard = worker_shard(self.rank, self.world_size, worker_id, num_workers)
            return shard_rows(shard, self.row_format, self.commit_every, self.stream_options)
