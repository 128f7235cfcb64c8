"""AUC and its interval over recordings, and the recording key those intervals resample."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.metrics import auc_interval, roc_auc, threshold_for_fpr
from detector.training.data import read_manifest


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4)), min_size=2, max_size=40))
def test_one_group_per_class_gives_the_plain_auc(pairs):
    """Every resample then draws the same clips: the weighted count must equal roc_auc, ties included."""
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)
    lo, hi = auc_interval(y, s, groups=y.astype(int), n_boot=20)
    if y.all() or not y.any():
        assert np.isnan(lo) and np.isnan(hi)
    else:
        assert lo == hi and abs(lo - roc_auc(y, s)) < 1e-12


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=300), st.sampled_from([0.0, 0.02, 0.1]))
def test_threshold_keeps_false_positives_within_the_rate_on_int8_scores(levels, max_fpr):
    """Scores on the int8 output grid (k/256), with ties: the picked threshold, as a sidecar stores it,
    lets at most ``max_fpr`` of the negatives through, and no lower 4-decimal threshold would."""
    neg = np.array(levels) / 256
    t = threshold_for_fpr(neg, max_fpr)
    assert t == round(t, 4)
    if t < 0.99:
        assert (neg >= t).mean() <= max_fpr
        assert t == 0.05 or (neg >= t - 1e-4).mean() > max_fpr


def test_interval_resamples_recordings_not_clips():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(40, bool), np.zeros(200, bool)]
    s = np.r_[rng.normal(1.5, 1, 40), rng.normal(0, 1, 200)]
    lo, hi = auc_interval(y, s, np.arange(y.size))
    assert lo < roc_auc(y, s) < hi
    # Five copies of every clip add no information: grouped by recording, the interval is unchanged;
    # treated as independent clips, it would claim a far narrower one.
    y5, s5, g5 = np.repeat(y, 5), np.repeat(s, 5), np.repeat(np.arange(y.size), 5)
    assert auc_interval(y5, s5, g5) == (lo, hi)
    lo_c, hi_c = auc_interval(y5, s5, np.arange(y5.size))
    assert hi_c - lo_c < 0.6 * (hi - lo)


def test_recordings_of_the_corpus_stay_in_one_fold(data_root):
    clips = read_manifest(data_root / "manifest.csv")
    folds: dict[str, set[int]] = {}
    for c in clips:
        folds.setdefault(c.recording, set()).add(c.fold)
    assert all(len(f) == 1 for f in folds.values())
    bark5 = [c for c in clips if c.label == "bark" and c.fold == 5]
    assert len({c.recording for c in bark5}) < len(bark5)  # UrbanSound8K slices share their recording


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 3)), min_size=2, max_size=40))
def test_lost_pairs_add_up_to_one_minus_the_auc_and_dropping_a_recording_is_rescoring_without_it(rows):
    """The AUC-loss table's two numbers: lost pairs per clip sum to (1 - AUC) * pairs, ties included; and its
    'AUC without it' is the AUC of the test without that recording's clips."""
    from detector.training.data import Clip
    from detector.metrics import misranked_pairs
    from detector.training.report import auc_loss_table

    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)
    if y.all() or not y.any():
        return
    lost_pos, lost_neg = misranked_pairs(s[y], s[~y])
    pairs = y.sum() * (~y).sum()
    assert lost_pos.sum() == lost_neg.sum()
    assert abs(1 - lost_pos.sum() / pairs - roc_auc(y, s)) < 1e-12
    if lost_pos.sum() == 0:
        assert "no (positive, negative) pair" in auc_loss_table(
            [Clip(f"{'bark' if r[0] else 'negative'}/x/{i}.flac", "bark" if r[0] else "negative", "x", "", 5, 1.0)
             for i, r in enumerate(rows)], np.stack([s, np.zeros_like(s)], axis=1), "bark")[0]
        return
    # UrbanSound8K-style names: clips of one recording share the id before the first dash.
    clips = [Clip(f"{'bark' if r[0] else 'negative'}/us8k/{r[2] + 10 * r[0]}-3-0-{i}.flac",
                  "bark" if r[0] else "negative", "us8k", "", 5, 1.0) for i, r in enumerate(rows)]
    clean = np.stack([s, np.zeros_like(s)], axis=1)
    table = auc_loss_table(clips, clean, "bark", top=len(rows))
    for line in table[4:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        keep = np.array([c.recording != cells[1] for c in clips])
        expected = roc_auc(y[keep], s[keep])
        assert cells[-1] == "n/a" if expected != expected else abs(float(cells[-1]) - expected) < 1e-3
