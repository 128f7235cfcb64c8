"""`pip install .`, as the README installs on a Pi: the package must carry the model and its data.

The test environment's own install is editable (it reads the source tree), so this builds the wheel,
unpacks it into a directory of its own, and runs it from elsewhere without the editable finder."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PROBE = """
import detector, detector.model as m, detector.calibrate.analysis as c, detector.yamnet as y
print(detector.__file__)
print(m.DEFAULT_MODEL)
print(len(list(c.BUNDLED_POSITIVES.glob("bark/*.flac"))))
print(y.DEFAULT_YAMNET)
"""


def test_an_installed_package_finds_its_model_and_calibration_sounds(tmp_path):
    wheels, target, src = tmp_path / "wheels", tmp_path / "site", tmp_path / "src"
    # built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "cache", "reports", "__pycache__")
    )
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("*.whl")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    # -S: no site initialisation, so the editable install's finder stays out; numpy & co. come from here.
    env = {"PYTHONPATH": ":".join([str(target), *site.getsitepackages()]), "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run(
        [sys.executable, "-S", *a],
        cwd=tmp_path,
        env=env,  # noqa: E731
        capture_output=True,
        text=True,
        timeout=120,
    )
    r = run("-c", PROBE)
    assert r.returncode == 0, r.stderr
    package, model, barks, yamnet = r.stdout.split("\n")[:4]
    assert package.startswith(str(target)) and model.startswith(str(target)), r.stdout
    for m in (model, yamnet):  # the small model and the second opinion
        assert m.startswith(str(target)) and Path(m).is_file() and Path(m).with_suffix(".json").is_file(), r.stdout
    assert int(barks) > 0, r.stdout
    r = run("-m", "detector.cli", "scan", str(ROOT / "detector" / "data" / "demo.flac"))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["label"] for line in r.stdout.splitlines()] == ["bark", "bark", "cry"]
    assert "second opinion off" not in r.stderr
    assert all(json.loads(line)["confirm_score"] >= 0.5 for line in r.stdout.splitlines() if '"bark"' in line)
