#!/usr/bin/env python3
"""Three rooms built from the shared corpus, each calibrated with `detector calibrate --input`:

- quiet: the giulbia room tone;
- kitchen/appliance: dish-washing, running tap and exercise-bike noise, with appliance sounds
  (air conditioner, engine idling, drilling, household sound effects) laid over it;
- street/TV: street music, car horns, sirens and speech in many languages over traffic-like noise.

Events laid over the beds come from folds 4-5 only (never trained on). Writes reports/calibration_rooms.md.

    python -m scripts.calibration_rooms [--minutes 5]
    python -m scripts.calibration_rooms --event-folds 4 --seed 1 --model M.tflite --json rooms.json --out rooms.md
        # rooms of fold-4 events only (validation), another draw; the rows as JSON too
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from barkcry_train.data import read_manifest
from barkcry_train.rooms import FS, ROOMS, build_room

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "calibration_rooms.md")
    ap.add_argument(
        "--model", type=Path, help="a candidate model (.tflite beside its .json) instead of the shipped one"
    )
    ap.add_argument("--event-folds", default="4,5", help="the folds the negative events laid over the beds come from")
    ap.add_argument("--seed", type=int, default=0, help="the draw of events, their levels and places")
    ap.add_argument("--json", type=Path, help="also write the rows here, as JSON")
    a = ap.parse_args(argv)
    folds = tuple(int(f) for f in a.event_folds.split(","))
    clips = read_manifest(a.data / "manifest.csv")
    rng = np.random.default_rng(a.seed)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "c.yaml"
        model = f"model: {a.model.resolve()}\n" if a.model else ""  # else the shipped one
        cfg.write_text(f"state_dir: {d}\nmqtt:\n  enabled: false\n{model}")
        for name, spec in ROOMS.items():
            x = build_room(clips, a.data, seconds=a.minutes * 60, rng=rng, event_folds=folds, **spec)
            wav = Path(d) / (name.replace("/", "_") + ".flac")
            sf.write(wav, x, FS)
            out = Path(d) / name.replace("/", "_")
            # --seconds: calibrate stops a recording there (default 300 s), and the room is longer.
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "detector.cli",
                    "--config",
                    str(cfg),
                    "calibrate",
                    "--input",
                    str(wav),
                    "--seconds",
                    str(a.minutes * 60),
                    "--out",
                    str(out),
                    "--no-keep",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if r.returncode:
                print(r.stderr, file=sys.stderr)
                return 1
            res = json.loads((out / "calibration.json").read_text())
            for lab, v in res["labels"].items():
                rows.append((name, res["dbfs_percentiles"]["50"], lab, v))
    lines = [
        "# Calibration in three rooms built from the shared corpus",
        "",
        f"Command: `python -m scripts.calibration_rooms --minutes {a.minutes:g}"
        + (f" --model {a.model}" if a.model else "")
        + (f" --event-folds {a.event_folds} --seed {a.seed}" if (folds, a.seed) != ((4, 5), 0) else "")
        + "`. Each room is "
        f"{a.minutes:g} min; recall is on the bundled positives mixed in at the SNR the room implies.",
        "",
        "| room | median level | label | room SNR | FA/h default | FA/h suggested | recall default | "
        "recall suggested | threshold default -> suggested | verdict |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, level, lab, v in rows:
        lines.append(
            f"| {name} | {level:.1f} dBFS | {lab} | {v['room_snr_db']:.1f} dB | "
            f"{v['false_alarms_per_hour_default']:.0f} | {v['false_alarms_per_hour_suggested']:.0f} | "
            f"{100 * v['recall_default']:.0f} % | {100 * v['recall_suggested']:.0f} % | "
            f"{v['default_threshold']:.2f} -> {v['suggested']:.2f} | {v['advice']} |"
        )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    if a.json:
        a.json.write_text(
            json.dumps([{"room": name, "median_dbfs": level, "label": lab} | v for name, level, lab, v in rows])
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
