"""Screen bark clips by ear, YAMNet's: keep a clip as a bark only if its best window hears a bark.

    python -m barkcry_train.bark_screening --data ../shared/data --out reports/bark_cry/bark_screening.csv

A source's "dog" class can hold growls, howls and whines, and a whine is a negative for this product. Each
clip is cut into YAMNet's 0.975 s patches every 0.24 s (padded with silence to one patch); in the patch
where the six dog classes reach their highest, the clip stays a bark if Bark, Bow-wow or Yip is the top one.
Training reads the verdicts back (``verdicts``) and drops, or turns into negatives, what failed.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.audiofile import read_audio
from detector.yamnet import Yamnet

from .data import DEFAULT_ROOT, Clip, read_manifest

DOG_CLASSES = ("Bark", "Bow-wow", "Yip", "Howl", "Growling", "Whimper (dog)")
BARK_CLASSES = ("Bark", "Bow-wow", "Yip")
SCREENED_SOURCES = ("animalsound", "dogspeak")
PATCH_HOP_S = 0.24  # as the second opinion steps its patches


@dataclass(frozen=True)
class Verdict:
    path: str
    source: str
    fold: int
    duration_s: float
    best_s: float  # start of the patch where the dog classes peak
    top_class: str
    scores: dict[str, float]  # each dog class in that patch

    @property
    def bark(self) -> bool:
        return self.top_class in BARK_CLASSES


def screen_clip(yamnet: Yamnet, x: np.ndarray, rate: int = 16000) -> tuple[float, dict[str, float]]:
    """(start of the best patch in seconds, the dog classes' scores there)."""
    n, hop = yamnet.logmel.params.patch_samples, int(round(PATCH_HOP_S * rate))
    if x.size < n:
        x = np.pad(x, (0, n - x.size))
    cols = [yamnet.sidecar.classes.index(c) for c in DOG_CLASSES]
    best, best_start = None, 0
    for start in range(0, x.size - n + 1, hop):
        prob, _ = yamnet.class_scores(yamnet.logmel.patch(x[start : start + n]))
        dog = prob[cols]
        if best is None or dog.max() > best.max():
            best, best_start = dog, start
    assert best is not None
    return best_start / rate, {c: float(s) for c, s in zip(DOG_CLASSES, best)}


def screen(root: Path, sources: tuple[str, ...] = SCREENED_SOURCES) -> list[Verdict]:
    yamnet = Yamnet()
    out = []
    for c in read_manifest(root / "manifest.csv"):
        if c.label != "bark" or c.source not in sources:
            continue
        at, scores = screen_clip(yamnet, read_audio(root / c.path, 16000))
        out.append(Verdict(c.path, c.source, c.fold, c.duration_s, at, max(scores, key=scores.__getitem__), scores))
    return out


def write(verdicts: list[Verdict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "source", "fold", "duration_s", "best_s", "top_class", *DOG_CLASSES, "verdict"])
        for v in verdicts:
            w.writerow(
                [v.path, v.source, v.fold, v.duration_s, f"{v.best_s:.2f}", v.top_class]
                + [f"{v.scores[c]:.4f}" for c in DOG_CLASSES]
                + ["bark" if v.bark else "not-bark"]
            )


def verdicts(path: Path) -> dict[str, bool]:
    """Manifest path -> kept as a bark, from a CSV ``write`` made."""
    with open(path, newline="") as f:
        return {r["path"]: r["verdict"] == "bark" for r in csv.DictReader(f)}


def counts(path: Path) -> list[tuple[str, str, int]]:
    """(source, top class, clips) rows of a screening CSV, for the report."""
    with open(path, newline="") as f:
        c = Counter((r["source"], r["top_class"]) for r in csv.DictReader(f))
    return sorted((s, k, n) for (s, k), n in c.items())


def apply(clips: list[Clip], kept: dict[str, bool], rejected: str) -> list[Clip]:
    """``clips`` with every screened bark that failed dropped (``rejected="drop"``) or made a negative."""
    if rejected not in ("drop", "negative"):
        raise ValueError(f"rejected must be drop or negative, not {rejected!r}")
    out = []
    for c in clips:
        if c.label == "bark" and not kept.get(c.path, True):
            if rejected == "drop":
                continue
            c = Clip(
                c.path, "negative", c.source, c.origin + " (screened: not a bark)", c.fold, c.duration_s, c.license
            )
        out.append(c)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--out", type=Path, default=Path("reports/bark_cry/bark_screening.csv"))
    a = ap.parse_args(argv)
    write(screen(a.data), a.out)
    for source, top, n in counts(a.out):
        print(f"{source:12s} {top:14s} {n:4d}  {'bark' if top in BARK_CLASSES else 'not-bark'}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
