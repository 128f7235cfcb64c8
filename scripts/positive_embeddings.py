#!/usr/bin/env python3
"""The per-home verifier's reference positives: the shipped model's embeddings of the best firing windows of
every training-fold bark and cry, written beside the model as <model>.positives.npz with its sha256.

A home marks a handful of false alarms and has few confirmed events; without many real positives a head
learns "unlike the twelve bundled clips" and turns real barks down too (reports/verifier.md). Embeddings,
not audio: nothing of the recordings can be played back from them.

    python -m scripts.positive_embeddings [--data ../shared/data] [--model models/bark_cry.tflite]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from barkcry_train.data import read_manifest
from detector.audiofile import read_audio
from detector.config import Config
from detector.history import BEST_WINDOWS, file_sha256
from detector.lessons import Teacher
from detector.scan import window_scores

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FOLDS = (1, 2, 3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "bark_cry.tflite")
    a = ap.parse_args(argv)
    cfg = Config(model=str(a.model))
    teacher = Teacher(cfg, file_sha256(a.model))
    out: dict[str, list[np.ndarray]] = {lab: [] for lab in teacher.clf.labels}
    for c in read_manifest(a.data / "manifest.csv"):
        if c.fold in TRAIN_FOLDS and c.label in out:
            ws = window_scores(cfg, teacher.clf, read_audio(a.data / c.path, 16000))
            firing = sorted(
                (w for w in ws if w.scores[c.label] >= teacher.on[c.label]), key=lambda w: -w.scores[c.label]
            )
            out[c.label] += [w.embedding for w in firing[:BEST_WINDOWS]]
    path = a.model.with_suffix(".positives.npz")
    np.savez_compressed(
        path, model_sha256=file_sha256(a.model), **{lab: np.stack(v).astype(np.float16) for lab, v in out.items()}
    )
    print(f"wrote {path}: " + ", ".join(f"{lab} {len(v)} windows" for lab, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
