"""Events as JSON lines: always on, so a detection is never invisible."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from . import Sink


def event_dict(ev, clock_offset: float = 0.0) -> dict:
    """The event message shared by the log and MQTT: times are stream seconds + ``clock_offset``."""
    return {
        "id": ev.id, "label": ev.label, "state": ev.state, "time": round(ev.time + clock_offset, 3),
        "start": round(ev.start + clock_offset, 3), "end": None if ev.end is None else round(ev.end + clock_offset, 3),
        "score": round(ev.score, 4), "dbfs": round(ev.dbfs, 1), "duration_s": round(ev.duration_s, 2),
    }


class LogSink(Sink):
    def __init__(self, stream: TextIO | None = None, clock_offset: float | None = None) -> None:
        self.stream = stream or sys.stdout
        # Live runs report wall-clock times: stream time 0 is when capture started.
        self.clock_offset = time.time() if clock_offset is None else clock_offset

    def event(self, ev) -> None:
        self.stream.write(json.dumps({"event": event_dict(ev, self.clock_offset)}) + "\n")
        self.stream.flush()
