#!/usr/bin/env python3
"""What Home Assistant's sensitivity select costs and buys: false alarms per hour and recall at "low",
"normal" and "high" (detector/controls.py maps each to thresholds), through the product as it ships (small
model, second opinion, decider).

On folds 4 and 5 (never trained on): false alarms per hour over every negative clip (their hours summed),
recall over the barks and cries. Windows are scored once; each sensitivity is replayed over them.

    python -m bench.sensitivity [--data ../shared/data] [--out reports/sensitivity.md]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `detector` runs

import numpy as np

from barkcry_train.data import read_manifest
from detector.audiofile import read_audio
from detector.config import Config
from detector.confirm import confirm_thresholds, load_second_opinion
from detector.controls import SENSITIVITIES, sensitive
from detector.model import Classifier
from detector.replay import CachedYamnet, replay
from detector.scan import window_scores

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "sensitivity.md")
    a = ap.parse_args()
    cfg = Config()
    clf = Classifier(cfg.model_path())
    second = load_second_opinion(cfg)
    confirm = confirm_thresholds(cfg, clf, second)
    base = cfg.detection.policies(clf.thresholds_for(confirm))
    window_s = clf.frontend.window_samples / clf.frontend.sample_rate
    yam = CachedYamnet(second) if second is not None else None
    clips = [
        c for c in read_manifest(a.data / "manifest.csv") if c.fold in (4, 5) and c.label in ("bark", "cry", "negative")
    ]
    scored = []
    for c in clips:
        x = read_audio(a.data / c.path, 16000)
        scored.append((c, x, window_scores(cfg, clf, x)))
    hours = sum(x.size for c, x, _ in scored if c.label == "negative") / 16000 / 3600
    rows = []
    for s in SENSITIVITIES:
        policies = {
            lab: replace(p, on=sensitive(p.on, s), off=min(p.off * sensitive(p.on, s) / p.on, sensitive(p.on, s)))
            for lab, p in base.items()
        }
        fa = {lab: 0 for lab in base}
        found = {lab: [] for lab in base}
        for c, x, ws in scored:
            starts = [e.label for e in replay(ws, policies, window_s, x, 16000, yam, confirm) if e.state == "start"]
            if c.label == "negative":
                for lab in starts:
                    fa[lab] += 1
            else:
                found[c.label].append(c.label in starts)
        rows.append(
            (
                s,
                {lab: p.on for lab, p in policies.items()},
                {lab: fa[lab] / hours for lab in fa},
                {lab: float(np.mean(v)) for lab, v in found.items()},
            )
        )
        print(f"  {s}: done", file=sys.stderr, flush=True)
    L = [
        "# The sensitivity select",
        "",
        "Command: `python -m bench.sensitivity`. Folds 4 and 5 (never trained on), the product as it ships "
        f"(small model, second opinion, decider): false alarms per hour over the {hours:.1f} h of negative clips "
        "(speech, music, animals, household and street sounds), recall over the barks and cries. "
        "`detector/controls.py` maps each setting to thresholds.",
        "",
        "| sensitivity | thresholds | bark false alarms/h | cry false alarms/h | bark recall | cry recall |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for s, on, fa, rec in rows:
        L.append(
            f"| {s} | {', '.join(f'{k} {v:.3f}' for k, v in on.items())} | {fa['bark']:.1f} | {fa['cry']:.1f} | "
            f"{100 * rec['bark']:.0f} % | {100 * rec['cry']:.0f} % |"
        )
    a.out.write_text("\n".join(L) + "\n")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
