#!/usr/bin/env python3
"""A screened model as a candidate for the device: int8 TFLite and a sidecar, thresholds picked as train.py does.

    python scripts/export_candidate.py /tmp/crybands/fold5-seed0.weights.h5 freq_masks=2 pooling=freq-mean \\
        relu_max=6 --out /tmp/candidate/bark_cry
    python scripts/calibration_rooms.py --minutes 30 --model /tmp/candidate/bark_cry.tflite --out /tmp/rooms.md

WEIGHTS is a fold-5 model saved by `scripts/screen.py --save-models`, followed by the FitConfig fields it was
trained with. The conversion is train.py's (`to_int8_tflite` on the same calibration windows), the thresholds
train.py's rule on the int8 model's own validation scores (fold 4, clean and room+mic at 5 dB, pooled draws),
and the serving lift the shipped sidecar's. The sidecar holds what the device needs and no training record: a candidate
to check in the calibration rooms (what screening does not measure) before a full `scripts/train.py` run,
never a model to ship.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import screen  # noqa: E402

from barkcry_train.data import LABELS, Corpus  # noqa: E402
from barkcry_train.experiment import (  # noqa: E402
    Resources,
    int8_with_thresholds,
    make_splits,
    representative_windows,
    validation_clips,
)
from barkcry_train.export import write_model  # noqa: E402
from detector.frontend import LogMel  # noqa: E402
from detector.model import DEFAULT_MODEL, Classifier, Sidecar  # noqa: E402


def export(weights: Path, config: list[str], res: Resources, split, out: Path) -> tuple[dict, Classifier]:
    """``weights`` (trained with ``config``) as an int8 model and sidecar at the stem ``out``; the sidecar and
    the int8 Classifier."""
    lm = res.lm
    model = screen.load_weights(weights, screen.fit_config(config, 0), (lm.params.window_frames, lm.params.n_mels))
    lift = Sidecar.read(DEFAULT_MODEL.with_suffix(".json")).quiet_lift  # the serving lift that ships
    sidecar = {
        "labels": list(LABELS),
        "frontend": lm.params.to_dict(),
        "thresholds": {lab: 0.5 for lab in LABELS},  # until int8_with_thresholds picks them
        "input": {"lift": lift.to_dict()} if lift else {},
        "candidate": {"weights": str(weights), "config": config},
    }
    int8, clf, _ = int8_with_thresholds(
        model, representative_windows(res, split), validation_clips(res, split), sidecar, lm.params, screen.MAX_FPR
    )
    sidecar["input"]["rescale"] = list(int8.rescale)
    write_model(out, int8.tflite, sidecar)
    return sidecar, clf


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("config", nargs="*", help="the FitConfig field=value pairs it was trained with")
    ap.add_argument("--out", type=Path, required=True, help="output stem (.tflite and .json)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    a = ap.parse_args(argv)
    lm = LogMel()
    res = Resources.load(Corpus.load(a.data, lm.params.sample_rate), lm, 60, ROOT / "cache")
    sidecar, _ = export(a.weights, a.config, res, make_splits(res.corpus)["fold5"], a.out)
    print(f"wrote {a.out.with_suffix('.tflite')} and {a.out.with_suffix('.json')}; thresholds {sidecar['thresholds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
