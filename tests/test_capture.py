"""Real sounddevice/PortAudio capture through an ALSA `file` plugin device: no sound card needed.

Each test runs in a subprocess, because PortAudio reads the ALSA configuration when sounddevice is
imported, and the variables must be set before that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf
from conftest import ROOT, need

ALSA_CONF = """
pcm.fakemic {
  type file
  slave.pcm { type null }
  file "/dev/null"
  format "raw"
  infile { @func getenv vars [ FAKEMIC_RAW ] default "/dev/zero" }
  hint { show on description "raw capture" }
}
pcm.!default fakemic
"""

CAPTURE = """
import sys, numpy as np
from detector.audio import MicrophoneSource
n = int(sys.argv[1])
src = MicrophoneSource(None, 16000, block_s=0.1, max_samples=n)
x = np.concatenate([b for b in src.blocks()])
np.save(sys.argv[2], np.round(x * 32768).astype(np.int16))
print(src.info())
"""


def fakemic_env(tmp_path, samples: np.ndarray) -> dict:
    import ctypes.util

    need(ctypes.util.find_library("portaudio") is not None, "libportaudio2 is not installed")
    conf = tmp_path / "asound.conf"
    conf.write_text(ALSA_CONF)
    raw = tmp_path / "mic.raw"
    samples.astype("<i2").tofile(raw)
    return os.environ | {"ALSA_CONFIG_PATH": str(conf), "FAKEMIC_RAW": str(raw), "PYTHONPATH": str(ROOT)}


def demo_int16() -> np.ndarray:
    x, sr = sf.read(ROOT / "detector/data/demo.flac", dtype="int16")
    assert sr == 16000
    return x


def test_capture_is_bit_exact(tmp_path):
    x = demo_int16()
    env = fakemic_env(tmp_path, x)
    out = tmp_path / "captured.npy"
    r = subprocess.run(
        [sys.executable, "-c", CAPTURE, str(x.size), str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    got = np.load(out)
    assert got.size == x.size
    assert np.array_equal(got, x)


def test_pipeline_finds_events_from_the_microphone(tmp_path, shipped_model):
    x = demo_int16()
    env = fakemic_env(tmp_path, x)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  enabled: false\n")
    r = subprocess.run(
        [sys.executable, "-m", "detector.cli", "--config", str(cfg), "run", "--seconds", str(x.size / 16000)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    evs = [json.loads(line)["event"] for line in r.stdout.splitlines() if line.startswith("{")]
    truth = json.loads((ROOT / "detector/data/demo.json").read_text())["events"]
    # The same episodes, in the same order, as annotated (the times are wall clock here).
    starts = [e for e in evs if e["state"] == "start"]
    assert [e["label"] for e in starts] == [t["label"] for t in truth if t["label"] != "negative"], evs
    ends = {e["id"]: e for e in evs if e["state"] == "end"}
    assert set(ends) == {e["id"] for e in starts}
    # Onsets line up with what the file path finds in the same recording, within one hop (0.25 s) of
    # capture timing. (Against the annotation they may differ by up to a window: a slowly rising cry is
    # only recognised once most of a 1 s window holds it.)
    scan = subprocess.run(
        [sys.executable, "-m", "detector.cli", "scan", str(ROOT / "detector/data/demo.flac")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scan.returncode == 0, scan.stderr
    file_starts = [json.loads(line)["start"] for line in scan.stdout.splitlines()]
    got = [e["start"] - starts[0]["start"] for e in starts]
    want = [t - file_starts[0] for t in file_starts]
    assert np.allclose(got, want, atol=0.3), (got, want)


def test_missing_device_lists_available(tmp_path):
    env = fakemic_env(tmp_path, np.zeros(16000, np.int16))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  enabled: false\naudio:\n  device: no such microphone\n")
    r = subprocess.run(
        [sys.executable, "-m", "detector.cli", "--config", str(cfg), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "no such microphone" in r.stderr and "available inputs" in r.stderr and "fakemic" in r.stderr


def test_devices_lists_fakemic(tmp_path):
    env = fakemic_env(tmp_path, np.zeros(16000, np.int16))
    r = subprocess.run(
        [sys.executable, "-m", "detector.cli", "devices"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "fakemic" in r.stdout and "16000" in r.stdout


REOPEN = """
import logging, sys, numpy as np
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from detector.audio import MicrophoneSource
n = int(sys.argv[1])
src = MicrophoneSource(None, 16000, block_s=0.1, max_samples=n, stall_s=1.0)
got = []
for b in src.blocks():
    got.append(b)
    print(sum(x.size for x in got), flush=True)
np.save(sys.argv[2], np.round(np.concatenate(got) * 32768).astype(np.int16))
print(src.info(), flush=True)
"""


def test_a_stalled_device_is_reopened_and_capture_goes_on(tmp_path):
    """The fake microphone reads a named pipe: while nothing is written to it, the device delivers
    nothing (as a USB microphone pulled out does), and what is written afterwards is the device speaking
    again. The source must notice the stall, close and reopen the stream, and deliver every sample."""
    import threading
    import time

    x = demo_int16()[: 3 * 16000]
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    env = fakemic_env(tmp_path, np.zeros(1, np.int16)) | {"FAKEMIC_RAW": str(fifo)}
    # Held open for reading and writing, so that the pipe always has a reader: PortAudio opens and closes
    # the device while it looks for devices, and a pipe with no reader left would refuse our writes.
    fd = os.open(fifo, os.O_RDWR)
    os.write(fd, x[:16000].tobytes())  # 1 s, then the device stalls
    out = tmp_path / "captured.npy"
    proc = subprocess.Popen(
        [sys.executable, "-c", REOPEN, str(x.size), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while not any("reopening" in line for line in stderr) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("reopening" in line for line in stderr), stderr  # the stall was noticed
        os.write(fd, x[16000:].tobytes())  # the device is back
        while not any("reopened" in line for line in stderr) and time.monotonic() < deadline:
            time.sleep(0.05)
        # A fake-device detail: the pipe then ends, so that no read of it can block the stream's close
        # (the device is opened again only once it is back: a pipe with no writer would block that open).
        os.close(fd)
        fd = None
        rest = proc.communicate(timeout=30)[0]
    finally:
        if fd is not None:
            os.close(fd)
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "reopens=1" in rest, rest
    assert np.array_equal(np.load(out), x)


UNOPENABLE = """
from detector.audio import DeviceError, MicrophoneSource
src = MicrophoneSource(None, 16000, block_s=0.1, max_samples=1600)
src.index = 999  # gone since it was found: PortAudio fails to open it, as it does a busy device
try:
    next(src.blocks())
except DeviceError as e:
    print(e)
"""


def test_a_device_that_cannot_be_opened_is_a_clear_error(tmp_path):
    env = fakemic_env(tmp_path, np.zeros(1600, np.int16))
    r = subprocess.run([sys.executable, "-c", UNOPENABLE], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "cannot open input device 'default' at 16000 Hz" in r.stdout and "another program" in r.stdout, r.stdout
