"""Distillation: what the teachers may move, which teacher teaches which label, and the auxiliary head."""

import dataclasses

import numpy as np
import pytest

from barkcry_train.data import LABELS
from barkcry_train.train import FitConfig, distill_targets, fit, pool_teacher_share
from barkcry_train.windows import WindowPool


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


def _pool_with_aux(n: int = 96, k: int = 5) -> WindowPool:
    """Windows whose loud band says which of k reference classes they are (the labels say nothing of it)."""
    rng = np.random.default_rng(0)
    cls = rng.integers(0, k, n)
    feats = rng.normal(-60, 3, (n, 24, 16)).astype(np.float16)
    for i, c in enumerate(cls):
        feats[i, :, 3 * c : 3 * c + 3] += 40
    groups = np.arange(n) % 2
    targets = np.stack([groups == 0, np.zeros(n, bool)], axis=1).astype(np.float32)
    return WindowPool(
        feats,
        targets,
        groups,
        [(f"w{i}",) for i in range(n)],
        ["bark", "negative"],
        aux=np.eye(k, dtype=np.float16)[cls],
    )


@pytest.mark.slow  # trains with TensorFlow
def test_the_aux_head_learns_the_reference_classes_and_leaves_the_served_model_as_it_was():
    pool = _pool_with_aux()
    val = (pool.feats[:16].astype(np.float32), pool.targets[:16])
    cfg = FitConfig(epochs=12, per_group=48, patience=0, width=8, aux_weight=1.0, learning_rate=1e-2)
    model = fit(pool, val, cfg)
    aux_loss = [h["aux_loss"] for h in cfg.history if "aux_loss" in h]
    assert len(aux_loss) == 12 and aux_loss[-1] < 0.5 * aux_loss[0], aux_loss
    # The same run without the head (same seed and rate): the training is repeatable, so what differs is the head's.
    plain, again = (fit(pool, val, dataclasses.replace(cfg, aux_weight=0.0, history=[])) for _ in range(2))
    assert np.allclose(plain.get_weights()[0], again.get_weights()[0])
    assert [o.shape for o in model.outputs] == [o.shape for o in plain.outputs] == [(None, len(LABELS))]
    assert [w.shape for w in model.get_weights()] == [w.shape for w in plain.get_weights()]
    assert not np.allclose(model.get_weights()[0], plain.get_weights()[0])  # the head shaped the features
    with pytest.raises(ValueError, match="aux_weight=1.0 needs a pool with aux scores"):
        fit(dataclasses.replace(pool, aux=None), val, FitConfig(aux_weight=1.0))
