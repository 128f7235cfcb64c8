#!/usr/bin/env python3
"""The review page's cost to the detector, and the web process's memory.

1. CPU seconds per second of audio of the real pipeline (small model, second opinion, decider) over the
   demo repeated to --minutes of audio, paced in real time as a microphone delivers it (as fast as it
   runs, the page's relay would get 30 times the lines a second it ever gets, on the same two cores):
   without the live feed (the reference, in the same process), and with the live feed while `detector
   web` streams it to a page (an SSE client in another process, as a browser is). Alternating,
   --repeats times each; medians.
2. The web process's resident memory: idle, and after it has drawn a spectrogram (it loads the small
   model for the score trace).

    python -m bench.web [--minutes 5] [--repeats 3] [--out reports/web.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `detector` runs

import numpy as np
import yaml

from bench.ratio import ratio_table
from detector.audiofile import read_audio
from detector.config import Config
from detector.confirm import load_second_opinion
from detector.live import LiveSink
from detector.model import Classifier
from detector.pipeline import make_pipeline

ROOT = Path(__file__).resolve().parents[1]

DEMO = ROOT / "detector" / "data" / "demo.flac"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_http(url: str, proc: subprocess.Popen) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(proc.stderr.read()) from None
            time.sleep(0.1)
    raise SystemExit("detector web did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "web.md")
    a = ap.parse_args()
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is needed for the page's stream (apt-get install curl)")
    tmp = Path(tempfile.mkdtemp(prefix="barkcry-web-bench-"))
    state = tmp / "state"
    cfg_file = tmp / "config.yaml"
    port = 8700 + os.getpid() % 200
    cfg_file.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "mqtt": {"enabled": False},
                "clips": {"enabled": True, "dir": str(state / "clips")},
                "web": {"port": port},
            }
        )
    )
    subprocess.run(
        [sys.executable, "-m", "detector", "--config", str(cfg_file), "run", "--input", str(DEMO), "--fast"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )  # a history with clips, for the page
    web = subprocess.Popen(
        [sys.executable, "-m", "detector", "--config", str(cfg_file), "web"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/static/style.css", web)
        time.sleep(2.0)
        idle = rss_mb(web.pid)
        urllib.request.urlopen(url + "/", timeout=10).read()
        import json

        eid = json.loads(urllib.request.urlopen(url + "/api/events", timeout=10).read())[0]["id"]
        urllib.request.urlopen(f"{url}/api/events/{eid}/spectrogram", timeout=60).read()
        drawn = rss_mb(web.pid)

        cfg = Config(state_dir=str(state))
        clf = Classifier(cfg.model_path())
        second = load_second_opinion(cfg)
        x = read_audio(DEMO, 16000)
        x = np.resize(x, int(a.minutes * 60 * 16000))
        seconds = x.size / 16000

        def run(live: bool) -> float:
            pipe = make_pipeline(cfg, clf, [], second)
            reader = None
            if live:
                pipe.sinks.append(
                    LiveSink(
                        state / "live.sock",
                        pipe,
                        {"device": "bench", "model": clf.path.name, "thresholds": pipe.on_thresholds},
                    )
                )
                reader = subprocess.Popen([curl, "-sN", url + "/api/live"], stdout=subprocess.DEVNULL)
                time.sleep(1.0)  # the page is open and streaming before the audio starts
            t, t0 = time.process_time(), time.monotonic()
            for i in range(0, x.size, 1600):
                if (delay := t0 + (i + 1600) / 16000 - time.monotonic()) > 0:  # a block exists once recorded
                    time.sleep(delay)
                pipe.process(x[i : i + 1600])
            pipe.finish()
            cpu = time.process_time() - t
            for s in pipe.sinks:
                s.close()
            if reader is not None:
                reader.terminate()
                reader.wait(5)
            return cpu / seconds

        off, on = [], []
        for _ in range(a.repeats):
            off.append(run(False))
            on.append(run(True))
    finally:
        web.terminate()
        web.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    L = [
        "# The review page's cost",
        "",
        f"Command: `python -m bench.web --minutes {a.minutes:g} --repeats {a.repeats}`. The demo repeated to "
        f"{a.minutes:g} min of audio through the real pipeline (small model, second opinion, decider), paced "
        "in real time as a microphone delivers it, without the live feed and with it while `detector web` streams it to an SSE client in another "
        f"process (a page open on the live view); alternating, {a.repeats} runs each, medians.",
        "",
        *ratio_table("no live feed", "live feed, page streaming", off, on),
        "",
        f"The web process's resident memory: **{idle:.0f} MB** idle, {drawn:.0f} MB once it has drawn a "
        "spectrogram (it then holds the small model for the score trace).",
        "",
    ]
    a.out.write_text("\n".join(L))
    print("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
