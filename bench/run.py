#!/usr/bin/env python3
"""Benchmarks, each reported against a reference measured in the same run (never timed unit tests).

1. Frontend: one streaming hop (only the new frames) against librosa recomputing the 1 s window.
2. Model: int8 invoke time with the real runtime, against the frontend hop measured above and
   against the 0.25 s budget between windows; MACs from the sidecar.
3. Pipeline: CPU seconds per second of audio while replaying the demo paced in real time
   (the Pi's situation), and the same audio as fast as possible.
4. Peak RSS of `detector run` in a separate process (runtime imports only).
5. Event latency: true onset in the demo -> receipt by an MQTT subscriber (real mosquitto), p50/p95,
   with the second opinion and without it; and how far each event's start time is from the onset.
6. The second opinion: CPU per second of audio of the whole pipeline with it and without it, on a
   household bed (fold-5 negatives, no bark or cry) and on the demo; YAMNet's time per patch.

    python -m bench.run [--repeats 3] [--data ../shared/data] [--out reports/bench.md]
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

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `detector` runs (detector/cli.py), before numpy loads

import numpy as np

from detector.audio import FileSource
from detector.config import Config, MQTTConfig
from detector.confirm import load_second_opinion
from detector.frontend import LogMel
from detector.model import Classifier
from detector.pipeline import make_pipeline
from detector.sinks import Sink
from detector.yamnet import Yamnet

ROOT = Path(__file__).resolve().parents[1]

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
        S = librosa.feature.melspectrogram(
            y=win,
            sr=16000,
            n_fft=512,
            hop_length=160,
            win_length=400,
            center=False,
            n_mels=64,
            fmin=p.fmin,
            fmax=p.fmax,
        )
        librosa.power_to_db(S, amin=p.amin, top_db=None)

    ref()  # first call builds caches
    theirs = timeit(ref, 100)
    batch = timeit(lambda: lm.compute(win), 200)
    lines += [
        "## Frontend",
        "",
        "| what | median | ratio |",
        "|---|---:|---:|",
        f"| librosa, recompute the 1 s window (reference) | {np.median(theirs) * 1e3:.3f} ms | 1.00 |",
        f"| ours, batch over the 1 s window | {np.median(batch) * 1e3:.3f} ms | "
        f"{np.median(batch) / np.median(theirs):.2f} |",
        f"| ours, streaming hop of 0.25 s (25 new frames) | {np.median(ours) * 1e3:.3f} ms | "
        f"{np.median(ours) / np.median(theirs):.2f} |",
        "",
    ]


def bench_model(lines: list[str], clf: Classifier) -> None:
    w = np.random.default_rng(0).uniform(-90, -20, (98, 64)).astype(np.float32)
    clf.scores(w)
    t = timeit(lambda: clf.scores(w), 2000)
    sc = clf.sidecar.extra
    budget = 0.25
    lines += [
        "## Model",
        "",
        f"- runtime: {type(clf._interp).__module__}; int8 model {clf.path.stat().st_size} bytes, "
        f"{sc.get('model', {}).get('macs_per_window', 'n/a')} MACs per window",
        f"- invoke (quantise + run + dequantise), one thread: median {np.median(t) * 1e3:.3f} ms, "
        f"p95 {np.quantile(t, 0.95) * 1e3:.3f} ms over {t.size} windows "
        f"({100 * np.median(t) / budget:.2f} % of the {budget} s between windows)",
    ]
    with tempfile.TemporaryDirectory() as d:  # the same model without its embedding output, for the cost of it
        from barkcry_train.outputs import without_output

        old = Path(d) / "old.tflite"
        old.write_bytes(without_output(clf.path.read_bytes(), clf.sidecar.extra["outputs"]["embedding"]))
        side = dict(clf.sidecar.to_dict())
        side.pop("outputs")
        old.with_suffix(".json").write_text(json.dumps(side))
        before = Classifier(old, num_threads=1)
        before.scores(w)
        t_before = timeit(lambda: before.scores(w), 2000)
        t_after = timeit(lambda: (clf.scores(w), clf.embedding()), 2000)
    lines.append(
        f"- with the 80-d embedding read from the same invoke: median {np.median(t_after) * 1e3:.3f} ms, "
        f"against {np.median(t_before) * 1e3:.3f} ms for the same model without that output "
        f"(ratio {np.median(t_after) / np.median(t_before):.2f})"
    )
    if clf.lift is not None:  # part of every invoke: the window's level, and its gain when it is quiet
        tl = timeit(lambda: clf.lift(w), 2000)
        lines.append(
            f"- of which the quiet-window lift (`detector.level.QuietLift`): median {np.median(tl) * 1e3:.3f} ms"
        )
    lines.append("")


def bench_pipeline(lines: list[str], clf: Classifier) -> None:
    cfg = Config()
    results = []
    for realtime in (True, False):
        src = FileSource(DEMO, 16000, block_s=0.1, realtime=realtime)
        pipe = make_pipeline(cfg, clf, [])  # the small model alone
        wall, cpu = time.perf_counter(), time.process_time()
        pipe.run(src.blocks())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        audio_s = src.samples.size / 16000
        results.append((realtime, audio_s, wall, cpu))
    lines += [
        "## Pipeline (frontend + model + decider; the capture callback only copies)",
        "",
        "| replay | audio | wall | CPU | CPU per second of audio | share of one core |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for realtime, audio_s, wall, cpu in results:
        lines.append(
            f"| {'real-time paced' if realtime else 'as fast as possible'} | {audio_s:.1f} s | {wall:.2f} s | "
            f"{cpu:.3f} s | {cpu / audio_s * 1e3:.1f} ms | {100 * cpu / audio_s:.2f} % |"
        )
    lines.append("")


def bench_rss(lines: list[str]) -> None:
    kb = {}
    with tempfile.TemporaryDirectory() as d:
        for second in (False, True):
            cfg = Path(d) / "c.yaml"
            cfg.write_text(f"mqtt:\n  enabled: false\nsecond_opinion:\n  enabled: {str(second).lower()}\n")
            code = (
                "import resource, subprocess, sys; r = subprocess.run([sys.executable, '-m', 'detector.cli', "
                f"'--config', '{cfg}', 'run', '--input', '{DEMO}', '--fast'], capture_output=True); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            )
            kb[second] = int(
                subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout.strip()
            )
        base = int(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import resource, subprocess, sys; subprocess.run([sys.executable,"
                    " '-c', 'import numpy']); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                ],
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    lines += [
        "## Memory",
        "",
        f"- peak RSS of `detector run --input demo.flac --fast`: {kb[True] / 1024:.1f} MB with the second opinion "
        f"(YAMNet loaded), {kb[False] / 1024:.1f} MB without it "
        f"(a bare `python -c 'import numpy'` in the same run: {base / 1024:.1f} MB)",
        "",
    ]


def bench_latency(lines: list[str], clf: Classifier, repeats: int) -> None:
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        lines += ["## Latency", "", "- skipped: mosquitto is not installed", ""]
        return
    from detector.sinks.mqtt import MqttSink
    from scripts.broker import Broker, free_port

    rows = []
    with tempfile.TemporaryDirectory() as d:
        b = Broker(Path(d), free_port()).start()
        try:
            for second in (False, True):
                lat, err = [], []
                for _ in range(repeats):
                    got: list[tuple[float, dict]] = []
                    sub = b.client()
                    sub.on_message = lambda c, u, m: got.append((time.time(), json.loads(m.payload)))
                    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("barkcry/bench/event", qos=1)
                    sub.connect("127.0.0.1", b.port)
                    sub.loop_start()
                    time.sleep(0.3)
                    cfg = Config(mqtt=MQTTConfig(host="127.0.0.1", port=b.port, device_id="bench"))
                    cfg.second_opinion.enabled = second
                    sink = MqttSink(cfg.mqtt, clf.labels)
                    sink.start()
                    sink.wait_connected(5)
                    pipe = make_pipeline(cfg, clf, [sink], load_second_opinion(cfg))
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
                        starts = [
                            (rx, e)
                            for rx, e in got
                            if e["label"] == t["label"] and e["state"] == "start" and rx >= t0 + t["start"] - 0.5
                        ]
                        if starts:
                            rx, e = min(starts, key=lambda s: s[0])
                            lat.append(rx - (t0 + t["start"]))
                            err.append(e["start"] - (t0 + t["start"]))
                rows.append((second, np.array(lat), np.array(err)))
        finally:
            b.stop()
    lines += [
        "## Event latency (true onset in the demo -> MQTT subscriber receives the start)",
        "",
        f"{repeats} real-time replays of the demo each (1 s window, 0.25 s hop, min_hits 2). The start time an "
        "event carries is its true start whenever its message leaves: the second column shows how far it is "
        "from the labelled onset.",
        "",
        "| second opinion | onsets | start message p50 | p95 | max | event start - onset, median |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for second, lat, err in rows:
        lines.append(
            f"| {'on' if second else 'off'} | {lat.size} | {np.median(lat):.2f} s | "
            f"{np.quantile(lat, 0.95):.2f} s | {lat.max():.2f} s | {np.median(err):+.2f} s |"
        )
    lines.append("")


def bench_second_opinion(lines: list[str], clf: Classifier, data: Path, minutes: float) -> None:
    """CPU of the whole pipeline with and without the second opinion, as fast as possible, in this process."""
    from barkcry_train.beds import build_bed
    from barkcry_train.data import read_manifest
    from detector.audiofile import read_audio

    yam = Yamnet()
    x = np.random.default_rng(0).standard_normal(15600).astype(np.float32) * 0.1
    patch = yam.logmel.patch(x)
    yam(patch)
    t_fe = timeit(lambda: yam.logmel.patch(x), 200)
    t_inv = timeit(lambda: yam(patch), 200)
    small = timeit(lambda: clf.scores(np.zeros((98, 64), np.float32) - 60), 2000)
    lines += [
        "## The second opinion (YAMNet, float16 LiteRT, one thread)",
        "",
        f"- one patch: log-mel (numpy) median {np.median(t_fe) * 1e3:.2f} ms, invoke median "
        f"{np.median(t_inv) * 1e3:.2f} ms, p95 {np.quantile(t_inv, 0.95) * 1e3:.2f} ms; "
        f"{np.median(t_inv) / np.median(small):.0f}x one small-model invoke "
        f"({np.median(small) * 1e3:.3f} ms)",
        "",
    ]
    clips = [c for c in read_manifest(data / "manifest.csv") if c.fold == 5 and c.label in ("negative", "noise")]
    audio = {c.path: read_audio(data / c.path, 16000) for c in clips}
    bed = build_bed(clips, audio, minutes * 60, np.random.default_rng(0))
    recordings = {f"household bed ({minutes:g} min of fold-5 negatives)": bed, "demo": read_audio(DEMO, 16000)}
    lines += [
        "| audio | second opinion | CPU per second of audio | ratio | events started | candidates "
        "rejected | YAMNet inferences |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, audio_x in recordings.items():
        base = None
        for second in (False, True):
            cfg = Config()
            cfg.second_opinion.enabled = second
            started = []

            class Count(Sink):
                def event(self, e):
                    if e.state == "start":
                        started.append(e)

            best = np.inf
            for _ in range(2):
                started.clear()
                pipe = make_pipeline(cfg, clf, [Count()], yam if second else None)
                cpu = time.process_time()
                for i in range(0, audio_x.size, 1600):
                    pipe.process(audio_x[i : i + 1600])
                pipe.finish()
                best = min(best, time.process_time() - cpu)
            per_s = best / (audio_x.size / 16000)
            base = base or per_s
            g = pipe.second
            lines.append(
                f"| {name} | {'on' if second else 'off'} | {per_s * 1e3:.2f} ms | {per_s / base:.2f} | "
                f"{len(started)} | {sum(g.rejected.values()) if g else '-'} | {g.inferences if g else '-'} |"
            )
    lines.append("")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.md")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--bed-minutes", type=float, default=20.0)
    a = ap.parse_args()
    clf = Classifier(num_threads=1)
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {os.cpu_count()} cores, {os.uname().machine}, Python {sys.version.split()[0]}; "
        f"command: `python -m bench.run --repeats {a.repeats}`",
        "",
    ]
    bench_frontend(lines)
    bench_model(lines, clf)
    bench_pipeline(lines, clf)
    bench_rss(lines)
    bench_second_opinion(lines, clf, a.data, a.bed_minutes)
    bench_latency(lines, clf, a.repeats)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
