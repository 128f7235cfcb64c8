"""The corpus loader drops positives that are test tones, and only those."""

from __future__ import annotations

import csv

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from barkcry_train.data import LABELS, Corpus, pure_tone_hz, read_manifest
from detector.audiofile import read_audio

RATE = 16000
TONES = {"bark/t04glovern/test1.flac": 440, "bark/t04glovern/test2.flac": 1000}


@settings(max_examples=30, deadline=None)
@given(hz=st.floats(60, 7500), seconds=st.floats(0.5, 5), amp=st.floats(0.01, 1), phase=st.floats(0, 6.3))
def test_a_sine_is_found_at_its_frequency(hz, seconds, amp, phase):
    t = np.arange(int(seconds * RATE)) / RATE
    found = pure_tone_hz(amp * np.sin(2 * np.pi * hz * t + phase), RATE)
    assert found is not None and abs(found - hz) <= 2 * RATE / t.size


def test_noise_and_a_sweep_are_not_tones():
    rng = np.random.default_rng(0)
    t = np.arange(2 * RATE) / RATE
    assert pure_tone_hz(rng.normal(0, 0.1, t.size), RATE) is None
    assert pure_tone_hz(np.sin(2 * np.pi * (300 + 400 * t) * t), RATE) is None
    assert pure_tone_hz(np.zeros(RATE), RATE) is None


def test_of_all_corpus_positives_only_the_two_test_tones_are_tones(data_root):
    found = {}
    for c in read_manifest(data_root / "manifest.csv"):
        if c.label in LABELS and (hz := pure_tone_hz(read_audio(data_root / c.path, RATE), RATE)) is not None:
            found[c.path] = round(hz)
    assert found == TONES


def test_corpus_load_drops_a_tone_labelled_bark_and_says_why(data_root, tmp_path):
    real_bark = next(c for c in read_manifest(data_root / "manifest.csv") if c.label == "bark" and c.source == "us8k")
    rows = [real_bark.path, "bark/t04glovern/test1.flac"]
    for p in rows:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).symlink_to(data_root / p)
    with open(tmp_path / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "source", "origin", "license", "duration_s", "fold"])
        for p in rows:
            w.writerow([p, "bark", "test", "", "", 4.0, 1])
    corpus = Corpus.load(tmp_path, RATE)
    assert [c.path for c in corpus.clips] == [real_bark.path]
    assert set(corpus.audio) == {real_bark.path}
    assert "440 Hz sine" in corpus.dropped["bark/t04glovern/test1.flac"]
