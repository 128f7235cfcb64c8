"""From per-window scores to events with a start and an end: smoothing, hysteresis, minimum hits, hold."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

from .types import Event


@dataclass(frozen=True)
class LabelPolicy:
    """How one label turns scores into events."""

    on: float  # smoothed score that counts as a hit
    off: float  # an active event stays on while the smoothed score is at least this (hysteresis)
    min_hits: int = 2  # consecutive hits before an event starts
    hold_s: float = 1.0  # an event ends this long after the score last stayed above ``off``
    smoothing: int = 2  # moving average over this many windows
    min_dbfs: float = -70.0  # windows quieter than this can never count as hits

    def __post_init__(self) -> None:
        if not 0.0 < self.on <= 1.0:
            raise ValueError(f"on threshold must be in (0, 1], got {self.on}")
        if not 0.0 <= self.off <= self.on:
            raise ValueError(f"off threshold must be in [0, on={self.on}], got {self.off}")
        if self.min_hits < 1 or self.smoothing < 1 or self.hold_s < 0:
            raise ValueError("min_hits and smoothing must be >= 1 and hold_s >= 0")


@dataclass
class _LabelState:
    policy: LabelPolicy
    recent: deque = field(default_factory=deque)
    hits: int = 0
    first_hit_start: float = 0.0
    active: Event | None = None
    last_above: float = 0.0
    last_report: float = 0.0
    last_end: float = 0.0  # a new episode never starts before the previous one ended


class Decider:
    """Feed it one window at a time with ``update``; it returns the event messages that window raises."""

    def __init__(self, policies: dict[str, LabelPolicy], window_s: float, ongoing_every_s: float = 10.0) -> None:
        self.window_s = window_s
        self.ongoing_every_s = ongoing_every_s
        self._states = {label: _LabelState(p) for label, p in policies.items()}
        # per label: whether the last window would start an event (>= on) or kept its open one (>= off)
        self.hitting = {label: False for label in policies}

    @property
    def policies(self) -> dict[str, LabelPolicy]:
        return {k: s.policy for k, s in self._states.items()}

    def set_policy(self, label: str, policy: LabelPolicy) -> None:
        """A new policy for ``label`` from the next window on (a sensitivity changed from Home Assistant)."""
        self._states[label].policy = policy

    def hits(self, label: str) -> int:
        """Consecutive hits towards ``label``'s next start."""
        return self._states[label].hits

    @property
    def active(self) -> dict[str, Event]:
        return {k: s.active for k, s in self._states.items() if s.active is not None}

    def update(
        self, t_end: float, scores: dict[str, float], dbfs: float, vetoed: frozenset[str] | set[str] = frozenset()
    ) -> list[Event]:
        """``t_end``: stream time of the window's last sample; ``dbfs``: the window's level; ``vetoed``: labels
        whose window may not count as a hit towards a start (the per-home verifier said no)."""
        out = []
        for label, st in self._states.items():
            p = st.policy
            st.recent.append(scores.get(label, 0.0))
            if len(st.recent) > p.smoothing:
                st.recent.popleft()
            smoothed = sum(st.recent) / len(st.recent)
            loud = dbfs >= p.min_dbfs
            self.hitting[label] = loud and smoothed >= (p.on if st.active is None else p.off)
            if st.active is None:
                if smoothed >= p.on and loud and label not in vetoed:
                    if st.hits == 0:
                        st.first_hit_start = max(0.0, st.last_end, t_end - self.window_s)
                    st.hits += 1
                    if st.hits >= p.min_hits:
                        st.active = Event(
                            uuid.uuid4().hex, label, "start", st.first_hit_start, None, t_end, smoothed, dbfs
                        )
                        st.last_above = st.last_report = t_end
                        out.append(_copy(st.active))
                        st.active.state = "ongoing"
                else:
                    st.hits = 0
                continue
            ev = st.active
            if smoothed >= p.off and loud:
                st.last_above = t_end
                ev.score = max(ev.score, smoothed)
                ev.dbfs = max(ev.dbfs, dbfs)
            if t_end - st.last_above >= p.hold_s:
                out.append(self._end(st, st.last_above))
            elif t_end - st.last_report >= self.ongoing_every_s:
                st.last_report = ev.time = t_end
                out.append(_copy(ev))
        return out

    def flush(self, t_end: float) -> list[Event]:
        """End every active event (end of a file, or shutdown)."""
        return [self._end(st, min(st.last_above, t_end)) for st in self._states.values() if st.active is not None]

    def _end(self, st: _LabelState, end: float) -> Event:
        ev = st.active
        assert ev is not None  # called only for a label with an event on
        ev.state, ev.end, ev.time = "end", end, end
        st.active, st.hits, st.last_end = None, 0, end
        st.recent.clear()  # a new episode must earn its own hits
        return ev


def _copy(ev: Event) -> Event:
    return Event(**vars(ev))
