"""The wall clock of events: follows a stalled device at once, a drifting one slowly, jitter not at all."""

import pytest

from detector.clock import LATE_S, MAX_DRIFT, WallClock


def test_a_stall_moves_the_clock_at_once():
    c = WallClock(0.0)
    c.anchor(1.0, now=101.0)
    assert c.wall(0.5) == pytest.approx(100.5)
    c.anchor(1.1, now=104.1)  # 3 s without audio
    assert c.wall(1.1) == pytest.approx(104.1)


def test_jitter_and_an_unpaced_source_barely_move_it():
    c = WallClock(0.0)
    c.anchor(1.0, now=101.0)
    c.anchor(1.1, now=101.1 + LATE_S / 2)  # a late block, within the tolerance
    assert c.offset == pytest.approx(100.0)
    c.anchor(20.0, now=102.0)  # 18 s of audio in 1 s: a file-backed device
    assert c.offset == pytest.approx(100.0 - MAX_DRIFT * (102.0 - 101.1 - LATE_S / 2))


def test_a_fast_clock_is_followed_at_the_drift_rate():
    c = WallClock(0.0)
    c.anchor(0.0, now=0.0)
    for hour in range(1, 25):  # 50 ppm fast: 0.18 s more audio than wall time per hour
        c.anchor(hour * 3600 * (1 + 5e-5), now=hour * 3600.0)
    assert c.wall(24 * 3600 * (1 + 5e-5)) == pytest.approx(24 * 3600.0, abs=1e-6)
