#!/usr/bin/env python3
"""Build the only audio the project ships, from the shared corpus, by a fixed rule (no cherry-picking):

- detector/data/demo.flac: room noise with two barks, a stretch of speech and a crying baby, plus
  detector/data/demo.json with the true event times (used by the latency benchmark and tests);
- detector/data/positives/{bark,cry}/*.flac: short clips that `detector calibrate` mixes into a room's noise.

Sources are test-fold (5) recordings whose licenses allow redistribution; NOTICE credits them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from barkcry_train.data import read_manifest
from barkcry_train.windows import energetic_starts
from detector.audiofile import read_audio

ROOT = Path(__file__).resolve().parents[1]

FS = 16000
N_POSITIVES = 12
POSITIVE_S = 2.0


def rms(x):
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


def loudest(x: np.ndarray, seconds: float) -> np.ndarray:
    n = int(seconds * FS)
    if x.size <= n:
        return x
    s = energetic_starts(x, n, FS // 10, within_db=0.0)[0]
    return x[s : s + n]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "detector" / "data")
    a = ap.parse_args()
    clips = read_manifest(a.data / "manifest.csv")
    test = [c for c in clips if c.fold == 5]
    by = lambda label, source: sorted(
        (c for c in test if c.label == label and c.source == source),  # noqa: E731
        key=lambda c: c.path,
    )
    barks = [c for c in by("bark", "us8k") if c.duration_s >= 3.0]
    cries = [c for c in by("cry", "donateacry") if c.duration_s >= 5.0]
    noise = by("noise", "speechcommands")
    speech = by("negative", "speechcommands")
    used = []

    # Positives for calibration: the loudest 2 s of the first N clips of each label.
    for label, pool in (("bark", barks), ("cry", cries)):
        d = a.out / "positives" / label
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.flac"):
            old.unlink()
        for c in pool[:N_POSITIVES]:
            x = loudest(read_audio(a.data / c.path, FS), POSITIVE_S)
            sf.write(d / Path(c.path).name, x * (0.25 / max(np.abs(x).max(), 1e-6)), FS, subtype="PCM_16")
            used.append(c)

    # Demo: 24 s of kitchen-ish room noise at about -45 dBFS with events at known times.
    bed_clip = next(c for c in noise if "dishes" in c.origin) if any("dishes" in c.origin for c in noise) else noise[0]
    bed = read_audio(a.data / bed_clip.path, FS)[: 24 * FS]
    bed = bed * (10 ** (-45 / 20) / rms(bed))
    used.append(bed_clip)
    plan = [
        ("bark", barks[N_POSITIVES], 2.0, -22),
        ("negative", speech[0], 7.0, -24),
        ("bark", barks[N_POSITIVES + 1], 10.5, -22),
        ("cry", cries[N_POSITIVES], 15.0, -24),
    ]
    truth = []
    for label, c, at, level in plan:
        x = read_audio(a.data / c.path, FS)
        x = loudest(x, 4.0 if label != "negative" else 1.5)
        x = x * (10 ** (level / 20) / rms(x))
        s = int(at * FS)
        bed[s : s + x.size] += x[: bed.size - s]
        # Annotated onset and offset: the first and last 10 ms frame within 20 dB of the event's loudest frame.
        e = 10 * np.log10(np.mean(x[: x.size // 160 * 160].reshape(-1, 160) ** 2, axis=1) + 1e-12)
        active = np.flatnonzero(e >= e.max() - 20)
        truth.append(
            {
                "label": label,
                "start": round(at + active[0] * 0.01, 2),
                "end": round(at + (active[-1] + 1) * 0.01, 2),
                "source": c.path,
            }
        )
        used.append(c)
    bed = np.clip(bed, -1, 1)
    sf.write(a.out / "demo.flac", bed, FS, subtype="PCM_16")
    (a.out / "demo.json").write_text(json.dumps({"events": truth}, indent=1) + "\n")
    (a.out / "SOURCES.csv").write_text(
        "path,source,origin,license\n" + "".join(f'{c.path},{c.source},"{c.origin}","{c.license}"\n' for c in used)
    )
    total = sum(p.stat().st_size for p in a.out.rglob("*.flac"))
    print(f"wrote {a.out}/demo.flac and {sum(1 for _ in a.out.rglob('positives/*/*.flac'))} positives: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
