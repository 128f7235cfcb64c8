"""The live feed: each scored window, and why it did or did not raise an event, pushed to local readers
(the review page) over a unix socket in the state directory. The audio loop never waits on a reader: a
reader that falls behind is dropped."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from .sinks import Sink

if TYPE_CHECKING:
    from .pipeline import Pipeline, Window

log = logging.getLogger(__name__)

KEEP = 240  # windows sent to a new reader: the last 60 s at the default hop


def why(pipeline: Pipeline, w: Window) -> dict[str, str]:
    """Per label, what this window meant: an event, or the reason there is none."""
    out = {}
    active = pipeline.decider.active
    for label, p in pipeline.decider.policies.items():
        if label in active:
            out[label] = "event"
        elif w.dbfs < p.min_dbfs:
            out[label] = f"too quiet (below min_dbfs {p.min_dbfs:g})"
        elif w.scores[label] < p.on:
            out[label] = f"below the threshold {p.on:g}"
        elif label in pipeline.muted:
            out[label] = "switched off or snoozed"
        elif label in pipeline.vetoed:
            out[label] = "the home's verifier said no"
        elif pipeline.second is not None and label in pipeline.second.thresholds:
            out[label] = "hit: waiting for the second opinion or more hits"
        else:
            out[label] = f"hit {pipeline.decider.hits(label)} of {p.min_hits} needed"
    return out


def encode(item: tuple) -> bytes:
    t, wall, dbfs, scores, reasons = item
    return (
        json.dumps(
            {
                "t": round(t, 2),
                "wall": round(wall, 2),
                "dbfs": round(dbfs, 1),
                "scores": {k: round(v, 3) for k, v in scores.items()},
                "why": reasons or {},
            }
        ).encode()
        + b"\n"
    )


class LiveSink(Sink):
    def __init__(self, path: Path, pipeline: Pipeline, hello: dict) -> None:
        """``hello``: what a reader is told first (device, model, thresholds, pid, start time)."""
        self.path, self.pipeline = Path(path), pipeline
        self.hello = hello | {"pid": os.getpid(), "started": time.time()}
        self._recent: deque[tuple] = deque(maxlen=KEEP)
        self._readers: list[socket.socket] = []
        self._lock = threading.Lock()
        self.path.unlink(missing_ok=True)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # owner-only: what the microphone hears is private
        try:
            self._server.bind(str(self.path))
        finally:
            os.umask(old)
        self._server.listen(4)
        threading.Thread(target=self._accept, name="live-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            conn.setblocking(False)
            with self._lock:
                backlog = b"".join(encode(item) for item in self._recent)
                try:
                    conn.sendall(json.dumps({"hello": self.hello}).encode() + b"\n" + backlog)
                except OSError:
                    conn.close()
                    continue
                self._readers.append(conn)

    def window(self, w: Window) -> None:
        with self._lock:
            if not self._readers:  # nobody is looking: keep the window for the next reader, make no line
                self._recent.append((w.t_end, time.time(), w.dbfs, w.scores, None))
                return
            item = (w.t_end, time.time(), w.dbfs, w.scores, why(self.pipeline, w))
            self._recent.append(item)
            line = encode(item)
            for conn in list(self._readers):
                try:  # non-blocking: a socket too full for a whole line is a reader too slow to keep
                    sent = conn.send(line)
                except OSError:
                    sent = -1
                if sent != len(line):
                    self._readers.remove(conn)
                    conn.close()

    def health(self, reasons: list[str], figures: dict) -> None:
        """The problem sensor's reasons, told to each new reader (the review page's health line)."""
        self.hello = self.hello | {"problem": reasons}

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self.path.unlink(missing_ok=True)
