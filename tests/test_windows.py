"""Training samples are cut as documented: bags of windows from one segment, and the bag loss they train with."""

import numpy as np
import pytest

pytest.importorskip("scipy")
from detector.audiofile import read_audio  # noqa: E402
from detector.frontend import LogMel  # noqa: E402
from detector.training.data import Clip, Corpus, read_manifest  # noqa: E402
from detector.training.windows import WindowSampler  # noqa: E402


@pytest.fixture(scope="module")
def corpus(data_root):
    clips = read_manifest(data_root / "manifest.csv")
    pick = [next(c for c in clips if c.label == lab and c.source == "us8k" and c.duration_s >= 3.9)
            for lab in ("bark", "negative")]
    return Corpus(data_root, pick, {c.path: read_audio(data_root / c.path, 16000) for c in pick})


def test_bag_windows_are_half_a_window_apart_in_one_segment(corpus):
    lm = LogMel()
    sampler = WindowSampler(corpus, lm)
    groups = {c.label: [c] for c in corpus.clips}
    feats, targets, used = sampler.batch(groups, 3, np.random.default_rng(0), None, bag=4)
    assert feats.shape == (6, 4, lm.params.window_frames, lm.params.n_mels)
    assert targets.tolist() == [[1, 0]] * 3 + [[0, 0]] * 3
    assert [u[0] for u in used] == [corpus.clips[0].path] * 3 + [corpus.clips[1].path] * 3
    half = lm.params.window_frames // 2  # bag windows start this many frames apart
    tail = feats.shape[2] - half
    # Consecutive windows share half their audio, so their shared frames are the same numbers.
    np.testing.assert_allclose(feats[:, 1:, :tail], feats[:, :-1, half:half + tail], atol=1e-4)
    assert not np.allclose(feats[:, 1], feats[:, 0])


def test_a_bag_of_one_is_the_single_window_sampler(corpus):
    sampler = WindowSampler(corpus, LogMel())
    groups = {c.label: [c] for c in corpus.clips}
    a = sampler.batch(groups, 4, np.random.default_rng(3), None)
    b = sampler.batch(groups, 4, np.random.default_rng(3), None, bag=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].ndim == 3


def test_bag_loss_needs_one_window_for_a_label_that_is_on_and_all_low_for_one_that_is_off():
    pytest.importorskip("keras")
    from detector.training.train import bag_loss

    one_high = np.array([[[0.01, 0.01], [0.99, 0.01], [0.01, 0.01]]], dtype=np.float32)  # (1, bag 3, 2 labels)
    loss = lambda y: float(np.asarray(bag_loss(np.array([y], dtype=np.float32), one_high))[0])  # noqa: E731
    assert loss([1, 0]) < 0.02  # bark on: its best window is high, cry low everywhere
    assert loss([0, 0]) > 0.5  # bark off: one high window of three is a false alarm (mean of the labels)
    assert loss([1, 1]) > 2.0  # cry on but no window has it


def test_clip_target_follows_the_label():
    assert Clip("a", "cry", "s", "", 1, 1.0).target.tolist() == [0, 1]
