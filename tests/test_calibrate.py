"""`detector calibrate` through real capture (ALSA file plugin) and on replayed rooms from the corpus."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import ROOT, need
from test_capture import fakemic_env

from detector.audiofile import read_audio

FS = 16000


def calibrate(*args, env=None, config=None, timeout=300):
    cmd = [sys.executable, "-m", "detector.cli"] + (["--config", str(config)] if config else []) + ["calibrate", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def kitchen(data_root, seconds: float) -> np.ndarray:
    x = read_audio(sorted((data_root / "noise/speechcommands").glob("*dishes*.flac"))[0], FS)
    return np.resize(x, int(seconds * FS)) * 0.3


def config_file(tmp_path, **extra) -> str:
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}} | extra))
    return p


def test_calibrate_through_real_capture(tmp_path, data_root, shipped_model):
    x = kitchen(data_root, 20)
    env = fakemic_env(tmp_path, np.round(x * 32767).astype(np.int16))
    cfg = config_file(tmp_path)
    r = calibrate("--seconds", "20", env=env, config=cfg)
    assert r.returncode == 0, r.stderr
    assert "s left" in r.stderr and "dBFS" in r.stderr  # progress bar and level meter
    out = tmp_path / "state" / "calibration"
    res = json.loads((out / "calibration.json").read_text())
    assert res["device"] == "default" and res["rate"] == FS and res["overflows"] == 0
    assert abs(res["seconds"] - 20) < 0.01
    # The measured level is the level of what we fed in (median of 100 ms blocks).
    blocks = x[: x.size // 1600 * 1600].reshape(-1, 1600)
    expect = np.median(10 * np.log10(np.mean(blocks**2, axis=1)))
    assert abs(res["dbfs_percentiles"]["50"] - expect) < 0.5
    md = (out / "calibration.md").read_text()
    assert "assumed to hold no barks or cries" in md
    assert (out / "noise_spectrum.png").exists()
    kept = list((tmp_path / "state" / "noise").glob("calibration-*.flac"))
    assert len(kept) == 1 and stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(kept[0].parent.stat().st_mode) == 0o700
    y, sr = sf.read(kept[0], dtype="int16")
    assert sr == FS and np.array_equal(y, np.round(x * 32767).astype(np.int16))


def test_dead_microphone_is_a_clear_error(tmp_path, shipped_model):
    env = fakemic_env(tmp_path, np.zeros(FS * 3, np.int16))
    r = calibrate("--seconds", "3", env=env, config=config_file(tmp_path))
    assert r.returncode == 3
    assert "the microphone gives only silence: is it muted?" in r.stderr


@pytest.fixture(scope="module")
def noisy_room(tmp_path_factory, data_root):
    """Kitchen noise with the held-out negatives the shipped model likes best laid over it: a room where the
    default thresholds raise false alarms (checked, not assumed)."""
    import csv

    from test_model import clip_max

    from detector.model import Classifier

    clf = Classifier(ROOT / "models/bark_cry.tflite")
    rows = [
        r for r in csv.DictReader(open(data_root / "manifest.csv")) if r["label"] == "negative" and r["fold"] in "45"
    ]
    scored = []
    for r in rows:
        x = read_audio(data_root / r["path"], FS)
        scored.append((float(clip_max(clf, x).max()), r["path"], x))
    scored.sort(key=lambda s: -s[0])
    bed = kitchen(data_root, 240)
    for i, (_, _, x) in enumerate(scored[:24]):
        s = i * 10 * FS
        x = x[: 5 * FS] * (0.25 / max(np.abs(x).max(), 1e-6))
        bed[s : s + x.size] += x
    p = tmp_path_factory.mktemp("room") / "noisy.flac"
    sf.write(p, np.clip(bed, -1, 1), FS)
    return p


@pytest.mark.slow  # a room of several minutes
def test_suggested_thresholds_cut_false_alarms(tmp_path, noisy_room, shipped_model):
    cfg = config_file(tmp_path)
    r = calibrate("--input", str(noisy_room), "--out", str(tmp_path / "rep"), "--no-keep", config=cfg)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "rep" / "calibration.json").read_text())
    labels = res["labels"]
    assert sum(v["false_alarms_default"] for v in labels.values()) > 0, "precondition: the room raises false alarms"
    for lab, v in labels.items():
        if v["false_alarms_default"]:
            assert v["false_alarms_suggested"] < v["false_alarms_default"], lab
        # The stated bound: recall at the suggestion is >= 80 %, or the report says plainly that it is not,
        # and moving the microphone closer is advised only where the same sounds louder are found.
        if v["recall_suggested"] < 0.8:
            assert not v["feasible"]
            assert v["near_snr_db"] > v["room_snr_db"]
            if v["false_alarms_suggested"] <= 0 and v["recall_near"] >= 0.8:
                assert "move the microphone closer" in v["advice"]
            elif v["false_alarms_suggested"] <= 0:
                assert "wherever the microphone is" in v["advice"]
            else:
                assert "away from the noise source" in v["advice"]
        else:
            assert v["suggested"] >= v["default_threshold"]


def test_apply_writes_a_valid_config_and_a_backup(tmp_path, shipped_model):
    x = np.random.default_rng(0).standard_normal(FS * 60).astype(np.float32) * 0.01
    rec = tmp_path / "room.flac"
    sf.write(rec, x, FS)
    cfg = config_file(tmp_path, detection={"hold_s": 2.0})
    cfg.write_text("# the broker is the NAS\n" + cfg.read_text())
    cfg.chmod(0o640)  # as installed: it may hold the broker's password
    before = cfg.read_text()
    r = calibrate("--input", str(rec), "--out", str(tmp_path / "rep"), "--apply", config=cfg)
    assert r.returncode == 0, r.stderr
    # the config's own text, comments and all, is untouched but for the include line at its end
    assert cfg.read_text().startswith(before) and cfg.read_text().rstrip().endswith("include: calibration.yaml")
    overrides = tmp_path / "calibration.yaml"
    assert stat.S_IMODE(cfg.stat().st_mode) == stat.S_IMODE(overrides.stat().st_mode) == 0o640
    assert set(yaml.safe_load(overrides.read_text())["detection"]["labels"]) == {"bark", "cry"}
    (backup,) = tmp_path.glob("config.yaml.bak-*")
    assert backup.read_text() == before
    shown = yaml.safe_load(
        subprocess.run(
            [sys.executable, "-m", "detector", "--config", str(cfg), "config", "show"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert shown["detection"]["hold_s"] == 2.0  # the user's own settings survive
    applied = yaml.safe_load(overrides.read_text())["detection"]["labels"]["cry"]["on_threshold"]
    assert shown["detection"]["labels"]["cry"]["on_threshold"] == applied
    # a second --apply rewrites the overrides (backed up) and adds no second include line
    r = calibrate("--input", str(rec), "--out", str(tmp_path / "rep"), "--apply", config=cfg)
    assert r.returncode == 0, r.stderr
    assert cfg.read_text().count("include:") == 1 and len(list(tmp_path.glob("calibration.yaml.bak-*"))) == 1


def test_apply_keeps_the_configs_owner_and_group(tmp_path, shipped_model):
    """Run with sudo, --apply must leave /etc/barkcry/config.yaml readable by the service's group, and by
    no one else (it may hold the broker's password)."""
    need(os.geteuid() == 0, "giving the config another group needs root (CI runs as root)")
    rec = tmp_path / "room.flac"
    sf.write(rec, np.random.default_rng(0).standard_normal(FS * 60).astype(np.float32) * 0.01, FS)
    cfg = config_file(tmp_path)
    os.chown(cfg, 0, 65534)  # root:nogroup, standing in for root:barkcry
    cfg.chmod(0o640)
    r = calibrate("--input", str(rec), "--out", str(tmp_path / "rep"), "--apply", config=cfg)
    assert r.returncode == 0, r.stderr
    (backup,) = tmp_path.glob("config.yaml.bak-*")
    for f in (cfg, backup, tmp_path / "calibration.yaml"):
        st = f.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 65534, 0o640), f


def test_calibrate_refuses_before_recording_what_it_could_not_write(tmp_path, shipped_model):
    """A state directory that cannot be made is found before minutes of recording, not after them."""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    cfg = config_file(tmp_path, state_dir=str(blocked / "state"))
    # No --input: it would record from the microphone, but must not get that far.
    r = calibrate("--seconds", "300", config=cfg, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"cannot write the room's noise in {blocked}/state/noise" in r.stderr, r.stderr
    assert "Recording the room" not in r.stderr


def test_a_raised_level_gate_keeps_a_far_bark_the_defaults_catch(tmp_path, data_root, shipped_model):
    """Kitchen noise at a median of -48.6 dBFS, and a bark whose loudest second is at -45 dBFS: found with
    the defaults, it must still be found once calibrate has applied its level gate."""
    from detector.pipeline import dbfs

    dishes = read_audio(data_root / "noise/speechcommands/doing_the_dishes_c02.flac", FS)
    noise = np.resize(dishes, 60 * FS)
    blocks = noise[: noise.size // 1600 * 1600].reshape(-1, 1600)
    noise *= 10 ** ((-48.6 - np.median([dbfs(b) for b in blocks])) / 20)
    room = tmp_path / "kitchen.wav"
    sf.write(room, noise, FS, subtype="FLOAT")
    bark = read_audio(data_root / "bark/esc50/1-100032-A.flac", FS)
    loudest = max(dbfs(bark[i : i + FS]) for i in range(0, max(1, bark.size - FS), FS // 10))
    far = noise[5 * FS : 5 * FS + bark.size + 2 * FS].copy()
    far[FS : FS + bark.size] += bark * 10 ** ((-45.0 - loudest) / 20)
    clip = tmp_path / "far_bark.wav"
    sf.write(clip, far, FS, subtype="FLOAT")

    cfg = config_file(tmp_path)
    scan = lambda: subprocess.run(
        [sys.executable, "-m", "detector", "--config", str(cfg), "scan", str(clip)],  # noqa: E731
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert '"label": "bark"' in scan().stdout, "precondition: the defaults find the far bark"
    r = calibrate("--input", str(room), "--out", str(tmp_path / "rep"), "--apply", config=cfg)
    assert r.returncode == 0, r.stderr
    applied = yaml.safe_load((tmp_path / "calibration.yaml").read_text())["detection"]["min_dbfs"]
    assert applied <= -48.0, applied
    assert '"label": "bark"' in scan().stdout
    md = (tmp_path / "rep" / "calibration.md").read_text()
    assert "are what a raised gate costs" in md
    assert not (tmp_path / "state" / "noise").exists()  # a file given with --input is not copied


def test_run_with_sudo_it_leaves_the_state_directory_to_its_owner(tmp_path, shipped_model):
    need(os.geteuid() == 0, "running as root is what is tested (CI runs as root)")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)  # nobody, standing in for the barkcry user
    rec = tmp_path / "room.flac"
    sf.write(rec, np.random.default_rng(0).standard_normal(FS * 10).astype(np.float32) * 0.01, FS)
    r = calibrate("--input", str(rec), config=config_file(tmp_path))
    assert r.returncode == 0, r.stderr
    made = [state / "calibration", *(state / "calibration").iterdir()]
    assert len(made) > 2 and all((f.stat().st_uid, f.stat().st_gid) == (65534, 65534) for f in made)
