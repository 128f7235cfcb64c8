#!/usr/bin/env python3
"""Benchmarks, each reported against a reference measured in the same run (never timed unit tests).

1. Frontend: one streaming hop (only the new frames) against librosa recomputing the 1 s window.
2. Model: int8 invoke time with the real runtime, against the frontend hop measured above and
   against the 0.25 s budget between windows; MACs from the sidecar.
3. Pipeline: CPU seconds per second of audio while replaying the demo paced in real time
   (the Pi's situation), and the same audio as fast as possible.
4. Peak RSS of `detector run` in a separate process (runtime imports only).
5. Event latency: true onset in the demo -> receipt by an MQTT subscriber (real mosquitto), p50/p95.

    python bench/run.py [--repeats 3] [--out reports/bench.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from detector.audio import FileSource  # noqa: E402
from detector.config import Config, MQTTConfig  # noqa: E402
from detector.frontend import LogMel  # noqa: E402
from detector.model import Classifier  # noqa: E402
from detector.scan import make_pipeline  # noqa: E402

DEMO = ROOT / "detector" / "data" / "demo.flac"
TRUTH = json.loads((ROOT / "detector" / "data" / "demo.json").read_text())["events"]


def timeit(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out


def bench_frontend(lines: list[str]) -> None:
    import librosa

    lm = LogMel()
    p = lm.params
    x = np.random.default_rng(0).standard_normal(16000 * 4).astype(np.float32) * 0.1
    lm.push(x[: p.window_samples])
    hop = x[p.window_samples : p.window_samples + 4000]  # 0.25 s: the detector's hop
    ours = timeit(lambda: lm.push(hop), 400)
    win = x[: p.window_samples]

    def ref():
        S = librosa.feature.melspectrogram(y=win, sr=16000, n_fft=512, hop_length=160, win_length=400,
                                           center=False, n_mels=64, fmin=p.fmin, fmax=p.fmax)
        librosa.power_to_db(S, amin=p.amin, top_db=None)

    ref()  # first call builds caches
    theirs = timeit(ref, 100)
    batch = timeit(lambda: lm.compute(win), 200)
    lines += ["## Frontend", "",
              "| what | median | ratio |", "|---|---:|---:|",
              f"| librosa, recompute the 1 s window (reference) | {np.median(theirs) * 1e3:.3f} ms | 1.00 |",
              f"| ours, batch over the 1 s window | {np.median(batch) * 1e3:.3f} ms | "
              f"{np.median(batch) / np.median(theirs):.2f} |",
              f"| ours, streaming hop of 0.25 s (25 new frames) | {np.median(ours) * 1e3:.3f} ms | "
              f"{np.median(ours) / np.median(theirs):.2f} |", ""]


def bench_model(lines: list[str], clf: Classifier) -> None:
    w = np.random.default_rng(0).uniform(-90, -20, (98, 64)).astype(np.float32)
    clf.scores(w)
    t = timeit(lambda: clf.scores(w), 2000)
    sc = clf.sidecar.extra
    budget = 0.25
    lines += ["## Model", "",
              f"- runtime: {type(clf._interp).__module__}; int8 model {clf.path.stat().st_size} bytes, "
              f"{sc.get('model', {}).get('macs_per_window', 'n/a')} MACs per window",
              f"- invoke (quantise + run + dequantise), one thread: median {np.median(t) * 1e3:.3f} ms, "
              f"p95 {np.quantile(t, 0.95) * 1e3:.3f} ms over {t.size} windows "
              f"({100 * np.median(t) / budget:.2f} % of the {budget} s between windows)"]
    if clf.lift is not None:  # part of every invoke: the window's level, and its gain when it is quiet
        tl = timeit(lambda: clf.lift(w), 2000)
        lines.append(f"- of which the quiet-window lift (`detector.level.QuietLift`): median {np.median(tl) * 1e3:.3f} ms")
    lines.append("")


def bench_pipeline(lines: list[str], clf: Classifier) -> None:
    cfg = Config()
    results = []
    for realtime in (True, False):
        src = FileSource(DEMO, 16000, block_s=0.1, realtime=realtime)
        pipe = make_pipeline(cfg, clf, [])
        wall, cpu = time.perf_counter(), time.process_time()
        pipe.run(src.blocks())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        audio_s = src.samples.size / 16000
        results.append((realtime, audio_s, wall, cpu))
    lines += ["## Pipeline (frontend + model + decider; the capture callback only copies)", "",
              "| replay | audio | wall | CPU | CPU per second of audio | share of one core |", "|---|---:|---:|---:|---:|---:|"]
    for realtime, audio_s, wall, cpu in results:
        lines.append(f"| {'real-time paced' if realtime else 'as fast as possible'} | {audio_s:.1f} s | {wall:.2f} s | "
                     f"{cpu:.3f} s | {cpu / audio_s * 1e3:.1f} ms | {100 * cpu / audio_s:.2f} % |")
    lines.append("")


def bench_rss(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "c.yaml"
        cfg.write_text("mqtt:\n  enabled: false\n")
        code = ("import resource, subprocess, sys; r = subprocess.run([sys.executable, '-m', 'detector.cli', "
                f"'--config', '{cfg}', 'run', '--input', '{DEMO}', '--fast'], capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        kb = int(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout.strip())
        base = int(subprocess.run([sys.executable, "-c", "import resource, subprocess, sys; subprocess.run([sys.executable,"
                                   " '-c', 'import numpy']); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"],
                                  capture_output=True, text=True).stdout.strip())
    lines += ["## Memory", "", f"- peak RSS of `detector run --input demo.flac --fast`: {kb / 1024:.1f} MB "
              f"(a bare `python -c 'import numpy'` in the same run: {base / 1024:.1f} MB)", ""]


def bench_latency(lines: list[str], clf: Classifier, repeats: int) -> None:
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        lines += ["## Latency", "", "- skipped: mosquitto is not installed", ""]
        return
    from broker import Broker, free_port

    from detector.sinks.mqtt import MqttSink

    lat = []
    with tempfile.TemporaryDirectory() as d:
        b = Broker(Path(d), free_port()).start()
        try:
            for _ in range(repeats):
                got: list[tuple[float, dict]] = []
                sub = b.client()
                sub.on_message = lambda c, u, m: got.append((time.time(), json.loads(m.payload)))
                sub.on_connect = lambda c, u, f, rc, p: c.subscribe("barkcry/bench/event", qos=1)
                sub.connect("127.0.0.1", b.port)
                sub.loop_start()
                time.sleep(0.3)
                cfg = Config(mqtt=MQTTConfig(host="127.0.0.1", port=b.port, device_id="bench"))
                sink = MqttSink(cfg.mqtt, clf.labels)
                sink.start()
                sink.wait_connected(5)
                pipe = make_pipeline(cfg, clf, [sink])
                t0 = time.time()  # stream time 0 = when the replay starts
                src = FileSource(DEMO, 16000, block_s=0.1, realtime=True)
                pipe.run(src.blocks())
                sink.close(5)
                time.sleep(0.3)
                sub.loop_stop()
                sub.disconnect()
                for t in TRUTH:
                    if t["label"] == "negative":
                        continue
                    starts = [rx for rx, e in got if e["label"] == t["label"] and e["state"] == "start"
                              and rx >= t0 + t["start"] - 0.5]
                    if starts:
                        lat.append(min(starts) - (t0 + t["start"]))
        finally:
            b.stop()
    lat = np.array(lat)
    lines += ["## Event latency (true onset in the demo -> MQTT subscriber receives the start)", "",
              f"- {lat.size} onsets over {repeats} real-time replays: p50 {np.median(lat):.2f} s, "
              f"p95 {np.quantile(lat, 0.95):.2f} s (1 s window, 0.25 s hop, min_hits 2)", ""]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.md")
    a = ap.parse_args()
    clf = Classifier(num_threads=1)
    lines = ["# Benchmarks", "", f"Machine: {os.cpu_count()} cores, {os.uname().machine}, Python {sys.version.split()[0]}; "
             f"command: `python bench/run.py --repeats {a.repeats}`", ""]
    bench_frontend(lines)
    bench_model(lines, clf)
    bench_pipeline(lines, clf)
    bench_rss(lines)
    bench_latency(lines, clf, a.repeats)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

