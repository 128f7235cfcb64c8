"""Training windows: positives come from where the event is."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.frontend import LogMel
from detector.training.data import LABELS, Clip, Corpus
from detector.training.windows import WindowSampler, energetic_starts, localize_positives, positive_window_scores

RATE = 16000


def street_bark(rng: np.random.Generator) -> np.ndarray:
    """4 s of steady noise with a 0.2 s burst at 2.5 s that is hardly louder: every window is 'energetic'."""
    x = rng.normal(0, 0.1, 4 * RATE).astype(np.float32)
    x[int(2.5 * RATE): int(2.7 * RATE)] *= 1.5
    return x


def test_localized_positives_are_the_windows_the_scorer_hears_the_label_in():
    rng = np.random.default_rng(0)
    lm = LogMel()
    bark = Clip("bark/x.flac", "bark", "test", "", 1, 4.0)
    neg = Clip("negative/y.flac", "negative", "test", "", 1, 4.0)
    corpus = Corpus(Path("."), [bark, neg], {bark.path: street_bark(rng), neg.path: street_bark(rng)}, {})
    sampler = WindowSampler(corpus, lm)
    win = lm.params.window_samples
    energetic = energetic_starts(corpus.audio[bark.path], win, win // 8)
    assert energetic.size == np.arange(0, 4 * RATE - win + 1, win // 8).size  # every window: traffic or bark
    # A stand-in model: it hears a bark where the window's loudest 10 ms frame is (the burst's frames are).
    def scorer(feats: np.ndarray) -> np.ndarray:
        loud = feats.mean(axis=2).max(axis=1)
        return np.stack([(loud - loud.min()) / (np.ptp(loud) + 1e-9), np.zeros_like(loud)], axis=1)

    kept = localize_positives(positive_window_scores(sampler, [bark, neg], scorer, LABELS))
    assert list(kept) == [bark.path]  # negatives are drawn from anywhere, as before
    starts = kept[bark.path]
    whole = {int(s) for s in energetic if s <= 2.5 * RATE and s + win >= 2.7 * RATE}
    touching = {int(s) for s in energetic if s < 2.7 * RATE and s + win > 2.5 * RATE}
    assert 0 < len(whole) and len(touching) < energetic.size
    assert whole <= set(starts.tolist()) <= touching  # the windows with the burst, not those of noise alone
    assert np.array_equal(WindowSampler(corpus, lm, localized=kept).starts(bark), starts)
    sampler.localized = kept  # as screen.py sets it, after the sampler has cached the energetic starts
    assert np.array_equal(sampler.starts(bark), starts)
