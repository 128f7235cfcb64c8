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
from ..config import ClipsConfig, ConfigError
from ..ring import RingBuffer
from . import Sink

log = logging.getLogger(__name__)


def clip_dir(cfg: ClipsConfig, create: bool) -> Path:
    """The clips' directory: made owner-only if it is new; an existing one is used as it is, unless others
    may write into it (a shared place such as /tmp), which is refused. ConfigError says why it cannot be."""
    d = Path(cfg.dir)
    if d.is_dir():
        st = d.stat()
        if st.st_mode & 0o022 or st.st_uid != os.geteuid():
            raise ConfigError(
                f"clips.dir: {d} is shared (mode {st.st_mode & 0o7777:o}, owner uid {st.st_uid}): "
                "clips are private, give them a directory of their own"
            )
        if not os.access(d, os.W_OK | os.X_OK):
            raise ConfigError(f"clips.dir: {d} is not writable by this user")
        return d
    if d.exists():
        raise ConfigError(f"clips.dir: {d} exists and is not a directory")
    parent = next((q for q in d.parents if q.exists()), Path("/"))  # the one we would make it in
    if not parent.is_dir():
        raise ConfigError(f"clips.dir: cannot create {d}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"clips.dir: cannot create {d}: {parent} is not writable by this user")
    if not create:  # a check makes nothing
        return d
    try:
        d.mkdir(parents=True, mode=0o700)
    except OSError as e:
        raise ConfigError(f"clips.dir: cannot create {d} ({e.strerror})") from e
    return d


class ClipSink(Sink):
    def __init__(
        self,
        cfg: ClipsConfig,
        history: RingBuffer,
        rate: int,
        clock: WallClock | None = None,
        on_saved: Callable[[str, Path], None] | None = None,
    ) -> None:
        """``on_saved(event id, path)``: told of each clip written (the event history names it)."""
        self.cfg, self.history, self.rate, self.on_saved = cfg, history, rate, on_saved
        self.dir = clip_dir(cfg, create=True)
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
        self._trim()
        if self.on_saved is not None:
            self.on_saved(ev.id, path)
        log.info("saved clip %s (%.1f s)", path, x.size / self.rate)

    def _trim(self) -> None:
        """Delete the oldest clips while the directory holds more than ``max_total_mb``, and any older than
        ``max_days``."""
        try:
            clips = sorted((p.stat().st_mtime, p.stat().st_size, p) for p in self.dir.glob("*.flac"))
        except OSError as e:
            log.warning("cannot list clips in %s: %s", self.dir, e)
            return
        total, cap = sum(c[1] for c in clips), self.cfg.max_total_mb * 1e6
        too_old = time.time() - self.cfg.max_days * 86400
        for mtime, size, path in clips:
            if total <= cap and mtime >= too_old:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                log.info(
                    "deleted the oldest clip %s (clips.max_total_mb %g, clips.max_days %g)",
                    path.name,
                    self.cfg.max_total_mb,
                    self.cfg.max_days,
                )
