"""Distillation targets: what the teachers may move, and which teacher teaches which label."""

import numpy as np
import pytest

from detector.training.data import LABELS
from detector.training.train import FitConfig, distill_targets, pool_teacher_share


def test_hard_positives_keep_their_label_and_the_teacher_moves_the_rest():
    labels = np.array([[1, 0], [0, 1], [0, 0]], np.float32)
    teacher = np.full((3, 2), 0.4, np.float32)
    y = distill_targets(labels, teacher, 0.5, ["cry"])
    assert y[1, LABELS.index("cry")] == 1.0  # a cry positive keeps its label
    assert y[0, LABELS.index("bark")] == pytest.approx(0.7)  # a bark positive is blended
    assert y[2].tolist() == pytest.approx([0.2, 0.2])  # negatives are blended


def test_the_pool_teaches_only_the_labels_named():
    assert pool_teacher_share(FitConfig(pool_teacher_share=0.75)).tolist() == [0.75, 0.75]
    share = pool_teacher_share(FitConfig(pool_teacher_share=0.75, pool_teacher_labels="bark"))
    assert share[LABELS.index("bark")] == 0.75 and share[LABELS.index("cry")] == 0.0
    with pytest.raises(ValueError, match="pool_teacher_labels.*'dog'"):
        pool_teacher_share(FitConfig(pool_teacher_labels="dog"))
