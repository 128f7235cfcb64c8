"""The event history: real SQLite, written by `detector run`, read and marked by `detector events` and `mark`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from conftest import ROOT

from detector import history
from detector.history import file_sha256

DEMO = ROOT / "detector" / "data" / "demo.flac"


def detector(*args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def config(tmp_path, **extra) -> str:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}} | extra))
    return str(p)


def test_run_records_each_event_once_owner_only(tmp_path, shipped_model):
    cfg = config(tmp_path)
    r = detector("--config", cfg, "run", "--input", str(DEMO), "--fast")
    assert r.returncode == 0, r.stderr
    logged = {json.loads(x)["event"]["id"]: json.loads(x)["event"] for x in r.stdout.splitlines() if x.startswith("{")}
    db_path = tmp_path / "state" / "events.db"
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    db = sqlite3.connect(db_path)
    rows = db.execute(
        "SELECT id, label, start, end, confirm_score, model_sha256, embedding, window_embeddings FROM events"
    ).fetchall()
    assert sorted(r[1] for r in rows) == ["bark", "bark", "cry"]
    for eid, label, start, end, confirm, sha, emb, windows in rows:
        # the small model's embeddings of the event's best windows, for every label
        assert 1 <= np.frombuffer(windows, np.float16).reshape(-1, 80).shape[0] <= history.BEST_WINDOWS
        ev = logged[eid]
        assert (start, end) == pytest.approx((ev["start"], ev["end"]), abs=1e-3)
        assert sha == file_sha256(shipped_model)
        if label == "bark":  # confirmed by the second opinion: its score and its embedding are kept
            assert confirm == pytest.approx(ev["confirm_score"], abs=1e-4)
            assert np.frombuffer(emb, np.float16).shape == (1024,)
        else:
            assert confirm is None and emb is None

    out = detector("--config", cfg, "events", "--json", "--label", "bark")
    assert [json.loads(x)["label"] for x in out.stdout.splitlines()] == ["bark", "bark"]
    bark = json.loads(out.stdout.splitlines()[0])["id"]
    assert detector("--config", cfg, "mark", bark, "false").returncode == 0
    assert "false_alarm" in detector("--config", cfg, "events").stdout
    verdict = db.execute("SELECT verdict, verdict_from FROM events WHERE id = ?", (bark,)).fetchone()
    assert verdict == ("false_alarm", "cli")

    bad = detector("--config", cfg, "mark", "no-such-id", "true")
    assert bad.returncode == 2 and "no event with id 'no-such-id'" in bad.stderr and "Traceback" not in bad.stderr
    assert detector("--config", cfg, "events", "--since", "soon").returncode == 2  # argparse names the option

    assert "purged 3" in detector("--config", cfg, "events", "--purge").stdout
    assert detector("--config", cfg, "events").stdout == ""


def test_a_kill_loses_no_row_already_written(tmp_path, shipped_model):
    """`detector mark` works while the service runs, and a kill -9 keeps every committed row."""
    cfg = config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector.cli", "--config", cfg, "run", "--input", str(DEMO)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # real time
    db_path = tmp_path / "state" / "events.db"
    try:
        deadline, seen = time.monotonic() + 30, []
        while time.monotonic() < deadline and not seen:
            time.sleep(0.2)
            if db_path.exists():
                seen = history.select(history.connect(db_path))
        assert seen, "the first bark was never written"
        assert detector("--config", cfg, "mark", seen[0].id, "true").returncode == 0  # while it runs
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT verdict FROM events WHERE id = ?", (seen[0].id,)).fetchone() == ("confirmed",)


def test_retention_keeps_days_and_rows(tmp_path):
    db = history.connect(tmp_path / "events.db")
    now = time.time()
    for i in range(10):
        db.execute(
            "INSERT INTO events (id, label, start, score, dbfs, model_sha256) VALUES (?, 'bark', ?, 1, -20, 'x')",
            (f"e{i}", now - i * 86400),
        )
    assert history.prune(db, keep_days=5.5, keep_rows=100, now=now) == 4
    assert history.prune(db, keep_days=99, keep_rows=2, now=now) == 4
    assert [r.id for r in history.select(db)] == ["e1", "e0"]


def test_an_unwritable_history_is_said_once_and_detection_goes_on(tmp_path, shipped_model):
    state = tmp_path / "state"
    state.mkdir()
    (state / "events.db").mkdir()  # a directory where the database should be
    r = detector("--config", config(tmp_path), "run", "--input", str(DEMO), "--fast")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert r.stderr.count("event history off") == 1
    assert len([x for x in r.stdout.splitlines() if '"state": "start"' in x]) == 3


@pytest.mark.slow  # the demo in real time
def test_feedback_over_mqtt_marks_rows_and_bad_feedback_is_ignored(tmp_path, mosquitto_bin, shipped_model):
    from scripts.broker import Broker, Collector, free_port

    b = Broker(tmp_path, free_port()).start()
    try:
        mqtt = {"host": "127.0.0.1", "port": b.port, "device_id": "testpi", "keepalive": 5}
        cfg = config(tmp_path, mqtt=mqtt)
        sub = Collector(b, "barkcry/testpi/#")
        proc = subprocess.Popen(
            [sys.executable, "-m", "detector.cli", "--config", cfg, "run", "--input", str(DEMO)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # real time
        assert sub.wait_for(lambda m: any('"bark_start"' in p for t, p, _ in m if t.endswith("/event")), 30)
        bark = next(json.loads(p)["id"] for t, p, _ in sub.messages if t.endswith("/event") and '"bark_start"' in p)
        pub = b.client()
        pub.connect("127.0.0.1", b.port)
        pub.loop_start()
        # Home Assistant's "Dog bark: false alarm" button, then garbage of every kind
        pub.publish("barkcry/testpi/bark/feedback", "false_alarm", qos=1).wait_for_publish(5)
        for payload in (
            "not json",
            '{"id": "nope", "verdict": "false_alarm"}',
            json.dumps({"id": bark, "verdict": "maybe"}),
            "[1, 2]",
        ):
            pub.publish("barkcry/testpi/feedback", payload, qos=1).wait_for_publish(5)
        pub.publish("barkcry/testpi/cry/feedback", "bogus", qos=1).wait_for_publish(5)
        out, err = proc.communicate(timeout=60)
        assert sub.wait_for(lambda m: any(t.endswith("/event") and '"cry_end"' in p for t, p, _ in m), 10)
        cry = next(json.loads(p)["id"] for t, p, _ in sub.messages if t.endswith("/event") and '"cry_end"' in p)
        # an automation's verdict on any event by id, after the run
        pub.loop_stop()
        sub.stop()
    finally:
        b.stop()
    assert proc.returncode == 0, err
    assert err.count("feedback ignored") == 5, err  # each bad one said, none stopped the service
    # Home Assistant's diagnostic sensors: 0 marked at start, 1 after the button; the verifier is off
    counts = [p for t, p, _ in sub.messages if t == "barkcry/testpi/bark/false_alarms"]
    assert counts[0] == "0" and counts[-1] == "1", counts
    assert {p for t, p, _ in sub.messages if t == "barkcry/testpi/bark/verifier"} == {"OFF"}
    db = history.connect(tmp_path / "state" / "events.db")
    rows = {r.id: r for r in history.select(db)}
    assert rows[bark].verdict == "false_alarm" and rows[cry].verdict is None
    assert db.execute("SELECT verdict_from FROM events WHERE id = ?", (bark,)).fetchone() == ("mqtt",)


def test_a_flood_of_feedback_is_cut_off_once(tmp_path):
    from detector.clock import WallClock

    sink = history.HistorySink(tmp_path / "events.db", "x", WallClock(), 90, 1000)
    for _ in range(history.FEEDBACK_PER_MINUTE + 50):
        sink.feedback("bark", b"false_alarm")
    assert sink._q.qsize() == history.FEEDBACK_PER_MINUTE


def test_a_history_from_an_older_barkcry_gains_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "events.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, label TEXT NOT NULL, start REAL NOT NULL, end REAL, "
        "score REAL NOT NULL, dbfs REAL NOT NULL, model_sha256 TEXT NOT NULL)"
    )
    old.execute("INSERT INTO events VALUES ('a', 'bark', 1.0, 2.0, 0.9, -20.0, 'x')")
    old.commit()
    old.close()
    db = history.connect(path)
    (row,) = history.select(db)
    assert row.id == "a" and row.verdict is None and row.clip is None
    history.mark(db, "a", "false_alarm", "cli")
    db.execute("UPDATE events SET window_embeddings = ? WHERE id = 'a'", (b"\0\0",))
