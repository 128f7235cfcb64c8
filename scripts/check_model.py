#!/usr/bin/env python3
"""Re-score a shipped int8 model on the corpus's fold-5 test set, without training.

    python -m scripts.check_model                         # models/bark_cry.tflite -> reports/bark_cry/check.md
    python -m scripts.check_model MODEL --out REPORT.md

The test set is the one scripts/train.py builds (fold-5 clips, the 12 noise/room/microphone conditions,
held-out rooms, the same random draws), scored through the device's runtime at the sidecar's thresholds.
So it reproduces the training report's int8 table, and adds to each AUC a 95 % interval that resamples
whole recordings: with 42 bark clips from 17 recordings, that interval is what a claim can rest on. Two
more rows are far-away events: each clean clip turned down until its loudest second is at -35 or -45 dBFS,
over a -80 dBFS microphone floor (`LEVEL_CONDITIONS`). Then the issue's floors against these numbers,
the sidecar's int8 parity and size, and the seeds of the training report's runs.json (--runs). Last, where
the misses come from: each positive's contrast (its loudest 100 ms over its median, `contrast_db`), the
AUC with and without the positives whose event hardly stands out of their own recording, and every missed one;
and the recordings whose clips lose the most of each clean AUC.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from barkcry_train import report
from barkcry_train.data import LABELS, manifest_hash
from barkcry_train.evaluate import CONTRAST_SPLIT_DB, contrast_db, summarize
from barkcry_train.experiment import load_fold5_check

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "bark_cry.tflite")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bark_cry" / "check.md")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache", help="where simulated rooms are cached")
    ap.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="the training runs (default: reports/<model name>/runs.json, as scripts/train.py writes it)",
    )
    a = ap.parse_args(argv)
    runs_path = a.runs or ROOT / "reports" / a.model.stem / "runs.json"

    clf, res, split = load_fold5_check(a.model, a.data, a.cache)
    ts = res.test_set(split.test)
    scores = ts.score(clf.score_windows)
    m = summarize(ts.clips, scores, clf.thresholds)

    n = {
        lab: (sum(c.label == lab for c in ts.clips), len({c.recording for c in ts.clips if c.label == lab}))
        for lab in LABELS
    }
    neg = [c for c in ts.clips if c.label not in LABELS]
    L = [
        f"# {a.model.name} on the fold-5 test set",
        "",
        f"Command: `python -m scripts.check_model {a.model.relative_to(ROOT) if a.model.is_relative_to(ROOT) else a.model}`"
        f" (manifest {manifest_hash(a.data / 'manifest.csv')}). int8 through the device's runtime, sidecar "
        f"thresholds {clf.thresholds}.",
        "",
        "Test clips: "
        + ", ".join(f"{n[lab][0]} {lab} from {n[lab][1]} recordings" for lab in LABELS)
        + f", {len(neg)} negative and noise clips from {len({c.recording for c in neg})}. The interval after each AUC is a 95 % "
        "bootstrap that resamples whole recordings, positives and negatives apart.",
        "",
    ]
    L += report.condition_table(m)
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else []
    extra = clf.sidecar.extra
    L += [
        "",
        "## Against the issue's floors",
        "",
        f"Recall, false positives and music from the table above; int8 parity and size from the sidecar; "
        f"AUC over seeds from `{runs_path.relative_to(ROOT) if runs_path.is_relative_to(ROOT) else runs_path}`"
        + ("" if runs else " (not found: no seed rows)")
        + ". Inference time: `reports/bench.md`.",
        "",
    ]
    L += report.floors_table(runs, m, extra["metrics"]["int8_vs_float"], extra["model"])
    contrast = np.array([contrast_db(res.corpus.audio[c.path]) for c in ts.clips])
    L += [
        "",
        "## Where the misses come from",
        "",
        f"Some test recordings already hold their event in noise: UrbanSound8K keeps dogs heard in the "
        f"background of a street. Each positive's contrast is its loudest 100 ms over its median 100 ms "
        f"(`evaluate.contrast_db`); below {CONTRAST_SPLIT_DB:g} dB the event hardly stands out of its own "
        f"recording before any test noise is added. Each row is scored against every negative clip.",
        "",
    ]
    L += report.contrast_table(ts.clips, scores, clf.thresholds, contrast)
    L += ["", "Positives missed on clean audio at the sidecar thresholds:", ""]
    L += report.missed_table(ts.clips, scores["clean"], clf.thresholds, contrast)
    L += [
        "",
        "## Where the clean AUC is lost",
        "",
        "Each (positive, negative) pair of clips that the model ranks the wrong way costs the AUC one pair in "
        "all of them. The recordings (a clip's source recording, as the intervals above resample them) whose "
        "clips lose the most pairs, on each side, with the AUC the test would give without that recording's "
        "clips. A few recordings holding most of the lost pairs say that the shortfall is theirs.",
        "",
    ]
    for lab in LABELS:
        L += report.auc_loss_table(ts.clips, scores["clean"], lab) + [""]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(L) + "\n")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
