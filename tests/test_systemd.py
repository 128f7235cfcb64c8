"""The shipped unit passes `systemd-analyze verify` and keeps its hardening."""

import shutil
import subprocess
import sys

from conftest import ROOT, need

UNIT = ROOT / "systemd" / "detector.service"


def test_unit_verifies(tmp_path):
    exe = shutil.which("systemd-analyze")
    need(exe is not None, "systemd-analyze is not installed (apt-get install systemd)")
    detector = shutil.which("detector") or sys.executable  # verify checks that ExecStart exists
    unit = tmp_path / "detector.service"
    unit.write_text(UNIT.read_text().replace("/opt/barkcry/.venv/bin/detector", detector))
    r = subprocess.run([exe, "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "detector.service" not in r.stderr, r.stderr  # no warnings about our unit


def test_unit_is_hardened_notify_with_watchdog():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "RestrictAddressFamilies=", "SupplementaryGroups=audio",
                 "StateDirectory=barkcry", "User=barkcry"):
        assert line in text, line
