"""Shared fixtures: the repository root (the package itself is tested as installed)."""

from __future__ import annotations

import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def repo_root() -> pathlib.Path:
    return REPO_ROOT
