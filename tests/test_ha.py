"""barkcry against a real Home Assistant (scripts/ha_check.py, in the venv `make test` builds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, need

pytestmark = pytest.mark.slow  # a real Home Assistant: about 40 s, and its own venv

HA_PYTHON = Path(os.environ.get("BARKCRY_HA_PYTHON", ROOT / ".ha-venv" / "bin" / "python"))


def test_home_assistant_shows_every_entity_and_its_services_reach_the_detector(mosquitto_bin, shipped_model):
    need(HA_PYTHON.exists(), f"no Home Assistant venv at {HA_PYTHON} (make .ha-venv/bin/hass)")
    r = subprocess.run(
        [sys.executable, "-m", "scripts.ha_check", "--ha-python", str(HA_PYTHON)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "no MQTT warning in HA's log, no repair issue" in r.stdout
