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


def rate_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    """(recall on positives, false-positive rate on negatives) at ``score >= threshold``."""
    labels = np.asarray(labels, dtype=bool)
    hit = np.asarray(scores) >= threshold
    recall = float(hit[labels].mean()) if labels.any() else float("nan")
    fpr = float(hit[~labels].mean()) if (~labels).any() else float("nan")
    return recall, fpr


def threshold_for_fpr(neg_scores: np.ndarray, max_fpr: float, floor: float = 0.05) -> float:
    """Lowest threshold whose false-positive rate on ``neg_scores`` stays at or below ``max_fpr``."""
    s = np.sort(np.asarray(neg_scores, dtype=np.float64))[::-1]
    k = int(np.floor(max_fpr * s.size))  # this many negatives may pass
    t = s[k] + 1e-6 if k < s.size else floor
    return float(min(max(t, floor), 0.99))
