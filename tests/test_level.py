"""The quiet-window lift: a gain in dB, applied only below the target and never beyond the cap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.frontend import LogMel
from detector.level import QuietLift, window_level_db

LIFT = QuietLift(target_db=-5.0, max_db=20.0)


def windows(seed: int, gain_db: float) -> np.ndarray:
    """Log-mel windows of white noise at a known gain: (3, frames, mels)."""
    x = np.random.default_rng(seed).normal(0, 0.05, (3, 16000)).astype(np.float32) * 10 ** (gain_db / 20)
    return LogMel().compute(x)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), gain=st.floats(-60, 10))
def test_level_follows_the_signal_gain(seed, gain):
    """The level is a power measure: turning the audio down by g dB lowers it by g dB."""
    base, turned = window_level_db(windows(seed, 0.0)), window_level_db(windows(seed, gain))
    np.testing.assert_allclose(turned - base, gain, atol=0.01)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), gain=st.floats(-60, 10))
def test_lift_reaches_the_target_within_the_cap(seed, gain):
    w = windows(seed, gain)
    before, after = window_level_db(w), window_level_db(LIFT(w))
    want = np.where(before >= LIFT.target_db, before, np.minimum(LIFT.target_db, before + LIFT.max_db))
    np.testing.assert_allclose(after, want, atol=0.01)
    loud = before >= LIFT.target_db
    assert np.array_equal(LIFT(w)[loud], w[loud])  # normal-level windows pass bit for bit


def test_one_window_and_a_batch_lift_alike():
    w = windows(1, -40.0)
    np.testing.assert_array_equal(np.stack([LIFT(x) for x in w]), LIFT(w))


def test_negative_cap_is_refused():
    with pytest.raises(ValueError, match="max_db is -3"):
        QuietLift(-5.0, -3.0)
