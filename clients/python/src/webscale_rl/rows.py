"""Trainer row formats. A shared contract: `webscale-rl export --format verl|trl` (src/export/rows.ts)
writes the same rows for the same QaRecord, so the constant and the shapes change in both places.

- verl: `data_source`, `prompt` (chat messages), `ability`, `reward_model` {style: rule,
  ground_truth}, `extra_info` (id, doc_id, persona, domain, url, language, index);
- TRL: `prompt` (chat messages), `ground_truth` (GRPOTrainer hands extra columns to reward
  functions as keyword arguments), `domain`, `id`, `doc_id`;
- OpenRLHF: `input` and `label` (train with `--input_key input --label_key label`), `domain`, `id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INSTRUCTION = "Answer the question. Give only the final answer inside \\boxed{}."
DATA_SOURCE = "webscale-rl"


def prompt_text(record: Mapping[str, Any]) -> str:
    return f"{record['question']}\n\n{INSTRUCTION}"


def _messages(record: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt_text(record)}]


def _language(record: Mapping[str, Any]) -> str | None:
    provenance = record.get("provenance") or {}
    return provenance.get("language")


def to_verl(record: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A verl RL row; `index` is the row number (in a stream, the count of records handed out)."""
    return {
        "data_source": DATA_SOURCE,
        "prompt": _messages(record),
        "ability": record["domain"],
        "reward_model": {"style": "rule", "ground_truth": record["answer"]},
        "extra_info": {
            "id": record["id"],
            "doc_id": record["doc_id"],
            "persona": record["persona"],
            "domain": record["domain"],
            "url": record.get("source_url"),
            "language": _language(record),
            "index": index,
        },
    }


def to_trl(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "prompt": _messages(record),
        "ground_truth": record["answer"],
        "domain": record["domain"],
        "id": record["id"],
        "doc_id": record["doc_id"],
    }


def to_openrlhf(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"input": prompt_text(record), "label": record["answer"], "domain": record["domain"], "id": record["id"]}


ROW_FORMATS = ("record", "verl", "trl", "openrlhf")


def to_row(record: Mapping[str, Any], row_format: str, index: int) -> dict[str, Any]:
    if row_format == "verl":
        return to_verl(record, index)
    if row_format == "trl":
        return to_trl(record)
    if row_format == "openrlhf":
        return to_openrlhf(record)
    if row_format == "record":
        return dict(record)
    raise ValueError(f"unknown row format {row_format!r}; one of {ROW_FORMATS}")
