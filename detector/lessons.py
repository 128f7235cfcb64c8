"""What the per-home verifier is taught with, gathered from the event history, calibrate's room recordings
and the bundled positives; and the fit that `detector verifier fit` and the service's refit run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import history
from .audiofile import AudioFileError, read_audio
from .calibrate.analysis import BUNDLED_POSITIVES
from .config import Config
from .confirm import confirm_thresholds, load_second_opinion
from .history import BEST_WINDOWS
from .model import Classifier
from .scan import window_scores
from .verifier import Lesson, Taught, Verifier, marked, teach

log = logging.getLogger(__name__)


def verifier_path(cfg: Config) -> Path:
    return Path(cfg.state_dir) / "verifier.json"


def reference_positives(model: Path, model_sha256: str) -> dict[str, list[np.ndarray]]:
    """The embeddings of the model's training positives (scripts/positive_embeddings.py), if they were made
    with this very model; else none, said once."""
    path = Path(model).with_suffix(".positives.npz")
    try:
        with np.load(path) as z:
            if str(z["model_sha256"]) != model_sha256:
                log.warning("%s was made for another model: the verifier learns without it", path.name)
                return {}
            return {k: [z[k].astype(np.float32)] for k in z.files if k != "model_sha256"}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError) as e:
        log.warning("%s cannot be read (%s): the verifier learns without it", path, e)
        return {}


class Teacher:
    """Fits the verifier for one model. Holds its own classifier (the pipeline's is busy on its thread) and
    the bundled positives' firing windows, computed once."""

    def __init__(self, cfg: Config, model_sha256: str, on: dict[str, float] | None = None) -> None:
        """``on``: the on thresholds in force (the running pipeline's); worked out from the config if not given."""
        self.cfg, self.sha = cfg, model_sha256
        self.clf = Classifier(cfg.model_path())
        if on is None:
            confirm = confirm_thresholds(cfg, self.clf, load_second_opinion(cfg))
            on = {lab: p.on for lab, p in cfg.detection.policies(self.clf.thresholds_for(confirm)).items()}
        self.on = on
        self._bundled: dict[str, list[np.ndarray]] | None = None
        self.restaled = (0, 0)  # verdicts from another model at the last fit: (re-embedded from clips, lost)
        self.reference = reference_positives(self.clf.path, model_sha256)

    def firing(self, x: np.ndarray, label: str) -> np.ndarray | None:
        """The embeddings of the windows of ``x`` over ``label``'s on threshold, best first, or None."""
        ws = sorted(
            (w for w in window_scores(self.cfg, self.clf, x) if w.scores[label] >= self.on[label]),
            key=lambda w: -w.scores[label],
        )
        return np.stack([w.embedding for w in ws if w.embedding is not None]) if ws else None

    def sounds(self, files: list[Path], label: str) -> list[np.ndarray]:
        out = []
        for f in files:
            try:
                x = read_audio(f, self.clf.frontend.sample_rate)
            except AudioFileError as e:
                log.warning("verifier: skipped %s", e)
                continue
            if (emb := self.firing(x, label)) is not None:
                out.append(emb)
        return out

    def bundled(self, label: str) -> list[np.ndarray]:
        """The bundled calibration positives' firing windows, worked out once."""
        if self._bundled is None:
            self._bundled = {
                lab: self.sounds(sorted((BUNDLED_POSITIVES / lab).glob("*.flac")), lab) for lab in self.clf.labels
            }
        return self._bundled[label]

    def lesson(self, db, label: str) -> Lesson:
        dim = self.clf.embedding_size
        assert dim is not None  # fit() refuses a model without the embedding output first
        rooms = sorted((Path(self.cfg.state_dir) / "noise").glob("*.flac"))
        return Lesson(
            marked(db, label, "false_alarm", self.sha, dim),
            self.sounds(rooms, label),
            marked(db, label, "confirmed", self.sha, dim),
            self.bundled(label),
            self.reference.get(label, []),
        )

    def restale(self, db) -> tuple[int, int]:
        """Verdicts given under another model: their embeddings mean nothing to this one. Re-embed those whose
        clip is kept; the rest must be taught again. Returns (re-embedded, lost)."""
        done = lost = 0
        rows = db.execute(
            "SELECT id, label, clip FROM events WHERE verdict IS NOT NULL AND model_sha256 != ?", (self.sha,)
        ).fetchall()
        for eid, label, clip in rows:
            sounds = self.sounds([Path(clip)], label) if clip and Path(clip).is_file() else []
            if not sounds:
                lost += 1
                continue
            ranked = sounds[0][:BEST_WINDOWS]  # as the history keeps them: the best windows
            db.execute(
                "UPDATE events SET window_embeddings = ?, model_sha256 = ? WHERE id = ?",
                (ranked.astype(np.float16).tobytes(), self.sha, eid),
            )
            done += 1
        return done, lost

    def fit(self) -> tuple[Verifier, list[Taught]]:
        """Fit every label's head from the history; save the verifier (atomically) and return what was done."""
        if self.clf.embedding_size is None:
            raise history.HistoryError(f"model {self.clf.path.name} has no embedding output: no verifier for it")
        db = history.connect(self.cfg.history_path())
        self.restaled = self.restale(db)
        v = self.cfg.verifier
        taught = [teach(lab, self.lesson(db, lab), v.min_false_alarms, v.max_positive_loss) for lab in self.clf.labels]
        verifier = Verifier(self.sha, {t.label: t.head for t in taught if t.head is not None})
        verifier.save(verifier_path(self.cfg), {t.label: describe(t) for t in taught})
        return verifier, taught


def describe(t: Taught) -> str:
    line = f"{t.label}: {t.status}; {t.marked} false alarm(s) marked"
    if t.false_alarms_after is not None:
        line += f", {t.false_alarms_after} of them would still fire (each left out of the fit in turn)"
    if t.recall_before is not None and t.recall_after is not None:
        line += (
            f"; held-out bundled {t.label} clips found {100 * t.recall_before:.0f} % -> {100 * t.recall_after:.0f} %"
        )
    return line


class Refitter:
    """Refits a while after the last verdict (a burst of button presses makes one fit), on a thread of its
    own; the service picks the saved file up."""

    def __init__(self, make_teacher: Callable[[], Teacher], delay_s: float = 2.0) -> None:
        """``make_teacher``: called at the first refit, so that a home that never marks anything never
        loads a second classifier."""
        import threading

        self.make_teacher, self.delay_s = make_teacher, delay_s
        self.teacher: Teacher | None = None
        self._due: float | None = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="verifier-refit", daemon=True)
        self._thread.start()

    def marked(self) -> None:
        self._due = time.monotonic() + self.delay_s
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            while self._due is not None and time.monotonic() < self._due:
                time.sleep(max(0.0, self._due - time.monotonic()))
            self._due = None
            self._wake.clear()
            try:
                teacher = self.teacher = self.teacher or self.make_teacher()
                _, taught = teacher.fit()
                for t in taught:
                    log.info("verifier refitted: %s", describe(t))
            except Exception as e:  # noqa: BLE001 - a failed fit must never reach the audio loop
                log.error("verifier refit failed: %s", e)
