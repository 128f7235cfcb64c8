"""Events from windows already scored: the decider, and the second opinion on the recording's audio, run
again at other thresholds without running the small model again (calibrate's threshold sweep, reports).
The same classes as the live pipeline, fed the same windows, give the same events."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .confirm import SecondOpinion
from .decision import Decider, Event, LabelPolicy
from .pipeline import Window
from .ring import ArrayHistory
from .verifier import Verifier
from .yamnet import Yamnet


class CachedYamnet:
    """A Yamnet that remembers its answer for each patch: a sweep asks about the same patches many times."""

    def __init__(self, model: Yamnet) -> None:
        self.model, self.sidecar, self.logmel = model, model.sidecar, model.logmel
        self.labels, self.columns = model.labels, model.columns
        self._memo: dict[bytes, tuple[dict[str, float], np.ndarray | None]] = {}

    def __call__(self, patch: np.ndarray) -> tuple[dict[str, float], np.ndarray | None]:
        key = patch.tobytes()
        if key not in self._memo:
            self._memo[key] = self.model(patch)
        return self._memo[key]


def replay(
    windows: Sequence[Window],
    policies: dict[str, LabelPolicy],
    window_s: float,
    audio: np.ndarray | None = None,
    rate: int = 16000,
    second: Yamnet | CachedYamnet | None = None,
    confirm: dict[str, float] | None = None,
    verifier: Verifier | None = None,
    **second_opinion,
) -> list[Event]:
    """Every event message the pipeline raises over ``windows`` (of ``audio``, which the second opinion
    reads, confirming the labels of ``confirm`` at their thresholds; ``verifier``, the home's), the stream ending
    after the last window."""
    decider = Decider(policies, window_s)
    gate = (
        None
        if second is None or audio is None or not confirm
        else SecondOpinion(second, confirm, ArrayHistory(audio), rate, **second_opinion)
    )
    on = {lab: p.on for lab, p in policies.items()}
    out: list[Event] = []
    for w in windows:
        vetoed = verifier.vetoed(w.scores, w.embedding, on) if verifier is not None else frozenset()
        events = decider.update(w.t_end, w.scores, w.dbfs, vetoed)
        if gate is not None and (events or gate.pending):
            events = gate.filter(events, w.t_end, decider.hitting)
        out += events
    events = decider.flush(windows[-1].t_end if windows else 0.0)
    out += gate.flush(events) if gate is not None else events
    return out
