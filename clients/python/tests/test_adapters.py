"""The adapters without Kafka: the torch class exists exactly when torch does, and a bad row
format is refused before any consumer is made."""

from __future__ import annotations

import importlib.util

import pytest

from webscale_rl.adapters import QaIterableDataset, shard_rows
from webscale_rl.sharding import Shard


def test_torch_dataset_is_a_torch_iterable_dataset_or_names_the_extra() -> None:
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ImportError, match=r"clients/python\[torch\]"):
            QaIterableDataset(0, 1)
    else:
        import torch.utils.data

        assert issubclass(QaIterableDataset, torch.utils.data.IterableDataset)


def test_unknown_row_format_is_refused_before_connecting() -> None:
    rows = shard_rows(Shard(0, 1), "alpaca", stream_options={"brokers": "127.0.0.1:1"})
    with pytest.raises(ValueError, match="unknown row format"):
        next(rows)
