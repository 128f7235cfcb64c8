"""Counts for Home Assistant, from the event history (so they survive a restart): per label, events today,
minutes of it today, and events in the last hour. Days follow the local calendar."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

from .sinks import Sink


def local_midnight(now: float) -> float:
    return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def day_stats(db: sqlite3.Connection, labels: list[str], now: float) -> dict[str, dict[str, float]]:
    midnight = local_midnight(now)
    out = {}
    for lab in labels:
        today, minutes, hour = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(MAX(0, COALESCE(end, ?) - MAX(start, ?))), 0) / 60.0, "
            "SUM(start >= ?) FROM events WHERE label = ? AND COALESCE(end, ?) >= ?",
            (now, midnight, now - 3600, lab, now, midnight),
        ).fetchone()
        out[lab] = {"today": today, "minutes_today": round(minutes, 1), "last_hour": hour or 0}
    return out


class StatsReporter(Sink):
    """Publishes the counts every minute, and a few seconds after each event ends (once the history has it)."""

    def __init__(self, path, labels: list[str], publish, every_s: float = 60.0, settle_s: float = 2.0) -> None:
        self.path, self.labels, self.publish, self.every_s, self.settle_s = path, labels, publish, every_s, settle_s
        self._next = 0.0
        self._db: sqlite3.Connection | None = None

    def event(self, ev) -> None:
        if ev.state == "end":  # count again soon
            self._next = min(self._next, time.monotonic() + self.settle_s)

    def update(self, force: bool = False) -> None:
        if time.monotonic() < self._next and not force:
            return
        self._next = time.monotonic() + self.every_s
        try:
            if self._db is None:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1.0)
            stats = day_stats(self._db, self.labels, time.time())
        except sqlite3.Error:
            return  # no history yet: nothing to count
        self.publish(stats)

    def close(self) -> None:
        self.update(force=True)  # the last events, once the history has written them
        if self._db is not None:
            self._db.close()
