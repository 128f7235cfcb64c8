"""MQTT against a real mosquitto: events for a replayed recording, discovery, retained state, last will,
queueing through a broker outage; plain, with a password file, and with TLS."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
import yaml
from conftest import ROOT

from detector.clock import WallClock
from detector.config import MQTTConfig
from detector.decision import Event
from detector.sinks.mqtt import Message, MqttSink
from scripts.broker import Broker, Collector, free_port, make_tls

DEMO = ROOT / "detector" / "data" / "demo.flac"


@pytest.fixture(params=["plain", "password", "tls"])
def broker(request, tmp_path, mosquitto_bin):
    kw = {}
    if request.param == "password":
        kw = {"username": "barkcry", "password": "s3cret pass"}
    elif request.param == "tls":
        kw = {"ca_file": make_tls(tmp_path)}
    b = Broker(tmp_path, free_port(), **kw).start()
    yield b
    b.stop()


def write_config(tmp_path, broker, **extra) -> str:
    cfg = {"mqtt": broker.mqtt_config(), "state_dir": str(tmp_path)} | extra
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def detector(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "detector.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def events(messages, base="barkcry/testpi"):
    return [json.loads(p) for t, p, _ in messages if t == f"{base}/event"]


def test_replay_publishes_events_discovery_and_state(tmp_path, broker, shipped_model):
    truth = json.loads((ROOT / "detector/data/demo.json").read_text())["events"]
    sub = Collector(broker)
    proc = detector("--config", write_config(tmp_path, broker), "run", "--input", str(DEMO), "--fast")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sub.wait_for(lambda m: sum(e["state"] == "end" for e in events(m)) >= 2)
    sub.stop()
    evs = events(sub.messages)
    # Every expected label starts and ends; each start has its end with the same id.
    for label in {t["label"] for t in truth if t["label"] != "negative"}:
        starts = [e for e in evs if e["label"] == label and e["state"] == "start"]
        ends = [e for e in evs if e["label"] == label and e["state"] == "end"]
        assert starts and len(starts) == len(ends), (label, evs)
        assert {e["id"] for e in starts} == {e["id"] for e in ends}
        assert all(e["event_type"] == f"{label}_{e['state']}" for e in starts + ends)
    # The log sink printed the same events as JSON lines.
    logged = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    assert {(e["id"], e["state"]) for e in logged} == {(e["id"], e["state"]) for e in evs}

    # A fresh subscriber sees the retained state: discovery, OFF states, offline after a clean stop.
    late = Collector(broker)
    assert late.wait_for(lambda m: any(t == "barkcry/testpi/status" for t, _, _ in m), 10)
    time.sleep(0.5)
    late.stop()
    retained = {t: p for t, p, r in late.messages if r}
    assert retained["barkcry/testpi/status"] == "offline"
    assert retained["barkcry/testpi/bark"] == "OFF" and retained["barkcry/testpi/cry"] == "OFF"
    disc = {t: json.loads(p) for t, p in retained.items() if t.startswith("homeassistant/")}
    kinds = sorted(t.split("/")[1] for t in disc)
    assert (
        kinds == ["binary_sensor"] * 7 + ["button"] * 4 + ["event"] + ["select"] * 4 + ["sensor"] * 15 + ["switch"] * 2
    )
    for t, p in disc.items():
        assert p["unique_id"].startswith("barkcry_testpi") and p["device"]["identifiers"] == ["barkcry_testpi"]
        assert p["availability_topic"] == "barkcry/testpi/status"
        assert (p.get("state_topic") or p["command_topic"]).startswith("barkcry/testpi/")
        # The entity id Home Assistant gives it (default_entity_id since 2025.10): the README's examples.
        assert p["default_entity_id"] == f"{t.split('/')[1]}.{p['unique_id']}"
    assert {p["default_entity_id"] for p in disc.values()} >= {
        "binary_sensor.barkcry_testpi_cry",
        "binary_sensor.barkcry_testpi_bark",
    }
    buttons = {p["name"]: (p["command_topic"], p["payload_press"]) for t, p in disc.items() if "/button/" in t}
    assert buttons["Dog bark: false alarm"] == ("barkcry/testpi/bark/feedback", "false_alarm")
    assert buttons["Baby cry: that was right"] == ("barkcry/testpi/cry/feedback", "confirmed")
    binary = [p for t, p in disc.items() if "/binary_sensor/" in t and "entity_category" not in p]
    assert len(binary) == 4 and all(p["device_class"] == "sound" for p in binary)
    assert sorted(p["name"] for p in binary) == ["Baby cry", "Baby cry: sustained", "Dog bark", "Dog bark: sustained"]
    assert retained["barkcry/testpi/cry_episode"] == "OFF"
    diagnostic = [p for p in disc.values() if p.get("entity_category") == "diagnostic"]
    assert sorted(p["name"] for p in diagnostic) == [
        "Baby cry: false alarms marked",
        "Baby cry: taught by this home",
        "CPU",
        "Capture overflows",
        "Dog bark: false alarms marked",
        "Dog bark: taught by this home",
        "Last audio",
        "MQTT backlog",
        "Memory",
        "Problem",
        "Uptime",
    ]
    problem = next(p for p in diagnostic if p["name"] == "Problem")
    assert problem["device_class"] == "problem" and problem["json_attributes_topic"] == "barkcry/testpi/health"
    assert retained["barkcry/testpi/problem"] == "OFF"
    ev_entity = next(p for t, p in disc.items() if "/event/" in t)
    assert "bark_start" in ev_entity["event_types"] and "cry_end" in ev_entity["event_types"]


def test_last_will_marks_offline_after_kill9(tmp_path, mosquitto_bin, shipped_model):
    b = Broker(tmp_path, free_port()).start()
    try:
        sub = Collector(b, "barkcry/testpi/status")
        proc = detector("--config", write_config(tmp_path, b), "run", "--input", str(DEMO))  # real time: ~24 s
        assert sub.wait_for(lambda m: any(p == "online" for _, p, _ in m), 30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert sub.wait_for(lambda m: m and m[-1][1] == "offline", 20), sub.messages
        sub.stop()
    finally:
        b.stop()


@pytest.mark.slow  # the demo in real time
def test_a_restart_after_a_kill_in_the_middle_of_a_bark_puts_the_sensor_back_off(
    tmp_path, mosquitto_bin, shipped_model
):
    """A kill, a crash or a power cut during a bark leaves its retained ON behind; the next run says OFF."""
    import soundfile as sf

    b = Broker(tmp_path, free_port()).start()
    try:
        sub = Collector(b, "barkcry/testpi/bark")
        proc = detector("--config", write_config(tmp_path, b), "run", "--input", str(DEMO))  # real time
        assert sub.wait_for(lambda m: m and m[-1][1] == "ON", 30), sub.messages  # the first bark
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        sub.stop()
        left = Collector(b, "barkcry/testpi/bark")
        assert left.wait_for(lambda m: m, 10) and left.messages[-1][1:] == ("ON", True)
        left.stop()
        quiet = tmp_path / "quiet.wav"
        sf.write(quiet, np.zeros(16000 * 2, np.float32), 16000)
        again = detector("--config", write_config(tmp_path, b), "run", "--input", str(quiet))
        assert again.wait(30) == 0, again.stderr.read()
        after = Collector(b, "barkcry/testpi/bark")
        assert after.wait_for(lambda m: m, 10) and after.messages[-1][1:] == ("OFF", True), after.messages
        after.stop()
    finally:
        b.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_open_events_publishes_offline_and_exits_cleanly(
    tmp_path, mosquitto_bin, shipped_model, signum
):
    """SIGTERM (systemd) and SIGHUP (a closed terminal) stop the same way: in the middle of a bark, its end and
    OFF go out before offline."""
    b = Broker(tmp_path, free_port()).start()
    try:
        sub = Collector(b, "barkcry/testpi/#")
        proc = detector("--config", write_config(tmp_path, b), "run", "--input", str(DEMO))
        assert sub.wait_for(lambda m: any(x[:2] == ("barkcry/testpi/bark", "ON") for x in m), 30)
        t0 = time.monotonic()
        proc.send_signal(signum)
        proc.wait(10)
        assert time.monotonic() - t0 < 6.0
        assert proc.returncode == 0
        assert sub.wait_for(lambda m: m[-1][:2] == ("barkcry/testpi/status", "offline"), 5)
        sub.stop()
        assert [p for t, p, _ in sub.messages if t == "barkcry/testpi/bark"][-1] == "OFF"
        assert any(e["state"] == "end" and e["label"] == "bark" for e in events(sub.messages))
        assert f"stopped on signal {int(signum)}" in proc.stderr.read()
    finally:
        b.stop()


def _event(i: int, state: str) -> Event:
    return Event(
        id=f"{i:04d}-{uuid.uuid4().hex[:6]}",
        label="bark",
        state=state,
        start=float(i),
        end=None if state == "start" else float(i) + 0.5,
        time=float(i),
        score=0.9,
        dbfs=-20.0,
    )


def test_events_survive_a_broker_outage(tmp_path, mosquitto_bin):
    port = free_port()
    b = Broker(tmp_path, port).start()
    sink = MqttSink(
        MQTTConfig(host="127.0.0.1", port=port, device_id="testpi", queue_size=500, keepalive=5),
        ["bark", "cry"],
        clock=WallClock(0.0),
    )
    sink.start()
    assert sink.wait_connected(10)
    b.stop()
    deadline = time.monotonic() + 10
    while sink._connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    raised = []
    for i in range(30):
        for state in ("start", "end"):
            ev = _event(i, state)
            raised.append((ev.id.split("-")[0], state))
            sink.event(ev)
    assert sink.pending() >= 60  # held while the broker is away
    b = Broker(tmp_path, port).start()
    try:
        sub = Collector(b, "barkcry/testpi/event")
        assert sub.wait_for(lambda m: len({(e["id"], e["state"]) for e in events(m)}) >= 60, 60)
        got = [(e["id"].split("-")[0], e["state"]) for e in events(sub.messages)]
        assert sorted(set(got)) == sorted(raised)  # none lost
        assert len({(e["id"], e["state"]) for e in events(sub.messages)}) == 60  # ids unique per message
        sub.stop()
        assert sink.close(5) == 0
    finally:
        b.stop()


def test_full_queue_drops_oldest_and_counts(tmp_path):
    port = free_port()  # nothing listens here
    sink = MqttSink(MQTTConfig(host="127.0.0.1", port=port, device_id="x", queue_size=10), ["bark"])
    for i in range(10):
        sink.event(_event(i, "start"))  # 2 messages each: state ON + event
    assert sink.pending() == 10 and sink.dropped == 10
    assert json.loads(sink._queue[-1].payload)["id"].startswith("0009")


def test_discovery_is_sent_again_when_home_assistant_restarts(tmp_path, mosquitto_bin):
    b = Broker(tmp_path, free_port()).start()
    try:
        sink = MqttSink(MQTTConfig(host="127.0.0.1", port=b.port, device_id="testpi"), ["bark", "cry"])
        sink.start()
        assert sink.wait_connected(10)
        sub = Collector(b, "homeassistant/+/+/+/config")
        assert sub.wait_for(lambda m: len(m) >= 4, 10)  # the retained copies
        sub.messages.clear()
        ha = b.client()
        ha.connect("127.0.0.1", b.port)
        ha.loop_start()
        ha.publish("homeassistant/status", "online", qos=1).wait_for_publish(5)
        assert sub.wait_for(lambda m: len(m) >= 4, 10), sub.messages
        assert {t.split("/")[1] for t, _, _ in sub.messages} == {"binary_sensor", "event", "sensor"}
        ha.loop_stop()
        ha.disconnect()
        sub.stop()
        assert sink.close(5) == 0
    finally:
        b.stop()


def test_messages_reach_the_broker_in_the_order_they_were_raised(tmp_path, mosquitto_bin):
    """A retained state must end as its last value. A fast replay can raise all its events before the
    connection is up (TLS takes a while); on connect the drainer thread sends the backlog while the shutdown
    in close() drains it too. If one thread were paused between taking a message off the queue and handing
    it to paho, the other's later message could overtake it: an OFF before its ON leaves a sensor ON for
    good (seen once in CI with TLS). Slowing each hand-over a little makes that pause likely here."""
    b = Broker(tmp_path, free_port()).start()
    try:
        sub = Collector(b, "barkcry/testpi/sequence")
        assert sub.wait_for(lambda m: sub.c.is_connected(), 10)
        time.sleep(0.3)
        sink = MqttSink(MQTTConfig(host="127.0.0.1", port=b.port, device_id="testpi", queue_size=5000), ["bark"])
        publish = sink.client.publish
        jitter = iter(np.random.default_rng(0).uniform(0, 0.002, 100000))
        sink.client.publish = lambda *a, **kw: (time.sleep(next(jitter)), publish(*a, **kw))[1]
        n = 600  # more than the in-flight window (50), fewer than mosquitto queues for one subscriber (1000)
        for i in range(n):  # raised before the connection is up
            sink._enqueue(Message("barkcry/testpi/sequence", str(i), 1, True))
        sink.start()
        assert sink.wait_connected(10)
        assert sink.close(30) == 0  # drains beside the drainer thread, as the end of a replay does
        assert sub.wait_for(lambda m: len(m) >= n, 30), (len(sub.messages), sink.pending())
        got = [int(p) for _, p, _ in sub.messages]
        assert got == sorted(got), [(a, b) for a, b in zip(got, got[1:]) if b < a][:5]
        sub.stop()
    finally:
        b.stop()


def test_a_message_in_flight_when_the_broker_dies_is_not_overtaken_after_the_reconnect(tmp_path, mosquitto_bin):
    """paho keeps a QoS 1 message that was sent but not acknowledged and sends it again, first, after it
    reconnects (right after on_connect returns). A bark that starts while the broker hangs and ends while it
    is down has its ON in flight and its OFF queued: if the OFF went out before paho's resend of the ON, the
    sensor would stay ON for good. The test holds paho's thread a moment after on_connect, as a busy
    machine might, so that anything sent in that moment would overtake the resend."""
    port = free_port()
    b = Broker(tmp_path, port).start()
    sink = MqttSink(
        MQTTConfig(host="127.0.0.1", port=port, device_id="testpi", keepalive=5), ["bark"], clock=WallClock(0.0)
    )
    try:
        sink.start()
        assert sink.wait_connected(10)
        deadline = time.monotonic() + 10
        while sink.pending() and time.monotonic() < deadline:  # discovery and online acknowledged
            time.sleep(0.05)
        on_connect = sink.client.on_connect
        sink.client.on_connect = lambda *a: (on_connect(*a), time.sleep(0.5))
        os.kill(b.proc.pid, signal.SIGSTOP)  # the broker hangs: what is sent now is never acknowledged
        start = _event(1, "start")
        sink.event(start)
        time.sleep(0.3)
        assert sink.pending() == 2  # ON and the start event, in flight
        os.kill(b.proc.pid, signal.SIGKILL)
        b.proc.wait(5)
        deadline = time.monotonic() + 10
        while sink._connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        sink.event(dataclasses.replace(start, state="end", end=2.0, time=2.0))  # queued: OFF after its ON
        b = Broker(tmp_path, port).start()
        sub = Collector(b, "barkcry/testpi/bark")
        assert sub.wait_for(lambda m: [p for _, p, _ in m][-1:] == ["OFF"] and sink.pending() == 0, 20), (
            sub.messages,
            sink.pending(),
        )
        time.sleep(1.0)  # anything resent late would arrive now
        sub.stop()
        late = Collector(b, "barkcry/testpi/bark")
        assert late.wait_for(lambda m: len(m) >= 1, 10)
        assert late.messages == [("barkcry/testpi/bark", "OFF", True)], (sub.messages, late.messages)
        late.stop()
    finally:
        sink.close(2)
        b.stop()


def test_level_readings_leave_no_trace_in_the_acknowledgement_book(tmp_path, mosquitto_bin):
    """paho reports QoS 0 messages as published too: each level reading once left its id behind, so the book
    grew for days and, after 65,535 ids, a new event could be taken for already acknowledged."""
    from detector.pipeline import Window

    b = Broker(tmp_path, free_port()).start()
    try:
        sink = MqttSink(MQTTConfig(host="127.0.0.1", port=b.port, device_id="testpi", level_every_s=0.0), ["bark"])
        sink.start()
        assert sink.wait_connected(10)
        sub = Collector(b, "barkcry/testpi/level")
        time.sleep(0.5)  # subscribed: a QoS 0 reading sent before that is gone, by design
        for i in range(3000):
            sink.window(Window(float(i), {"bark": 0.0}, -40.0))
        assert sub.wait_for(lambda m: len(m) >= 3000, 20), len(sub.messages)
        time.sleep(0.5)  # paho's reports of the last ones
        sub.stop()
        assert len(sink._acked_early) == 0 and len(sink._qos0) == 0
        assert sink.close(5) == 0
    finally:
        b.stop()


@pytest.mark.slow  # waits out paho's retries
def test_a_connection_that_fails_says_why_once(tmp_path, mosquitto_bin, caplog):
    """Each way a first install gets the broker wrong is named in the log, once: not a bare "queueing"."""
    import logging

    (tmp_path / "tls").mkdir()
    (tmp_path / "other").mkdir()
    tls = Broker(tmp_path / "tls", free_port(), ca_file=make_tls(tmp_path / "tls")).start()
    locked = Broker(tmp_path, free_port(), username="barkcry", password="right").start()
    wrong_ca = make_tls(tmp_path / "other")
    cases = [
        (dict(port=free_port()), "connection refused"),
        (dict(port=tls.port, tls={"ca_file": wrong_ca}), "not trusted"),
        (dict(port=locked.port, tls={"ca_file": wrong_ca}), "is that port TLS at all?"),
        (dict(port=locked.port, username="barkcry", password="wrong"), "check mqtt.username and the password"),
    ]
    try:
        for kw, reason in cases:
            tls_cfg = kw.pop("tls", None)
            cfg = dataclasses.replace(MQTTConfig(host="localhost", device_id="testpi", keepalive=5), **kw)
            if tls_cfg:
                from detector.config import TLSConfig

                cfg.tls = TLSConfig(**tls_cfg)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="detector.sinks.mqtt"):
                sink = MqttSink(cfg, ["bark"], cfg.password)
                sink.start()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and reason not in caplog.text:
                    time.sleep(0.05)
                time.sleep(2.5)  # paho retries after 1 s, then 2 s: the same reason is not said again
                sink.close(timeout=0.5)
            said = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
            assert len(said) == 1 and reason in said[0], (kw, caplog.text)
            assert "Unspecified error" not in caplog.text
    finally:
        tls.stop()
        locked.stop()


def test_two_devices_with_one_device_id_are_told_apart(tmp_path, mosquitto_bin, caplog):
    """Pi OS names every Pi "raspberrypi": two of them take the broker connection from each other."""
    import logging

    b = Broker(tmp_path, free_port()).start()
    cfg = MQTTConfig(host="127.0.0.1", port=b.port, device_id="raspberrypi", keepalive=5)
    sinks = [MqttSink(cfg, ["bark"]), MqttSink(cfg, ["bark"])]
    try:
        with caplog.at_level(logging.INFO, logger="detector.sinks.mqtt"):
            for s in sinks:
                s.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "another device probably connects" not in caplog.text:
                time.sleep(0.1)
    finally:
        for s in sinks:
            s.close(timeout=0.5)
        b.stop()
    said = [r.getMessage() for r in caplog.records if "another device probably connects" in r.getMessage()]
    assert len(said) in (1, 2) and "'raspberrypi'" in said[0], caplog.text  # once per sink at most
