"""The installed package carries exactly the repository's schemas/ (and schemas/history/)."""

from __future__ import annotations

import pathlib

from webscale_rl.schemas import bundled_schema_dir, current_schemas, schemas_by_fingerprint


def _avsc_files(root) -> dict[str, bytes]:
    out = {}
    for entry in root.iterdir():
        if entry.name.endswith(".avsc"):
            out[entry.name] = entry.read_bytes()
    history = root.joinpath("history")
    if history.is_dir():
        for entry in history.iterdir():
            if entry.name.endswith(".avsc"):
                out[f"history/{entry.name}"] = entry.read_bytes()
    return out


def test_bundled_schemas_equal_the_repository(repo_root: pathlib.Path) -> None:
    bundled = _avsc_files(bundled_schema_dir())
    repo = _avsc_files(repo_root / "schemas")
    assert sorted(bundled) == sorted(repo)
    assert any(name.startswith("history/") for name in repo)
    for name, data in repo.items():
        assert bundled[name] == data, f"bundled {name} differs from schemas/{name}"


def test_every_record_type_and_history_version_is_known() -> None:
    names = set(current_schemas())
    assert {"QaRecord", "Document", "Rejection", "DeadLetter"} <= names
    by_fp = schemas_by_fingerprint()
    assert len(by_fp) == len(_avsc_files(bundled_schema_dir()))
    assert any(v.file.startswith("history/QaRecord") for v in by_fp.values())
