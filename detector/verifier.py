"""The per-home verifier: per label, a logistic head on the small model's embedding of a window, taught by
what the owner marked. A window over a label's on threshold counts as a hit only if the head agrees.

Negatives: the windows of events marked false alarms, and the windows of calibrate's room recordings that
fire. Positives: the windows of events marked right, those of the bundled calibration positives, and the
model's embeddings of its training positives, shipped beside it (<model>.positives.npz). A
head is fitted only with enough marked false alarms, and refused if it would lose too many of the bundled
positives held out from its fit. It is saved with the model's sha256 and never applied to another model.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Head:
    """p(right | embedding) = sigmoid(((x - mean) / scale) . w + b)"""

    w: np.ndarray
    b: float
    mean: np.ndarray
    scale: np.ndarray

    def prob(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.w + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_dict(self) -> dict:
        return {"w": self.w.tolist(), "b": self.b, "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Head:
        return cls(np.asarray(d["w"]), float(d["b"]), np.asarray(d["mean"]), np.asarray(d["scale"]))


def fit_head(neg: np.ndarray, pos: np.ndarray, l2: float = 1.0, iters: int = 30) -> Head:
    """L2-regularised logistic regression by Newton's method, the two classes weighed equally."""
    x = np.concatenate([neg, pos]).astype(np.float64)
    y = np.concatenate([np.zeros(len(neg)), np.ones(len(pos))])
    weight = np.where(y == 1, len(x) / (2 * len(pos)), len(x) / (2 * len(neg)))
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    xs = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    theta = np.zeros(xs.shape[1])
    reg = np.full(xs.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(xs @ theta, -30, 30)))
        grad = xs.T @ (weight * (p - y)) + reg * theta
        hess = (xs * (weight * p * (1 - p))[:, None]).T @ xs + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Head(theta[:-1], float(theta[-1]), mean, scale)


@dataclass
class Verifier:
    model_sha256: str
    heads: dict[str, Head] = field(default_factory=dict)

    def accepts(self, label: str, embedding: np.ndarray) -> bool:
        head = self.heads.get(label)
        return head is None or float(head.prob(embedding)) >= 0.5

    def vetoed(self, scores: dict[str, float], embedding: np.ndarray | None, on: dict[str, float]) -> frozenset[str]:
        """The labels over their on threshold in a window that this verifier turns down."""
        if embedding is None:
            return frozenset()
        return frozenset(lab for lab, s in scores.items() if s >= on[lab] and not self.accepts(lab, embedding))

    def save(self, path: Path, fit: dict[str, str] | None = None) -> None:
        """Atomically: a reader sees the old file or the new one, never half of one. ``fit``: per label, what
        the fit said (for the review page)."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(
                {
                    "model_sha256": self.model_sha256,
                    "fitted_at": time.time(),
                    "fit": fit or {},
                    "heads": {k: h.to_dict() for k, h in self.heads.items()},
                },
                f,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, model_sha256: str) -> Verifier | None:
        """The saved verifier, or None (said in the log) when there is none, it is unreadable, or it was taught
        on another model: its embeddings mean nothing to this one."""
        try:
            d = json.loads(Path(path).read_text())
            v = cls(d["model_sha256"], {k: Head.from_dict(h) for k, h in d["heads"].items()})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("verifier %s cannot be read (%s): not used", path, e)
            return None
        if v.model_sha256 != model_sha256:
            log.warning(
                "verifier %s was taught on another model (sha256 %s…): not used; mark false alarms "
                "again to teach it this one",
                path,
                v.model_sha256[:12],
            )
            return None
        return v


def marked(db: sqlite3.Connection, label: str, verdict: str, model_sha256: str, dim: int) -> list[np.ndarray]:
    """The (k, dim) window embeddings of each event of ``label`` marked ``verdict`` under this model."""
    rows = db.execute(
        "SELECT window_embeddings FROM events WHERE label = ? AND verdict = ? AND model_sha256 = ? "
        "AND window_embeddings IS NOT NULL",
        (label, verdict, model_sha256),
    )
    return [np.frombuffer(r[0], np.float16).astype(np.float32).reshape(-1, dim) for r in rows]


def passes(head: Head | None, sound: np.ndarray, min_hits: int = 2) -> bool:
    """Whether a sound (its firing windows' embeddings) still makes hits enough to start an event."""
    if head is None:
        return True
    return int((head.prob(sound) >= 0.5).sum()) >= min(min_hits, len(sound))


@dataclass
class Lesson:
    """What one label is taught with: sounds, each the embeddings of its firing windows."""

    false_alarms: list[np.ndarray]  # events the owner marked false alarms
    room: list[np.ndarray]  # calibrate's room recordings
    right: list[np.ndarray]  # events the owner marked right
    bundled: list[np.ndarray]  # the bundled calibration positives: half in the fit, half guard recall
    reference: list[np.ndarray] = field(default_factory=list)  # the model's shipped training positives


@dataclass
class Taught:
    label: str
    head: Head | None
    status: str
    marked: int
    false_alarms_after: int | None = None  # of the marked false alarms, still passing (each left out in turn)
    recall_before: float | None = None  # of the held-out bundled positives
    recall_after: float | None = None


def teach(label: str, lesson: Lesson, min_false_alarms: int, max_positive_loss: float) -> Taught:
    """Fit ``label``'s head, or say why it stays off."""
    n = len(lesson.false_alarms)
    if n < min_false_alarms:
        return Taught(label, None, f"off: {n} false alarm(s) marked, {min_false_alarms} needed", n)
    if not lesson.bundled:
        return Taught(label, None, "off: no bundled positive fires, nothing to guard recall with", n)
    fit_half, held = lesson.bundled[0::2], lesson.bundled[1::2] or lesson.bundled

    def head(false_alarms: list[np.ndarray], bundled: list[np.ndarray]) -> Head:
        neg = np.concatenate(false_alarms + lesson.room)
        return fit_head(neg, np.concatenate(lesson.right + bundled + lesson.reference))

    guard = head(lesson.false_alarms, fit_half)
    before = float(np.mean([passes(None, s) for s in held]))
    after = float(np.mean([passes(guard, s) for s in held]))
    left_in = (
        sum(
            passes(head(lesson.false_alarms[:i] + lesson.false_alarms[i + 1 :], fit_half), s)
            for i, s in enumerate(lesson.false_alarms)
        )
        if n > 1
        else None
    )
    if before - after > max_positive_loss:
        return Taught(
            label,
            None,
            f"refused: it would lose {100 * (before - after):.0f} % of the held-out bundled "
            f"{label} clips (at most {100 * max_positive_loss:.0f} % allowed)",
            n,
            left_in,
            before,
            after,
        )
    return Taught(label, head(lesson.false_alarms, lesson.bundled), "on", n, left_in, before, after)
