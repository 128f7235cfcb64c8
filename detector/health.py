"""Whether the detector is really listening: the causes of a problem, each with its own threshold, and the
diagnostic figures Home Assistant shows beside them."""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from .config import HealthConfig


@dataclass
class Reading:
    """What the service loop knows at one moment."""

    now: float  # monotonic
    last_audio: float  # monotonic time of the last block with samples
    zeros_s: float  # seconds of exact zeros in a row, up to now
    reopens: int  # times the input device was reopened, so far
    overflows: int  # capture overflows, so far
    queue: int  # MQTT messages waiting
    queue_size: int


class Health:
    def __init__(self, cfg: HealthConfig, state_dir: Path) -> None:
        self.cfg, self.state_dir = cfg, Path(state_dir)
        self._overflows: deque[tuple[float, int]] = deque()  # (time, count) over the last minute
        self._reopens, self._reopened_at = 0, -1e9
        self.started = time.time()
        self._cpu = (time.monotonic(), self._cpu_s())  # for the CPU share since the last figures

    def reasons(self, r: Reading) -> dict[str, str]:
        """Every cause in force: its name, and it in words."""
        c, out = self.cfg, {}
        if r.now - r.last_audio >= c.no_audio_s:
            out["no_audio"] = f"no audio for {r.now - r.last_audio:.0f} s"
        if r.zeros_s >= c.muted_s:
            out["muted"] = f"the input has been all zeros for {r.zeros_s:.0f} s (muted?)"
        if r.reopens != self._reopens:
            self._reopens, self._reopened_at = r.reopens, r.now
        if r.now - self._reopened_at < c.reopened_s:
            out["reopened"] = f"the microphone was reopened {r.now - self._reopened_at:.0f} s ago"
        self._overflows.append((r.now, r.overflows))
        while self._overflows[0][0] < r.now - 60:
            self._overflows.popleft()
        lost = r.overflows - self._overflows[0][1]
        if lost >= c.overflows_per_min:
            out["overflows"] = f"{lost} capture overflows in the last minute"
        if r.queue_size and r.queue > c.queue_share * r.queue_size:
            out["backlog"] = f"MQTT backlog of {r.queue} of {r.queue_size} messages"
        free = self.free_mb()
        if free is not None and free < c.min_free_mb:
            out["disk"] = f"only {free:.0f} MB free for {self.state_dir}"
        return out

    def free_mb(self) -> float | None:
        try:
            return shutil.disk_usage(self.state_dir if self.state_dir.exists() else self.state_dir.parent).free / 1e6
        except OSError:
            return None

    @staticmethod
    def _cpu_s() -> float:
        t = os.times()
        return t.user + t.system

    def figures(self, r: Reading) -> dict:
        """The diagnostic sensors' values; CPU is the process's share of one core since the last call."""
        now, cpu = time.monotonic(), self._cpu_s()
        (then, cpu_then), self._cpu = self._cpu, (now, cpu)
        rss = 0
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) // 1024
        except OSError:
            pass
        uptime = time.time() - self.started
        return {
            "last_audio": round(time.time() - (r.now - r.last_audio), 1),
            "overflows": r.overflows,
            "reopens": r.reopens,
            "queue": r.queue,
            "rss_mb": rss,
            "uptime_s": round(uptime),
            "cpu_percent": round(100 * (cpu - cpu_then) / max(now - then, 1e-3), 2),
        }


class HealthReporter:
    """Publishes the problem state on every change (at most once a second) and every minute."""

    def __init__(self, health: Health, publish, log) -> None:
        """``publish(reasons: list[str], figures: dict)``; ``log``: where changes are said."""
        self.health, self.publish, self.log = health, publish, log
        self._last: dict[str, str] = {}
        self._sent_at = -1e9

    def update(self, r: Reading) -> None:
        if r.now - self._sent_at < 1.0:
            return
        reasons = self.health.reasons(r)
        changed = reasons.keys() != self._last.keys()
        if not changed and r.now - self._sent_at < 60.0:
            return
        if changed:
            if reasons:
                self.log.warning("problem: %s", "; ".join(reasons.values()))
            else:
                self.log.info("problem cleared")
        self._last, self._sent_at = reasons, r.now
        self.publish(list(reasons.values()), self.health.figures(r))
