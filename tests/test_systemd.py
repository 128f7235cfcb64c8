"""The shipped unit passes `systemd-analyze verify` and keeps its hardening."""

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, need

UNIT = ROOT / "systemd" / "detector.service"
UNITS = [UNIT, ROOT / "systemd" / "detector-web.service"]


@pytest.mark.parametrize("unit_file", UNITS, ids=lambda p: p.name)
def test_unit_verifies(tmp_path, unit_file):
    exe = shutil.which("systemd-analyze")
    need(exe is not None, "systemd-analyze is not installed (apt-get install systemd)")
    detector = shutil.which("detector") or sys.executable  # verify checks that ExecStart exists
    unit = tmp_path / unit_file.name
    unit.write_text(unit_file.read_text().replace("/opt/barkcry/.venv/bin/detector", detector))
    r = subprocess.run([exe, "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert unit_file.name not in r.stderr, r.stderr  # no warnings about our unit


def test_unit_is_hardened_notify_with_watchdog():
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "SupplementaryGroups=audio",
        "StateDirectory=barkcry",
        "User=barkcry",
    ):
        assert line in text, line


@pytest.mark.parametrize("unit_file", UNITS, ids=lambda p: p.name)
def test_unit_exposure_stays_at_most_1_5(tmp_path, unit_file):
    """systemd's own score of the sandbox, not the strings in the file."""
    import re

    exe = shutil.which("systemd-analyze")
    need(exe is not None, "systemd-analyze is not installed (apt-get install systemd)")
    unit = tmp_path / "barkcry.service"
    unit.write_text(unit_file.read_text())
    r = subprocess.run([exe, "security", "--offline=yes", str(unit)], capture_output=True, text=True, cwd=tmp_path)
    m = re.search(r"Overall exposure level for barkcry\.service: ([\d.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 1.5, r.stdout


def test_a_config_error_is_not_restarted_forever():
    text = UNIT.read_text()
    assert "Restart=on-failure" in text and "RestartPreventExitStatus=2" in text  # 2: config, model, device
