"""Recording the room for calibration, through the same capture path as `detector run`."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import FileSource, MicrophoneSource
from ..config import Config
from ..pipeline import dbfs


class DeadInputError(Exception):
    pass


@dataclass
class Recording:
    samples: np.ndarray
    rate: int
    device: str
    overflows: int

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate


def record(
    cfg: Config, seconds: float, device: str | None, input_file: str | None, rate: int, out=sys.stderr
) -> Recording:
    """Through the same capture path as `detector run`, with a progress bar and a live level meter."""
    n = int(round(seconds * rate))
    src: FileSource | MicrophoneSource
    if input_file:
        src = FileSource(input_file, rate, block_s=0.1, max_s=seconds or None)
        n = int(round(src.duration_s * rate)) + 1
    else:
        src = MicrophoneSource(device if device is not None else cfg.audio.device, rate, 0.1, max_samples=n)
    buf = np.zeros(n, np.float32)
    got, last_print = 0, 0.0
    tty = out.isatty()
    for block in src.blocks():
        take = min(block.size, n - got)
        buf[got : got + take] = block[:take]
        got += take
        now = time.monotonic()
        if now - last_print >= (0.25 if tty else 10.0) or got >= n:
            last_print = now
            level = dbfs(block) if block.size else -200.0
            frac = got / n
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            meter = "|" * max(0, int((level + 90) / 3))
            msg = (
                f"[{bar}] {100 * frac:5.1f} %  {max(0.0, (n - got) / rate):5.0f} s left  {level:6.1f} dBFS {meter:<30}"
            )
            out.write(("\r" + msg) if tty else (msg + "\n"))
            out.flush()
        if got >= n:
            break
    if tty:
        out.write("\n")
    info = src.info()
    return Recording(buf[:got], rate, info.device, info.overflows)


def check_alive(rec: Recording) -> None:
    x = rec.samples
    if x.size == 0 or np.all(x == 0):
        raise DeadInputError("the microphone gives only silence: is it muted? (every sample is zero)")
    if np.ptp(x) == 0:
        raise DeadInputError(f"the microphone gives a constant value ({x[0]:.4f}): is it muted or unplugged?")


def save_noise(rec: Recording, state_dir: Path) -> Path:
    d = state_dir / "noise"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    p = d / time.strftime("calibration-%Y%m%dT%H%M%S.flac")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        sf.write(f, rec.samples, rec.rate, format="FLAC", subtype="PCM_16")
    return p
