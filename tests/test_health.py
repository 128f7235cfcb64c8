"""The problem sensor over a real mosquitto, from a real (fake) microphone that goes quiet and comes back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import yaml
from conftest import ROOT
from test_capture import demo_int16, fakemic_env

from detector.config import HealthConfig
from detector.health import Health, Reading
from scripts.broker import Broker, Collector, free_port


def test_a_microphone_that_goes_quiet_raises_problem_and_clears_it(tmp_path, mosquitto_bin, shipped_model):
    x = demo_int16()
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    env = fakemic_env(tmp_path, np.zeros(1, np.int16)) | {"FAKEMIC_RAW": str(fifo)}
    fd = os.open(fifo, os.O_RDWR)  # always a reader: see test_capture
    b = Broker(tmp_path, free_port()).start()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "health": {"no_audio_s": 1.0, "reopened_s": 1.0},
                "mqtt": {"host": "127.0.0.1", "port": b.port, "device_id": "testpi", "keepalive": 5},
            }
        )
    )
    sub = Collector(b, "barkcry/testpi/#")
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "--config", str(cfg), "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    problem = lambda m: [p for t, p, _ in m if t == "barkcry/testpi/problem"]  # noqa: E731
    stop = threading.Event()
    quiet = threading.Event()

    def speak():  # the microphone in real time, 0.1 s at a time, silent while ``quiet`` is set
        i = 0
        while not stop.is_set():
            if not quiet.is_set():
                os.write(fd, x[i : i + 1600].tobytes())
                i = (i + 1600) % (x.size - 1600)
            time.sleep(0.1)

    talker = threading.Thread(target=speak, daemon=True)
    talker.start()
    try:
        assert sub.wait_for(lambda m: "barkcry/testpi/health" in [t for t, _, _ in m], 30)
        time.sleep(2.0)
        quiet.set()  # shorter than the 3 s after which the input would be reopened
        assert sub.wait_for(lambda m: "ON" in problem(m), 10), sub.messages[-5:]
        quiet.clear()
        assert sub.wait_for(lambda m: problem(m)[-1:] == ["OFF"] and "ON" in problem(m), 10), problem(sub.messages)
    finally:
        stop.set()
        talker.join()
        os.close(fd)
        proc.terminate()
        err = proc.communicate(timeout=30)[1]
        sub.stop()
        b.stop()
    health = [json.loads(p) for t, p, _ in sub.messages if t == "barkcry/testpi/health"]
    assert any(h["reason"] and "no audio" in h["reason"] for h in health), health
    assert health[-1]["reason"] is None and health[-1]["uptime_s"] >= 1
    assert "problem: no audio" in err and "problem cleared" in err


def test_each_cause_has_its_threshold_and_clears_by_itself(tmp_path):
    h = Health(
        HealthConfig(no_audio_s=10, muted_s=30, reopened_s=60, overflows_per_min=5, queue_share=0.5, min_free_mb=1e-3),
        tmp_path,
    )
    ok = Reading(100.0, 99.9, 0.0, 0, 0, 0, 1000)
    assert h.reasons(ok) == {}
    assert set(h.reasons(Reading(120.0, 105.0, 0.0, 0, 0, 0, 1000))) == {"no_audio"}
    assert set(h.reasons(Reading(121.0, 121.0, 31.0, 0, 0, 600, 1000))) == {"muted", "backlog"}
    assert set(h.reasons(Reading(122.0, 122.0, 0.0, 1, 9, 0, 1000))) == {"reopened", "overflows"}
    assert h.reasons(Reading(190.0, 190.0, 0.0, 1, 9, 0, 1000)) == {}  # a minute later, all has cleared
