#!/usr/bin/env python3
"""`make ha-check`: barkcry against a real Home Assistant, not only its payloads.

Starts mosquitto and Home Assistant on loopback (HA in its own venv, --ha-python), makes a user and the
MQTT integration through HA's own API, and replays the demo three times over in real time through
`detector run`. Then:
- every entity barkcry announces must be on the barkcry device in HA's states;
- HA's log must hold no MQTT or discovery warning, and HA no repair issue;
- HA's own services (switch.turn_off, select.select_option, button.press) must reach the detector: barks
  switched off are no longer announced, the sensitivity select says what is in force, and the press marks
  the latest event in the history.

    python -m scripts.ha_check --ha-python .ha-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from scripts.broker import Broker, free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "detector" / "data" / "demo.flac"
DEVICE = "hacheck"
# HA 2026.2 asks for Python 3.13.2; the 3.13.0 here runs it, once its start-up check is passed by
START_HA = (
    "import sys, homeassistant.__main__ as m; m.validate_python = lambda: None; "
    "sys.argv = ['hass', '-c', sys.argv[1]]; sys.exit(m.main())"
)
REPAIRS = """
import asyncio, json, sys, aiohttp
async def main():
    async with aiohttp.ClientSession() as s, s.ws_connect(sys.argv[1]) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": sys.argv[2]})
        await ws.receive_json()
        await ws.send_json({"id": 1, "type": "repairs/list_issues"})
        print(json.dumps((await ws.receive_json())["result"]["issues"]))
asyncio.run(main())
"""


class HA:
    def __init__(self, url: str) -> None:
        self.url, self.token = url, None

    def call(self, method: str, path: str, body=None, form: bool = False):
        data = None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            data = (urllib.parse.urlencode(body) if form else json.dumps(body)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
        return json.loads(text) if text else None

    def states(self) -> dict[str, dict]:
        return {s["entity_id"]: s for s in self.call("GET", "/api/states")}


def wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if v := pred():
                return v
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"ha-check: timed out waiting for {what}")


def missing(ha: HA, expected: set[str]) -> list[str]:
    return sorted(expected - set(ha.states()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ha-python", required=True, help="the python of a venv with homeassistant installed")
    a = ap.parse_args()
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="barkcry-ha-check-"))
    broker = Broker(tmp, free_port()).start()
    port = free_port()
    conf = tmp / "ha"
    conf.mkdir()
    (conf / "configuration.yaml").write_text(
        yaml.safe_dump(
            {
                "homeassistant": {
                    "name": "barkcry check",
                    "time_zone": "UTC",
                    "country": "DE",
                    "unit_system": "metric",
                },
                "http": {"server_host": "127.0.0.1", "server_port": port},
                "api": None,
                "onboarding": None,
                "auth": None,
                "config": None,
                "repairs": None,
                "websocket_api": None,
                "logger": {"default": "warning"},
            }
        )
    )
    hass = subprocess.Popen(
        [a.ha_python, "-c", START_HA, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    detector = None
    try:
        ha = HA(f"http://127.0.0.1:{port}")
        wait(lambda: ha.call("GET", "/api/onboarding"), 300, "Home Assistant to start")
        code = ha.call(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": ha.url + "/",
                "name": "check",
                "username": "check",
                "password": "check-pass-1",
                "language": "en",
            },
        )["auth_code"]
        ha.token = ha.call(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": ha.url + "/"},
            form=True,
        )["access_token"]
        flow = ha.call("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        done = ha.call(
            "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {"broker": "127.0.0.1", "port": broker.port}
        )
        assert done["type"] == "create_entry", done
        print(f"ha-check: Home Assistant up with MQTT after {time.monotonic() - t0:.0f} s", flush=True)

        # three demos in a row, in real time: time to turn barks off before the second
        audio = tmp / "demo3.flac"
        x, sr = sf.read(DEMO, dtype="float32")
        sf.write(audio, np.concatenate([x, x, x]), sr)
        cfg = tmp / "config.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "state_dir": str(tmp / "state"),
                    "loud": {"enabled": True},
                    "mqtt": {"host": "127.0.0.1", "port": broker.port, "device_id": DEVICE},
                }
            )
        )
        detector = subprocess.Popen(
            [sys.executable, "-m", "detector", "--config", str(cfg), "run", "--input", str(audio)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        node = f"barkcry_{DEVICE}"
        expected = {
            f"binary_sensor.{node}_{k}"
            for k in ("bark", "cry", "bark_episode", "cry_episode", "problem", "loud", "bark_verifier", "cry_verifier")
        }
        expected |= {f"switch.{node}_{lab}_enabled" for lab in ("bark", "cry")}
        expected |= {f"select.{node}_{lab}_{w}" for lab in ("bark", "cry") for w in ("snooze", "sensitivity")}
        expected |= {f"button.{node}_{lab}_{v}" for lab in ("bark", "cry") for v in ("false_alarm", "confirmed")}
        expected |= {
            f"sensor.{node}_{k}"
            for k in (
                "level",
                "last_audio",
                "overflows",
                "queue",
                "cpu_percent",
                "rss_mb",
                "uptime_s",
                "bark_today",
                "cry_minutes_today",
                "bark_last_hour",
                "bark_false_alarms",
            )
        }
        expected |= {f"event.{node}_event"}

        def all_there():
            s = ha.states()
            return s if expected <= set(s) else None

        try:
            wait(all_there, 120, "barkcry's entities in HA")
        except SystemExit:
            have = sorted(e for e in ha.states() if DEVICE in e)
            raise SystemExit(f"ha-check: missing in HA: {missing(ha, expected)}; it has {have}") from None

        def available():
            s = ha.states()
            return not [e for e in expected if s[e]["state"] == "unavailable"]

        wait(available, 30, "barkcry's entities to be available (its status online)")
        print(f"ha-check: all {len(expected)} entities on the device", flush=True)

        # HA's own services reach the detector
        ha.call("POST", "/api/services/switch/turn_off", {"entity_id": f"switch.{node}_bark_enabled"})
        ha.call(
            "POST",
            "/api/services/select/select_option",
            {"entity_id": f"select.{node}_cry_sensitivity", "option": "high"},
        )
        wait(lambda: ha.states()[f"switch.{node}_bark_enabled"]["state"] == "off", 20, "the switch to follow")
        wait(lambda: ha.states()[f"select.{node}_cry_sensitivity"]["state"] == "high", 20, "the select to follow")
        switched_off = time.time()
        wait(lambda: ha.states()[f"binary_sensor.{node}_cry"]["state"] == "on", 90, "a cry after the switch")
        ha.call("POST", "/api/services/button/press", {"entity_id": f"button.{node}_cry_false_alarm"})
        switched_on = time.time()  # and barks back on: the next demo's barks are announced again
        ha.call("POST", "/api/services/switch/turn_on", {"entity_id": f"switch.{node}_bark_enabled"})
        wait(lambda: ha.states()[f"binary_sensor.{node}_bark"]["state"] == "on", 90, "a bark once switched on")
        time.sleep(1.0)
        detector.terminate()
        out, err = detector.communicate(timeout=60)
        detector = None
        starts = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
        starts = [e for e in starts if e["state"] == "start"]
        assert not [e for e in starts if e["label"] == "bark" and switched_off < e["time"] < switched_on], starts
        assert [e for e in starts if e["label"] == "cry" and switched_off < e["time"] < switched_on], starts
        db = sqlite3.connect(tmp / "state" / "events.db")
        marked = db.execute(
            "SELECT COUNT(*) FROM events WHERE label = 'cry' AND verdict = 'false_alarm' AND verdict_from = 'mqtt'"
        ).fetchone()[0]
        assert marked == 1, marked
        print("ha-check: switch, select and button followed", flush=True)

        log = (conf / "home-assistant.log").read_text() if (conf / "home-assistant.log").exists() else ""
        bad = [
            line
            for line in log.splitlines()
            if (" WARNING " in line or " ERROR " in line)
            and ("mqtt" in line.lower() or "barkcry" in line.lower() or "discovery" in line.lower())
        ]
        assert not bad, "\n".join(bad)
        issues = json.loads(
            subprocess.run(
                [a.ha_python, "-c", REPAIRS, f"ws://127.0.0.1:{port}/api/websocket", ha.token],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert not issues, issues
        print(f"ha-check: no MQTT warning in HA's log, no repair issue; OK in {time.monotonic() - t0:.0f} s")
        return 0
    finally:
        if detector is not None:
            detector.kill()
        hass.terminate()
        try:
            hass.wait(60)
        except subprocess.TimeoutExpired:
            hass.kill()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
