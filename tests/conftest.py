"""Shared fixtures: the real corpus, the shipped model, and a real mosquitto broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BARKCRY_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, why: str) -> None:
    """Skip locally when a real part is missing, but fail under CI: a skip must never pass for a test."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required for CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def data_root() -> Path:
    need((DATA / "manifest.csv").is_file(), f"shared corpus not found at {DATA} (set BARKCRY_DATA)")
    return DATA
