"""The trainer rows (the contract shared with the TypeScript export) and the sharding rule."""

from __future__ import annotations

import hashlib
import json

import pytest

from webscale_rl import INSTRUCTION, Shard, prompt_text, shard_of, to_openrlhf, to_trl, to_verl
from webscale_rl.rows import to_row
from webscale_rl.sharding import worker_shard

RECORD = {
    "id": "qa-1",
    "doc_id": "doc-1",
    "question": "How many legs does a spider have?",
    "answer": "8",
    "domain": "Natural Science",
    "persona": "a child",
    "source_url": None,
    "provenance": {"language": "en"},
}


def test_instruction_and_prompt_text() -> None:
    assert INSTRUCTION == "Answer the question. Give only the final answer inside \\boxed{}."
    assert prompt_text(RECORD) == "How many legs does a spider have?\n\n" + INSTRUCTION


def test_verl_row() -> None:
    assert to_verl(RECORD, 3) == {
        "data_source": "webscale-rl",
        "prompt": [{"role": "user", "content": prompt_text(RECORD)}],
        "ability": "Natural Science",
        "reward_model": {"style": "rule", "ground_truth": "8"},
        "extra_info": {
            "id": "qa-1",
            "doc_id": "doc-1",
            "persona": "a child",
            "domain": "Natural Science",
            "url": None,
            "language": "en",
            "index": 3,
        },
    }


def test_trl_and_openrlhf_rows() -> None:
    assert to_trl(RECORD) == {
        "prompt": [{"role": "user", "content": prompt_text(RECORD)}],
        "ground_truth": "8",
        "domain": "Natural Science",
        "id": "qa-1",
        "doc_id": "doc-1",
    }
    expected = {"input": prompt_text(RECORD), "label": "8", "domain": "Natural Science", "id": "qa-1"}
    assert to_openrlhf(RECORD) == expected


def test_unknown_row_format() -> None:
    with pytest.raises(ValueError):
        to_row(RECORD, "alpaca", 0)


def test_shards_partition_the_ids_and_are_stable() -> None:
    ids = [f"qa-{i}" for i in range(2000)]
    shards = [Shard(r, 3) for r in range(3)]
    owners = [[s.index for s in shards if s.owns(i)] for i in ids]
    assert all(len(o) == 1 for o in owners)
    counts = [sum(1 for o in owners if o == [r]) for r in range(3)]
    assert min(counts) > 550  # roughly even
    assert shard_of("qa-7", 3) == shard_of("qa-7", 3)
    # The split is sha256 of the id, not Python's per-process hash(): any process agrees.
    assert shard_of("qa-7", 1000) == int.from_bytes(hashlib.sha256(b"qa-7").digest()[:8], "big") % 1000


def test_worker_shards_split_a_rank_further() -> None:
    assert worker_shard(1, 2, 0, 3) == Shard(3, 6)
    assert worker_shard(1, 2, 2, 3) == Shard(5, 6)
    assert Shard(0, 1).group_id("g") == "g"
    assert Shard(1, 2).group_id("g") == "g.rank1-of-2"
    with pytest.raises(ValueError):
        Shard(2, 2)


def test_rows_match_the_contract_shared_with_the_typescript_export(repo_root) -> None:
    contract = json.loads((repo_root / "test" / "clients" / "rows-contract.json").read_text(encoding="utf-8"))
    record = contract["record"]
    assert to_verl(record, 0) == contract["verl"]
    assert to_trl(record) == contract["trl"]
    assert to_openrlhf(record) == contract["openrlhf"]
