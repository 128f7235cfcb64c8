"""Calibration's measurements: false alarms in the recorded room at each threshold, recall on the bundled
positives laid into it, the level gate, and the thresholds to suggest."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..audiofile import read_audio
from ..config import Config
from ..confirm import confirm_thresholds
from ..decision import LabelPolicy
from ..frontend import LogMel
from ..model import Classifier
from ..pipeline import Window, dbfs
from ..replay import CachedYamnet, replay
from ..scan import window_scores
from .capture import Recording

BUNDLED_POSITIVES = Path(__file__).resolve().parents[1] / "data" / "positives"
# Typical level of the loudest second of a bark or a cry 2-4 m from a USB microphone at default gain.
# An assumption, not a measurement of this room: the report says so, and --event-dbfs overrides it.
TYPICAL_EVENT_DBFS = {"bark": -22.0, "cry": -28.0}
NEAR_EVENT_MAX_DBFS = -20.0  # loudest-second level of a close event, with headroom for its peaks
MAX_FA_PER_HOUR = 1.0
THRESHOLDS = np.round(np.arange(0.05, 0.995, 0.01), 2)


@dataclass
class LabelResult:
    label: str
    default_threshold: float
    false_alarms_default: int
    worst: list[tuple[float, float]]  # (time s, smoothed score) of the loudest offenders
    suggested: float
    false_alarms_suggested: int
    recall_default: float
    recall_suggested: float
    room_snr_db: float
    near_snr_db: float  # the same sounds as from a closer microphone: up to 20 dB louder, below clipping
    recall_near: float  # recall at the suggested threshold at near_snr_db
    feasible: bool
    advice: str
    grid: list[float] = field(default_factory=list)
    fa_curve: list[int] = field(default_factory=list)
    recall_curve: list[float] = field(default_factory=list)


def starts(
    windows: list[Window],
    label: str,
    policy: LabelPolicy,
    window_s: float,
    rate: int,
    audio: np.ndarray | None = None,
    second: CachedYamnet | None = None,
    confirm: dict[str, float] | None = None,
) -> list:
    """Event starts the real decider raises for one label over a sequence of windows, each confirmed by the
    second opinion on ``audio`` (at ``rate``) when ``confirm`` names the label."""
    return [e for e in replay(windows, {label: policy}, window_s, audio, rate, second, confirm) if e.state == "start"]


GATE_STEPS_DB = (0.0, 3.0, 6.0, 10.0, 15.0)  # event levels above the room's median noise, tried for the gate


def quietest_found(
    cfg: Config,
    clf: Classifier,
    x: np.ndarray,
    positives: dict[str, list[np.ndarray]],
    noise_db: float,
    policies: dict[str, LabelPolicy],
    window_s: float,
    second: CachedYamnet | None,
    confirm: dict[str, float],
    rng: np.random.Generator,
) -> float | None:
    """The quietest level (loudest second, dBFS) at which the detector as configured, level gate aside,
    still finds any of the bundled positives laid into this room: a gate above it would lose far-away
    events that are found today. None if none is found at any of the levels tried."""
    rate = clf.frontend.sample_rate
    for step in GATE_STEPS_DB:
        for lab, sounds in positives.items():
            if not sounds or lab not in policies:
                continue
            ungated = replace(policies[lab], min_dbfs=-120.0)
            mixes = mix_positives(x, sounds, step, rng, clf.frontend.sample_rate)
            found = [
                bool(starts(window_scores(cfg, clf, m), lab, ungated, window_s, rate, m, second, confirm))
                for m in mixes
            ]
            if any(found):
                return round(noise_db + step, 1)
    return None


def level_gate(noise_db: float, quietest_found_db: float | None, quietest_typical_db: float, now_db: float) -> float:
    """``min_dbfs`` for this room: 6 dB over the median noise, but never above a level where events are still
    found (3 dB under it) nor near the typical events (10 dB under them), and never below the gate now."""
    gate = min(noise_db + 6.0, quietest_typical_db - 10.0)
    if quietest_found_db is not None:
        gate = min(gate, quietest_found_db - 3.0)
    return round(max(gate, now_db), 1)


def mix_positives(
    noise: np.ndarray, positives: list[np.ndarray], snr_db: float, rng: np.random.Generator, rate: int
) -> list[np.ndarray]:
    """Each positive laid into a random stretch of the room's noise at ``snr_db`` (loudest second vs noise RMS)."""
    out, sec = [], rate
    for p in positives:
        n = p.size + 2 * sec  # 1 s of room before and after
        start = int(rng.integers(0, max(1, noise.size - n)))
        bed = noise[start : start + n]
        if bed.size < n:
            bed = np.resize(noise, n)
        seg = bed.astype(np.float32).copy()
        sig_db = max(dbfs(p[i : i + sec]) for i in range(0, max(1, p.size - sec + 1), sec // 4))
        noise_db = dbfs(bed)
        gain = 10 ** ((noise_db + snr_db - sig_db) / 20)
        seg[sec : sec + p.size] += gain * p
        out.append(np.clip(seg, -1, 1))
    return out


def load_positives(folder: Path, labels: list[str], rate: int) -> dict[str, list[np.ndarray]]:
    out = {}
    for lab in labels:
        files = sorted((folder / lab).glob("*.flac")) + sorted((folder / lab).glob("*.wav"))
        out[lab] = [read_audio(f, rate) for f in files]
    return out


def analyse(
    cfg: Config,
    clf: Classifier,
    rec: Recording,
    positives: dict[str, list[np.ndarray]],
    event_dbfs: dict[str, float],
    seed: int = 0,
    second: CachedYamnet | None = None,
) -> tuple[dict, list[LabelResult]]:
    """``second``: count the events the second opinion confirms (the product's), or None for the small
    model alone."""
    confirm = confirm_thresholds(cfg, clf, second.model if second is not None else None)
    x = rec.samples
    block = rec.rate // 10
    levels = np.array([dbfs(x[i : i + block]) for i in range(0, x.size - block + 1, block)])
    stats = {
        "seconds": rec.seconds,
        "device": rec.device,
        "rate": rec.rate,
        "overflows": rec.overflows,
        "dbfs_percentiles": {str(q): float(np.percentile(levels, q)) for q in (5, 25, 50, 75, 95, 99)},
        "dbfs_max": float(levels.max()),
        "clipped_samples": int(np.sum(np.abs(x) >= 32767 / 32768)),
        "dc_offset": float(np.mean(x)),
        "mel_spectrum_db": LogMel(clf.frontend).compute(x).mean(axis=0).tolist(),
        "second_opinion": confirm or None,
    }
    noise_db = stats["dbfs_percentiles"]["50"]
    hours = rec.seconds / 3600
    window_s = clf.frontend.window_samples / clf.frontend.sample_rate
    base_policies = cfg.detection.policies(clf.thresholds_for(confirm))

    noise_windows = window_scores(cfg, clf, x)
    rng = np.random.default_rng(seed)
    floor = quietest_found(
        cfg, clf, x, positives, noise_db, base_policies, window_s, second, confirm, np.random.default_rng(seed + 1)
    )
    gate = level_gate(noise_db, floor, min(event_dbfs.values()), cfg.detection.min_dbfs)
    stats["suggested_min_dbfs"], stats["quietest_found_dbfs"] = gate, floor
    stats["min_dbfs_now"] = cfg.detection.min_dbfs
    results = []
    for lab in clf.labels:
        base = base_policies[lab]

        def started(windows, audio, policy, lab=lab):
            return starts(windows, lab, policy, window_s, rec.rate, audio, second, confirm)

        snr = event_dbfs[lab] - noise_db
        same_places = copy.deepcopy(rng)  # replays the placements the next line draws
        mixes = mix_positives(x, positives.get(lab, []), snr, rng, rec.rate)
        mix_windows = [window_scores(cfg, clf, m) for m in mixes]
        # Whether a closer microphone would help: the same sounds at the same places in the recording,
        # 20 dB louder (ten times closer in free field), their loudest second at most -20 dBFS (peaks unclipped).
        near_snr = min(snr + 20.0, NEAR_EVENT_MAX_DBFS - noise_db)
        near_mixes = mix_positives(x, positives.get(lab, []), near_snr, same_places, rec.rate)
        near_windows = [window_scores(cfg, clf, m) for m in near_mixes]

        def policy(t, gate_db=None):
            on = float(t)
            return LabelPolicy(
                on=on,
                off=min(base.off, on),
                min_hits=base.min_hits,
                hold_s=base.hold_s,
                smoothing=base.smoothing,
                min_dbfs=base.min_dbfs if gate_db is None else gate_db,
            )

        grid = np.unique(np.concatenate([THRESHOLDS, [base.on]]))
        fa_curve = [len(started(noise_windows, x, policy(t, gate))) for t in grid]
        rec_curve = [
            float(np.mean([bool(started(w, m, policy(t, gate))) for w, m in zip(mix_windows, mixes)]))
            if mix_windows
            else float("nan")
            for t in grid
        ]
        fa_default = started(noise_windows, x, base)
        # <= 1 false alarm per hour: on a short recording that means none at all in it.
        allowed = int(np.floor(MAX_FA_PER_HOUR * hours))
        # Calibration only ever tightens: a quiet room does not prove the model safe on sounds it never played.
        ok = [i for i, fa in enumerate(fa_curve) if fa <= allowed and grid[i] >= base.on]
        i_sug = ok[0] if ok else len(grid) - 1
        suggested = float(grid[i_sug])
        r_default = (
            float(np.mean([bool(started(w, m, base)) for w, m in zip(mix_windows, mixes)]))
            if mix_windows
            else float("nan")
        )
        r_sug = rec_curve[i_sug]
        r_near = (
            float(np.mean([bool(started(w, m, policy(suggested, gate))) for w, m in zip(near_windows, near_mixes)]))
            if near_windows
            else float("nan")
        )
        worst = sorted(((e.start, e.score) for e in fa_default), key=lambda s: -s[1])[:5]
        feasible = bool(ok) and r_sug >= 0.8
        if not ok:
            advice = (
                f"no threshold keeps {lab} false alarms at <= {MAX_FA_PER_HOUR:g}/h in this room: "
                "move the microphone away from the noise source"
            )
        elif r_sug < 0.8 and r_near < 0.8:  # louder does not help: the misses are the model's, not the room's
            advice = (
                f"{lab} recall at {MAX_FA_PER_HOUR:g} false alarm/h would be {100 * r_sug:.0f} %, and "
                f"{100 * r_near:.0f} % at {near_snr:.0f} dB SNR: the model misses some of these sounds "
                "wherever the microphone is"
            )
        elif r_sug < 0.8:
            advice = (
                f"{lab} recall at {MAX_FA_PER_HOUR:g} false alarm/h would be {100 * r_sug:.0f} %, "
                f"{100 * r_near:.0f} % at {near_snr:.0f} dB SNR: move the microphone closer to where the "
                "dog or the baby is"
            )
        else:
            advice = f"{lab}: feasible, recall {100 * r_sug:.0f} % at the suggested threshold"
        results.append(
            LabelResult(
                lab,
                base.on,
                len(fa_default),
                worst,
                suggested,
                fa_curve[i_sug],
                r_default,
                r_sug,
                snr,
                near_snr,
                r_near,
                feasible,
                advice,
                grid.tolist(),
                fa_curve,
                rec_curve,
            )
        )
    return stats, results


def suggestion_yaml(stats: dict, results: list[LabelResult]) -> dict:
    return {
        "detection": {
            "min_dbfs": stats["suggested_min_dbfs"],
            "labels": {r.label: {"on_threshold": round(r.suggested, 2)} for r in results},
        }
    }
