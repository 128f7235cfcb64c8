#!/usr/bin/env python3
"""What running it for months costs: CPU seconds per second of audio of the whole service (`serve`, the
function `detector run` runs) over the demo repeated to --minutes, paced in real time as a microphone
delivers it, with everything for Home Assistant on (MQTT to a real local mosquitto with discovery, the
event history, episodes, the loud-sound sensor, statistics, controls, the problem sensor, Prometheus
metrics) against the same replay with those off (no broker, no history, no episodes, no loud sensor, no
metrics), alternating in one process, --repeats times each; medians. Threads count: the CPU is the
process's.

    python -m bench.ops [--minutes 1] [--repeats 2] [--out reports/ops.md]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `detector` runs

import numpy as np
import soundfile as sf

from bench.ratio import ratio_table
from detector.audio import FileSource
from detector.audiofile import read_audio
from detector.config import (
    Config,
    HistoryConfig,
    LoudConfig,
    MetricsConfig,
    MQTTConfig,
)
from detector.model import Classifier
from detector.service import serve
from scripts.broker import Broker, free_port

ROOT = Path(__file__).resolve().parents[1]

DEMO = ROOT / "detector" / "data" / "demo.flac"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "ops.md")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="barkcry-ops-bench-"))
    broker = Broker(tmp, free_port()).start()
    try:
        audio = tmp / "long.flac"
        x = read_audio(DEMO, 16000)
        sf.write(audio, np.resize(x, int(a.minutes * 60 * 16000)), 16000)
        seconds = a.minutes * 60
        clf = Classifier(Config().model_path())

        def run(on: bool, i: int) -> float:
            state = tmp / f"state-{on}-{i}"
            cfg = Config(state_dir=str(state))
            cfg.mqtt = MQTTConfig(enabled=on, host="127.0.0.1", port=broker.port, device_id=f"bench{i}")
            cfg.history = HistoryConfig(enabled=on)
            if on:
                cfg.loud = LoudConfig(enabled=True)
                cfg.metrics = MetricsConfig(enabled=True, port=free_port())
            else:
                cfg.episodes = {}
            t = time.process_time()
            serve(cfg, clf, FileSource(audio, 16000, cfg.audio.block_s, realtime=True), True, io.StringIO())
            return (time.process_time() - t) / seconds

        off, on = [], []
        for i in range(a.repeats):
            off.append(run(False, i))
            on.append(run(True, i))
            print(f"  repeat {i + 1}: off {off[-1]:.4f}, on {on[-1]:.4f}", file=sys.stderr, flush=True)
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    L = [
        "# Running it for months: the cost of everything for Home Assistant",
        "",
        f"Command: `python -m bench.ops --minutes {a.minutes:g} --repeats {a.repeats}`. The whole service (`serve`) "
        f"over the demo repeated to {a.minutes:g} min, paced in real time, with MQTT (a real local mosquitto, "
        "discovery), the event history, episodes, the loud-sound sensor, statistics, controls, the problem sensor "
        "and Prometheus metrics on, against the same replay with them off; alternating in one process, medians. "
        "CPU is the process's, threads included. The problem sensor's and the controls' checks run in both; "
        "with no broker they publish nothing.",
        "",
        *ratio_table("off", "on", off, on),
        "",
    ]
    a.out.write_text("\n".join(L))
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
