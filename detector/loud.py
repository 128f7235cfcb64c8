"""A loud-sound sensor, independent of the model: on while the level reaches a threshold, off once it has
stayed under it for a hold time (a nursery that wants to know of any noise)."""

from __future__ import annotations

from collections.abc import Callable

from .config import LoudConfig
from .sinks import Sink


class LoudSink(Sink):
    def __init__(self, cfg: LoudConfig, publish: Callable[[bool], None]) -> None:
        self.cfg, self.publish = cfg, publish
        self.on, self._last_loud = False, -1e9

    def window(self, w) -> None:
        if w.dbfs >= self.cfg.dbfs:
            self._last_loud = w.t_end
            if not self.on:
                self.on = True
                self.publish(True)
        elif self.on and w.t_end - self._last_loud >= self.cfg.hold_s:
            self.on = False
            self.publish(False)
