"""Episodes: a label's events less than a gap apart, merged; once one has lasted long enough, it is
announced (``cry_episode`` start, ongoing, end) to the sinks given, as the events are. "The baby has been
crying for two minutes" is one episode; a cough, or one whimper, never becomes one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .config import EpisodeConfig
from .decision import Event
from .sinks import Sink


@dataclass
class _Open:
    start: float  # the first event's start
    last_end: float | None  # the last event's end; None while one is on
    active: int  # events on now
    score: float
    dbfs: float
    announced: Event | None = None
    last_report: float = 0.0


class EpisodeTracker(Sink):
    """A pipeline sink: reads events and windows (for the time), tells ``sinks`` of episodes."""

    def __init__(self, cfg: dict[str, EpisodeConfig], sinks: list[Sink], ongoing_every_s: float = 60.0) -> None:
        self.cfg, self.sinks, self.ongoing_every_s = cfg, sinks, ongoing_every_s
        self._open: dict[str, _Open] = {}

    def event(self, ev: Event) -> None:
        c = self.cfg.get(ev.label)
        if c is None:
            return
        ep = self._open.get(ev.label)
        if ev.state == "start":
            if ep is not None and ep.last_end is not None and ev.start - ep.last_end > c.gap_s:
                self._close(ev.label, ep)
                ep = None
            if ep is None:
                ep = self._open[ev.label] = _Open(ev.start, None, 0, ev.score, ev.dbfs)
            ep.active += 1
            ep.last_end = None
        elif ep is not None:
            ep.score, ep.dbfs = max(ep.score, ev.score), max(ep.dbfs, ev.dbfs)
            if ev.state == "end":
                ep.active = max(0, ep.active - 1)
                if ep.active == 0:
                    ep.last_end = ev.end

    def window(self, w) -> None:
        self.tick(w.t_end)

    def tick(self, t: float) -> None:
        for label, ep in list(self._open.items()):
            c = self.cfg[label]
            if ep.active == 0 and ep.last_end is not None and t - ep.last_end > c.gap_s:
                self._close(label, ep)
            elif ep.announced is None and t - ep.start >= c.min_s:
                ep.announced = Event(
                    uuid.uuid4().hex, f"{label}_episode", "start", ep.start, None, t, ep.score, ep.dbfs
                )
                ep.last_report = t
                self._tell(ep.announced)
            elif ep.announced is not None and t - ep.last_report >= self.ongoing_every_s:
                ep.last_report = t
                self._tell(Event(ep.announced.id, ep.announced.label, "ongoing", ep.start, None, t, ep.score, ep.dbfs))

    def flush(self, t: float) -> None:
        """The stream is over: every open episode ends."""
        for label, ep in list(self._open.items()):
            if ep.last_end is None:
                ep.last_end = t
            self._close(label, ep)

    def _close(self, label: str, ep: _Open) -> None:
        del self._open[label]
        if ep.announced is not None:
            end = ep.last_end if ep.last_end is not None else ep.announced.time
            self._tell(Event(ep.announced.id, ep.announced.label, "end", ep.start, end, end, ep.score, ep.dbfs))

    def _tell(self, ev: Event) -> None:
        for s in self.sinks:
            s.event(ev)
