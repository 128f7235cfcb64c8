"""Stream seconds to wall-clock time, for the event times that leave the device."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class WallClock:
    """Wall time (Unix seconds) of a stream time: ``stream_t + offset``.

    Stream time counts samples, so durations never drift. But a device that stalls and is reopened
    delivers no samples for a while, and a sound card's crystal runs fast or slow against the system
    clock (tens of ppm: seconds a day). A live run re-anchors the clock as each block arrives
    (``anchor``), so an event's time stays within a block of the truth however long the daemon runs.
    """

    offset: float = field(default_factory=time.time)  # unanchored: stream time 0 is when this was made

    def anchor(self, stream_t: float, now: float | None = None) -> None:
        """``stream_t`` (the end of the block just read) was heard at ``now`` (default: now)."""
        self.offset = (time.time() if now is None else now) - stream_t

    def wall(self, stream_t: float) -> float:
        return stream_t + self.offset
