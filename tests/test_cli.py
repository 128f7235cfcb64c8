"""`detector scan`, `evaluate` and `config` end to end on real files, and the errors users will meet."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

DEMO = ROOT / "detector" / "data" / "demo.flac"


def run(*args, cwd=ROOT, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "detector.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def broken(tmp_path):
    p = tmp_path / "broken.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")
    return p


def test_scan_reports_events_and_skips_a_broken_file(data_root, shipped_model, broken):
    bark = data_root / "bark/esc50/1-100032-A.flac"
    r = run("scan", str(bark), str(broken), str(DEMO), "--scores")
    assert r.returncode == 1  # something failed...
    assert "broken.wav" in r.stderr and "skipped" in r.stderr  # ...it says what...
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    windows = [x for x in lines if "scores" in x]
    events = [x for x in lines if "label" in x]
    assert {w["file"] for w in windows} == {str(bark), str(DEMO)}  # ...and the others went on
    bark_windows = [w for w in windows if w["file"] == str(bark)]
    assert all(set(w["scores"]) == {"bark", "cry"} for w in windows)
    hops = [b["t"] - a["t"] for a, b in zip(bark_windows, bark_windows[1:])]
    assert max(hops) <= 0.25 + 1e-6
    assert any(e["file"] == str(bark) and e["label"] == "bark" for e in events)
    for e in events:
        assert set(e) - {"confirm_score"} == {"file", "label", "start", "end", "score"} and e["end"] > e["start"]
        if e["label"] == "bark":  # barks go through the second opinion
            assert e["confirm_score"] >= 0.5


def test_scan_hears_a_bark_in_the_first_moments_of_a_file(data_root, shipped_model):
    # This ESC-50 clip is a 0.3 s bark at 0 s, then silence: alone it fills one window, and the decider
    # wants two (its window scores were 0.75, then 0.06). Scan puts silence before the file, as a stream has.
    bark = data_root / "bark/esc50/1-110389-A.flac"
    r = run("scan", str(bark), "--scores")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    events = [x for x in lines if "label" in x]
    assert [e["label"] for e in events] == ["bark"]
    assert events[0]["start"] < 0.3 and 0 <= events[0]["start"] < events[0]["end"] <= 5.01  # the file's clock
    assert all(0 < w["t"] <= 5.01 for w in lines if "scores" in w)


def test_scan_without_scores_prints_only_events(shipped_model):
    r = run("scan", str(DEMO))
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    truth = json.loads((ROOT / "detector/data/demo.json").read_text())["events"]
    labels = {e["label"] for e in events}
    assert labels == {t["label"] for t in truth if t["label"] != "negative"}
    for e in events:  # every event overlaps a true event of its label
        assert any(
            t["label"] == e["label"] and e["start"] < t["end"] + 0.5 and e["end"] > t["start"] - 0.5 for t in truth
        ), e


def test_evaluate_writes_a_report_and_skips_broken(tmp_path, data_root, shipped_model, broken):
    rows = list(csv.DictReader(open(data_root / "manifest.csv")))
    hard = "bark/us8k/43786-3-1-0.flac"  # the fold-5 bark the shipped model ranks lowest (reports/bark_cry/check.md)
    pick = (
        [r for r in rows if r["path"] == hard]
        + [r for r in rows if r["fold"] == "5" and r["label"] == "bark" and r["path"] != hard][:3]
        + [r for r in rows if r["fold"] == "5" and r["label"] == "cry"][:4]
        + [r for r in rows if r["fold"] == "5" and r["label"] == "negative"][:8]
    )
    for r in pick:
        r["path"] = str(data_root / r["path"])
    pick.append(dict(pick[0], path=str(broken), label="negative", source="broken"))
    man = tmp_path / "m.csv"
    with open(man, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(pick)
    out = tmp_path / "eval"
    r = run("evaluate", "--manifest", str(man), "--root", "/", "--out", str(out))
    assert r.returncode == 1 and "broken.wav" in r.stderr
    res = json.loads((out / "evaluation.json").read_text())
    assert res["clips"] == 16 and len(res["skipped"]) == 1
    assert set(res["labels"]) == {"bark", "cry"}
    for m in res["labels"].values():
        assert 0 <= m["auc"] <= 1 and m["positives"] == 4 and m["negatives"] == 8
        assert m["auc_ci95"][0] <= m["auc"] <= m["auc_ci95"][1]
    # It scores below some negatives, so it is the clip that costs the bark AUC the most, and is named first.
    costly = res["costliest"]["bark"]
    assert costly and costly[0]["path"].endswith(hard) and costly[0]["label"] == "bark"
    assert all(0 < c["share"] <= 1 for c in costly) and [c["share"] for c in costly] == sorted(
        (c["share"] for c in costly), reverse=True
    )
    assert res["labels"]["bark"]["auc"] < 1
    md = (out / "evaluation.md").read_text()
    assert "ROC-AUC" in md and "bark/us8k" in md and "cost the bark AUC the most" in md
    assert (out / "roc.png").stat().st_size > 1000


def test_evaluate_refuses_a_missing_or_wrong_manifest_by_name(tmp_path, shipped_model):
    r = run("evaluate", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "cannot read manifest" in r.stderr and "none.csv" in r.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,label\nx.wav,bark\n")
    r = run("evaluate", "--manifest", str(wrong), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "lacks the column(s) path, source" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_with_a_header_only_manifest_scores_nothing_and_says_so(tmp_path, shipped_model):
    man = tmp_path / "m.csv"
    man.write_text("path,label,source\n")
    r = run("evaluate", "--manifest", str(man), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "no clip of" in r.stderr and "Traceback" not in r.stderr and "lacks" not in r.stderr
    assert not (tmp_path / "o").exists()  # no report of nothing


def test_evaluate_with_no_readable_clip_reports_it_and_fails(tmp_path, shipped_model, broken):
    man = tmp_path / "m.csv"
    man.write_text(f"path,label,source\n{broken.name},bark,x\nnope.wav,bark,x\n")
    r = run("evaluate", "--manifest", str(man), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "skipped" in r.stderr and "no clip of" in r.stderr and "Traceback" not in r.stderr
    assert "nope.wav: no such file" in r.stderr and not (tmp_path / "o").exists()
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("path,label,source\nbark/a.flac,bark,x\nbark/b.flac,bark,x\n")
    r = run("evaluate", "--manifest", str(elsewhere), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--root" in r.stderr, r.stderr


def test_bad_config_key_exits_2_naming_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  hots: broker.lan\n")
    r = run("--config", str(cfg), "run")
    assert r.returncode == 2
    assert "mqtt.hots" in r.stderr and "unknown key" in r.stderr and "host" in r.stderr


def test_bad_config_value_names_key_value_and_expectation(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detection:\n  labels:\n    bark:\n      on_threshold: high\n")
    r = run("--config", str(cfg), "config", "check")
    assert r.returncode == 2
    assert "detection.labels.bark.on_threshold" in r.stderr and "'high'" in r.stderr and "number" in r.stderr


@pytest.mark.parametrize(
    "yaml_text, key, expected",
    [
        ("detection:\n  labels:\n    barks:\n      on_threshold: 0.9\n", "detection.labels.barks", "bark, cry"),
        ("detection:\n  labels:\n    bark:\n      min_hits: 0\n", "detection.labels.bark.min_hits", "integer >= 1"),
        ("detection:\n  labels:\n    cry:\n      hold_s: -1\n", "detection.labels.cry.hold_s", "seconds >= 0"),
        ("clips:\n  max_s: 0\n", "clips.max_s", "seconds in (0, 600]"),
    ],
)
def test_config_check_finds_what_scan_and_run_would_trip_on(tmp_path, shipped_model, yaml_text, key, expected):
    """A per-label override is checked like its global default, and a label the model lacks is named:
    before, scan and run died with a traceback, or ignored the label, while config check said OK."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    for args in (("config", "check"), ("scan", str(ROOT / "detector" / "data" / "demo.flac"))):
        r = run("--config", str(cfg), *args)
        assert r.returncode == 2 and key in r.stderr and expected in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_config_check_reads_the_password_file(tmp_path, shipped_model):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"mqtt:\n  username: pi\n  password_file: {tmp_path / 'nope'}\n")
    r = run("--config", str(cfg), "config", "check")
    assert r.returncode == 2 and "mqtt.password_file: cannot read" in r.stderr, r.stderr


@pytest.mark.parametrize("command", ["run", "calibrate"])
def test_an_unreadable_input_file_is_one_line_not_a_traceback(tmp_path, shipped_model, command):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"mqtt:\n  enabled: false\nstate_dir: {tmp_path}\n")
    r = run("--config", str(cfg), command, "--input", str(tmp_path / "missing.wav"))
    assert r.returncode == 2 and "missing.wav: no such file" in r.stderr, r.stderr
    assert "XNNPACK" not in r.stderr  # the runtime's banner is not ours to print
    assert "Traceback" not in r.stderr


def test_yaml_boolean_key_trap_is_explained(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detection:\n  labels:\n    cry:\n      on: 0.7\n")
    r = run("--config", str(cfg), "config", "check")
    assert r.returncode == 2 and "detection.labels.cry.true" in r.stderr and "on_threshold" in r.stderr


def test_config_show_masks_secrets(tmp_path, shipped_model):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  username: me\n  password: hunter2\n")
    assert run("--config", str(cfg), "config", "check").returncode == 0
    r = run("--config", str(cfg), "config", "show")
    assert r.returncode == 0 and "hunter2" not in r.stdout and "***" in r.stdout and "username: me" in r.stdout


def test_missing_and_corrupt_model_give_clear_errors(tmp_path, shipped_model):
    r = run("--model", str(tmp_path / "nope.tflite"), "scan", str(DEMO))
    assert r.returncode == 2 and "nope.tflite not found" in r.stderr
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 100)
    shutil.copy(shipped_model.with_suffix(".json"), bad.with_suffix(".json"))
    r = run("--model", str(bad), "scan", str(DEMO))
    assert r.returncode == 2 and "cannot be loaded" in r.stderr and "Traceback" not in r.stderr


def test_demo_runs_without_a_broker(shipped_model, tmp_path):
    """`make demo` on a machine with no broker: events are printed, MQTT says so once and goes on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"mqtt:\n  host: 127.0.0.1\n  port: {port}\n")
    r = run("--config", str(cfg), "run", "--input", str(DEMO), "--fast", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("cannot connect") == 1 and "connection refused" in r.stderr
    events = [json.loads(x)["event"] for x in r.stdout.splitlines() if x.startswith("{")]
    assert {e["label"] for e in events if e["state"] == "start"} == {"bark", "cry"}


def test_log_level_on_the_command_line_wins_over_the_config(tmp_path, shipped_model):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"state_dir: {tmp_path}\nlog_level: warning\nmqtt:\n  enabled: false\n")
    quiet = run("--config", str(cfg), "run", "--input", str(DEMO), "--fast", timeout=60)
    loud = run("--config", str(cfg), "--log-level", "debug", "run", "--input", str(DEMO), "--fast", timeout=60)
    assert quiet.returncode == loud.returncode == 0
    assert " INFO " not in quiet.stderr
    assert " DEBUG " in loud.stderr and "listening on" in loud.stderr


def test_python_dash_m_detector_and_a_bad_event_level(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "detector", "calibrate", "--event-dbfs", "bark", "--input", "x.flac"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "expected LABEL=DB, e.g. bark=-22" in r.stderr and "Traceback" not in r.stderr


def test_input_errors_say_what_is_wrong_and_seconds_bounds_a_file(tmp_path, shipped_model):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"mqtt:\n  enabled: false\nstate_dir: {tmp_path}\n")
    r = run("--config", str(cfg), "scan", str(tmp_path))
    assert r.returncode == 1 and f"{tmp_path}: is a directory" in r.stderr, r.stderr
    # the demo's first bark starts at 1.75 s: with --seconds 1.5 the run never reaches it
    r = run("--config", str(cfg), "run", "--input", str(DEMO), "--fast", "--seconds", "1.5")
    assert r.returncode == 0, r.stderr
    full = run("--config", str(cfg), "run", "--input", str(DEMO), "--fast")
    assert '"state": "start"' not in r.stdout and '"state": "start"' in full.stdout


def test_config_show_prints_what_is_in_force_and_loads_back(tmp_path, shipped_model):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  enabled: false\ndetection:\n  labels:\n    cry:\n      on_threshold: 0.97\n")
    r = run("--config", str(cfg), "config", "show")
    assert r.returncode == 0, r.stderr
    shown = yaml.safe_load(r.stdout)
    assert shown["model"].endswith("bark_cry.tflite") and shown["second_opinion"]["model"].endswith("yamnet.tflite")
    labels = shown["detection"]["labels"]
    assert labels["cry"]["on_threshold"] == 0.97 and 0 < labels["bark"]["on_threshold"] < 1  # the sidecar's
    again = tmp_path / "shown.yaml"
    again.write_text(r.stdout)
    assert run("--config", str(again), "config", "check").returncode == 0
