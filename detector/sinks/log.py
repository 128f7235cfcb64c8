"""Events as JSON lines: always on, so a detection is never invisible."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from ..clock import WallClock
from . import Sink


def event_dict(ev, clock: WallClock) -> dict:
    """The event message shared by the log and MQTT, its times on ``clock``."""
    return {
        "id": ev.id,
        "label": ev.label,
        "state": ev.state,
        "time": round(clock.wall(ev.time), 3),
        "start": round(clock.wall(ev.start), 3),
        "end": None if ev.end is None else round(clock.wall(ev.end), 3),
        "score": round(ev.score, 4),
        "confirm_score": None if ev.confirm_score is None else round(ev.confirm_score, 4),
        "dbfs": round(ev.dbfs, 1),
        "duration_s": round(ev.duration_s, 2),
    }


class LogSink(Sink):
    def __init__(self, stream: TextIO | None = None, clock: WallClock | None = None) -> None:
        self.stream = stream or sys.stdout
        self.clock = clock or WallClock()

    def event(self, ev) -> None:
        self.stream.write(json.dumps({"event": event_dict(ev, self.clock)}) + "\n")
        self.stream.flush()
