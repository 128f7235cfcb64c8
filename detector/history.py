"""Event history in SQLite (<state_dir>/events.db): one row per event, and the owner's verdict on it.

The pipeline hands rows to a writer thread, so a slow card never stalls the audio loop. Every commit is
durable (WAL, synchronous=FULL): a kill or a power cut loses nothing already written. Retention is
bounded in days and in rows. No audio is stored; a row names its clip only when clips are on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clock import WallClock
from .confirm import Verdict
from .decision import Event
from .pipeline import Window
from .sinks import Sink

log = logging.getLogger(__name__)

VERDICTS = ("false_alarm", "confirmed")
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    start REAL NOT NULL,            -- wall clock, Unix seconds
    end REAL,
    score REAL NOT NULL,            -- the small model's peak
    confirm_score REAL,             -- the second opinion's, when it confirmed the event
    dbfs REAL NOT NULL,
    model_sha256 TEXT NOT NULL,
    clip TEXT,
    embedding BLOB,                 -- float16, the second opinion's embedding of its best patch
    window_embeddings BLOB,         -- float16 (k, d): the small model's embeddings of its best windows
    verdict TEXT CHECK (verdict IN ('false_alarm', 'confirmed')),
    verdict_at REAL,
    verdict_from TEXT
);
CREATE INDEX IF NOT EXISTS events_label_start ON events (label, start);
"""
COLUMN_DECLS = [  # the schema's columns that ALTER TABLE can add (all but the key and the NOT NULL ones)
    ("end", "REAL"),
    ("confirm_score", "REAL"),
    ("clip", "TEXT"),
    ("embedding", "BLOB"),
    ("window_embeddings", "BLOB"),
    ("verdict", "TEXT CHECK (verdict IN ('false_alarm', 'confirmed'))"),
    ("verdict_at", "REAL"),
    ("verdict_from", "TEXT"),
]
BEST_WINDOWS = 8  # an event keeps the small model's embeddings of its highest-scoring windows


class HistoryError(Exception):
    """An event id that is not in the history, or a verdict that is not one of VERDICTS."""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def connect(path: Path) -> sqlite3.Connection:
    """The database at ``path``, created owner-only with its schema if new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    # a history from an older barkcry lacks the columns added since: add them, keeping every row
    have = {r[1] for r in db.execute("PRAGMA table_info(events)")}
    for name, decl in COLUMN_DECLS:
        if name not in have:
            db.execute(f"ALTER TABLE events ADD COLUMN {name} {decl}")
    return db


@dataclass(frozen=True)
class Row:
    id: str
    label: str
    start: float
    end: float | None
    score: float
    confirm_score: float | None
    dbfs: float
    verdict: str | None
    clip: str | None

    def as_dict(self) -> dict:
        return dict(vars(self))


COLUMNS = "id, label, start, end, score, confirm_score, dbfs, verdict, clip"


def select(db: sqlite3.Connection, label: str | None = None, since: float | None = None) -> list[Row]:
    q, args = f"SELECT {COLUMNS} FROM events WHERE 1=1", list[object]()
    if label:
        q, args = q + " AND label = ?", [*args, label]
    if since is not None:
        q, args = q + " AND start >= ?", [*args, since]
    return [Row(*r) for r in db.execute(q + " ORDER BY start", args)]


def mark(db: sqlite3.Connection, event_id: str, verdict: str | None, source: str) -> None:
    """Record the owner's verdict on one event; None takes it back."""
    if verdict is not None and verdict not in VERDICTS:
        raise HistoryError(f"verdict {verdict!r}: expected one of {', '.join(VERDICTS)}")
    cur = db.execute(
        "UPDATE events SET verdict = ?, verdict_at = ?, verdict_from = ? WHERE id = ?",
        (verdict, time.time() if verdict else None, source if verdict else None, event_id),
    )
    if cur.rowcount != 1:
        raise HistoryError(f"no event with id {event_id!r}")


def mark_latest(db: sqlite3.Connection, label: str, verdict: str, source: str) -> str:
    """Record a verdict on ``label``'s most recent event; returns its id."""
    # the row written last: the event that started last (a replay's times need not be in order)
    row = db.execute("SELECT id FROM events WHERE label = ? ORDER BY rowid DESC LIMIT 1", (label,)).fetchone()
    if row is None:
        raise HistoryError(f"no {label} event yet")
    mark(db, row[0], verdict, source)
    return row[0]


def false_alarms(db: sqlite3.Connection, model_sha256: str) -> dict[str, int]:
    """Label -> events marked false alarms under this model."""
    return dict(
        db.execute(
            "SELECT label, COUNT(*) FROM events WHERE verdict = 'false_alarm' AND model_sha256 = ? GROUP BY label",
            (model_sha256,),
        ).fetchall()
    )


def purge(db: sqlite3.Connection) -> int:
    n = db.execute("DELETE FROM events").rowcount
    db.execute("VACUUM")
    return n


def prune(db: sqlite3.Connection, keep_days: float, keep_rows: int, now: float | None = None) -> int:
    """Drop rows older than ``keep_days`` and beyond the newest ``keep_rows``."""
    now = time.time() if now is None else now
    n = db.execute("DELETE FROM events WHERE start < ?", (now - keep_days * 86400,)).rowcount
    n += db.execute(
        "DELETE FROM events WHERE id NOT IN (SELECT id FROM events ORDER BY start DESC LIMIT ?)", (keep_rows,)
    ).rowcount
    return n


FEEDBACK_PER_MINUTE = 30  # more than this is a flood (a stuck automation): the rest is dropped, said once


class HistorySink(Sink):
    """Writes each event's row (on its start, then its end), and the owner's verdicts that arrive over MQTT,
    from a thread of its own."""

    def __init__(
        self,
        path: Path,
        model_sha256: str,
        clock: WallClock,
        keep_days: float,
        keep_rows: int,
        on_marked: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        """``on_marked(false alarms marked per label)``: called on the writer's thread after each verdict
        recorded from MQTT."""
        self.path, self.model_sha256, self.clock = Path(path), model_sha256, clock
        self.on_marked = on_marked
        self.keep_days, self.keep_rows = keep_days, keep_rows
        self._q: queue.Queue = queue.Queue(maxsize=10_000)
        self._embeddings: dict[str, np.ndarray] = {}  # confirmed candidates' embeddings, until their start
        self._recent: deque = deque(maxlen=64)  # the last windows (16 s): a candidate's began before its start
        self._best: dict[str, list[tuple[float, np.ndarray]]] = {}  # open event id -> (score, embedding)
        self._open: dict[str, str] = {}  # label -> id of its open event
        self._feedback_times: list[float] = []
        self._flooded = False
        self.db = connect(self.path)
        prune(self.db, keep_days, keep_rows)
        self._thread = threading.Thread(target=self._write_loop, name="history", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)

    def window(self, w: Window) -> None:
        if w.embedding is None:
            return
        self._recent.append(w)
        for label, eid in self._open.items():
            self._keep(eid, w.scores[label], w.embedding)

    def _keep(self, eid: str, score: float, emb: np.ndarray) -> None:
        best = self._best.setdefault(eid, [])
        best.append((score, emb))
        best.sort(key=lambda b: -b[0])
        del best[BEST_WINDOWS:]

    def verdict(self, v: Verdict) -> None:
        if v.confirmed and v.embedding is not None:
            self._embeddings[v.event.id] = v.embedding

    def feedback(self, label: str | None, payload: bytes) -> None:
        """A verdict from MQTT: ``payload`` names a verdict on ``label``'s latest event, or (label None) is
        {"id": ..., "verdict": ...}. Bad ones are logged with the reason and ignored."""
        now = time.monotonic()
        self._feedback_times = [t for t in self._feedback_times if now - t < 60] + [now]
        if len(self._feedback_times) > FEEDBACK_PER_MINUTE:
            if not self._flooded:
                log.warning("feedback: more than %d messages a minute, ignoring the rest", FEEDBACK_PER_MINUTE)
            self._flooded = True
            return
        self._flooded = False
        try:
            item: tuple[str, str, object]
            if label is not None:
                item = ("mark_latest", label, payload.decode().strip())
            else:
                d = json.loads(payload)
                if not isinstance(d, dict) or not isinstance(d.get("id"), str):
                    raise ValueError('expected {"id": "<event id>", "verdict": "false_alarm" or "confirmed"}')
                item = ("mark", d["id"], d.get("verdict"))
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("feedback ignored: %s (payload %r)", e, payload[:200])
            return
        try:
            self._q.put_nowait(item)
        except queue.Full:
            log.error("feedback ignored: the history writer is behind")

    def clip_saved(self, event_id: str, path: Path) -> None:
        try:
            self._q.put_nowait(("clip", event_id, str(path)))
        except queue.Full:
            log.error("event history: writer behind, clip %s not recorded", path)

    def event(self, ev: Event) -> None:
        if ev.state == "ongoing":
            return
        if ev.state == "start":  # the windows since the candidate began, then every window until its end
            self._open[ev.label] = ev.id
            for w in self._recent:
                if w.t_end > ev.start:
                    self._keep(ev.id, w.scores[ev.label], w.embedding)
        else:
            self._open.pop(ev.label, None)
        emb = self._embeddings.pop(ev.id, None)
        best = self._best.pop(ev.id, []) if ev.state == "end" else []
        windows = np.stack([e for _, e in best]).astype(np.float16).tobytes() if best else None
        row = (
            ev.id,
            ev.label,
            self.clock.wall(ev.start),
            None if ev.end is None else self.clock.wall(ev.end),
            ev.score,
            ev.confirm_score,
            ev.dbfs,
            None if emb is None else emb.astype(np.float16).tobytes(),
            windows,
        )
        try:
            self._q.put_nowait((ev.state, row))
        except queue.Full:  # the card has stopped answering: the audio loop must not wait for it
            log.error("event history: writer behind by %d rows, event %s not recorded", self._q.qsize(), ev.id)

    def _write_loop(self) -> None:
        written = 0
        while (item := self._q.get()) is not None:
            if item[0] in ("mark", "mark_latest"):
                self._mark(*item)
                continue
            if item[0] == "clip":
                try:
                    self.db.execute("UPDATE events SET clip = ? WHERE id = ?", (item[2], item[1]))
                except sqlite3.Error as e:
                    log.error("event history: could not name clip %s: %s", item[2], e)
                continue
            state, (eid, label, start, end, score, confirm, dbfs, emb, windows) = item
            try:
                if state == "start":
                    self.db.execute(
                        "INSERT OR IGNORE INTO events (id, label, start, score, confirm_score, dbfs, "
                        "model_sha256, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (eid, label, start, score, confirm, dbfs, self.model_sha256, emb),
                    )
                else:
                    self.db.execute(
                        "UPDATE events SET end = ?, score = ?, dbfs = ?, window_embeddings = ? WHERE id = ?",
                        (end, score, dbfs, windows, eid),
                    )
                written += 1
                if written % 100 == 0:
                    prune(self.db, self.keep_days, self.keep_rows)
            except sqlite3.Error as e:  # a full disk: detection goes on
                log.error("event history: could not write event %s: %s", eid, e)

    def _mark(self, how: str, target: str, verdict) -> None:
        try:
            if how == "mark":
                mark(self.db, target, verdict, "mqtt")
                log.info("feedback: event %s marked %s", target, verdict)
            else:
                eid = mark_latest(self.db, target, verdict, "mqtt")
                log.info("feedback: the latest %s event (%s) marked %s", target, eid, verdict)
        except (HistoryError, sqlite3.Error) as e:
            log.warning("feedback ignored: %s", e)
            return
        if self.on_marked is not None:
            self.on_marked(false_alarms(self.db, self.model_sha256))
