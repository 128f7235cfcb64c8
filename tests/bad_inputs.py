#!/usr/bin/env python3
"""Bad inputs a user can give barkcry, each with the exit code and the one line it answers with.

    python tests/bad_inputs.py   # writes reports/bad_inputs.md

tests/test_bad_inputs.py runs every case and holds the report to what it finds. A config case is run
through both `config check` and `run`: the two must reject it alike.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "detector" / "data" / "demo.flac"
MODEL = ROOT / "models" / "bark_cry.tflite"
REPORT = ROOT / "reports" / "bad_inputs.md"
BASE = "mqtt:\n  enabled: false\nstate_dir: {tmp}/state\n"  # every case's config starts from this


@dataclass
class Case:
    area: str  # config, model, audio file, device, command
    what: str
    config: str = ""  # YAML added to BASE (the text may use {tmp})
    args: tuple[str, ...] = ("config", "check")
    files: dict[str, bytes | str] = field(default_factory=dict)  # written under tmp first
    exit: int = 2
    base: bool = True  # the config is BASE followed by ``config``; else ``config`` alone


def sidecar(**change) -> str:
    d = json.loads(MODEL.with_suffix(".json").read_text())
    for k, v in change.items():
        d[k] = v
    return json.dumps(d)


def thresholds(**t) -> str:
    return sidecar(thresholds=json.loads(MODEL.with_suffix(".json").read_text())["thresholds"] | t)


FLAC = DEMO.read_bytes()
WAV_NO_FRAMES = (
    b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00"
    b"\x10\x00data\x00\x00\x00\x00"
)
MODEL_AT = "model: {tmp}/m.tflite\n"

CASES = [
    # -- the config file ----------------------------------------------------------------------
    Case("config", "unknown key", "foo: 1\n"),
    Case("config", "unknown nested key", "audio:\n  devise: 1\n"),
    Case("config", "a string where a number goes", "detection:\n  hold_s: long\n"),
    Case("config", "YAML's on: read as a boolean key", "detection:\n  labels:\n    bark:\n      on: 0.9\n"),
    Case("config", "not YAML", "detection: [\n"),
    Case("config", "a list, not a mapping", "- a\n- b\n", base=False),
    Case("config", "not UTF-8", files={"latin1": b"log_level: info\n# caf\xe9\n"}, args=("config", "check")),
    Case("config", "the config file missing", args=("--config", "{tmp}/nope.yaml", "config", "check")),
    Case("config", "the config file a directory", args=("--config", "{tmp}", "config", "check")),
    Case("config", "log_level unknown", "log_level: loud\n"),
    Case("config", "audio.hop_s 0", "audio:\n  hop_s: 0\n"),
    Case("config", "audio.block_s 5", "audio:\n  block_s: 5\n"),
    Case("config", "audio.hop_s other than the model's", "audio:\n  hop_s: 0.5\n"),
    Case("config", "on_threshold a word", "detection:\n  labels:\n    bark:\n      on_threshold: high\n"),
    Case("config", "on_threshold 1.5", "detection:\n  labels:\n    bark:\n      on_threshold: 1.5\n"),
    Case("config", "on_threshold 0", "detection:\n  labels:\n    cry:\n      on_threshold: 0\n"),
    Case(
        "config",
        "off_threshold above on_threshold",
        "detection:\n  labels:\n    bark:\n      on_threshold: 0.5\n      off_threshold: 0.7\n",
    ),
    Case(
        "config",
        "off_threshold alone, above the model's threshold",
        "detection:\n  labels:\n    bark:\n      off_threshold: 0.95\n",
    ),
    Case("config", "a label the model lacks", "detection:\n  labels:\n    barks:\n      on_threshold: 0.9\n"),
    Case("config", "min_hits 0", "detection:\n  min_hits: 0\n"),
    Case("config", "a label's smoothing 0", "detection:\n  labels:\n    cry:\n      smoothing: 0\n"),
    Case("config", "hold_s negative", "detection:\n  hold_s: -1\n"),
    Case("config", "off_ratio 0", "detection:\n  off_ratio: 0\n"),
    Case("config", "ongoing_every_s 0 (a flood of QoS 1 messages)", "detection:\n  ongoing_every_s: 0\n"),
    Case("config", "min_dbfs 50 (nothing is ever that loud)", "detection:\n  min_dbfs: 50\n"),
    Case("config", "a label's min_dbfs 10", "detection:\n  labels:\n    bark:\n      min_dbfs: 10\n"),
    Case("config", "mqtt.port 0", "mqtt:\n  enabled: false\n  port: 0\n"),
    Case("config", "mqtt.port 70000", "mqtt:\n  enabled: false\n  port: 70000\n"),
    Case("config", "mqtt.port a word", "mqtt:\n  enabled: false\n  port: mqtt\n"),
    Case("config", "mqtt.keepalive -5", "mqtt:\n  enabled: false\n  keepalive: -5\n"),
    Case("config", "mqtt.host empty", "mqtt:\n  enabled: false\n  host: ''\n"),
    Case("config", "mqtt.level_every_s negative", "mqtt:\n  enabled: false\n  level_every_s: -1\n"),
    Case("config", "mqtt.device_id with /", "mqtt:\n  enabled: false\n  device_id: kitchen/pi\n"),
    Case("config", "mqtt.device_id #", "mqtt:\n  enabled: false\n  device_id: '#'\n"),
    Case("config", "mqtt.prefix with a wildcard", "mqtt:\n  enabled: false\n  prefix: home/+\n"),
    Case("config", "mqtt.queue_size 0", "mqtt:\n  enabled: false\n  queue_size: 0\n"),
    Case(
        "config",
        "password and password_file both",
        "mqtt:\n  enabled: false\n  password: a\n  password_file: /etc/hostname\n",
    ),
    Case("config", "password_file missing", "mqtt:\n  enabled: true\n  username: pi\n  password_file: {tmp}/nope\n"),
    Case("config", "TLS ca_file missing", "mqtt:\n  enabled: true\n  tls:\n    ca_file: {tmp}/nope.crt\n"),
    Case(
        "config",
        "TLS ca_file not a certificate",
        "mqtt:\n  enabled: true\n  tls:\n    ca_file: {tmp}/bad.crt\n",
        files={"bad.crt": "not a certificate\n"},
    ),
    Case(
        "config",
        "TLS certificate without its key",
        "mqtt:\n  enabled: true\n  tls:\n    cert_file: {tmp}/c.crt\n",
        files={"c.crt": "x\n"},
    ),
    Case("config", "clips.max_s 1e12", "clips:\n  enabled: true\n  dir: {tmp}/clips\n  max_s: 1.0e+12\n"),
    Case("config", "clips.max_s 0", "clips:\n  max_s: 0\n"),
    Case("config", "clips.pre_roll_s negative", "clips:\n  pre_roll_s: -1\n"),
    Case("config", "clips.max_total_mb 0", "clips:\n  max_total_mb: 0\n"),
    Case("config", "clips.dir shared with others (/tmp)", "clips:\n  enabled: true\n  dir: /tmp\n"),
    Case(
        "config",
        "clips.dir that cannot be created",
        "clips:\n  enabled: true\n  dir: {tmp}/afile/clips\n",
        files={"afile": "x"},
    ),
    Case("config", "history.keep_days 0", "history:\n  keep_days: 0\n"),
    Case("config", "history.keep_rows 0", "history:\n  keep_rows: 0\n"),
    Case("config", "verifier.min_false_alarms 0", "verifier:\n  min_false_alarms: 0\n"),
    Case("config", "verifier.max_positive_loss 1.5", "verifier:\n  max_positive_loss: 1.5\n"),
    Case("config", "second_opinion for an unknown label", "second_opinion:\n  labels:\n    dog: 0.5\n"),
    Case("config", "second_opinion threshold 2", "second_opinion:\n  labels:\n    bark: 2\n"),
    Case("config", "an episode for a label the model lacks", "episodes:\n  dog:\n    min_s: 60\n"),
    Case("config", "an episode's min_s 0", "episodes:\n  cry:\n    min_s: 0\n"),
    Case("config", "loud.dbfs 10", "loud:\n  dbfs: 10\n"),
    Case("config", "metrics.port 0", "metrics:\n  port: 0\n"),
    Case("config", "health.queue_share 2", "health:\n  queue_share: 2\n"),
    # -- the model ----------------------------------------------------------------------------
    Case("model", "model file missing", "model: {tmp}/nope.tflite\n"),
    Case("model", "model file not a model", MODEL_AT, files={"m.tflite": b"garbage" * 100, "m.json": sidecar()}),
    Case("model", "sidecar missing", MODEL_AT, files={"m.tflite": MODEL.read_bytes()}),
    Case("model", "sidecar not JSON", MODEL_AT, files={"m.tflite": MODEL.read_bytes(), "m.json": "{"}),
    Case(
        "model",
        "sidecar without labels",
        MODEL_AT,
        files={"m.tflite": MODEL.read_bytes(), "m.json": json.dumps({"frontend": {}, "thresholds": {}})},
    ),
    Case(
        "model",
        "sidecar threshold a word",
        MODEL_AT,
        files={"m.tflite": MODEL.read_bytes(), "m.json": thresholds(bark="high")},
    ),
    Case(
        "model",
        "sidecar threshold 1.5",
        MODEL_AT,
        files={"m.tflite": MODEL.read_bytes(), "m.json": thresholds(cry=1.5)},
    ),
    Case(
        "model",
        "sidecar without a label's threshold",
        MODEL_AT,
        files={"m.tflite": MODEL.read_bytes(), "m.json": sidecar(thresholds={"bark": 0.8})},
    ),
    Case(
        "model",
        "sidecar of another frontend",
        MODEL_AT,
        files={
            "m.tflite": MODEL.read_bytes(),
            "m.json": sidecar(frontend=json.loads(MODEL.with_suffix(".json").read_text())["frontend"] | {"n_mels": 40}),
        },
    ),
    Case(
        "model",
        "second opinion model corrupt (a warning: the small model goes on)",
        "second_opinion:\n  model: {tmp}/y.tflite\n",
        files={"y.tflite": b"garbage", "y.json": "{}"},
        exit=0,
    ),
    # -- audio files --------------------------------------------------------------------------
    Case("audio file", "scan: no such file", args=("scan", "{tmp}/nope.wav"), exit=1),
    Case("audio file", "scan: a directory", args=("scan", "{tmp}"), exit=1),
    Case("audio file", "scan: an empty file", args=("scan", "{tmp}/empty.wav"), files={"empty.wav": b""}, exit=1),
    Case("audio file", "scan: not audio", args=("scan", "{tmp}/t.flac"), files={"t.flac": "hello\n"}, exit=1),
    Case(
        "audio file",
        "scan: a WAV without samples",
        args=("scan", "{tmp}/z.wav"),
        files={"z.wav": WAV_NO_FRAMES},
        exit=1,
    ),
    Case(
        "audio file",
        "scan: a FLAC cut short",
        args=("scan", "{tmp}/cut.flac"),
        files={"cut.flac": FLAC[: len(FLAC) // 3]},
        exit=1,
    ),
    Case("audio file", "run --input: no such file", args=("run", "--input", "{tmp}/nope.wav", "--fast")),
    Case(
        "audio file",
        "run --input: not audio",
        args=("run", "--input", "{tmp}/t.wav", "--fast"),
        files={"t.wav": b"RIFF\x00\x00\x00\x00WAVEnot audio"},
    ),
    Case(
        "audio file",
        "calibrate --input: not audio",
        args=("calibrate", "--input", "{tmp}/t.wav", "--no-keep"),
        files={"t.wav": b"RIFF\x00\x00\x00\x00WAVEnot audio"},
    ),
    Case(
        "audio file",
        "evaluate: manifest missing",
        args=("evaluate", "--manifest", "{tmp}/m.csv", "--out", "{tmp}/ev"),
        exit=2,
    ),
    Case(
        "audio file",
        "evaluate: manifest without a label column",
        args=("evaluate", "--manifest", "{tmp}/m.csv", "--out", "{tmp}/ev"),
        files={"m.csv": "path,source\na.flac,x\n"},
        exit=2,
    ),
    Case(
        "audio file",
        "evaluate: a manifest whose paths are not under --root",
        args=("evaluate", "--manifest", "{tmp}/m.csv", "--out", "{tmp}/ev"),
        files={"m.csv": "path,label,source\nbark/a.flac,bark,x\nbark/b.flac,bark,x\n"},
    ),
    # -- devices ------------------------------------------------------------------------------
    Case("device", "run: no such input device", "audio:\n  device: nosuchmic\n", args=("run",)),
    Case("device", "run: an input device index that does not exist", "audio:\n  device: 99\n", args=("run",)),
    Case("device", "calibrate: no such input device", args=("calibrate", "--device", "nosuchmic", "--seconds", "60")),
    Case(
        "command",
        "calibrate: a recording too short to set thresholds from",
        args=("calibrate", "--input", "{tmp}/short.flac", "--no-keep", "--apply"),
        files={"short.flac": FLAC},
    ),
    Case("command", "calibrate: a recording too short to measure", args=("calibrate", "--seconds", "0.3")),
    # -- commands -----------------------------------------------------------------------------
    Case("command", "mark: an unknown event id", args=("mark", "nosuchid", "false")),
    Case("command", "verifier fit with nothing marked", args=("verifier", "fit"), exit=0),
]


def normalise(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(ROOT), ".")
    text = re.sub(r"/tmp/barkcry-bad-\w+", "<tmp>", text)
    return re.sub(r"pytest-of-\w+/pytest-\d+/\S+", "<tmp>", text)


def error_lines(stderr: str) -> list[str]:
    """What the user is told: the lines that are not the log's (timestamped) or its continuation."""
    return [x for x in stderr.splitlines() if x.strip() and not re.match(r"\d{4}-\d\d-\d\d ", x)]


def run_case(case: Case) -> list[tuple[tuple[str, ...], int, str, str]]:
    """[(args, exit code, first line, whole stderr)] for each command the case is run through."""
    tmp = Path(tempfile.mkdtemp(prefix="barkcry-bad-"))
    try:
        for name, content in case.files.items():
            (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        cfg = tmp / "config.yaml"
        if "latin1" in case.files:
            cfg = tmp / "latin1"
            cfg.write_bytes(BASE.format(tmp=tmp).encode() + case.files["latin1"])
        else:
            cfg.write_text((BASE.format(tmp=tmp) if case.base else "") + case.config.format(tmp=tmp))
        args = tuple(a.format(tmp=tmp) for a in case.args)
        runs = [args if "--config" in args else ("--config", str(cfg), *args)]
        if case.area == "config" and case.args == ("config", "check"):
            runs.append(("--config", str(cfg), "run", "--input", str(DEMO), "--fast", "--seconds", "1"))
        if case.area == "model" and case.exit == 2:
            runs.append(("--config", str(cfg), "scan", str(DEMO)))
        out = []
        env = os.environ | {"PYTHONWARNINGS": "ignore"}
        for a in runs:
            r = subprocess.run(
                [sys.executable, "-m", "detector", *a], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
            )
            lines = error_lines(r.stderr) or r.stdout.splitlines() or [""]
            out.append((a, r.returncode, normalise(lines[0], tmp), normalise(r.stderr, tmp)))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all() -> list[tuple[Case, list]]:
    with ThreadPoolExecutor(2) as pool:
        return list(zip(CASES, pool.map(run_case, CASES)))


def table(results) -> str:
    L = [
        "# Bad inputs and what barkcry answers",
        "",
        "Command: `python tests/bad_inputs.py` (kept by `tests/test_bad_inputs.py`). Each case runs the real CLI "
        "on a fresh directory (`<tmp>`) holding a config that starts from `mqtt.enabled: false` and a state "
        "directory there. A config case runs through `config check` and through `run`, which must agree; a model "
        "case that stops `config check` stops `scan` too.",
        "",
        "| # | area | case | command | exit | first line |",
        "|---:|---|---|---|---:|---|",
    ]
    for i, (case, runs) in enumerate(results, 1):
        for a, code, first, _ in runs:
            cmd = " ".join(x for x in a if not x.endswith("config.yaml") and x != "--config")
            cmd = normalise(cmd, Path("/nonexistent")).replace(str(DEMO.relative_to(ROOT)), "demo.flac")
            L.append(f"| {i} | {case.area} | {case.what} | `{cmd}` | {code} | {first.replace('|', '/')} |")
    return "\n".join(L) + "\n"


def main() -> int:
    results = run_all()
    REPORT.write_text(table(results))
    print(f"{len(CASES)} cases written to {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
