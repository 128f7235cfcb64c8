"""Test-set helpers: how far an event stands out of its own recording, the clips' edges, which run ships."""

from types import SimpleNamespace

import numpy as np
import pytest

from barkcry_train.data import Clip
from barkcry_train.evaluate import CONDITIONS, condition_audio, contrast_db, edge_pad
from barkcry_train.evaluate import TestSet as ClipSet  # not a test class
from barkcry_train.experiment import best_run
from detector.frontend import LogMel


def test_contrast_is_the_burst_over_the_background():
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal(32000)
    x[8000:9600] += 0.1 * np.sqrt(2) * np.sin(2 * np.pi * 1000 * np.arange(1600) / 16000)  # 100 ms, rms 0.1
    assert contrast_db(x) == pytest.approx(20.0, abs=0.5)


def test_steady_noise_has_no_contrast_and_a_short_clip_is_padded():
    rng = np.random.default_rng(1)
    assert contrast_db(rng.standard_normal(32000)) < 1.0
    assert contrast_db(np.ones(400)) == 0.0


def _clip(path: str, label: str = "bark") -> Clip:
    return Clip(path=path, label=label, source="test", origin="", license="", duration_s=0.5, fold=5)


def test_a_test_clip_sits_in_silence_and_the_noise_runs_through_it():
    lm = LogMel()
    pad = edge_pad(lm.params)
    assert pad == lm.params.window_samples - 4000  # as `detector scan` pads a file at a 0.25 s hop
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 8000).astype(np.float32)
    audio, noise = {"a": x}, [np.random.default_rng(1).standard_normal(64000).astype(np.float32)]
    rir = np.r_[1.0, np.zeros(99)].astype(np.float32)
    clean, noisy = (
        next(condition_audio([_clip("a")], audio, lm, noise, [rir], 7, c))
        for c in (CONDITIONS[0], next(c for c in CONDITIONS if c.snr_db == 0 and not c.room_mic))
    )
    assert clean.size == noisy.size == x.size + 2 * pad
    assert not clean[:pad].any() and not clean[-pad:].any() and np.array_equal(clean[pad:-pad], x)
    assert np.abs(noisy[:pad]).min() > 0  # noise through the padding: a stream, not a cut
    as_cut = next(condition_audio([_clip("a")], audio, lm, noise, [rir], 7, CONDITIONS[0], pad=0))
    assert np.array_equal(as_cut, x)


def test_an_event_at_a_clip_start_is_in_two_windows_once_padded():
    # The decider wants two consecutive windows; a 0.2 s burst at a clip's start was in one.
    lm = LogMel()
    x = np.zeros(80000, np.float32)
    x[:3200] = np.sin(2 * np.pi * 1000 * np.arange(3200) / 16000)
    loud = lambda ts: int((ts.feats["clean"][0].max(axis=(1, 2)) > -20).sum())  # noqa: E731
    cut = ClipSet.build([_clip("a")], {"a": x}, lm, [x], [np.ones(1, np.float32)], 7, CONDITIONS[:1], pad=0)
    padded = ClipSet.build([_clip("a")], {"a": x}, lm, [x], [np.ones(1, np.float32)], 7, CONDITIONS[:1])
    assert loud(cut) == 1 and loud(padded) >= 3


def test_the_pick_is_the_lowest_validation_loss_within_the_parity_gate():
    run = lambda seed, loss, diff: SimpleNamespace(
        split="fold5",
        variant="augmented",
        seed=seed,  # noqa: E731
        val_loss=loss,
        val_int8_max_diff=diff,
    )
    teacher = SimpleNamespace(split="fold5", variant="teacher", seed=9, val_loss=0.0, val_int8_max_diff=0.0)
    runs = [teacher, run(0, 0.10, 0.07), run(1, 0.12, 0.04), run(2, 0.11, 0.05)]
    assert best_run(runs, "fold5").seed == 2
    assert best_run(runs, "fold5", parity_gate=0.01).seed == 0  # none within: the lowest loss
    assert best_run([run(0, 0.2, None), run(1, 0.1, None)], "fold5").seed == 1  # not converted (cross)
