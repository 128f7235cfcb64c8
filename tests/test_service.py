"""The daemon speaks sd_notify: READY, WATCHDOG while the audio loop turns, STOPPING on SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time

from conftest import ROOT

DEMO = ROOT / "detector" / "data" / "demo.flac"


def test_notify_ready_watchdog_stopping(tmp_path, shipped_model):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  enabled: false\n")
    env = os.environ | {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen([sys.executable, "-m", "detector.cli", "--config", str(cfg), "run", "--input", str(DEMO)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    msgs: list[str] = []
    deadline = time.monotonic() + 30
    sent_term = False
    while time.monotonic() < deadline:
        try:
            msgs.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        if not sent_term and sum("WATCHDOG=1" in m for m in msgs) >= 3:
            proc.send_signal(signal.SIGTERM)
            sent_term = True
        if proc.poll() is not None and sent_term:
            try:
                while True:
                    msgs.append(sock.recv(4096).decode())
            except socket.timeout:
                break
    proc.wait(10)
    sock.close()
    assert proc.returncode == 0, proc.stderr.read()
    assert msgs[0].startswith("READY=1")
    assert sum("WATCHDOG=1" in m for m in msgs) >= 3
    assert any("STOPPING=1" in m for m in msgs[-3:])


def test_clips_are_opt_in_and_owner_only(tmp_path, shipped_model):
    import stat

    import soundfile as sf

    clips = tmp_path / "clips"
    for enabled in (False, True):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"mqtt:\n  enabled: false\nclips:\n  enabled: {str(enabled).lower()}\n  dir: {clips}\n"
                       "  pre_roll_s: 1.0\n")
        r = subprocess.run([sys.executable, "-m", "detector.cli", "--config", str(cfg), "run", "--input", str(DEMO),
                            "--fast"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        if not enabled:
            assert not clips.exists()  # privacy by default: nothing written
    files = sorted(clips.glob("*.flac"))
    assert {f.name.split("_")[1] for f in files} == {"bark", "cry"}
    assert stat.S_IMODE(clips.stat().st_mode) == 0o700
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        x, sr = sf.read(f)
        assert sr == 16000 and 1.0 < x.size / sr <= 31
