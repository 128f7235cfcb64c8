#!/usr/bin/env python3
"""How much the shipped thresholds depend on the validation fold's random noise and room draws.

    python scripts/threshold_study.py [MODEL] [--draws 5]

scripts/train.py picks each label's threshold as the lowest with at most 2 % false positives on the
validation clips (fold 4, clean and through a room and microphone at 5 dB SNR), over 5 draws of noise and
rooms pooled (seeds 11-15; until 5d32f79, one draw, seed 11). This re-picks them for the shipped int8
model over each draw alone and over all of them pooled (which reproduces the sidecar's), and gives the
fold-5 test recall and false-positive rate each would bring. With --as-cut, validation and test clips are
scored as cut, without the silence at their edges that every report has put around them since a0d6d18:
what the padding does to the thresholds of one model.

    python scripts/threshold_study.py --as-cut
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from barkcry_train.data import LABELS  # noqa: E402
from barkcry_train.evaluate import CONDITIONS  # noqa: E402
from barkcry_train.experiment import load_fold5_check, pick_thresholds, validation_clips  # noqa: E402
from detector.metrics import rate_at  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "bark_cry.tflite")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=ROOT / "cache", help="where simulated rooms are cached")
    ap.add_argument("--as-cut", action="store_true", help="clips without the silence at their edges (pad 0)")
    a = ap.parse_args(argv)
    pad = 0 if a.as_cut else None

    clf, res, split = load_fold5_check(a.model, a.data, a.cache)
    test = res.test_set(split.test, CONDITIONS[:1], pad=pad)
    test_scores = test.score(clf.score_windows)["clean"]

    seeds = tuple(range(11, 11 + a.draws))
    draws = {seed: validation_clips(res, split, (seed,), pad) for seed in seeds}
    draws["pooled (what scripts/train.py uses)"] = validation_clips(res, split, seeds, pad)
    print(f"sidecar thresholds {clf.thresholds}")
    print(
        "| validation draw | "
        + " | ".join(f"{lab} threshold | {lab} test recall | {lab} test FP" for lab in LABELS)
        + " |"
    )
    print("|---|" + "---:|---:|---:|" * len(LABELS))
    for name, val in draws.items():
        picked, cells = pick_thresholds(val, val.score(clf.score_windows), 0.02), []
        for j, lab in enumerate(LABELS):
            t = picked[lab]
            keep = [c.label == lab or c.label not in LABELS for c in test.clips]
            pos = np.array([c.label == lab for c in test.clips])[keep]
            rec, fpr = rate_at(pos, test_scores[keep, j], t)
            cells.append(f"{t:.3f} | {rec:.3f} | {fpr:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
