"""The daemon speaks sd_notify: READY, WATCHDOG while the audio loop turns, STOPPING on SIGTERM."""

import dataclasses
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT

from detector.audio import FileSource
from detector.config import ClipsConfig, Config, MQTTConfig
from detector.confirm import load_second_opinion
from detector.model import Classifier
from detector.pipeline import make_pipeline
from detector.service import serve
from detector.sinks import Sink

DEMO = ROOT / "detector" / "data" / "demo.flac"


def test_notify_ready_watchdog_stopping(tmp_path, shipped_model):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  enabled: false\n")
    env = os.environ | {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector.cli", "--config", str(cfg), "run", "--input", str(DEMO)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    msgs: list[str] = []
    deadline = time.monotonic() + 30
    sent_term = False
    while time.monotonic() < deadline:
        try:
            msgs.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
        if not sent_term and sum("WATCHDOG=1" in m for m in msgs) >= 3:
            proc.send_signal(signal.SIGTERM)
            sent_term = True
        if proc.poll() is not None and sent_term:
            try:
                while True:
                    msgs.append(sock.recv(4096).decode())
            except TimeoutError:
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
        cfg.write_text(
            f"mqtt:\n  enabled: false\nclips:\n  enabled: {str(enabled).lower()}\n  dir: {clips}\n  pre_roll_s: 1.0\n"
        )
        r = subprocess.run(
            [sys.executable, "-m", "detector.cli", "--config", str(cfg), "run", "--input", str(DEMO), "--fast"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
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


class _StallingReplay:
    """The demo recording as a microphone delivers it, a 0.1 s block every 0.1 s, except that the device
    goes quiet for ``stall_s`` after ``at_s`` seconds, as an unplugged microphone does: the audio goes on
    afterwards, later by the stall, and meanwhile an empty block comes every 0.5 s (as from
    `MicrophoneSource`). A stall cannot be produced with a real device here; the rest is real."""

    def __init__(self, rate: int, at_s: float, stall_s: float, seconds: float = 4.0) -> None:
        self.replay = FileSource(DEMO, rate, 0.1, realtime=False, max_s=seconds)  # the first bark: 1.75-5.0 s
        self.name, self.rate, self.at, self.stall_s = "stalling replay", rate, int(at_s * rate), stall_s
        self.heard: list[tuple[int, float]] = []  # (samples delivered so far, wall time)

    def stop(self) -> None:
        self.replay.stop()

    def info(self):
        return self.replay.info()

    def blocks(self):
        n, t0 = 0, time.monotonic()
        for block in self.replay.blocks():
            if n <= self.at < n + block.size:
                t0 += self.stall_s
                for _ in range(int(self.stall_s / 0.5)):
                    time.sleep(0.5)
                    yield block[:0]
            n += block.size
            time.sleep(max(0.0, t0 + n / self.rate - time.monotonic()))  # a block exists once recorded
            self.heard.append((n, time.time()))
            yield block


def test_event_times_stay_on_the_wall_clock_through_a_device_stall(shipped_model):
    """Stream time counts samples; a stalled device delivers none, so stream time 0 + stream seconds would
    put every later event early by the stall. The service re-anchors its clock on each block."""
    cfg = Config(mqtt=MQTTConfig(enabled=False))
    clf = Classifier(cfg.model_path())
    rate = clf.frontend.sample_rate
    source = _StallingReplay(rate, at_s=0.5, stall_s=2.0)  # before the first bark (1.75 s into the file)
    out = io.StringIO()
    assert serve(cfg, clf, source, realtime=True, stream=out) == 0
    starts = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    first = next(e for e in starts if e["label"] == "bark" and e["state"] == "start")
    # Where the bark starts in the file, from the same pipeline without the stall...
    keep = []

    class Starts(Sink):
        def event(self, e):
            keep.append(e)

    make_pipeline(cfg, clf, [Starts()], load_second_opinion(cfg)).run(FileSource(DEMO, rate, max_s=4.0).blocks())
    at = int(round(next(e for e in keep if e.label == "bark").start * rate))
    # ...and when the device delivered that sample: the truth, within one 0.1 s block.
    heard = next(t for n, t in source.heard if n >= at)
    assert abs(first["start"] - heard) < 0.25, first["start"] - heard


class _TimedLines(io.StringIO):
    """The log sink's stream, noting when each line was written."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def write(self, text: str) -> int:
        self.times.append(time.time())
        return super().write(text)


def test_a_device_stall_ends_the_open_events(shipped_model):
    """A microphone unplugged in the middle of a bark must not leave the bark ON until it is back."""
    cfg = Config(mqtt=MQTTConfig(enabled=False))
    clf = Classifier(cfg.model_path())
    rate = clf.frontend.sample_rate
    source = _StallingReplay(rate, at_s=4.0, stall_s=3.0, seconds=4.5)
    out = _TimedLines()
    assert serve(cfg, clf, source, realtime=True, stream=out) == 0
    stalled_at = next(t for n, t in source.heard if n >= 4.0 * rate)  # the last block before the stall
    lines = [(json.loads(line)["event"], t) for line, t in zip(out.getvalue().splitlines(), out.times)]
    starts = [t for e, t in lines if e["label"] == "bark" and e["state"] == "start"]
    ends = [(e, t) for e, t in lines if e["label"] == "bark" and e["state"] == "end"]
    assert starts and starts[0] < stalled_at, lines  # barking when the device went quiet
    assert ends and stalled_at + 1.5 < ends[0][1] < stalled_at + 3.0, [(e["state"], t - stalled_at) for e, t in lines]
    # The end it reports is the last bark heard, before the stall: the silence moves no clock.
    assert ends[0][0]["end"] < stalled_at + 0.25, ends[0][0]["end"] - stalled_at


def test_a_long_event_is_saved_whole(tmp_path, shipped_model):
    """Clips are cut from the pipeline's history when their event ends: it must hold the longest clip."""
    import soundfile as sf

    x, sr = sf.read(DEMO, dtype="float32")
    barking = x[int(1.75 * sr) : int(5.0 * sr)]  # the demo's first bark, five times over: one 16 s episode
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([np.zeros(sr, np.float32), *[barking] * 5, np.zeros(3 * sr, np.float32)]), sr)
    cfg = Config(
        mqtt=MQTTConfig(enabled=False), clips=ClipsConfig(enabled=True, dir=str(tmp_path / "clips"), pre_roll_s=1.0)
    )
    clf = Classifier(cfg.model_path())
    out = io.StringIO()
    assert serve(cfg, clf, FileSource(long, sr, 0.1), realtime=False, stream=out) == 0
    end = next(
        e for e in map(lambda line: json.loads(line)["event"], out.getvalue().splitlines()) if e["state"] == "end"
    )
    (clip,) = (tmp_path / "clips").glob("*.flac")
    assert end["duration_s"] > 12
    assert sf.info(clip).duration == pytest.approx(end["duration_s"] + 1.0, abs=0.1)  # the event and its pre-roll


def test_a_clip_that_cannot_be_written_is_logged_and_detection_goes_on(tmp_path, caplog):
    from detector.decision import Event
    from detector.ring import RingBuffer
    from detector.sinks.clips import ClipSink

    history = RingBuffer(16000 * 10)
    history.write(np.random.default_rng(0).standard_normal(16000 * 5).astype(np.float32) * 0.1)
    clips = tmp_path / "clips"
    sink = ClipSink(ClipsConfig(enabled=True, dir=str(clips), pre_roll_s=0.5), history, 16000)
    end = Event(id="a" * 32, label="bark", state="end", start=2.0, end=3.0, time=4.5, score=0.9, dbfs=-20.0)
    clips.rmdir()
    clips.write_text("")  # the directory is gone: writing a clip there fails even for root
    sink.event(end)  # must not raise: the pipeline thread runs the sinks
    assert sink.written == [] and "could not save clip" in caplog.text
    clips.unlink()
    clips.mkdir()
    sink.event(dataclasses.replace(end, id="b" * 32))
    assert len(sink.written) == 1 and sink.written[0].exists()


def test_a_muted_input_is_said_once_in_the_log(tmp_path, shipped_model, caplog):
    import soundfile as sf

    cfg = Config(mqtt=MQTTConfig(enabled=False))
    clf = Classifier(cfg.model_path())
    x, sr = sf.read(DEMO, dtype="float32")
    muted = tmp_path / "muted.wav"
    sf.write(muted, np.concatenate([x[: 2 * sr], np.zeros(25 * sr, np.float32), x[: 2 * sr]]), sr)
    with caplog.at_level("WARNING", logger="detector.service"):
        assert serve(cfg, clf, FileSource(muted, sr, 0.1), realtime=False, stream=io.StringIO()) == 0
    assert sum("exact silence" in r.getMessage() for r in caplog.records) == 1, caplog.text
