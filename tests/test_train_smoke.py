"""The training path end to end on a handful of real clips, so it can never rot (CI installs tensorflow)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, need

from scripts.compare_candidate import Recipe

pytestmark = pytest.mark.slow  # trains a model with TensorFlow


def test_train_smoke_with_a_calibration_recording(tmp_path, data_root, shipped_model):
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        need(False, "tensorflow-cpu is not installed (pip install -e '.[train]')")
    # A room recording as `detector calibrate` keeps it from the microphone (tests/test_calibrate.py checks that)
    x, sr = sf.read(sorted((data_root / "noise/speechcommands").glob("*dishes*.flac"))[0], dtype="float32")
    noise_dir = tmp_path / "state" / "noise"
    noise_dir.mkdir(parents=True)
    sf.write(noise_dir / "calibration-20260101T000000.flac", x[: sr * 10], sr)
    out = tmp_path / "m" / "smoke"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.train",
            "--smoke",
            "--data",
            str(data_root),
            "--out",
            str(out),
            "--noise-dir",
            str(noise_dir),
            "--cache",
            str(tmp_path / "cache"),
            "--distill",
            "0.5",
            "--new-cross",
            "--bark-screening",
            str(ROOT / "reports" / "bark_cry" / "bark_screening.csv"),
            "--hard-negatives",
            "class cat=3",
            "--save-seeds",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "1 local noise recording(s)" in r.stdout
    assert "barks dropped" in r.stdout  # the screening's rejects left out
    assert "cross-new: train" in r.stdout
    # --save-seeds leaves a run that scripts.compare_candidate reads, command included
    run = Recipe.load("smoke", out.parent)
    assert run.seeds == {0: out.with_name("smoke-seed0.tflite")}
    assert {r["split"] for r in run.runs} == {"fold5", "cross", "cross-new"}
    assert run.command.startswith("python -m scripts.train") and "--save-seeds" in run.command
    sc = json.loads(out.with_suffix(".json").read_text())
    assert sc["training"]["extra_noise_dirs"] == [str(noise_dir)]
    assert sc["training"]["smoke"] is True
    assert sc["training"]["distill"] == {"weight": 0.5, "teachers": 1}
    # The shipped recipe's band extension, on the students' windows only.
    assert "band extension p=0.25 at -30..-12 dB of band-limited sources" in sc["training"]["augmentation"]
    assert sc["input"]["rescale"] == [0.05, 2.5]  # applied by the Classifier, not by int8 ops
    assert out.with_suffix(".tflite").stat().st_size > 1000
    report = (out.parent / "report" / "training.md").read_text()
    assert "ROC-AUC" in report and "int8 vs float" in report
    assert "| fold5 | teacher | 0 |" in report and "| fold5 | augmented | 0 |" in report  # the seed taught a student
    assert "| fold5 | teacher | 1 |" in report  # the undistilled seeds stay in the AUC table, beside the ablation
    assert "| model size | ≤ 100 KB | 54 KB | yes |" in report  # the floors table, on the sidecar's numbers
    assert (out.parent / "report" / "recall_vs_snr_fold5.png").exists()
    # The exported model runs on the device runtime.
    from detector.model import Classifier

    clf = Classifier(out.with_suffix(".tflite"))
    s = clf.scores(np.full((98, 64), -60.0, np.float32))
    assert s.shape == (2,) and ((0 <= s) & (s <= 1)).all()
