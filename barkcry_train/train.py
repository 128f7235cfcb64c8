"""The Keras model and its class-balanced fit on a pool of augmented windows."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from detector.frontend import LogMel
from detector.level import QuietLift

from .augment import lay_under, mask_bands, mic_floor_features, shift_level
from .data import LABELS
from .windows import WindowPool

if TYPE_CHECKING:
    import keras

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before Keras loads TensorFlow, in the functions that need it


@dataclass
class FitConfig:
    epochs: int = 40
    per_group: int = 750  # windows per class group per epoch (bark, cry, negative, noise)
    batch_size: int = 64
    patience: int = 8
    learning_rate: float = 2e-3
    width: int = 40  # only for arch "ds-cnn-4"
    arch: str = "ds-cnn-4"
    seed: int = 0
    augment: bool = True  # only labels the run: the pool it is given is augmented or not
    cmn: bool = False  # add the band-mean-normalised channel (see build_model)
    floor_channel: bool = False  # add a channel of each band above its quietest frame (see build_model)
    bands: int = 0  # the network hears only the lowest this many mel bands (0: all; see build_model)
    label_smoothing: float = 0.0  # targets 0/1 become s/2 and 1-s/2 (bounds the logits)
    freq_masks: int = 0  # SpecAugment-style masks of up to 8 mel bands per window (scripts/train.py: 2)
    time_masks: int = 0  # SpecAugment-style masks of up to 10 frames (0.1 s) per window
    pooling: str = (
        "max"  # "max" over time and frequency, or "freq-mean": mean over frequency, max over time (train.py);
    )
    # "freq-mean-maxmean": that max and the mean over time side by side (a siren lasts, a bark does not)
    relu_max: float = 0.0  # cap every ReLU at this value (ReLU6 when 6; scripts/train.py: 6); 0 leaves it open
    level_shift_db: float = 0.0  # turn windows down by 0..this many dB in the features (a farther source)
    level_shift_p: float = 1.0  # the share of windows turned down
    train_lift_max_db: float = 0.0  # lift quiet training and validation windows as serving does (0: off)
    train_lift_target_db: float = -5.0
    average_last: int = 0  # with patience 0: keep the mean of the weights after each of the last N epochs (SWA-style)
    distill: float = 0.0  # with a teacher: the weight of its scores in each training target (0: labels only)
    distill_hard_positives: str = ""  # labels (comma-separated) whose positive windows keep the label itself as target
    pool_teacher_share: float = (
        0.5  # with a teacher model and a pool with teacher scores: the pool's share of the teaching
    )
    pool_teacher_labels: str = ""  # ...for these labels only (comma-separated; "": all); the others, the model alone
    aux_weight: float = 0.0  # with a pool that has aux scores (YAMNet's 521 classes): the loss weight of a head
    # that learns them from the pooled features, dropped after training (a pretrained model's view, taught)
    remix_p: float = 0.0  # the share of each epoch's windows with a pool negative or noise window laid under them
    remix_min_snr_db: float = -5.0  # ... at an SNR drawn from here
    remix_max_snr_db: float = 20.0  # ... to here
    verbose: int = 0
    history: list[dict] = field(default_factory=list)


def arch_blocks(arch: str, width: int = 40) -> tuple[int, list[tuple[tuple[int, int], int]]]:
    """First-conv channels and the (stride, channels) of each depthwise-separable block.

    'ds-cnn-4': four blocks of equal width (the first shipped model, 4.2 M MACs, 28 k parameters).
    'ds-cnn-5': channels grow as the map shrinks to 7x4, so it has 2.3x the parameters for about the
    same MACs (4.3 M), inside the 5 M MAC and 100 KB budget. Over 3 seeds (with the earlier -10 dBFS gain
    reference and test set) it was no better than ds-cnn-4 (fold-5 bark AUC clean 0.938 vs 0.944, 0 dB
    room+mic 0.817 vs 0.856), so ds-cnn-4 ships.
    """
    if arch == "ds-cnn-4":
        return width, [((2, 2), width * 2), ((2, 2), width * 2), ((1, 1), width * 2), ((1, 1), width * 2)]
    if arch == "ds-cnn-5":
        return 32, [((2, 2), 64), ((2, 2), 96), ((1, 1), 96), ((2, 2), 160), ((1, 1), 160)]
    raise ValueError(f"unknown architecture {arch!r}: expected ds-cnn-4 or ds-cnn-5")


def build_model(
    frames: int,
    mels: int,
    width: int = 32,
    n_labels: int = len(LABELS),
    cmn: bool = False,
    arch: str = "ds-cnn-4",
    pooling: str = "max",
    relu_max: float = 0.0,
    floor_channel: bool = False,
    bands: int = 0,
) -> keras.Model:
    """A DS-CNN (Zhang et al., 'Hello Edge'): one regular conv, then depthwise-separable blocks.

    Input is log-mel dB; a fixed rescaling maps the useful range (-100..+20 dB) to about -2.5..3.5,
    so the int8 input quantisation covers it and the sidecar needs no statistics. BatchNorm momentum
    is 0.9 because an epoch is only ~30-40 steps.
    Pooling: the max over time lets a single short bark decide a window. 'freq-mean' (what
    scripts/train.py ships) averages over frequency first; over 3 seeds it was more robust in noise
    (0 dB room+mic bark AUC 0.896 vs 0.866, cross-source cry recall 0.69 vs 0.47) than the global max.
    relu_max: int8 quantisation spreads each activation's calibrated range over 256 steps, and a few
    outliers (up to 13 where 99.9 % stay under about 5) made those steps coarse in every layer. Capping the
    ReLU (as MobileNet's ReLU6 does) bounds the range, so the int8 model follows the float one closer.
    bands: hear only the lowest mel bands (48: up to 3.75 kHz, all that a Donate-a-Cry upload holds); the
    frontend and the model's input stay at 64. Alone, such a network ranks cries from other sources higher
    and Donate-a-Cry's lower than a full-band one (`scripts/train.py --teacher-bands 48` lets three teach beside
    three full-band ones).
    """
    import keras
    from keras import layers

    inp = keras.Input((frames, mels, 1), name="logmel_db")
    bn = lambda: layers.BatchNormalization(momentum=0.9)  # noqa: E731
    relu = lambda: layers.ReLU(max_value=relu_max or None)  # noqa: E731
    x = layers.Rescaling(1 / 20, offset=2.5)(inp)
    if bands:  # after the rescaling, which serving_model takes out of the int8 graph
        x = layers.Cropping2D(((0, 0), (0, mels - bands)))(x)
    extra = []  # more input channels, each derived from the log-mel itself
    if cmn:  # each band's mean over the window removed: blind to stationary hum and gain
        extra.append(layers.Lambda(lambda t: t - keras.ops.mean(t, axis=1, keepdims=True))(x))
    if floor_channel:  # each band above its quietest frame: the background, where a mean would hold the event too
        extra.append(layers.Lambda(lambda t: t - keras.ops.min(t, axis=1, keepdims=True))(x))
    if extra:
        x = layers.Concatenate()([x, *extra])
    first, blocks = arch_blocks(arch, width)
    x = layers.Conv2D(first, (3, 3), strides=(2, 2), padding="same", use_bias=False)(x)
    x = bn()(x)
    x = relu()(x)
    for stride, ch in blocks:
        x = layers.DepthwiseConv2D((3, 3), strides=stride, padding="same", use_bias=False)(x)
        x = bn()(x)
        x = relu()(x)
        x = layers.Conv2D(ch, 1, use_bias=False)(x)
        x = bn()(x)
        x = relu()(x)
    if pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    elif pooling == "freq-mean":  # (time, freq, ch) -> (time, ch) -> (ch)
        x = layers.GlobalMaxPooling1D()(layers.Lambda(lambda t: keras.ops.mean(t, axis=2))(x))
    elif pooling == "freq-mean-maxmean":  # ... and beside the max over time, the mean: how long a pattern lasts
        t = layers.Lambda(lambda t: keras.ops.mean(t, axis=2))(x)
        x = layers.Concatenate()([layers.GlobalMaxPooling1D()(t), layers.GlobalAveragePooling1D()(t)])
    else:
        raise ValueError(f"unknown pooling {pooling!r}: expected max, freq-mean or freq-mean-maxmean")
    x = layers.Dropout(0.2)(x)
    out = layers.Dense(n_labels, activation="sigmoid", name="scores")(x)
    return keras.Model(inp, out)


def model_for(cfg: FitConfig, frames: int, mels: int) -> keras.Model:
    """The untrained network that ``cfg`` describes."""
    return build_model(
        frames,
        mels,
        cfg.width,
        cmn=cfg.cmn,
        arch=cfg.arch,
        pooling=cfg.pooling,
        relu_max=cfg.relu_max,
        floor_channel=cfg.floor_channel,
        bands=cfg.bands,
    )


def ensemble_model(models: list[keras.Model]) -> keras.Model:
    """Several trained models as one graph that scores their mean: one shared input rescaling, then each
    member's network. Averaging seeds that err on different windows steadies what one seed's luck decides."""
    import keras
    from keras import layers

    first = models[0].layers[1]
    inp = keras.Input(models[0].input.shape[1:], name="logmel_db")
    x = layers.Rescaling(first.scale, offset=first.offset)(inp)
    members = [keras.Model(m.layers[1].output, m.output, name=f"member{i}") for i, m in enumerate(models)]
    return keras.Model(inp, layers.Average(name="scores")([m(x) for m in members]))


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates per window for the conv and dense layers (the rest is negligible)."""
    import keras
    from keras import layers

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # an ensemble's member
            macs += count_macs(layer)
        elif isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            macs += h * w * c * kh * kw
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            macs += h * w * c * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    return int(macs)


def distill_targets(labels: np.ndarray, teacher: np.ndarray, weight: float, hard_positives: list[str]) -> np.ndarray:
    """Training targets blended from the labels and the teacher's scores; for the ``hard_positives`` labels a
    positive window keeps its label (1), so the teacher moves only that label's negatives."""
    y = (1 - weight) * labels + weight * teacher
    for j in (LABELS.index(lab) for lab in hard_positives):
        y[labels[:, j] == 1, j] = 1.0
    return y


def label_list(cfg: FitConfig, name: str) -> list[str]:
    """The labels of the comma-separated FitConfig field ``name``; an unknown one is an error naming the field."""
    labels = [lab for lab in getattr(cfg, name).split(",") if lab]
    if unknown := set(labels) - set(LABELS):
        raise ValueError(f"FitConfig.{name}: unknown labels {sorted(unknown)}, expected some of {LABELS}")
    return labels


def pool_teacher_share(cfg: FitConfig) -> np.ndarray:
    """Per label, the pool's share of the teaching when both a teacher model and the pool's scores teach:
    ``cfg.pool_teacher_share`` for the labels in ``cfg.pool_teacher_labels`` (all when empty), else 0."""
    pooled = label_list(cfg, "pool_teacher_labels")
    return np.array([cfg.pool_teacher_share if not pooled or lab in pooled else 0.0 for lab in LABELS], np.float32)


def fit(
    pool: WindowPool,
    val: tuple[np.ndarray, np.ndarray],
    cfg: FitConfig,
    teacher: Callable[[np.ndarray], np.ndarray] | None = None,
) -> keras.Model:
    """Each epoch draws a class-balanced set from the pool; early stopping on validation loss.

    With a ``teacher`` (window features -> scores, e.g. the mean of several trained models) and
    ``cfg.distill`` > 0, the targets blend the labels with the teacher's scores on the very windows the
    student sees, masks included (consistent teaching: the teacher's soft scores say how bark-like this
    crop of a clip still is). A pool built with a scorer teaches with its scores of each window's audio
    (``WindowPool.teacher``: before the masks), alone or blended with the teacher model's
    (``cfg.pool_teacher_share``)."""
    import keras

    if cfg.distill and teacher is None and pool.teacher is None:  # else it would silently train on labels alone
        raise ValueError(f"FitConfig.distill={cfg.distill} needs a teacher (--yamnet-teacher, train.py --distill)")
    hard = label_list(cfg, "distill_hard_positives")
    share = pool_teacher_share(cfg)
    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.aux_weight and pool.aux is None:
        raise ValueError(f"FitConfig.aux_weight={cfg.aux_weight} needs a pool with aux scores")
    frames, mels = pool.feats.shape[-2:]
    model = model_for(cfg, frames, mels)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=[keras.metrics.AUC(multi_label=True, num_labels=len(LABELS), name="auc")],
    )
    trainer = with_aux_head(model, pool.aux.shape[1], cfg) if cfg.aux_weight else model
    floors = mic_floor_features(LogMel(), 256, rng) if cfg.level_shift_db else None
    lift = QuietLift(cfg.train_lift_target_db, cfg.train_lift_max_db) if cfg.train_lift_max_db else None
    if lift is not None:
        val = (lift(val[0]), val[1])
    best, best_loss, wait = None, np.inf, 0
    avg, n_avg = None, 0
    quiet = np.flatnonzero(pool.targets.sum(axis=1) == 0) if cfg.remix_p else None  # what remix lays under
    for epoch in range(cfg.epochs):
        x, y, taught, aux = pool.epoch(cfg.per_group, rng)
        if cfg.remix_p:  # every class, so that extra noise can never be a cue for one label
            pick = np.flatnonzero(rng.random(x.shape[0]) < cfg.remix_p)
            sub = x[pick]
            lay_under(
                sub,
                pool.feats[rng.choice(quiet, pick.size)].astype(np.float32),
                rng.uniform(cfg.remix_min_snr_db, cfg.remix_max_snr_db, pick.size),
            )
            x[pick] = sub
        if cfg.freq_masks:
            mask_bands(x, cfg.freq_masks, rng)
        if cfg.time_masks:
            mask_bands(x, cfg.time_masks, rng, max_width=10, axis=1)
        if cfg.level_shift_db:
            if cfg.level_shift_p >= 1:
                shift_level(x, cfg.level_shift_db, floors, rng)
            else:  # a fancy-indexed copy, shifted and written back
                pick = np.flatnonzero(rng.random(x.shape[0]) < cfg.level_shift_p)
                sub = x[pick]
                shift_level(sub, cfg.level_shift_db, floors, rng)
                x[pick] = sub
        if lift is not None:
            x = lift(x)
        if cfg.distill:  # a teacher model hears the very windows the student does; the pool's scores, their audio
            if teacher is not None and taught is not None:
                taught = (1 - share) * teacher(x) + share * taught
            y = distill_targets(y, teacher(x) if taught is None else taught, cfg.distill, hard)
        lr = cfg.learning_rate * 0.5 * (1 + np.cos(np.pi * epoch / cfg.epochs))  # cosine decay
        trainer.optimizer.learning_rate.assign(lr)
        h = trainer.fit(
            x[..., None],
            y if trainer is model else (y, aux),
            batch_size=cfg.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
        )
        val_loss, val_auc = model.evaluate(val[0][..., None], val[1], batch_size=256, verbose=0)
        cfg.history.append(
            {"epoch": epoch, "loss": h.history["loss"][0], "val_loss": val_loss, "val_auc": val_auc}
            | ({"aux_loss": h.history["aux_loss"][0]} if "aux_loss" in h.history else {})
        )
        if cfg.verbose:
            print(f"  epoch {epoch:2d} loss {h.history['loss'][0]:.4f} val_loss {val_loss:.4f} val_auc {val_auc:.4f}")
        if cfg.average_last and epoch >= cfg.epochs - cfg.average_last:  # a running mean, BN statistics too
            w = model.get_weights()
            n_avg += 1
            avg = w if avg is None else [a + (b - a) / n_avg for a, b in zip(avg, w)]
        if not cfg.patience:  # no early stopping: the cosine schedule ends at a low rate, keep the last
            continue
        if val_loss < best_loss - 1e-4:
            best, best_loss, wait = model.get_weights(), val_loss, 0
        else:
            wait += 1
            if wait >= cfg.patience:
                break
    if best is not None:
        model.set_weights(best)
    elif avg is not None:
        model.set_weights(avg)
        val_loss, val_auc = model.evaluate(val[0][..., None], val[1], batch_size=256, verbose=0)
        cfg.history.append({"epoch": cfg.epochs, "averaged_epochs": n_avg, "val_loss": val_loss, "val_auc": val_auc})
    return model


def with_aux_head(model: keras.Model, k: int, cfg: FitConfig) -> keras.Model:
    """``model`` (its weights shared) with a second output: k sigmoid scores from the same pooled features
    that the label head reads, trained towards a reference model's class scores. Only ``model`` is kept, so
    the head costs nothing at serving; what it leaves behind is features shaped by the reference's classes."""
    import keras
    from keras import layers

    pooled = model.get_layer("scores").input  # the dropout's output: the pooled features
    aux = layers.Dense(k, activation="sigmoid", name="aux")(pooled)
    trainer = keras.Model(model.input, [model.output, aux])
    trainer.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=[keras.losses.BinaryCrossentropy(label_smoothing=cfg.label_smoothing), keras.losses.BinaryCrossentropy()],
        loss_weights=[1.0, cfg.aux_weight],
    )
    return trainer


def predict_windows(model: keras.Model, feats: np.ndarray, lift: QuietLift | None = None) -> np.ndarray:
    """Float scores of log-mel windows, after the serving lift for quiet windows if the model has one."""
    return model.predict((lift(feats) if lift is not None else feats)[..., None], batch_size=512, verbose=0)
