"""Stream seconds to wall-clock time, for the event times that leave the device."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

LATE_S = 0.5  # audio this much later than its stream time says: the device was silent for a while
MAX_DRIFT = 1e-3  # a sound card's clock runs fast by far less than this (crystals: tens of ppm)


@dataclass
class WallClock:
    """Wall time (Unix seconds) of a stream time: ``stream_t + offset``.

    Stream time counts samples, so durations never drift. But a device that stalls and is reopened
    delivers no samples for a while, and a sound card's crystal runs fast or slow against the system
    clock (seconds a day). A live run anchors the clock on each block it reads (``anchor``):
    - audio arriving more than ``LATE_S`` later than the offset says (a stall, or a slow clock's
      accumulated lag) moves the offset at once;
    - audio arriving early (a fast clock) moves it back no faster than ``MAX_DRIFT``, so the jitter of
      block delivery never shifts one event's times between its messages, and a source that is not
      paced at all (a file-backed test device) keeps stream time 0 at its start.
    """

    offset: float = field(default_factory=time.time)  # unanchored: stream time 0 is when this was made
    _last: float | None = None  # wall time of the last anchor

    def anchor(self, stream_t: float, now: float | None = None) -> None:
        """``stream_t`` (the end of the block just read) was heard at ``now`` (default: now)."""
        now = time.time() if now is None else now
        measured = now - stream_t
        if self._last is None or measured > self.offset + LATE_S:
            self.offset = measured
        elif measured < self.offset:
            self.offset = max(measured, self.offset - MAX_DRIFT * (now - self._last))
        self._last = now

    def wall(self, stream_t: float) -> float:
        return stream_t + self.offset
