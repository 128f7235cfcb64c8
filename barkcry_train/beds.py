"""Household beds: an hour of a fold's negatives and noise at everyday levels, with no bark or cry in it, so
every event on it is a false alarm (reports/second_opinion.md, bench/run.py)."""

from __future__ import annotations

import numpy as np

from .augment import MIC_FLOOR_DBFS, loudest_window_power

BED_LEVELS = (-20.0, -30.0, -40.0)  # the loudest second of each sound, dBFS


def build_bed(
    clips, audio: dict[str, np.ndarray], seconds: float, rng: np.random.Generator, rate: int = 16000
) -> np.ndarray:
    """Every clip at each of BED_LEVELS, shuffled, with 0.5-3 s of a microphone's floor between them, over
    that floor, cut to ``seconds``."""
    items = [(c, lv) for c in clips for lv in BED_LEVELS]
    floor = 10 ** (MIC_FLOOR_DBFS / 20)
    out, n = [], 0
    for i in rng.permutation(len(items)):
        c, lv = items[i]
        x = audio[c.path].astype(np.float32)
        loud = loudest_window_power(x, rate)
        if loud <= 0:
            continue
        gap = rng.normal(0, floor, int(rng.uniform(0.5, 3.0) * rate)).astype(np.float32)
        out += [gap, x * np.float32(10 ** ((lv - 10 * np.log10(loud)) / 20))]
        n += gap.size + x.size
        if n >= seconds * rate:
            break
    bed = np.concatenate(out)[: int(seconds * rate)]
    bed += rng.normal(0, floor, bed.size).astype(np.float32)
    return np.clip(bed, -1, 1)
