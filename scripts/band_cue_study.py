#!/usr/bin/env python3
"""Does a model find cries by their missing top band? Score test clips as they are and through an 8 kHz round trip.

    python scripts/band_cue_study.py full=/tmp/t40 bands48=/tmp/b48:bands=48

Each NAME=DIR[:field=value,...] is a folder of weights saved by `scripts/screen.py --save-models` and the
FitConfig fields they were trained with (on top of the shipped recipe: freq_masks=2, pooling=freq-mean,
relu_max=6). Nearly every training cry comes from Donate-a-Cry, recorded at 8 kHz: nothing above 4 kHz.
Taking every test clip down to 8 kHz and back (`augment.resample_round_trip`), negatives included, leaves
the cries as they were and gives every negative the same empty top band: a model that finds cries by that
cue now finds them in the negatives too. A model that never heard the top bands scores the same either way.

Prints, per model and seed, the clean AUCs on both test sets (fold 5: Donate-a-Cry cries; cross: the ESC-50
cries, never trained on, against the same fold-5 negatives) as they are and through the round trip; then
each folder's models averaged, and all of them (an ensemble of both kinds); then the sources of the
negatives each family scores highest for cry.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import screen  # noqa: E402

from barkcry_train.augment import resample_round_trip  # noqa: E402
from barkcry_train.data import LABELS, Corpus  # noqa: E402
from barkcry_train.evaluate import CONDITIONS, TestSet, clip_windows  # noqa: E402
from barkcry_train.experiment import Resources, make_splits  # noqa: E402
from barkcry_train.train import predict_windows  # noqa: E402
from detector.frontend import LogMel  # noqa: E402
from detector.level import QuietLift  # noqa: E402
from detector.metrics import roc_auc  # noqa: E402

RECIPE = ["freq_masks=2", "pooling=freq-mean", "relu_max=6"]


def test_sets(res: Resources, clips) -> TestSet:
    """``clips`` clean, and clean through an 8 kHz round trip."""
    ts = res.test_set(clips, [CONDITIONS[0]])
    fs = res.lm.params.sample_rate
    audio = res.corpus.audio
    ts.feats["8 kHz"] = [clip_windows(res.lm, resample_round_trip(audio[c.path].astype(np.float32), fs)) for c in clips]
    return ts


def auc_cells(clips, scores: dict[str, np.ndarray]) -> str:
    """Each label's AUC clean / through the round trip, as table cells."""
    cells = []
    for j, lab in enumerate(LABELS):
        keep = np.array([c.label == lab or c.label not in LABELS for c in clips])
        pos = np.array([c.label == lab for c in clips])[keep]
        cells.append(" / ".join(f"{roc_auc(pos, scores[cond][keep, j]):.3f}" for cond in ("clean", "8 kHz")))
    return " | ".join(cells)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="NAME=DIR[:field=value,...]")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache")
    a = ap.parse_args(argv)

    lm = LogMel()
    res = Resources.load(Corpus.load(a.data, lm.params.sample_rate), lm, 60, a.cache)
    lift = QuietLift(-5.0, 20.0)  # the serving lift, as the screening rows are scored
    splits = make_splits(res.corpus)
    sets = {name: (splits[name].test, test_sets(res, splits[name].test)) for name in ("fold5", "cross")}
    print(f"| model | seed | split | {' | '.join(f'{lab} AUC clean / 8 kHz' for lab in LABELS)} |")
    print("|---|---:|---|" + "---|" * len(LABELS))
    top: dict[str, Counter] = {}
    kept: dict[tuple[str, str], list] = {}  # (split, model name) -> each seed's scores
    for spec in a.models:
        name, _, rest = spec.partition("=")
        folder, _, pairs = rest.partition(":")
        for split, (clips, ts) in sets.items():
            for seed in range(3):
                path = Path(folder) / f"{split}-seed{seed}.weights.h5"
                if not path.exists():
                    continue
                cfg = screen.fit_config(RECIPE + [p for p in pairs.split(",") if p], seed)
                model = screen.load_weights(path, cfg, ts.feats["clean"][0].shape[1:])
                scores = ts.score(lambda w: predict_windows(model, w, lift))
                kept.setdefault((split, name), []).append(scores)
                print(f"| {name} | {seed} | {split} | {auc_cells(clips, scores)} |", flush=True)
                if split == "fold5":
                    neg = [i for i, c in enumerate(clips) if c.label not in LABELS]
                    worst = sorted(neg, key=lambda i: -scores["clean"][i, LABELS.index("cry")])[:15]
                    top.setdefault(name, Counter()).update(clips[i].source for i in worst)
    for split, (clips, _) in sets.items():  # ensembles: the models' scores averaged
        groups = {f"mean of {name}": runs for (sp, name), runs in kept.items() if sp == split}
        groups["mean of all"] = [s for runs in groups.values() for s in runs]
        for name, runs in groups.items():
            mean = {cond: np.mean([s[cond] for s in runs], axis=0) for cond in runs[0]}
            print(f"| {name} | {len(runs)} models | {split} | {auc_cells(clips, mean)} |")
    print("\nSources of the 15 fold-5 negatives each model scores highest for cry (clean), summed over seeds:")
    for name, counts in top.items():
        print(f"- {name}: " + ", ".join(f"{s} {n}" for s, n in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
