#!/usr/bin/env python3
"""What the clip edges cost the test scores: every test clip scored as it is, and with silence around it.

Every report now pads its test clips (`evaluate.edge_pad`, the default here); this study is how that
protocol was chosen, and scores the clips as cut for comparison.

A test clip's score is the best that 2 consecutive windows (1 s, 0.25 s apart) both reach, as the device's
decider needs. A bark in a clip's first or last 0.3 s is then in one window only, where a device streaming
the same sound would have it in three or four; some ESC-50 clips start on their bark. Padding each clean
clip with `--pad` seconds of silence on both sides (before any test condition is mixed in, so a noisy
condition's noise runs through the padding too) gives every event the windows it would have in a stream.

    python scripts/edge_study.py /tmp/loc /tmp/t40 --pad 0.75
    python scripts/edge_study.py /tmp/d50x --after     # the silence put around each clip after its condition

Each folder holds models saved by `screen.py --save-models` (fold5-seed*, cross-seed*), trained with the
shipped recipe's architecture (or `--config` fields). Prints, per split and padding, each label's ROC-AUC
(mean ± sd over the folder's seeds) clean and at 0 dB room+mic, and the positives whose clean score the
padding moves most.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import screen  # noqa: E402

from barkcry_train.data import LABELS, Corpus  # noqa: E402
from barkcry_train.evaluate import CONDITIONS, TestSet, clip_windows, condition_audio, summarize  # noqa: E402
from barkcry_train.experiment import Resources, make_splits  # noqa: E402
from barkcry_train.train import predict_windows  # noqa: E402
from detector.frontend import LogMel  # noqa: E402
from detector.model import DEFAULT_MODEL, Sidecar  # noqa: E402

SHIPPED_FIELDS = ["freq_masks=2", "pooling=freq-mean", "relu_max=6"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--pad", type=float, default=0.75, help="seconds of silence each side (window - hop: 0.75)")
    ap.add_argument(
        "--after",
        action="store_true",
        help="pad each clip after its test condition (silence around a noisy clip) instead of before",
    )
    ap.add_argument("--config", action="append", default=[], help="FitConfig field=value, if not the shipped recipe's")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    a = ap.parse_args(argv)
    lm = LogMel()
    corpus = Corpus.load(a.data, lm.params.sample_rate)
    res = Resources.load(corpus, lm, 60, ROOT / "cache")
    lift = Sidecar.read(DEFAULT_MODEL.with_suffix(".json")).quiet_lift  # the serving lift, as every report scores
    conds = [c for c in CONDITIONS if c.name in ("clean", "room+mic +0 dB")]
    thresholds = {lab: 0.5 for lab in LABELS}  # AUC does not depend on them
    print("| models | split | padding | " + " | ".join(f"{lab} AUC {c.name}" for c in conds for lab in LABELS) + " |")
    print("|---|---|---:|" + "---:|" * (len(conds) * len(LABELS)))
    moved = []
    for folder in a.folders:
        for name, split in make_splits(corpus).items():
            models = screen.saved_models(
                [folder], name, a.config or SHIPPED_FIELDS, (lm.params.window_frames, lm.params.n_mels)
            )
            if not models:
                continue
            clean = {}
            for pad_s in (0.0, a.pad):
                pad = int(pad_s * lm.params.sample_rate)
                if a.after:  # the conditions' own draws, as unpadded; silence around what they made
                    ts = TestSet(
                        split.test,
                        {
                            c.name: [
                                clip_windows(lm, np.pad(x, pad))
                                for x in condition_audio(
                                    split.test, corpus.audio, lm, res.noises(split.test), res.test_rirs, 7, c, pad=0
                                )
                            ]
                            for c in conds
                        },
                    )
                else:  # what every report does since the padding was adopted, at --pad
                    ts = res.test_set(split.test, conds, pad=pad)
                scores = [ts.score(lambda w, m=m: predict_windows(m, w, lift)) for m in models]
                aucs = np.array(
                    [
                        [
                            summarize(ts.clips, s, thresholds)["conditions"][c.name][lab]["auc"]
                            for c in conds
                            for lab in LABELS
                        ]
                        for s in scores
                    ]
                )
                print(
                    f"| {folder} | {name} | {pad_s:g} s{' after' if a.after and pad_s else ''} | "
                    + " | ".join(f"{m:.3f} ± {sd:.3f}" for m, sd in zip(aucs.mean(0), aucs.std(0)))
                    + " |",
                    flush=True,
                )
                clean[pad_s] = np.mean([s["clean"] for s in scores], axis=0)
            neg = np.array([c.label not in LABELS for c in split.test])
            for i, c in enumerate(split.test):
                if c.label in LABELS:
                    j = LABELS.index(c.label)
                    s0, s1 = clean[0.0][i, j], clean[a.pad][i, j]
                    moved.append(
                        (
                            s1 - s0,
                            folder,
                            name,
                            c.path,
                            s0,
                            int((clean[0.0][neg, j] > s0).sum()),
                            s1,
                            int((clean[a.pad][neg, j] > s1).sum()),
                            int(neg.sum()),
                        )
                    )
    print(
        "\nPositives whose clean score (mean over seeds) the padding moves most, and how many negatives score "
        "above them:\n"
    )
    print(
        "| models | split | clip | as it is | negatives above | padded | negatives above |\n|---|---|---|---:|---:|---:|---:|"
    )
    for _, folder, name, path, s0, n0, s1, n1, n in sorted(moved, key=lambda m: -abs(m[0]))[:10]:
        print(f"| {folder} | {name} | {path} | {s0:.3f} | {n0} of {n} | {s1:.3f} | {n1} of {n} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
