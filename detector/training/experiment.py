"""The training study: which clips train, validate and test each variant, and what gets measured."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..frontend import LogMel
from ..metrics import threshold_for_fpr
from .augment import Augmenter, simulate_rooms
from .data import LABELS, Clip, Corpus
from .evaluate import TestSet, summarize
from .train import FitConfig, fit, predict_windows
from .windows import WindowSampler

CROSS_SOURCES = {("bark", "esc50"), ("cry", "esc50"), ("bark", "t04glovern")}


@dataclass
class Split:
    """A variant's data: train groups, a validation fold and a test clip list."""

    name: str
    train: dict[str, list[Clip]]
    val: list[Clip]
    test: list[Clip]


def make_splits(corpus: Corpus, smoke: bool = False, rng: np.random.Generator | None = None) -> dict[str, Split]:
    """'fold5': train 1-3, validate 4, test 5. 'cross': the same without ESC-50 and t04glovern positives,
    tested on exactly those (other recordings, other microphones) against the fold-5 negatives."""
    groups = lambda folds, excl=None: {  # noqa: E731
        "bark": corpus.select({"bark"}, folds, excl),
        "cry": corpus.select({"cry"}, folds, excl),
        "negative": corpus.select({"negative"}, folds, excl),
        "noise": corpus.select({"noise"}, folds, excl, local=True),
    }
    neg5 = corpus.select({"negative", "noise"}, {5})
    splits = {
        "fold5": Split("fold5", groups({1, 2, 3}), corpus.select({"bark", "cry", "negative", "noise"}, {4}),
                       corpus.select({"bark", "cry"}, {5}) + neg5),
        "cross": Split("cross", groups({1, 2, 3}, CROSS_SOURCES),
                       corpus.select({"bark", "cry", "negative", "noise"}, {4}, CROSS_SOURCES),
                       [c for c in corpus.clips if (c.label, c.source) in CROSS_SOURCES] + neg5),
    }
    if smoke:  # a handful of clips per group, enough to exercise every code path
        rng = rng or np.random.default_rng(0)
        pick = lambda cl, n: [cl[i] for i in sorted(rng.choice(len(cl), min(n, len(cl)), replace=False))]  # noqa: E731
        for s in splits.values():
            s.train = {k: pick(v, 8) for k, v in s.train.items() if v}
            s.val = pick([c for c in s.val if c.label == "bark"], 4) + pick([c for c in s.val if c.label == "cry"], 4) \
                + pick([c for c in s.val if c.label in ("negative", "noise")], 8)
            s.test = pick([c for c in s.test if c.label == "bark"], 4) + pick([c for c in s.test if c.label == "cry"], 4) \
                + pick([c for c in s.test if c.label in ("negative", "noise")], 8)
    return splits


@dataclass
class Resources:
    """Everything loaded or simulated once and shared by all runs."""

    corpus: Corpus
    lm: LogMel
    train_rirs: list[np.ndarray]
    test_rirs: list[np.ndarray]
    rir_note: str

    @classmethod
    def load(cls, corpus: Corpus, lm: LogMel, n_rooms: int, cache_dir: Path) -> "Resources":
        real = {c.fold: corpus.audio[c.path] for c in corpus.select({"rir"})}
        train_real = [r for f, r in real.items() if f != 5]
        test_real = [r for f, r in real.items() if f == 5]
        train_sim = simulate_rooms(n_rooms, seed=1, cache_dir=cache_dir)
        test_sim = simulate_rooms(max(3, n_rooms // 3), seed=2, cache_dir=cache_dir)
        note = (f"train: {len(train_real)} real + {len(train_sim)} simulated rooms; "
                f"test: {len(test_real)} real + {len(test_sim)} other simulated rooms")
        return cls(corpus, lm, train_real + train_sim, test_real + test_sim, note)

    def noises(self, clips: list[Clip]) -> list[np.ndarray]:
        return [self.corpus.audio[c.path] for c in clips if c.label in ("noise", "negative")]


@dataclass
class RunResult:
    split: str
    variant: str  # "augmented" or "no-augmentation"
    seed: int
    model: object
    val_loss: float
    thresholds: dict[str, float]
    summary: dict
    clip_scores: dict[str, np.ndarray]
    seconds: float
    history: list[dict] = field(default_factory=list)


def validation_set(res: Resources, split: Split, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed validation windows: each clip twice, once clean and once through the full home chain."""
    rng = np.random.default_rng(seed)
    sampler = WindowSampler(res.corpus, res.lm)
    aug = Augmenter(res.noises(split.val), res.test_rirs, rng=np.random.default_rng(seed + 1))
    groups = {"val": split.val}
    xs, ys = [], []
    for a in (None, aug):
        for c in groups["val"]:
            w = sampler.window(c, rng)
            xs.append(a(w) if a else w)
            ys.append(c.target)
    return res.lm.compute(np.stack(xs)), np.stack(ys)


def pick_thresholds(val_scores: np.ndarray, val_targets: np.ndarray, max_fpr: float) -> dict[str, float]:
    """Per label, the lowest threshold whose false-positive rate on validation windows is <= max_fpr."""
    return {lab: threshold_for_fpr(val_scores[val_targets[:, j] == 0, j], max_fpr) for j, lab in enumerate(LABELS)}


def run(res: Resources, split: Split, testset: TestSet, val, cfg: FitConfig, max_fpr: float, log) -> RunResult:
    t0 = time.time()
    aug = Augmenter(res.noises(split.train["negative"] + split.train["noise"]), res.train_rirs) if cfg.augment else None
    sampler = WindowSampler(res.corpus, res.lm)
    model = fit(sampler, split.train, val, aug, cfg)
    val_scores = predict_windows(model, val[0])
    thresholds = pick_thresholds(val_scores, val[1], max_fpr)
    scores = testset.score(lambda w: predict_windows(model, w))
    summary = summarize(testset.clips, scores, thresholds)
    best_val = min(h["val_loss"] for h in cfg.history)
    variant = "augmented" if cfg.augment else "no-augmentation"
    log(f"[{split.name} {variant} seed {cfg.seed}] {len(cfg.history)} epochs, val_loss {best_val:.4f}, "
        + ", ".join(f"{lab} AUC clean {summary['conditions']['clean'][lab]['auc']:.3f}" for lab in LABELS)
        + f", {time.time() - t0:.0f} s")
    return RunResult(split.name, variant, cfg.seed, model, best_val, thresholds, summary, scores,
                     time.time() - t0, list(cfg.history))
