"""Cutting 1 s training windows out of clips and turning them into features."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from detector.frontend import LogMel

from .augment import Augmenter, loudest_window_power
from .data import Clip, Corpus


def energetic_starts(x: np.ndarray, win: int, hop: int, within_db: float = 6.0) -> np.ndarray:
    """Window starts whose energy is within ``within_db`` of the loudest: where the bark or cry is."""
    if x.size <= win:
        return np.array([0])
    c = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    starts = np.arange(0, x.size - win + 1, hop)
    e = 10 * np.log10((c[starts + win] - c[starts]) / win + 1e-12)
    return starts[e >= e.max() - within_db]


def cut(x: np.ndarray, start: int, win: int) -> np.ndarray:
    """``win`` samples from ``start``; a short clip is zero-padded (augmentation then adds a floor)."""
    seg = x[start : start + win]
    if seg.size < win:
        seg = np.pad(seg, (0, win - seg.size))
    return seg.astype(np.float32)


@dataclass
class WindowSampler:
    """Draws labelled windows: positives from their energetic part, negatives from anywhere."""

    corpus: Corpus
    frontend: LogMel
    localized: dict[str, np.ndarray] = field(default_factory=dict)  # path -> starts, from ``localize_positives``

    def __post_init__(self) -> None:
        p = self.frontend.params
        self.win = p.window_samples
        self._starts: dict[str, np.ndarray] = {}

    def starts(self, clip: Clip) -> np.ndarray:
        if clip.path in self.localized:  # looked up each time: it may be set after the energetic starts were cached
            return self.localized[clip.path]
        if clip.path not in self._starts:
            x = self.corpus.audio[clip.path]
            if clip.label in ("bark", "cry"):
                self._starts[clip.path] = energetic_starts(x, self.win, self.win // 8)
            else:
                self._starts[clip.path] = np.arange(0, max(1, x.size - self.win + 1), self.win // 4)
        return self._starts[clip.path]

    def window(self, clip: Clip, rng: np.random.Generator) -> np.ndarray:
        s = self.starts(clip)
        return cut(self.corpus.audio[clip.path], int(s[rng.integers(s.size)]), self.win)

    def batch(
        self,
        groups: dict[str, list[Clip]],
        per_group: int,
        rng: np.random.Generator,
        augment: Augmenter | None,
        p_overlap: float = 0.1,
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
        """Class-balanced features, targets and the clips each window came from: ``per_group`` per group
        (``waves``, with the features computed)."""
        waves, targets, used = self.waves(groups, per_group, rng, augment, p_overlap)
        return self.frontend.compute(waves), targets, used

    def waves(
        self,
        groups: dict[str, list[Clip]],
        per_group: int,
        rng: np.random.Generator,
        augment: Augmenter | None,
        p_overlap: float = 0.1,
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
        """Class-balanced augmented windows (audio), targets and the clips each came from: ``per_group`` per group.

        With probability ``p_overlap`` a positive gets a window of the other label laid over it,
        so the model learns that a dog can bark while a baby cries (both targets on).
        """
        waves, targets, used = [], [], []
        pos = {k: v for k, v in groups.items() if k in ("bark", "cry") and v}
        for name, clips in groups.items():
            for _ in range(per_group):
                clip = clips[int(rng.integers(len(clips)))]
                x, y, src = self.window(clip, rng), clip.target.copy(), (clip.path,)
                if name in pos and len(pos) == 2 and rng.random() < p_overlap:
                    other_name = "cry" if name == "bark" else "bark"
                    other = pos[other_name][int(rng.integers(len(pos[other_name])))]
                    o = self.window(other, rng)
                    ratio = 10 ** (rng.uniform(-6, 6) / 20) * np.sqrt((x.var() + 1e-12) / (o.var() + 1e-12))
                    x, y, src = x + ratio * o, np.maximum(y, other.target), (clip.path, other.path)
                if augment is not None:
                    x = augment(x, loudest_window_power(x, x.size // 2) if name in pos else None)
                waves.append(x)
                targets.append(y)
                used.append(src)
        return np.stack(waves), np.stack(targets), used


def positive_window_scores(
    sampler: WindowSampler, clips: list[Clip], scorer: Callable[[np.ndarray], np.ndarray], labels: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each positive clip's energetic window starts and ``scorer``'s score for its label on each (the
    scorer: a trained model's window scores, one column per label)."""
    out = {}
    for clip in clips:
        if clip.label not in labels:
            continue
        x, st = sampler.corpus.audio[clip.path], sampler.starts(clip)
        feats = sampler.frontend.compute(np.stack([cut(x, int(s), sampler.win) for s in st]))
        out[clip.path] = (st, scorer(feats)[:, labels.index(clip.label)])
    return out


def localize_positives(
    scored: dict[str, tuple[np.ndarray, np.ndarray]], keep_rel: float = 0.5
) -> dict[str, np.ndarray]:
    """The starts scored at ``keep_rel`` of their clip's best window or more (``positive_window_scores``).

    A bark heard in the background of a street stands hardly above its own recording, so the energetic rule
    takes nearly every window of it, bark or traffic; a model trained on the clips scores some of those low
    although their label says bark.
    """
    return {path: st[sc >= keep_rel * sc.max()] for path, (st, sc) in scored.items()}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def platt(scores: np.ndarray, targets: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(a, b) of the logistic fit P(target | score) = sigmoid(a * logit(score) + b), by Newton's method."""
    x, y = _logit(scores), targets.astype(np.float64)
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(X @ w)))
        h = X.T @ (X * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(h, X.T @ (y - p))
        w += step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), float(w[1])


def platt_apply(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(a * _logit(scores) + b)))


@dataclass
class WindowPool:
    """Augmented training windows made once (on every core) and drawn from, class-balanced, each epoch.

    Each window remembers its clips, so a variant that must not see some sources (the cross-source
    test) takes a subset of the same pool.
    """

    feats: np.ndarray  # (n, frames, mels) float16: half the memory, far below the features' precision needs
    targets: np.ndarray
    groups: np.ndarray  # group index per window
    used: list[tuple[str, ...]]
    names: list[str]
    teacher: np.ndarray | None = None  # (n, labels): a scorer's scores of each window's audio, if built with one
    aux: np.ndarray | None = None  # (n, k): a reference model's k class scores of each window's audio, which an
    # auxiliary head learns beside the labels (FitConfig.aux_weight): what else the window sounds like

    @classmethod
    def build(
        cls,
        sampler: WindowSampler,
        groups: dict[str, list[Clip]],
        per_group: int,
        seed: int,
        augment: Augmenter | None,
        workers: int = 2,
        chunk: int = 250,
        scorer: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> WindowPool:
        """``scorer`` (augmented window audio -> scores per label, e.g. a model with its own frontend) teaches:
        its scores are kept beside the windows (``teacher``). It does not change which windows are drawn."""
        import multiprocessing as mp

        names = [k for k, v in groups.items() if v]
        jobs = [(names, s) for s in range(max(1, -(-per_group // chunk)))]  # at least per_group, whole chunks
        state = (sampler, {k: groups[k] for k in names}, min(chunk, per_group), seed, augment, scorer)
        ctx = mp.get_context("fork")  # children inherit the corpus in memory
        with ctx.Pool(workers, initializer=_init_worker, initargs=(state,)) as pool:
            parts = pool.map(_pool_job, jobs)
        feats = np.concatenate([p[0] for p in parts])
        targets = np.concatenate([p[1] for p in parts])
        gidx = np.concatenate([p[2] for p in parts])
        used = [u for p in parts for u in p[3]]
        teacher = np.concatenate([p[4] for p in parts]) if scorer is not None else None
        return cls(feats, targets, gidx, used, names, teacher)

    def subset(self, exclude: set[str]) -> WindowPool:
        keep = np.array([not (set(u) & exclude) for u in self.used])
        return WindowPool(
            self.feats[keep],
            self.targets[keep],
            self.groups[keep],
            [u for u, k in zip(self.used, keep) if k],
            self.names,
            None if self.teacher is None else self.teacher[keep],
            None if self.aux is None else self.aux[keep],
        )

    def extended(self, other: WindowPool, take: dict[str, int]) -> WindowPool:
        """This pool plus the first ``take[name]`` windows of each of ``other``'s groups: more clips for some
        groups while this pool's own windows stay exactly as they were (a paired comparison)."""
        if any(p.teacher is not None or p.aux is not None for p in (self, other)):
            raise ValueError("WindowPool.extended: pools with teacher or auxiliary scores cannot be extended")
        keep = np.zeros(len(other.used), bool)
        gidx = np.empty(len(other.used), self.groups.dtype)
        for g, name in enumerate(other.names):
            idx = np.flatnonzero(other.groups == g)[: take.get(name, 0)]
            keep[idx], gidx[idx] = True, self.names.index(name)
        return WindowPool(
            np.concatenate([self.feats, other.feats[keep]]),
            np.concatenate([self.targets, other.targets[keep]]),
            np.concatenate([self.groups, gidx[keep]]),
            self.used + [u for u, k in zip(other.used, keep) if k],
            self.names,
        )

    def calibrated(self) -> WindowPool:
        """This pool with its teacher's scores mapped, per label, to the chance that the window carries the label
        (``platt``, fitted on this pool's own windows and targets): a teacher trained on other data can be right
        about which windows hold a bark yet give them low scores (YAMNet gives half of the augmented training
        barks less than 0.12), and blended raw those would halve every positive target."""
        if self.teacher is None:
            raise ValueError("WindowPool.calibrated: the pool has no teacher scores")
        t = self.teacher.astype(np.float64)
        cal = np.stack([platt_apply(t[:, j], *platt(t[:, j], self.targets[:, j])) for j in range(t.shape[1])], axis=1)
        return replace(self, teacher=cal.astype(np.float16))

    def for_training(self, exclude: set[str]) -> WindowPool:
        """What a split trains on: this pool without the windows of ``exclude``'s clips, its teacher's scores (if
        any) calibrated on the windows that remain, so the held-out sources play no part in either."""
        pool = self.subset(exclude) if exclude else self
        return pool.calibrated() if pool.teacher is not None else pool

    def epoch(
        self, per_group: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """One epoch's class-balanced draw: features, targets, and the teacher's and auxiliary scores if the pool
        has them."""
        idx = np.concatenate(
            [
                rng.choice(
                    np.flatnonzero(self.groups == g), per_group, replace=per_group > int((self.groups == g).sum())
                )
                for g in range(len(self.names))
                if (self.groups == g).any()
            ]
        )
        rng.shuffle(idx)
        return (
            self.feats[idx].astype(np.float32),
            self.targets[idx],
            None if self.teacher is None else self.teacher[idx].astype(np.float32),
            None if self.aux is None else self.aux[idx].astype(np.float32),
        )


_STATE: tuple | None = None


def _init_worker(state) -> None:
    global _STATE
    _STATE = state


def _pool_job(job):
    names, part = job
    sampler, groups, n, seed, augment, scorer = _STATE
    rng = np.random.default_rng([seed, part])
    if augment is not None:
        augment.rng = np.random.default_rng([seed, part, 1])
    waves, targets, used = sampler.waves(groups, n, rng, augment)
    gidx = np.repeat(np.arange(len(names)), n)
    teacher = scorer(waves).astype(np.float16) if scorer is not None else None
    return sampler.frontend.compute(waves).astype(np.float16), targets, gidx, used, teacher
