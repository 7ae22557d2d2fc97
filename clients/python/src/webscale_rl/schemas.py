"""The Avro schemas bundled with the package, indexed by their single-object fingerprint.

The wheel carries a copy of the repository's `schemas/` (current schemas) and `schemas/history/`
(every earlier version). A record written by any pipeline version is found by its writer schema's
CRC-64-AVRO fingerprint and resolved into the current schema of its type, so a trainer always sees
the current field set (fields added later take their defaults).

`logicalType` annotations are dropped before parsing: `timestamp-millis` fields then stay epoch
milliseconds (ints), as in the JSON lines `webscale-rl export` writes, instead of becoming
datetimes. The fingerprint is unaffected (the Parsing Canonical Form has no logical types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    file: str
    fingerprint: bytes
    parsed: Any


def bundled_schema_dir() -> Any:
    """The package's copy of `schemas/` (a Traversable; a real folder in an installed wheel)."""
    return resources.files("webscale_rl").joinpath("schemas")


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def schema_fingerprint(raw: Any) -> bytes:
    """CRC-64-AVRO of the Parsing Canonical Form, in wire (little-endian) byte order."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(raw), "CRC-64-AVRO"))


def parse_writer_schema(raw: Any) -> Any:
    return parse_schema(_without_logical_types(raw), _write_hint=False)


def _load(path: Any, file: str) -> SchemaVersion:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return SchemaVersion(raw["name"], file, schema_fingerprint(raw), parse_writer_schema(raw))


@lru_cache(maxsize=1)
def current_schemas() -> dict[str, SchemaVersion]:
    """The current schema of every record type, by record name."""
    root = bundled_schema_dir()
    out = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".avsc"):
            version = _load(entry, entry.name)
            out[version.name] = version
    if not out:
        raise RuntimeError("webscale_rl: no bundled schemas found; reinstall the package from the repository")
    return out


@lru_cache(maxsize=1)
def schemas_by_fingerprint() -> dict[bytes, SchemaVersion]:
    """Every known writer schema (current and history), by fingerprint."""
    out = {v.fingerprint: v for v in current_schemas().values()}
    history = bundled_schema_dir().joinpath("history")
    if history.is_dir():
        for entry in sorted(history.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".avsc"):
                version = _load(entry, f"history/{entry.name}")
                out.setdefault(version.fingerprint, version)
    return out
