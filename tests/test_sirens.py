"""Synthetic sirens sound like sirens: a fundamental that moves over its range at the kind's pace."""

import numpy as np
import pytest

from barkcry_train.sirens import KINDS, siren, siren_clips

FS = 16000


def dominant_hz(x: np.ndarray, frame: int = 1024, hop: int = 256) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop] * np.hanning(frame)
    return np.argmax(np.abs(np.fft.rfft(frames, axis=1)), axis=1) * FS / frame


@pytest.mark.parametrize("kind", KINDS)
def test_a_siren_sweeps_or_alternates_in_the_siren_band(kind):
    x = siren(kind, np.random.default_rng(3), FS, seconds=6.0)
    assert x.dtype == np.float32 and x.size == 6 * FS and abs(np.max(np.abs(x)) - 0.5) < 1e-6
    f = dominant_hz(x)
    assert 400 < np.percentile(f, 5) and np.percentile(f, 95) < 2200  # the fundamental leads
    assert np.percentile(f, 95) / np.percentile(f, 5) > 1.15  # and it moves
    spec = np.abs(np.fft.rfft(x)) ** 2
    assert spec[np.fft.rfftfreq(x.size, 1 / FS) > 7300].sum() < 1e-3 * spec.sum()  # no harmonic aliased
    if kind == "hi-lo":  # two tones, nothing in between
        lo, hi = np.percentile(f, 5), np.percentile(f, 95)
        assert np.mean((f > lo * 1.05) & (f < hi / 1.05)) < 0.1


def test_clips_are_training_negatives_of_every_kind_and_repeatable():
    clips, audio = siren_clips(6, seed=1)
    assert {c.label for c in clips} == {"negative"} and {c.fold for c in clips} == {1}
    assert {c.path.split("-")[1] for c in clips} == {"wail", "yelp", "hi"}
    again = siren_clips(6, seed=1)[1]
    assert all(np.array_equal(audio[k], again[k]) for k in audio)
