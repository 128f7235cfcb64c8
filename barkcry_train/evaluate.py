"""Clip-level test sets under home conditions (clean, noise at SNR, room + microphone), scored by max over windows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from detector.frontend import FrontendParams, LogMel
from detector.metrics import auc_interval, rate_at, roc_auc

from .augment import MIC_FLOOR_DBFS, Augmenter, fit_length, loudest_window_power, mix_at_snr, reverberate
from .data import LABELS, Clip

SNRS = (None, 20, 10, 5, 0, -5)  # None: clean
HOP_FRAMES = 25  # 0.25 s between analysis windows, as `detector scan`
MIN_HITS = 2  # consecutive windows, as the decider's default


CONTRAST_SPLIT_DB = 6.0  # below this contrast an event hardly stands out of its own recording


def contrast_db(x: np.ndarray, frame: int = 1600) -> float:
    """How far a clip's loudest 100 ms (at 16 kHz) stands above its median 100 ms, in dB. A bark recorded over
    its own street noise is low here before any test condition adds noise: the 'clean' test is not clean for it."""
    n = max(1, x.size // frame)  # whole frames; a clip shorter than one is zero-padded to one
    f = np.pad(x, (0, max(0, frame - x.size)))[: n * frame]
    e = 10 * np.log10(np.mean(np.square(f.reshape(n, frame), dtype=np.float64), axis=1) + 1e-12)
    return float(e.max() - np.median(e))


def edge_pad(p: FrontendParams) -> int:
    """Samples of silence put before and after every test clip, as `detector scan` pads a file
    (``FrontendParams.edge_pad``). A clip is a cut from a stream; without it, a bark in a clip's first 0.3 s
    lies in one window where a stream has it in three or four, and the decider, which wants two, cannot hear
    it (across sources, clean bark AUC 0.961 as cut, 0.999 padded)."""
    return p.edge_pad(HOP_FRAMES * p.hop_length)


def clip_windows(lm: LogMel, x: np.ndarray, hop_frames: int = HOP_FRAMES) -> np.ndarray:
    """All analysis windows of one clip: (n, window_frames, n_mels); a short clip is zero-padded."""
    p = lm.params
    if x.size < p.window_samples:
        x = np.pad(x, (0, p.window_samples - x.size))
    f = lm.compute(x)
    starts = list(range(0, f.shape[0] - p.window_frames + 1, hop_frames))
    if starts[-1] != f.shape[0] - p.window_frames:
        starts.append(f.shape[0] - p.window_frames)
    return np.stack([f[s : s + p.window_frames] for s in starts])


@dataclass
class Condition:
    name: str
    snr_db: float | None
    room_mic: bool
    level_dbfs: float | None = None  # the clip turned down to this loudest-second level over a quiet floor


CONDITIONS = [
    Condition(("room+mic " if rm else "") + ("clean" if s is None else f"{s:+d} dB"), s, rm)
    for rm in (False, True)
    for s in SNRS
]
# Far-away events: the clean clip turned down so that its loudest second sits at this level, over a
# microphone's own noise floor (white, -80 dBFS). The SNR stays high; only the absolute level falls.
LEVELS = (-35, -45)
LEVEL_CONDITIONS = [Condition(f"clean at {lv} dBFS", None, False, lv) for lv in LEVELS]


def condition_audio(
    clips, audio, lm: LogMel, noises, rirs, seed: int, cond: Condition, pad: int | None = None
) -> Iterator[np.ndarray]:
    """Each clip's audio as heard under ``cond``, in order. Every condition makes the same noise and room
    draws, so conditions differ only in what they do with them.

    Each clip is first put in ``pad`` samples of silence each side (default ``edge_pad``; 0: as cut) and the
    condition applied to the whole, as in a stream: the room's tail rings into the padding and the noise
    runs through it."""
    pad = edge_pad(lm.params) if pad is None else pad
    rng = np.random.default_rng(seed)
    mic = Augmenter(noises=[], rirs=[], rng=np.random.default_rng(seed + 1))
    floor_rng = np.random.default_rng(seed + 2)
    for c in clips:
        x = np.pad(audio[c.path].astype(np.float32), pad)
        noise = fit_length(noises[int(rng.integers(len(noises)))], x.size, rng)
        rir = rirs[int(rng.integers(len(rirs)))]
        if cond.room_mic:
            x = reverberate(x, rir)
        if cond.snr_db is not None:  # SNR relative to the event's loudest second, not the clip
            x = mix_at_snr(x, noise, cond.snr_db, loudest_window_power(x, lm.params.window_samples))
        if cond.room_mic:
            x = mic.mic(x)
        if cond.level_dbfs is not None:
            loud = loudest_window_power(x, lm.params.window_samples)
            x = x * np.float32(10 ** ((cond.level_dbfs - 10 * np.log10(loud)) / 20))
            x = x + floor_rng.normal(0, 10 ** (MIC_FLOOR_DBFS / 20), x.size).astype(np.float32)
        # A device cannot record beyond full scale: a mix that would (loud noise at -5 dB SNR) is
        # turned down as its gain would be. Left unphysical, it reached +39 dB log-mel, far outside
        # anything a microphone delivers, and saturated the int8 input.
        yield x / max(1.0, float(np.max(np.abs(x))))


@dataclass
class TestSet:
    """Features of every clip under every condition, computed once and shared by all models scored on it."""

    clips: list[Clip]
    feats: dict[str, list[np.ndarray]] = field(default_factory=dict)  # condition -> per-clip windows

    @classmethod
    def build(
        cls, clips, audio, lm: LogMel, noises, rirs, seed: int, conditions=CONDITIONS, pad: int | None = None
    ) -> TestSet:
        ts = cls(clips)
        for cond in conditions:
            ts.feats[cond.name] = [
                clip_windows(lm, x) for x in condition_audio(clips, audio, lm, noises, rirs, seed, cond, pad)
            ]
        return ts

    def _feature_lists(self) -> list[list[np.ndarray]]:
        """Each condition's feature list, a list that several conditions share (validation_clips' clean) once."""
        return list({id(per): per for per in self.feats.values()}.values())

    def all_windows(self) -> np.ndarray:
        """Every window of every clip under every condition, in one array."""
        return np.concatenate([w for per in self._feature_lists() for w in per])

    def window_parts(self) -> Iterator[np.ndarray]:
        """``all_windows`` one condition at a time."""
        for per in self._feature_lists():
            yield np.concatenate(per)

    def score(self, predict, min_hits: int = MIN_HITS) -> dict[str, np.ndarray]:
        """condition -> (n_clips, n_labels) clip scores, as the decider sees them: the best score that
        ``min_hits`` consecutive windows all reach (max over windows of their running minimum)."""
        res, done = {}, {}  # conditions that share one feature list (validation_clips' clean) are scored once
        for cond, per_clip in self.feats.items():
            if id(per_clip) not in done:
                s = predict(np.concatenate(per_clip))
                bounds = np.cumsum([0] + [w.shape[0] for w in per_clip])
                done[id(per_clip)] = np.stack(
                    [decision_score(s[a:b], min_hits) for a, b in zip(bounds[:-1], bounds[1:])]
                )
            res[cond] = done[id(per_clip)]
        return res


def decision_score(window_scores: np.ndarray, min_hits: int = MIN_HITS) -> np.ndarray:
    """Per label, the highest threshold at which ``min_hits`` consecutive windows would all be hits."""
    w = np.asarray(window_scores)
    k = min(min_hits, w.shape[0])
    runs = np.stack([w[i : w.shape[0] - k + 1 + i] for i in range(k)]).min(axis=0)
    return runs.max(axis=0)


def summarize(clips: list[Clip], scores: dict[str, np.ndarray], thresholds: dict[str, float]) -> dict:
    """Per label: AUC (with a 95 % interval over recordings), recall and FP rate per condition; FP rate per
    negative source and for music."""
    out: dict = {"conditions": {}, "fp_by_source": {}}
    recordings = np.array([c.recording for c in clips])
    for cond, s in scores.items():
        row = {}
        for j, lab in enumerate(LABELS):
            is_pos = np.array([c.label == lab for c in clips])
            is_neg = np.array([c.label not in LABELS for c in clips])
            keep = is_pos | is_neg  # the other label's clips are neither positive nor a false alarm here
            rec, fpr = rate_at(is_pos[keep], s[keep, j], thresholds[lab])
            tp, fp = rec * is_pos.sum(), fpr * is_neg.sum()
            row[lab] = {
                "auc": roc_auc(is_pos[keep], s[keep, j]),
                "recall": rec,
                "fpr": fpr,
                "auc_ci95": auc_interval(is_pos[keep], s[keep, j], recordings[keep], n_boot=1000),
                "precision": float(tp / (tp + fp)) if tp + fp else float("nan"),
                "n_pos": int(is_pos.sum()),
                "n_neg": int(is_neg.sum()),
            }
        out["conditions"][cond] = row
    clean = scores[CONDITIONS[0].name]
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        if c.label not in LABELS:
            groups.setdefault(c.source, []).append(i)
            if c.is_music:
                groups.setdefault("music (hard negative for cry)", []).append(i)
    for lab in LABELS:  # one label's score on the other label's clips
        for other in LABELS:
            if other != lab:
                groups.setdefault(f"{other} clips (confusion)", [i for i, c in enumerate(clips) if c.label == other])
    for g, idx in sorted(groups.items()):
        if not idx:
            continue
        out["fp_by_source"][g] = {
            lab: float((clean[idx, j] >= thresholds[lab]).mean()) for j, lab in enumerate(LABELS)
        } | {"n": len(idx)}
    return out
