"""Which clips train, validate and test: no clip, and no recording, on two sides of a split."""

from __future__ import annotations

import numpy as np
import pytest

from barkcry_train.data import LABELS, Corpus, read_manifest
from barkcry_train.experiment import CROSS_SOURCES, make_splits, oversample_negatives
from barkcry_train.windows import WindowPool


@pytest.fixture(scope="module")
def corpus(data_root) -> Corpus:
    """The manifest's clips without their audio: splits only read labels, folds and sources."""
    return Corpus(data_root, read_manifest(data_root / "manifest.csv"), {})


def test_no_negative_shares_a_recording_with_a_positive_of_its_fold(corpus):
    # Why fold 4's positives can train while its negatives set thresholds: no negative was cut from
    # a recording whose bark or cry the model trained on.
    pos = {(c.fold, c.recording) for c in corpus.clips if c.label in LABELS}
    assert pos and not [c.path for c in corpus.clips if c.label not in LABELS and (c.fold, c.recording) in pos]


@pytest.mark.parametrize("val_positives_train", [False, True])
def test_splits_keep_train_validation_and_test_apart(corpus, val_positives_train):
    splits = make_splits(corpus, val_positives_train=val_positives_train)
    for s in splits.values():
        train = {c.path for clips in s.train.values() for c in clips}
        assert not train & {c.path for c in s.val} and not train & {c.path for c in s.test}
        assert {c.fold for c in s.test} == {5} or s.name == "cross"
        assert {c.fold for c in s.val} == {4}
        bark_folds = {c.fold for c in s.train["bark"]}
        if val_positives_train:
            assert bark_folds == {1, 2, 3, 4} and {c.label for c in s.val} == {"negative", "noise"}
        else:
            assert bark_folds == {1, 2, 3} and {c.label for c in s.val} == {"bark", "cry", "negative", "noise"}
        assert {c.fold for c in s.train["negative"]} == {1, 2, 3}
    cross = splits["cross"]
    assert not [c for clips in cross.train.values() for c in clips if (c.label, c.source) in CROSS_SOURCES]
    assert {(c.label, c.source) for c in cross.test if c.label in LABELS} <= CROSS_SOURCES


def _pool(names: list[str], counts: list[int], tag: str) -> WindowPool:
    groups = np.repeat(np.arange(len(names)), counts)
    feats = np.arange(groups.size, dtype=np.float16)[:, None, None] * np.ones((1, 2, 3), np.float16)
    targets = np.zeros((groups.size, 2), np.float32)
    return WindowPool(feats, targets, groups, [(f"{tag}{i}",) for i in range(groups.size)], names)


def test_an_extended_pool_keeps_its_windows_and_adds_the_share_asked_of_each_group():
    base = _pool(["bark", "cry", "negative"], [4, 4, 4], "a")
    more = _pool(["bark", "cry"], [5, 5], "b")
    ext = base.extended(more, {"bark": 2, "cry": 5})
    assert ext.used[:12] == base.used and np.array_equal(ext.feats[:12], base.feats)
    added = {u[0]: g for u, g in zip(ext.used[12:], ext.groups[12:])}
    assert added == {"b0": 0, "b1": 0, **{f"b{i}": 1 for i in range(5, 10)}}
    assert np.bincount(ext.groups).tolist() == [6, 9, 4]


def test_oversampling_repeats_only_the_named_kinds_of_training_negative(corpus):
    split = make_splits(corpus)["fold5"]
    out = oversample_negatives(split, {"siren": 3, "car horn": 2})
    count = lambda clips, word: sum(word in (c.origin + c.path).lower().replace("_", " ") for c in clips)  # noqa: E731
    before, after = split.train["negative"], out.train["negative"]
    sirens, horns = count(before, "siren"), count(before, "car horn")
    assert sirens >= 20 and horns >= 20  # ESC-50's and UrbanSound8K's, by two spellings
    assert count(after, "siren") == 3 * sirens and count(after, "car horn") == 2 * horns
    assert len(after) == len(before) + 2 * sirens + horns
    assert {c.path for c in after} == {c.path for c in before}  # nothing new, nothing lost
    assert out.val == split.val and out.test == split.test and out.train["bark"] == split.train["bark"]
