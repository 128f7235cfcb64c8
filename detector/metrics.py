"""ROC and threshold metrics in numpy, shared by `detector evaluate`, calibration and training reports."""

from __future__ import annotations

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds, from the highest threshold down."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tps = np.cumsum(y)[distinct]
    fps = (distinct + 1) - tps
    tpr = np.r_[0.0, tps / max(y.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~y).sum(), 1)]
    return fpr, tpr, np.r_[np.inf, s[distinct]]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); nan when only one class is present."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def misranked_pairs(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For scores of positives ``pos`` and negatives ``neg``: per positive and per negative, the pairs it
    loses (the negative scores higher; a tie counts half). 1 - AUC is their sum over len(pos) * len(neg)."""
    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    lost = (neg[None, :] > pos[:, None]) + 0.5 * (neg[None, :] == pos[:, None])
    return lost.sum(axis=1), lost.sum(axis=0)


def rate_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """(recall on positives, false-positive rate on negatives) at ``score >= threshold``."""
    labels = np.asarray(labels, dtype=bool)
    hit = np.asarray(scores) >= threshold
    recall = float(hit[labels].mean()) if labels.any() else float("nan")
    fpr = float(hit[~labels].mean()) if (~labels).any() else float("nan")
    return recall, fpr


def threshold_for_fpr(neg_scores: np.ndarray, max_fpr: float, floor: float = 0.05) -> float:
    """Lowest threshold whose false-positive rate on ``neg_scores`` stays at or below ``max_fpr``, rounded
    up to 4 decimals: a sidecar then holds it exactly, and it stays above the negative it was placed over
    (int8 scores sit on a 1/256 grid, where rounding to nearest could land on that very score)."""
    s = np.sort(np.asarray(neg_scores, dtype=np.float64))[::-1]
    k = int(np.floor(max_fpr * s.size))  # this many negatives may pass
    t = s[k] + 1e-6 if k < s.size else floor
    return float(min(max(np.ceil(t * 1e4) / 1e4, floor), 0.99))


def auc_interval(
    labels: np.ndarray, scores: np.ndarray, groups, level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A bootstrap interval for ROC-AUC that resamples whole groups (recordings), positives and negatives
    separately. Clips cut from one recording are not independent: resampled one by one, the interval
    comes out too narrow. Each resample is a weighted Mann-Whitney count (ties half)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.all() or not labels.any():
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    _, gid = np.unique(np.asarray(groups, dtype=str), return_inverse=True)

    def weights(mask: np.ndarray) -> np.ndarray:  # (n_boot, clips in mask): how often each clip is drawn
        g = np.unique(gid[mask])
        drawn = rng.multinomial(g.size, np.full(g.size, 1 / g.size), size=n_boot)  # (n_boot, groups)
        return drawn[:, np.searchsorted(g, gid[mask])].astype(np.float64)

    wp, wn = weights(labels), weights(~labels)
    order = np.argsort(scores[~labels], kind="mergesort")
    neg, wn = scores[~labels][order], wn[:, order]
    cum = np.concatenate([np.zeros((n_boot, 1)), np.cumsum(wn, axis=1)], axis=1)
    pos = scores[labels]
    below = cum[:, np.searchsorted(neg, pos, side="left")]  # weight of negatives scoring lower
    tied = cum[:, np.searchsorted(neg, pos, side="right")] - below
    auc = ((below + 0.5 * tied) * wp).sum(axis=1) / (wp.sum(axis=1) * wn.sum(axis=1))
    lo, hi = np.quantile(auc, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
