"""Training windows: positives come from where the event is."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from barkcry_train.data import LABELS, Clip, Corpus
from barkcry_train.windows import (
    WindowPool,
    WindowSampler,
    energetic_starts,
    localize_positives,
    platt,
    platt_apply,
    positive_window_scores,
)
from detector.frontend import LogMel

RATE = 16000


def street_bark(rng: np.random.Generator) -> np.ndarray:
    """4 s of steady noise with a 0.2 s burst at 2.5 s that is hardly louder: every window is 'energetic'."""
    x = rng.normal(0, 0.1, 4 * RATE).astype(np.float32)
    x[int(2.5 * RATE) : int(2.7 * RATE)] *= 1.5
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
    sampler.localized = kept  # set after the sampler has cached the energetic starts
    assert np.array_equal(sampler.starts(bark), starts)


def test_a_pool_built_with_a_scorer_keeps_the_same_windows_and_its_scores_of_their_audio():
    rng = np.random.default_rng(1)
    lm = LogMel()
    clips = [Clip(f"{lab}/{i}.flac", lab, "test", "", 1, 4.0) for lab in ("bark", "cry", "negative") for i in range(2)]
    corpus = Corpus(Path("."), clips, {c.path: street_bark(rng) for c in clips}, {})
    groups = {lab: [c for c in clips if c.label == lab] for lab in ("bark", "cry", "negative")}
    sampler = WindowSampler(corpus, lm)

    def loudness(waves: np.ndarray) -> np.ndarray:  # a stand-in teacher with its own "frontend": the audio's RMS
        rms = np.sqrt(np.mean(np.square(waves, dtype=np.float64), axis=1))
        return np.stack([rms, -rms], axis=1)

    plain = WindowPool.build(sampler, groups, 12, seed=3, augment=None, workers=1, chunk=6)
    taught = WindowPool.build(sampler, groups, 12, seed=3, augment=None, workers=1, chunk=6, scorer=loudness)
    assert plain.teacher is None
    assert np.array_equal(plain.feats, taught.feats) and plain.used == taught.used
    # The scores are of each window's own audio: louder windows (higher log-mel) score higher.
    level = taught.feats.astype(np.float32).mean(axis=(1, 2))
    assert np.corrcoef(level, taught.teacher[:, 0].astype(np.float32))[0, 1] > 0.9
    x, y, t, _ = taught.epoch(4, np.random.default_rng(0))
    assert t.shape == y.shape and taught.subset({clips[0].path}).teacher.shape[0] < taught.teacher.shape[0]
    # What a split trains on: the held-out clip's windows gone, the teacher calibrated on the rest.
    split = taught.for_training({clips[0].path})
    rest = taught.subset({clips[0].path})
    assert all(clips[0].path not in u for u in split.used) and len(split.used) == len(rest.used)
    assert np.array_equal(split.teacher, rest.calibrated().teacher) and plain.for_training(set()) is plain


def test_platt_maps_a_shy_teachers_scores_to_how_often_the_label_is_on():
    rng = np.random.default_rng(0)
    # A teacher that ranks well but scores low: positives around 0.1, negatives around 0.005.
    y = rng.random(20_000) < 0.25
    logit = np.where(y, -2.2, -5.3) + rng.normal(0, 1.0, y.size)
    scores = 1 / (1 + np.exp(-logit))
    a, b = platt(scores, y)
    cal = platt_apply(scores, a, b)
    assert abs(cal.mean() - y.mean()) < 0.01  # calibrated on average
    assert cal[y].mean() > 0.6 and scores[y].mean() < 0.2  # positives now look positive
    for lo, hi in ((0.0, 0.2), (0.4, 0.6), (0.8, 1.0)):  # and in every bin, the score is the label's rate
        sel = (cal >= lo) & (cal < hi)
        assert abs(y[sel].mean() - cal[sel].mean()) < 0.05
