"""Opt-in audio clips of events, with pre-roll, written owner-only (home audio is private)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from ..clock import WallClock
from ..config import ClipsConfig
from ..ring import RingBuffer
from . import Sink

log = logging.getLogger(__name__)


class ClipSink(Sink):
    def __init__(self, cfg: ClipsConfig, history: RingBuffer, rate: int, clock: WallClock | None = None,
                 on_saved: Callable[[str, Path], None] | None = None) -> None:
        """``on_saved(event id, path)``: told of each clip written (the event history names it)."""
        self.cfg, self.history, self.rate, self.on_saved = cfg, history, rate, on_saved
        self.dir = Path(cfg.dir)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        self.clock = clock or WallClock()
        self.written: list[Path] = []

    def event(self, ev) -> None:
        if ev.state != "end":
            return
        start = max(ev.start - self.cfg.pre_roll_s, ev.end - self.cfg.max_s, 0.0)
        s0 = int(start * self.rate)
        _, x = self.history.read(s0, int(ev.end * self.rate) - s0)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self.clock.wall(ev.start)))
        path = self.dir / f"{stamp}_{ev.label}_{ev.id[:8]}.flac"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only from the first byte
            with os.fdopen(fd, "wb") as f:
                sf.write(f, x, self.rate, format="FLAC")
        except (OSError, sf.LibsndfileError) as e:  # a full disk, a vanished directory: detection goes on
            log.error("could not save clip %s: %s", path, e)
            with contextlib.suppress(OSError):  # no half-written clip left behind
                path.unlink()
            return
        self.written = self.written[-99:] + [path]  # the last ones, for a look; bounded over months
        if self.on_saved is not None:
            self.on_saved(ev.id, path)
        log.info("saved clip %s (%.1f s)", path, x.size / self.rate)
