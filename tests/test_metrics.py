"""The Prometheus endpoint, scraped over HTTP while the demo replays in real time."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml
from conftest import ROOT

DEMO = ROOT / "detector" / "data" / "demo.flac"


def value(text: str, series: str) -> float:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


@pytest.mark.slow  # the demo in real time
def test_metrics_show_the_counts_of_a_replay(tmp_path, shipped_model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "mqtt": {"enabled": False},
                "metrics": {"enabled": True, "port": port},
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "--config", str(cfg), "run", "--input", str(DEMO)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # real time
    text, deadline = "", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                pass
            if value(text, 'barkcry_events_total{label="cry",state="end"}') == 1:
                break
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert value(text, 'barkcry_events_total{label="bark",state="start"}') == 2, text
    assert value(text, 'barkcry_events_total{label="cry",state="end"}') == 1
    windows = value(text, "barkcry_windows_total")
    assert windows > 60  # 4 a second, over the demo
    assert value(text, 'barkcry_score_count{label="bark"}') == windows
    assert value(text, "barkcry_hop_seconds_count") > 0 and value(text, "barkcry_capture_overflows") == 0
