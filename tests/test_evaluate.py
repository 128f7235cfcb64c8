"""Test-set helpers: how far an event stands out of its own recording."""

import numpy as np
import pytest

from detector.training.evaluate import contrast_db


def test_contrast_is_the_burst_over_the_background():
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal(32000)
    x[8000:9600] += 0.1 * np.sqrt(2) * np.sin(2 * np.pi * 1000 * np.arange(1600) / 16000)  # 100 ms, rms 0.1
    assert contrast_db(x) == pytest.approx(20.0, abs=0.5)


def test_steady_noise_has_no_contrast_and_a_short_clip_is_padded():
    rng = np.random.default_rng(1)
    assert contrast_db(rng.standard_normal(32000)) < 1.0
    assert contrast_db(np.ones(400)) == 0.0
