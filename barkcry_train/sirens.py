"""Synthetic emergency sirens: hard negatives for "bark".

An electronic siren is a synthesised tone, so a generator can make the real thing's patterns: the wail
(a slow sweep up and down), the yelp (the same sweep, fast), and the two-tone hi-lo. Each is a band-limited
square-ish wave (odd harmonics falling off), as siren drivers and horn speakers make it, with a random
fundamental range, sweep rate and a slow level change (passing by). Rooms, noise and microphones come later,
from the augmentation chain like any other clip.
"""

from __future__ import annotations

import numpy as np

from .data import Clip

PERIOD_S = {"wail": (2.0, 6.0), "yelp": (0.15, 0.5), "hi-lo": (0.8, 1.6)}  # one sweep up and down, or one hi-lo pair
KINDS = tuple(PERIOD_S)


def siren(kind: str, rng: np.random.Generator, fs: int = 16000, seconds: float = 5.0) -> np.ndarray:
    """One siren of ``kind`` at a peak of 0.5."""
    if kind not in PERIOD_S:
        raise ValueError(f"unknown siren {kind!r}: expected one of {KINDS}")
    t = np.arange(int(seconds * fs)) / fs
    lo = rng.uniform(450.0, 800.0)
    hi = lo * rng.uniform(1.4, 2.4)
    period = rng.uniform(*PERIOD_S[kind])
    if kind == "hi-lo":  # two tones closer together, switched
        hi = lo * rng.uniform(1.2, 1.5)
        f0 = np.where(((t / period + rng.uniform(0, 1)) % 1) < 0.5, lo, hi)
    else:  # wail and yelp: the same sweep, slow or fast
        f0 = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(f0) / fs
    x = np.zeros_like(t)
    rolloff = rng.uniform(1.0, 2.0)  # how fast the odd harmonics fall: a square wave has 1
    for k in range(1, 16, 2):
        x += np.where(k * f0 < 0.45 * fs, np.sin(k * phase) / k**rolloff, 0.0)
    x *= 10 ** (rng.uniform(-10, 0) * np.cos(np.pi * t / seconds + rng.uniform(0, np.pi)) / 20)  # passing by
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def siren_clips(n: int, seed: int = 0, fs: int = 16000, fold: int = 1) -> tuple[list[Clip], dict[str, np.ndarray]]:
    """``n`` synthetic sirens as training negatives (fold ``fold``): the clips and their audio."""
    rng = np.random.default_rng(seed)
    clips, audio = [], {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        path = f"synthetic/siren-{kind}-{i:03d}"
        clips.append(Clip(path, "negative", "synthetic", f"synthetic {kind} siren", fold, 5.0))
        audio[path] = siren(kind, rng, fs)
    return clips, audio
