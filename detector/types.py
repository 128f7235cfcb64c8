"""The two things every stage passes on: a scored window, and an event message."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Window:
    """One classifier window: its end on the stream clock (s), its scores, its level, and the model's
    embedding of it (None for a model without that output)."""

    t_end: float
    scores: dict[str, float]
    dbfs: float
    embedding: np.ndarray | None = None


@dataclass
class Event:
    """One bark or cry episode. The same id is carried by its start, ongoing and end messages."""

    id: str
    label: str
    state: str  # "start", "ongoing" or "end"
    start: float  # seconds on the stream clock
    end: float | None  # set on "end"
    time: float  # when this message was raised, stream clock
    score: float  # peak smoothed score so far
    dbfs: float  # peak level so far
    confirm_score: float | None = None  # the second opinion's score, once it confirmed the event

    @property
    def duration_s(self) -> float:
        return (self.end if self.end is not None else self.time) - self.start
