"""Clips: owner-only, never in a shared directory, and within their disk cap."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from detector.config import ClipsConfig, ConfigError
from detector.decision import Event
from detector.ring import RingBuffer
from detector.sinks.clips import ClipSink, clip_dir


def test_a_shared_directory_is_refused_and_its_mode_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(ConfigError, match="clips.dir: .* is shared"):
        clip_dir(ClipsConfig(dir=str(shared)), create=True)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o750)
    os.chmod(mine, 0o750)
    assert clip_dir(ClipsConfig(dir=str(mine)), create=True) == mine
    assert stat.S_IMODE(mine.stat().st_mode) == 0o750  # not ours to change
    new = tmp_path / "a" / "new"
    assert clip_dir(ClipsConfig(dir=str(new)), create=False) == new and not new.exists()  # a check makes nothing
    clip_dir(ClipsConfig(dir=str(new)), create=True)
    assert stat.S_IMODE(new.stat().st_mode) == 0o700


def test_the_oldest_clips_go_once_the_cap_is_reached(tmp_path):
    rate = 16000
    ring = RingBuffer(rate * 20)
    ring.write(np.random.default_rng(0).uniform(-0.5, 0.5, rate * 10).astype(np.float32))  # noise: ~ 30 kB/s
    sink = ClipSink(
        ClipsConfig(enabled=True, dir=str(tmp_path / "clips"), pre_roll_s=0.0, max_total_mb=0.5), ring, rate
    )
    for i in range(8):
        sink.event(Event(f"{i:08x}" * 4, "bark", "end", 1.0, 5.0, 5.0, 0.9, -20.0))  # 4 s: ~ 0.15 MB each
    files = list((tmp_path / "clips").glob("*.flac"))
    assert 0 < len(files) < 8
    assert sum(f.stat().st_size for f in files) <= 0.5e6
    assert sink.written[-1] in files  # the newest is kept


def test_clips_older_than_max_days_go(tmp_path):
    rate = 16000
    ring = RingBuffer(rate * 20)
    ring.write(np.zeros(rate * 10, np.float32))
    d = tmp_path / "clips"
    sink = ClipSink(ClipsConfig(enabled=True, dir=str(d), max_days=7), ring, rate)
    old = d / "20200101T000000_bark_00000000.flac"
    old.write_bytes(b"x")
    os.utime(old, (1_000_000, 1_000_000))  # 1970: long ago
    sink.event(Event("1" * 32, "bark", "end", 1.0, 3.0, 3.0, 0.9, -20.0))
    assert not old.exists() and len(list(d.glob("*.flac"))) == 1
