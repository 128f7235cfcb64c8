"""Another detector scored on barkcry's own test: the same clips, conditions and noise and room draws
(`Resources.condition_audio`), thresholds by barkcry's rule, CPU in the same process, alarms in the same
rooms. scripts/compare_birdnet.py and scripts/compare_yamnet.py each plug one model in (`ReferenceModel`)."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .data import LABELS, read_manifest
from .evaluate import TestSet, edge_pad
from .experiment import VAL_CONDITIONS, VAL_DRAWS, Resources, Split, pick_thresholds

MINUTE = 60 * 16000


class ReferenceModel(Protocol):
    """A model with its own frontend, run on 16 kHz audio in fixed windows."""

    name: str  # in cache file names
    labels: tuple[str, ...]  # which of barkcry's LABELS it has a class for
    key: list  # what its scores depend on besides the audio (model file, hop, classes)
    window: int  # samples at 16 kHz in one window
    hop: int  # samples at 16 kHz between windows
    batch: int

    def windows(self, x16k: np.ndarray) -> np.ndarray:
        """The model's input for every window of ``x16k``."""

    def scores(self, windows: np.ndarray) -> np.ndarray:
        """(n_windows, len(labels)) scores in [0, 1]."""


def window_starts(n: int, size: int, hop: int) -> list[int]:
    """Window starts over ``n`` samples every ``hop``, the last window ending at the end (a clip shorter than a
    window is one window, to be padded)."""
    starts = list(range(0, max(n - size, 0) + 1, hop))
    if n > size and starts[-1] != n - size:
        starts.append(n - size)
    return starts


def cached(cache: Path, name: str, key: list, compute: Callable[[], dict]) -> dict[str, np.ndarray]:
    """A slow model's scores, kept in ``cache`` under a hash of ``key``."""
    path = cache / f"{name}-{hashlib.sha1(json.dumps(key).encode()).hexdigest()[:16]}.json"
    if path.exists():
        return {k: np.asarray(v) for k, v in json.loads(path.read_text()).items()}
    out = compute()
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in out.items()}))
    return out


def clip_scores(
    model: ReferenceModel, res: Resources, clips, conditions, seed: int, cache: Path
) -> dict[str, np.ndarray]:
    """condition -> (n_clips, len(LABELS)) clip scores (the max over windows) in the columns of the labels the
    model has (0 in the others). Clips of a label it lacks are not scored but still drawn, so every other
    clip gets the same noise and room as in barkcry's test."""
    # The padding changes the audio under the same clip names: it is part of the key.
    key = [
        model.key,
        [c.path for c in clips],
        [c.name for c in conditions],
        seed,
        {"edge_pad": edge_pad(res.lm.params)},
    ]
    return cached(cache, model.name, key, lambda: _clip_scores(model, res, clips, conditions, seed))


def _clip_scores(model: ReferenceModel, res: Resources, clips, conditions, seed: int) -> dict[str, np.ndarray]:
    cols = [LABELS.index(lab) for lab in model.labels]
    out = {}
    for cond in conditions:
        s = np.zeros((len(clips), len(LABELS)))
        pending: list[tuple[int, np.ndarray]] = []  # windows of several clips, scored in full batches

        def flush() -> None:
            scores = model.scores(np.concatenate([w for _, w in pending]))
            bounds = np.cumsum([0] + [len(w) for _, w in pending])
            for (i, _), lo, hi in zip(pending, bounds[:-1], bounds[1:]):
                s[i, cols] = scores[lo:hi].max(axis=0)
            pending.clear()

        for i, (c, x) in enumerate(zip(clips, res.condition_audio(clips, cond, seed))):
            if c.label not in LABELS or c.label in model.labels:
                pending.append((i, model.windows(x)))
            if sum(len(w) for _, w in pending) >= 4 * model.batch:
                flush()
        if pending:
            flush()
        out[cond.name] = s
        print(f"  {model.name}: {cond.name}", file=sys.stderr, flush=True)
    return out


def long_scores(model: ReferenceModel, x16k: np.ndarray) -> np.ndarray:
    """(n_windows, len(labels)) over a long recording, a minute at a time (windows overlap the seams)."""
    out = []
    for i in range(0, x16k.size, MINUTE):
        out.append(model.scores(model.windows(x16k[max(0, i - model.window + model.hop) : i + MINUTE])))
    return np.concatenate(out)


def fitted_thresholds(
    model: ReferenceModel, res: Resources, split: Split, cache: Path, max_fpr: float = 0.02
) -> dict[str, float]:
    """The model's thresholds by barkcry's rule: at most ``max_fpr`` false positives on the validation
    negatives, clean and noisy, over the same noise and room draws (clean has no draw: scored once)."""
    clean, noisy = VAL_CONDITIONS
    first, val = clip_scores(model, res, split.val, VAL_CONDITIONS, VAL_DRAWS[0], cache), {}
    for seed in VAL_DRAWS:
        drawn = first if seed == VAL_DRAWS[0] else clip_scores(model, res, split.val, [noisy], seed, cache)
        val[f"{clean.name} #{seed}"], val[f"{noisy.name} #{seed}"] = first[clean.name], drawn[noisy.name]
    fitted = pick_thresholds(TestSet(split.val), val, max_fpr)
    return {lab: fitted[lab] for lab in model.labels}


def cpu_per_audio_second(fn: Callable[[], object], audio_s: float, repeats: int = 3) -> float:
    """Best of ``repeats`` CPU seconds spent by ``fn()`` per second of audio, in milliseconds."""
    best = np.inf
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return 1000 * best / audio_s


def runs(hits: np.ndarray) -> int:
    """Detections a detector without hold or hysteresis logs: one per run of consecutive windows at or above
    the threshold (counting a run once is in its favour)."""
    return int(hits[0] + np.sum(hits[1:] & ~hits[:-1])) if hits.size else 0


def room_alarms(
    model: ReferenceModel,
    clf,
    data: Path,
    minutes: float,
    thresholds: dict[str, list[float]],
    cache: Path,
) -> list[str]:
    """Alarms an hour in the rooms of `barkcry_train.rooms` (same draws): only negatives play there, so
    every alarm is false. Per label the model has: barkcry's events (what its decider starts, as `detector
    calibrate` counts them), then the model's runs at each of ``thresholds[label]``. One table row a room."""
    from detector.calibrate.analysis import starts
    from detector.config import Config
    from detector.scan import window_scores

    from .rooms import ROOMS, build_room

    cfg = Config()
    policies = cfg.detection.policies(clf.thresholds)
    window_s = clf.frontend.window_samples / clf.frontend.sample_rate
    clips, rng = read_manifest(data / "manifest.csv"), np.random.default_rng(0)
    rooms = {name: build_room(clips, data, seconds=minutes * 60, rng=rng, **spec) for name, spec in ROOMS.items()}
    theirs = cached(
        cache, model.name, [model.key, "rooms", minutes], lambda: {n: long_scores(model, x) for n, x in rooms.items()}
    )
    lines = []
    for name, x in rooms.items():
        ours = window_scores(cfg, clf, x)
        cells = []
        for j, lab in enumerate(model.labels):
            s = theirs[name].reshape(len(theirs[name]), -1)[:, j]
            cells.append(
                f"{len(starts(ours, lab, policies[lab], window_s, clf.frontend.sample_rate)) * 60 / minutes:.0f}"
            )
            cells += [f"{runs(s >= t) * 60 / minutes:.0f}" for t in thresholds[lab]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def auc_row(cond: str, label: str, name: str, metrics: dict, threshold: float) -> str:
    """A report row: one model's AUC (95 % interval), recall and FP rate for ``label`` under ``cond``."""
    r = metrics["conditions"][cond][label]
    return (
        f"| {cond} | {name} | {threshold:.3f} | {r['auc']:.3f} ({r['auc_ci95'][0]:.3f}-{r['auc_ci95'][1]:.3f}) "
        f"| {r['recall']:.3f} | {r['fpr']:.3f} |"
    )


def fp_by_source_rows(label: str, ours: dict, theirs: list[dict]) -> list[str]:
    """Report rows: FP rate for ``label`` per negative source, barkcry's then each of ``theirs``."""
    return [
        f"| {src} | {row['n']} | {row[label]:.3f} | "
        + " | ".join(f"{m['fp_by_source'][src][label]:.3f}" for m in theirs)
        + " |"
        for src, row in ours["fp_by_source"].items()
        if "confusion" not in src
    ]
