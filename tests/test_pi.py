"""`make pi-check`: the detector in an arm64 Debian userland under qemu-user gives x86's events and scores."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, need


@pytest.mark.slow
def test_the_detector_scans_alike_on_arm64(tmp_path):
    need(shutil.which("qemu-aarch64-static") is not None, "qemu-user-static is not installed")
    need(shutil.which("debootstrap") is not None, "debootstrap is not installed")
    out = tmp_path / "pi_check.md"
    r = subprocess.run(
        [sys.executable, "-m", "scripts.pi_check", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = out.read_text()
    assert "arm64 userland: Debian bookworm, aarch64 3.11" in report  # really the emulated arm build
    assert "- events: identical" in report
    assert "armhf (armv7l 3.11" in report  # Debian's numpy computes the same log-mel


def test_a_moved_event_or_a_score_beyond_four_steps_is_a_difference():
    from scripts.pi_check import TOLERANCE, compare

    win = lambda t, s: {"file": "a.flac", "t": t, "scores": {"bark": s, "cry": 0.0}}  # noqa: E731
    ev = lambda start, score: {"file": "a.flac", "label": "bark", "start": start, "end": 3.0, "score": score}  # noqa: E731
    x86 = [win(0.25, 0.5), win(0.5, 0.9), ev(0.25, 0.9)]
    assert compare(x86, list(x86)) == ([], 0.0, 2)
    diffs, worst, _ = compare(x86, [win(0.25, 0.5), win(0.5, 0.9 - 2 * TOLERANCE), ev(0.5, 0.9)])
    assert worst > TOLERANCE
    assert any("x86 only" in d for d in diffs) and any("arm64 only" in d for d in diffs)
    assert compare(x86, [ev(0.25, 0.9 - 2 * TOLERANCE)])[0]  # windows missing, and the event's score moved
