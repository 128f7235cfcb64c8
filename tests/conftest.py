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


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    p = ROOT / "models" / "bark_cry.tflite"
    assert p.is_file(), "the shipped model models/bark_cry.tflite is missing"
    from detector.model import _interpreter_class

    try:
        _interpreter_class()
    except Exception as e:  # noqa: BLE001
        need(False, f"no TFLite runtime: {e}")
    return p


@pytest.fixture
def mosquitto_bin() -> str:
    import shutil

    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    need(exe is not None, "mosquitto is not installed (apt-get install mosquitto)")
    return exe
