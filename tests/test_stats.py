"""The statistics sensors, counted from the history: right after a replay, and again after a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import yaml
from conftest import ROOT

from detector import history
from detector.stats import day_stats, local_midnight
from scripts.broker import Broker, Collector, free_port

DEMO = ROOT / "detector" / "data" / "demo.flac"


def test_counts_after_a_replay_and_after_a_restart(tmp_path, mosquitto_bin, shipped_model):
    b = Broker(tmp_path, free_port()).start()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "loud": {"enabled": True},
                "mqtt": {"host": "127.0.0.1", "port": b.port, "device_id": "testpi"},
            }
        )
    )
    run = lambda: subprocess.run(
        [
            sys.executable,
            "-m",
            "detector",
            "--config",
            str(cfg),
            "run",
            "--input",  # noqa: E731
            str(DEMO),
            "--fast",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        for n in (1, 2):  # the second run is a restart: the counts go on from the history
            assert run().returncode == 0
            late = Collector(b, "barkcry/testpi/#")
            assert late.wait_for(lambda m: any(t.endswith("/stats") for t, _, _ in m), 10)
            time.sleep(0.3)
            late.stop()
            stats = json.loads([p for t, p, _ in late.messages if t == "barkcry/testpi/stats"][-1])
            assert stats["bark"]["today"] == 2 * n and stats["cry"]["today"] == n, stats
            assert stats["bark"]["last_hour"] == 2 * n
            assert 0.05 * n < stats["bark"]["minutes_today"] < 0.3 * n  # two barks of 3-4 s each
        disc = Collector(b, "homeassistant/#")
        assert disc.wait_for(lambda m: len(m) > 10, 10)
        time.sleep(0.3)
        disc.stop()
    finally:
        b.stop()
    configs = {t: json.loads(p) for t, p, _ in disc.messages}
    names = {p["name"] for p in configs.values()}
    assert {
        "Baby cry: events today",
        "Dog bark: minutes today",
        "Dog bark: events in the last hour",
        "Loud sound",
    } <= names
    assert all(p["origin"]["name"] == "barkcry" for p in configs.values())


def test_a_day_follows_the_local_calendar(tmp_path):
    db = history.connect(tmp_path / "e.db")
    now = time.time()
    midnight = local_midnight(now)
    rows = [
        ("a", midnight - 120, midnight + 60),
        ("b", midnight + 10, midnight + 70),
        ("c", midnight - 600, midnight - 500),
    ]
    for eid, start, end in rows:
        db.execute(
            "INSERT INTO events (id, label, start, end, score, dbfs, model_sha256) VALUES (?, 'cry', ?, ?, 0.9, -20, 'x')",
            (eid, start, end),
        )
    s = day_stats(db, ["cry"], midnight + 3600)["cry"]
    assert s["today"] == 2 and s["minutes_today"] == 2.0  # a: only its minute after midnight, b: a minute
