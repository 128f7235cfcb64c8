"""The second opinion: an event the small model would start begins only once YAMNet agrees.

The decider's start message is held back as a candidate. YAMNet scores the candidate's audio so far
(from the pipeline's history, ``margin_s`` before its start onwards) in 0.975 s patches every
``patch_hop_s``, newest first, and stops at the first patch that reaches the label's threshold. Until
then the candidate is re-checked on newer audio, at most every ``recheck_s``, while the small model
keeps hitting (at the decider's hysteresis level); it is dropped when the decider ends it. A confirmed
event keeps its true start time; only its start message is later. Nothing runs here while no candidate
is pending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from .config import Config, ConfigError
from .decision import Event
from .model import Classifier, ModelError
from .ring import ArrayHistory, RingBuffer
from .yamnet import PatchScorer, Yamnet

log = logging.getLogger(__name__)


def load_second_opinion(cfg: Config) -> Yamnet | None:
    """The configured YAMNet, or None when it is off. One that cannot load is said once, and detection goes
    on with the small model alone: a missing second opinion must never stop the detector."""
    if not cfg.second_opinion.enabled:
        return None
    try:
        return Yamnet(cfg.second_opinion_path())
    except ModelError as e:
        log.warning("second opinion off, events rest on the small model alone: %s", e)
        return None


DEFAULT_CONFIRM = 0.5  # for a small model whose sidecar does not say which labels to confirm, and how


def confirm_thresholds(cfg: Config, clf: Classifier, second: Yamnet | None) -> dict[str, float]:
    """Label -> YAMNet's score that confirms it: the small model's sidecar choice (measured on validation
    with the bundled YAMNet), overridden by ``second_opinion.labels``; a label set to null is not confirmed."""
    if second is None:
        return {}
    for label in cfg.second_opinion.labels:
        if label not in clf.labels or label not in second.labels:
            raise ConfigError(
                f"second_opinion.labels.{label}: no such label in both models; expected one of "
                f"{', '.join(lab for lab in clf.labels if lab in second.labels)}"
            )
    chosen = clf.sidecar.extra.get("second_opinion", {}).get("confirm")
    if chosen is None:
        chosen = {lab: DEFAULT_CONFIRM for lab in clf.labels if lab in second.labels}
    merged = chosen | cfg.second_opinion.labels
    return {lab: float(t) for lab, t in merged.items() if t is not None and lab in second.labels}


@dataclass
class _Candidate:
    start: Event  # the start message held back
    first: int  # sample index of the first patch on this candidate's grid
    unscored: int = 0  # grid positions before this one are scored
    best: float = 0.0
    embedding: np.ndarray | None = None
    last_check: float | None = None  # stream time of the last check; None: not checked yet


@dataclass
class Verdict:
    """What the second stage said of one candidate, for counting and for a later per-home verifier."""

    event: Event
    confirmed: bool
    score: float
    embedding: np.ndarray | None


class SecondOpinion:
    def __init__(
        self,
        model: PatchScorer,
        thresholds: dict[str, float],
        history: RingBuffer | ArrayHistory,
        rate: int,
        recheck_s: float = 0.5,
        margin_s: float = 0.5,
        patch_hop_s: float = 0.24,
    ) -> None:
        if rate != model.sidecar.frontend.sample_rate:
            raise ValueError(f"YAMNet takes {model.sidecar.frontend.sample_rate} Hz audio, the pipeline runs at {rate}")
        # label -> YAMNet's score that confirms it; the other labels' events pass as the small model raised them
        self.model, self.thresholds, self.history, self.rate = model, thresholds, history, rate
        self.recheck_s, self.margin = recheck_s, int(margin_s * rate)
        p = model.sidecar.frontend
        # YAMNet's score moves with where its 0.975 s patch falls: patches every 0.24 s, half its own
        # hop, confirmed more cries on validation than 0.48 s (reports/second_opinion.md).
        self.patch, self.hop = p.patch_samples, int(round(patch_hop_s * rate))
        self._pending: dict[str, _Candidate] = {}
        self._confirmed: dict[str, tuple[str, float]] = {}  # label -> (event id, score) of its open event
        self._verdicts: list[Verdict] = []  # since the last ``drain``
        self.inferences = 0
        self.rejected = {lab: 0 for lab in thresholds}
        self.confirmed = {lab: 0 for lab in thresholds}

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def filter(self, events: list[Event], t_end: float, hitting: dict[str, bool]) -> list[Event]:
        """The messages of the window that ended at ``t_end`` that may go out; ``hitting``: the labels whose
        window was a hit."""
        out = self._route(events)
        now = int(round(t_end * self.rate))
        for label, c in list(self._pending.items()):
            due = c.last_check is None or (hitting.get(label, False) and t_end - c.last_check >= self.recheck_s)
            if not due:
                continue
            c.last_check = t_end
            if self._check(c, now):
                del self._pending[label]
                out.append(self._confirm(c, t_end))
        return out

    def flush(self, events: list[Event]) -> list[Event]:
        """The end of the stream: pending candidates are dropped with the decider's end messages."""
        return self._route(events)

    def drain(self) -> list[Verdict]:
        """The verdicts given since the last call."""
        out, self._verdicts = self._verdicts, []
        return out

    # -- internals ------------------------------------------------------------------------------
    def _route(self, events: list[Event]) -> list[Event]:
        out = []
        for ev in events:
            if ev.label not in self.thresholds:  # not confirmed: as the small model raised it
                out.append(ev)
            elif ev.state == "start":
                self._pending[ev.label] = self._candidate(ev)
            elif ev.label in self._pending:
                if ev.state == "end":
                    self._reject(self._pending.pop(ev.label))
            else:
                out.append(self._stamp(ev))
        return out

    def _candidate(self, ev: Event) -> _Candidate:
        # The grid ends at the window's end, and reaches back to margin_s before the candidate's start.
        now = int(round(ev.time * self.rate))
        start = max(0, int(ev.start * self.rate) - self.margin)
        back = max(0, (now - self.patch - start) // self.hop)
        return _Candidate(ev, now - self.patch - back * self.hop)

    def _check(self, c: _Candidate, now: int) -> bool:
        """Score the patches of the grid that end by ``now`` (a sample index) and were not scored yet."""
        newest = (now - self.patch - c.first) // self.hop
        for k in range(newest, c.unscored - 1, -1):  # newest first: the sound that made the small model fire
            s0 = c.first + k * self.hop
            _, x = self.history.read(max(s0, 0), self.patch - max(0, -s0))
            x = np.pad(x, (self.patch - x.size, 0))  # before the stream began, or lost: silence
            scores, emb = self.model(self.model.logmel.patch(x))
            self.inferences += 1
            s = scores[c.start.label]
            if c.embedding is None or s > c.best:
                c.best, c.embedding = s, emb
            if s >= self.thresholds[c.start.label]:
                return True
        c.unscored = max(c.unscored, newest + 1)
        return False

    def _confirm(self, c: _Candidate, t_end: float) -> Event:
        ev = c.start
        self.confirmed[ev.label] += 1
        self._confirmed[ev.label] = (ev.id, c.best)
        self._verdicts.append(Verdict(ev, True, c.best, c.embedding))
        log.debug(
            "second opinion confirmed a %s candidate from %.2f s at %.2f s: small model %.3f, YAMNet %.3f",
            ev.label,
            ev.start,
            t_end,
            ev.score,
            c.best,
        )
        return replace(ev, time=max(ev.time, t_end), confirm_score=c.best)

    def _reject(self, c: _Candidate) -> None:
        ev = c.start
        self.rejected[ev.label] += 1
        self._verdicts.append(Verdict(ev, False, c.best, c.embedding))
        log.debug(
            "second opinion rejected a %s candidate at %.2f s: small model %.3f, YAMNet %.3f (< %.2f)",
            ev.label,
            ev.start,
            ev.score,
            c.best,
            self.thresholds[ev.label],
        )

    def _stamp(self, ev: Event) -> Event:
        """Ongoing and end messages of a confirmed event carry its confirmation score."""
        eid, score = self._confirmed.get(ev.label, (None, None))
        if eid == ev.id:
            ev.confirm_score = score
            if ev.state == "end":
                del self._confirmed[ev.label]
        return ev
