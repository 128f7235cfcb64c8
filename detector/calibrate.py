"""`detector calibrate`: record the room, measure it, count false alarms, tune thresholds, keep the noise.

The recording is assumed to hold no barks or cries: every event on it is a false alarm.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from .audio import FileSource, MicrophoneSource, resolve_device
from .audiofile import duration_s, read_audio
from .config import DEFAULT_PATH, Config, included, load, merged
from .confirm import confirm_thresholds, load_second_opinion
from .decision import LabelPolicy
from .frontend import LogMel
from .model import Classifier
from .pipeline import Window, dbfs, make_pipeline
from .replay import CachedYamnet, replay
from .scan import ScanSink

log = logging.getLogger(__name__)

BUNDLED_POSITIVES = Path(__file__).resolve().parent / "data" / "positives"
# Typical level of the loudest second of a bark or a cry 2-4 m from a USB microphone at default gain.
# An assumption, not a measurement of this room: the report says so, and --event-dbfs overrides it.
TYPICAL_EVENT_DBFS = {"bark": -22.0, "cry": -28.0}
NEAR_EVENT_MAX_DBFS = -20.0  # loudest-second level of a close event, with headroom for its peaks
MAX_FA_PER_HOUR = 1.0
MIN_SECONDS = 3.0  # of the room, to measure it at all
MIN_APPLY_SECONDS = 60.0  # to write thresholds into the config: a minute of the room's usual sounds at least
EXIT_DEAD_INPUT = 3
THRESHOLDS = np.round(np.arange(0.05, 0.995, 0.01), 2)


class DeadInputError(Exception):
    pass


@dataclass
class Recording:
    samples: np.ndarray
    rate: int
    device: str
    overflows: int

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate


@dataclass
class LabelResult:
    label: str
    default_threshold: float
    false_alarms_default: int
    worst: list[tuple[float, float]]  # (time s, smoothed score) of the loudest offenders
    suggested: float
    false_alarms_suggested: int
    recall_default: float
    recall_suggested: float
    room_snr_db: float
    near_snr_db: float  # the same sounds as from a closer microphone: up to 20 dB louder, below clipping
    recall_near: float  # recall at the suggested threshold at near_snr_db
    feasible: bool
    advice: str
    grid: list[float] = field(default_factory=list)
    fa_curve: list[int] = field(default_factory=list)
    recall_curve: list[float] = field(default_factory=list)


# -- capture ---------------------------------------------------------------------------------------
def record(
    cfg: Config, seconds: float, device: str | None, input_file: str | None, rate: int, out=sys.stderr
) -> Recording:
    """Through the same capture path as `detector run`, with a progress bar and a live level meter."""
    n = int(round(seconds * rate))
    src: FileSource | MicrophoneSource
    if input_file:
        src = FileSource(input_file, rate, block_s=0.1, max_s=seconds or None)
        n = int(round(src.duration_s * rate)) + 1
    else:
        src = MicrophoneSource(device if device is not None else cfg.audio.device, rate, 0.1, max_samples=n)
    buf = np.zeros(n, np.float32)
    got, last_print = 0, 0.0
    tty = out.isatty()
    for block in src.blocks():
        take = min(block.size, n - got)
        buf[got : got + take] = block[:take]
        got += take
        now = time.monotonic()
        if now - last_print >= (0.25 if tty else 10.0) or got >= n:
            last_print = now
            level = dbfs(block) if block.size else -200.0
            frac = got / n
            bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
            meter = "|" * max(0, int((level + 90) / 3))
            msg = (
                f"[{bar}] {100 * frac:5.1f} %  {max(0.0, (n - got) / rate):5.0f} s left  {level:6.1f} dBFS {meter:<30}"
            )
            out.write(("\r" + msg) if tty else (msg + "\n"))
            out.flush()
        if got >= n:
            break
    if tty:
        out.write("\n")
    info = src.info()
    return Recording(buf[:got], rate, info.device, info.overflows)


def check_alive(rec: Recording) -> None:
    x = rec.samples
    if x.size == 0 or np.all(x == 0):
        raise DeadInputError("the microphone gives only silence: is it muted? (every sample is zero)")
    if np.ptp(x) == 0:
        raise DeadInputError(f"the microphone gives a constant value ({x[0]:.4f}): is it muted or unplugged?")


# -- analysis --------------------------------------------------------------------------------------
def window_scores(cfg: Config, clf: Classifier, x: np.ndarray) -> list[Window]:
    """Every classifier window over ``x``, through the real pipeline."""

    keep = ScanSink("", None, keep_windows=True)
    pipe = make_pipeline(cfg, clf, [keep])
    for i in range(0, x.size, 16000):
        pipe.process(x[i : i + 16000])
    return keep.windows


def starts(
    windows: list[Window],
    label: str,
    policy: LabelPolicy,
    window_s: float,
    audio: np.ndarray | None = None,
    second: CachedYamnet | None = None,
    confirm: dict[str, float] | None = None,
) -> list:
    """Event starts the real decider raises for one label over a sequence of windows, each confirmed by the
    second opinion on ``audio`` when ``confirm`` names the label."""
    return [e for e in replay(windows, {label: policy}, window_s, audio, 16000, second, confirm) if e.state == "start"]


GATE_STEPS_DB = (0.0, 3.0, 6.0, 10.0, 15.0)  # event levels above the room's median noise, tried for the gate


def quietest_found(
    cfg: Config,
    clf: Classifier,
    x: np.ndarray,
    positives: dict[str, list[np.ndarray]],
    noise_db: float,
    policies: dict[str, LabelPolicy],
    window_s: float,
    second: CachedYamnet | None,
    confirm: dict[str, float],
    rng,
) -> float | None:
    """The quietest level (loudest second, dBFS) at which the detector as configured, level gate aside,
    still finds any of the bundled positives laid into this room: a gate above it would lose far-away
    events that are found today. None if none is found at any of the levels tried."""
    for step in GATE_STEPS_DB:
        for lab, sounds in positives.items():
            if not sounds or lab not in policies:
                continue
            ungated = replace(policies[lab], min_dbfs=-120.0)
            mixes = mix_positives(x, sounds, step, rng)
            found = [
                bool(starts(window_scores(cfg, clf, m), lab, ungated, window_s, m, second, confirm)) for m in mixes
            ]
            if any(found):
                return round(noise_db + step, 1)
    return None


def level_gate(noise_db: float, quietest_found_db: float | None, quietest_typical_db: float, now_db: float) -> float:
    """``min_dbfs`` for this room: 6 dB over the median noise, but never above a level where events are still
    found (3 dB under it) nor near the typical events (10 dB under them), and never below the gate now."""
    gate = min(noise_db + 6.0, quietest_typical_db - 10.0)
    if quietest_found_db is not None:
        gate = min(gate, quietest_found_db - 3.0)
    return round(max(gate, now_db), 1)


def mix_positives(noise: np.ndarray, positives: list[np.ndarray], snr_db: float, rng) -> list[np.ndarray]:
    """Each positive laid into a random stretch of the room's noise at ``snr_db`` (loudest second vs noise RMS)."""
    out = []
    for p in positives:
        n = p.size + 2 * 16000  # 1 s of room before and after
        start = int(rng.integers(0, max(1, noise.size - n)))
        bed = noise[start : start + n]
        if bed.size < n:
            bed = np.resize(noise, n)
        seg = bed.astype(np.float32).copy()
        sig_db = max(dbfs(p[i : i + 16000]) for i in range(0, max(1, p.size - 16000 + 1), 4000))
        noise_db = dbfs(bed)
        gain = 10 ** ((noise_db + snr_db - sig_db) / 20)
        seg[16000 : 16000 + p.size] += gain * p
        out.append(np.clip(seg, -1, 1))
    return out


def load_positives(folder: Path, labels: list[str], rate: int) -> dict[str, list[np.ndarray]]:
    out = {}
    for lab in labels:
        files = sorted((folder / lab).glob("*.flac")) + sorted((folder / lab).glob("*.wav"))
        out[lab] = [read_audio(f, rate) for f in files]
    return out


def analyse(
    cfg: Config,
    clf: Classifier,
    rec: Recording,
    positives: dict[str, list[np.ndarray]],
    event_dbfs: dict[str, float],
    seed: int = 0,
    second: CachedYamnet | None = None,
) -> tuple[dict, list[LabelResult]]:
    """``second``: count the events the second opinion confirms (the product's), or None for the small
    model alone."""
    confirm = confirm_thresholds(cfg, clf, second.model if second is not None else None)
    x = rec.samples
    block = rec.rate // 10
    levels = np.array([dbfs(x[i : i + block]) for i in range(0, x.size - block + 1, block)])
    stats = {
        "seconds": rec.seconds,
        "device": rec.device,
        "rate": rec.rate,
        "overflows": rec.overflows,
        "dbfs_percentiles": {str(q): float(np.percentile(levels, q)) for q in (5, 25, 50, 75, 95, 99)},
        "dbfs_max": float(levels.max()),
        "clipped_samples": int(np.sum(np.abs(x) >= 32767 / 32768)),
        "dc_offset": float(np.mean(x)),
        "mel_spectrum_db": LogMel(clf.frontend).compute(x).mean(axis=0).tolist(),
        "second_opinion": confirm or None,
    }
    noise_db = stats["dbfs_percentiles"]["50"]
    hours = rec.seconds / 3600
    window_s = clf.frontend.window_samples / clf.frontend.sample_rate
    base_policies = cfg.detection.policies(clf.thresholds_for(confirm))

    noise_windows = window_scores(cfg, clf, x)
    rng = np.random.default_rng(seed)
    floor = quietest_found(
        cfg, clf, x, positives, noise_db, base_policies, window_s, second, confirm, np.random.default_rng(seed + 1)
    )
    gate = level_gate(noise_db, floor, min(event_dbfs.values()), cfg.detection.min_dbfs)
    stats["suggested_min_dbfs"], stats["quietest_found_dbfs"] = gate, floor
    stats["min_dbfs_now"] = cfg.detection.min_dbfs
    results = []
    for lab in clf.labels:
        base = base_policies[lab]

        def started(windows, audio, policy, lab=lab):
            return starts(windows, lab, policy, window_s, audio, second, confirm)

        snr = event_dbfs[lab] - noise_db
        same_places = copy.deepcopy(rng)  # replays the placements the next line draws
        mixes = mix_positives(x, positives.get(lab, []), snr, rng)
        mix_windows = [window_scores(cfg, clf, m) for m in mixes]
        # Whether a closer microphone would help: the same sounds at the same places in the recording,
        # 20 dB louder (ten times closer in free field), their loudest second at most -20 dBFS (peaks unclipped).
        near_snr = min(snr + 20.0, NEAR_EVENT_MAX_DBFS - noise_db)
        near_mixes = mix_positives(x, positives.get(lab, []), near_snr, same_places)
        near_windows = [window_scores(cfg, clf, m) for m in near_mixes]

        def policy(t, gate_db=None):
            on = float(t)
            return LabelPolicy(
                on=on,
                off=min(base.off, on),
                min_hits=base.min_hits,
                hold_s=base.hold_s,
                smoothing=base.smoothing,
                min_dbfs=base.min_dbfs if gate_db is None else gate_db,
            )

        grid = np.unique(np.concatenate([THRESHOLDS, [base.on]]))
        fa_curve = [len(started(noise_windows, x, policy(t, gate))) for t in grid]
        rec_curve = [
            float(np.mean([bool(started(w, m, policy(t, gate))) for w, m in zip(mix_windows, mixes)]))
            if mix_windows
            else float("nan")
            for t in grid
        ]
        fa_default = started(noise_windows, x, base)
        # <= 1 false alarm per hour: on a short recording that means none at all in it.
        allowed = int(np.floor(MAX_FA_PER_HOUR * hours))
        # Calibration only ever tightens: a quiet room does not prove the model safe on sounds it never played.
        ok = [i for i, fa in enumerate(fa_curve) if fa <= allowed and grid[i] >= base.on]
        i_sug = ok[0] if ok else len(grid) - 1
        suggested = float(grid[i_sug])
        r_default = (
            float(np.mean([bool(started(w, m, base)) for w, m in zip(mix_windows, mixes)]))
            if mix_windows
            else float("nan")
        )
        r_sug = rec_curve[i_sug]
        r_near = (
            float(np.mean([bool(started(w, m, policy(suggested, gate))) for w, m in zip(near_windows, near_mixes)]))
            if near_windows
            else float("nan")
        )
        worst = sorted(((e.start, e.score) for e in fa_default), key=lambda s: -s[1])[:5]
        feasible = bool(ok) and r_sug >= 0.8
        if not ok:
            advice = (
                f"no threshold keeps {lab} false alarms at <= {MAX_FA_PER_HOUR:g}/h in this room: "
                "move the microphone away from the noise source"
            )
        elif r_sug < 0.8 and r_near < 0.8:  # louder does not help: the misses are the model's, not the room's
            advice = (
                f"{lab} recall at {MAX_FA_PER_HOUR:g} false alarm/h would be {100 * r_sug:.0f} %, and "
                f"{100 * r_near:.0f} % at {near_snr:.0f} dB SNR: the model misses some of these sounds "
                "wherever the microphone is"
            )
        elif r_sug < 0.8:
            advice = (
                f"{lab} recall at {MAX_FA_PER_HOUR:g} false alarm/h would be {100 * r_sug:.0f} %, "
                f"{100 * r_near:.0f} % at {near_snr:.0f} dB SNR: move the microphone closer to where the "
                "dog or the baby is"
            )
        else:
            advice = f"{lab}: feasible, recall {100 * r_sug:.0f} % at the suggested threshold"
        results.append(
            LabelResult(
                lab,
                base.on,
                len(fa_default),
                worst,
                suggested,
                fa_curve[i_sug],
                r_default,
                r_sug,
                snr,
                near_snr,
                r_near,
                feasible,
                advice,
                grid.tolist(),
                fa_curve,
                rec_curve,
            )
        )
    return stats, results


# -- outputs ---------------------------------------------------------------------------------------
def suggestion_yaml(stats: dict, results: list[LabelResult]) -> dict:
    return {
        "detection": {
            "min_dbfs": stats["suggested_min_dbfs"],
            "labels": {r.label: {"on_threshold": round(r.suggested, 2)} for r in results},
        }
    }


OVERRIDES = "calibration.yaml"


def apply_to_config(path: Path, snippet: dict) -> Path:
    """Write ``snippet`` into the file the config at ``path`` includes (calibration.yaml beside it, named by
    an ``include:`` line added to the config's end if it has none), so that the config's own text and
    comments stay as they are. Both files keep the config's mode and owner, and the previous versions are
    backed up; a result that does not load is rolled back. Returns the backup of the overrides."""
    text = path.read_text() if path.exists() else ""
    data = yaml.safe_load(text) or {} if text else {}
    inc = included(path, data)
    overrides = inc or path.with_name(OVERRIDES)
    stamp = time.strftime(".bak-%Y%m%dT%H%M%S")
    backups = {}
    for f in (path, overrides):
        if f.exists():
            backups[f] = f.with_name(f.name + stamp)
            shutil.copy2(f, backups[f])
            keep_owner(f, backups[f])
    old = (yaml.safe_load(overrides.read_text()) or {}) if overrides.exists() else {}
    new = merged(old, snippet)
    effective = merged(data, new)
    for lab, v in snippet["detection"]["labels"].items():  # an off threshold over the new on one would not load
        off = ((effective.get("detection") or {}).get("labels") or {}).get(lab, {}) or {}
        if (off.get("off_threshold") or 0) > v["on_threshold"]:
            new["detection"]["labels"][lab]["off_threshold"] = None
    try:
        write_like(
            path,
            overrides,
            f"# Thresholds measured in this room by `detector calibrate --apply`, "
            f"{time.strftime('%Y-%m-%d %H:%M')}.\n# They override {path.name}; delete this file and the "
            f"include line there to go back.\n" + yaml.safe_dump(new, sort_keys=False),
        )
        if inc is None:
            write_like(
                path,
                path,
                text
                + ("" if text.endswith("\n") or not text else "\n")
                + f"\n# room thresholds from `detector calibrate --apply`\ninclude: {OVERRIDES}\n",
            )
        load(path)  # validate: a bad merge never reaches the daemon
    except Exception:
        for f, b in backups.items():
            os.replace(b, f)
        if overrides not in backups:
            overrides.unlink(missing_ok=True)
        raise
    return backups.get(overrides, overrides.with_name(overrides.name + stamp))


def write_like(model: Path, path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, with the mode and owner of ``model`` (the config may hold the
    broker's password: who may read it stays as it was)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if model.exists():
        shutil.copymode(model, tmp)
        keep_owner(model, tmp)
    os.replace(tmp, path)


def hand_over(state: Path, made: list[Path]) -> None:
    """Run with sudo, what calibrate made inside the service's state directory goes to the directory's owner:
    the service must still be able to read and write there."""
    if os.geteuid() != 0 or not state.is_dir():
        return
    st = state.stat()
    for top in made:
        if not top.resolve().is_relative_to(state.resolve()):
            continue
        for f in [top, *top.rglob("*")]:
            os.chown(f, st.st_uid, st.st_gid)


def keep_owner(src: Path, dst: Path) -> None:
    """Give ``dst`` the owner and group of ``src`` (root applying a config owned by the service's group)."""
    st = src.stat()
    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
        os.chown(dst, st.st_uid, st.st_gid)


def save_noise(rec: Recording, state_dir: Path) -> Path:
    d = state_dir / "noise"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    p = d / time.strftime("calibration-%Y%m%dT%H%M%S.flac")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        sf.write(f, rec.samples, rec.rate, format="FLAC", subtype="PCM_16")
    return p


def write_report(
    out: Path,
    stats: dict,
    results: list[LabelResult],
    snippet: dict,
    noise_path: Path | None,
    event_dbfs: dict,
    clf: Classifier,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(out, stats, results)
    p = stats["dbfs_percentiles"]
    L = [
        "# Room calibration",
        "",
        "**The recording is assumed to hold no barks or cries: every detection on it counts as a false alarm.**",
        "",
        f"- device: {stats['device']}, {stats['rate']} Hz, {stats['seconds']:.0f} s, input overflows: {stats['overflows']}",
        f"- level (dBFS, 100 ms blocks): p5 {p['5']:.1f}, median {p['50']:.1f}, p95 {p['95']:.1f}, "
        f"p99 {p['99']:.1f}, max {stats['dbfs_max']:.1f}",
        f"- clipped samples: {stats['clipped_samples']}; DC offset: {stats['dc_offset']:+.5f}",
        f"- model: {clf.path.name}"
        + (
            f", confirmed by the second opinion (YAMNet at least {stats['second_opinion']})"
            if stats.get("second_opinion")
            else ", alone (no second opinion)"
        ),
        "",
        "## False alarms and recall",
        "",
        f"Recall: the bundled positives mixed into this room's noise at the SNR the room implies (typical event "
        f"level {event_dbfs} dBFS, an assumption, minus the median noise level). Target: <= {MAX_FA_PER_HOUR:g} "
        f"false alarm per hour; on a {stats['seconds'] / 60:.1f}-minute recording that means none in it.",
        "",
        "| label | room SNR | threshold now | false alarms/h now | recall now | suggested | false alarms/h | recall | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    hours = stats["seconds"] / 3600
    for r in results:
        L.append(
            f"| {r.label} | {r.room_snr_db:.1f} dB | {r.default_threshold:.2f} | {r.false_alarms_default / hours:.1f} | "
            f"{100 * r.recall_default:.0f} % | {r.suggested:.2f} | {r.false_alarms_suggested / hours:.1f} | "
            f"{100 * r.recall_suggested:.0f} % | {r.advice} |"
        )
    for r in results:
        if r.worst:
            L += [
                "",
                f"Worst {r.label} false alarms at the current threshold (time in the recording, score): "
                + ", ".join(f"{t:.1f} s ({s:.2f})" for t, s in r.worst),
            ]
    L += [
        "",
        "## Suggested configuration",
        "",
        "```yaml",
        yaml.safe_dump(snippet, sort_keys=False).rstrip(),
        "```",
        "",
        f"`min_dbfs` {stats['suggested_min_dbfs']:g}: windows quieter than that can start no event. It is the "
        "median noise level + 6 dB, capped 10 dB below the quietest typical event level, 3 dB below the quietest "
        "level at which any of the bundled barks or cries laid into this room is still found"
        + (
            f" ({stats['quietest_found_dbfs']:g} dBFS)"
            if stats.get("quietest_found_dbfs") is not None
            else " (none was, at the levels tried)"
        )
        + f", and never below the gate in force ({stats['min_dbfs_now']:g}). Events quieter than "
        f"{stats['suggested_min_dbfs']:g} dBFS, such as a dog barking far away, are what a raised gate costs.",
    ]
    if noise_path:
        L += [
            "",
            f"The recording is kept (owner-only) as `{noise_path}` for training: "
            f"`python -m scripts.train --noise-dir {noise_path.parent}`.",
        ]
    for name in plots:
        L += ["", f"![{name}]({name})"]
    md = out / "calibration.md"
    md.write_text("\n".join(L) + "\n")
    summary = {k: v for k, v in stats.items() if k != "mel_spectrum_db"} | {
        "suggestion": snippet,
        "noise_recording": str(noise_path) if noise_path else None,
        "typical_event_dbfs": event_dbfs,
        "max_false_alarms_per_hour": MAX_FA_PER_HOUR,
        "labels": {
            r.label: {k: v for k, v in vars(r).items() if k not in ("grid", "fa_curve", "recall_curve")}
            | {
                "false_alarms_per_hour_default": r.false_alarms_default / hours,
                "false_alarms_per_hour_suggested": r.false_alarms_suggested / hours,
            }
            for r in results
        },
    }
    (out / "calibration.json").write_text(json.dumps(summary, indent=1))
    return md


def _plots(out: Path, stats: dict, results: list[LabelResult]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # matplotlib is optional on the Pi
        return []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(stats["mel_spectrum_db"])
    ax.set_xlabel("mel band")
    ax.set_ylabel("mean dB")
    ax.set_title("room noise spectrum")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "noise_spectrum.png", dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5))
    for ax, r in zip(np.atleast_1d(axes), results):
        ax.plot(r.grid, np.array(r.fa_curve) / (stats["seconds"] / 3600), label="false alarms / h")
        ax2 = ax.twinx()
        ax2.plot(r.grid, r.recall_curve, color="C1", label="recall")
        ax2.set_ylim(0, 1.02)
        ax.axvline(r.suggested, color="k", ls="--", lw=0.8)
        ax.set_title(r.label)
        ax.set_xlabel("threshold")
        ax.set_yscale("symlog")
    fig.tight_layout()
    fig.savefig(out / "thresholds.png", dpi=90)
    plt.close(fig)
    return ["noise_spectrum.png", "thresholds.png"]


def writable(directory: Path) -> bool:
    """Whether files can be written in ``directory``, creating it (and its missing parents) if need be."""
    d = directory
    while not d.exists():
        d = d.parent
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def keeps_noise(args) -> bool:
    """A microphone's recording is kept for training unless --no-keep; a file given with --input exists
    already, and is never copied."""
    return not args.input and not getattr(args, "no_keep", False)


def unwritable(cfg: Config, args) -> list[str]:
    """What this run could not write, found before minutes of recording rather than after them."""
    state = Path(cfg.state_dir)
    places = [("the report", Path(args.out) if args.out else state / "calibration")]
    if keeps_noise(args):
        places.append(("the room's noise", state / "noise"))
    if args.apply:
        path = Path(args.config) if args.config else DEFAULT_PATH
        places.append(("--apply's new config (and its backup)", path.parent))
    return [f"cannot write {what} in {d}" for what, d in places if not writable(d)]


def calibrate(cfg: Config, args) -> int:
    if problems := unwritable(cfg, args):
        print(
            f"detector calibrate: {'; '.join(problems)}. Run it as a user who may (sudo), or set --out, "
            "state_dir or --no-keep.",
            file=sys.stderr,
        )
        return 2
    clf = Classifier(cfg.model_path())
    rate = clf.frontend.sample_rate
    event_dbfs = dict(TYPICAL_EVENT_DBFS)
    for lab, db in getattr(args, "event_dbfs", None) or []:
        event_dbfs[lab] = db
    seconds = duration_s(args.input) if args.input else args.seconds
    if args.input and args.seconds:
        seconds = min(seconds, args.seconds)
    least = MIN_APPLY_SECONDS if args.apply else MIN_SECONDS
    if seconds < least:
        print(
            f"detector calibrate: {seconds:.1f} s of the room is too short: at least {least:.0f} s "
            f"{'to --apply' if args.apply else 'to measure'}, since thresholds set from a few seconds would only "
            "fit those seconds",
            file=sys.stderr,
        )
        return 2
    if not args.input:
        resolve_device(args.device if args.device is not None else cfg.audio.device)  # before the banner
        print(
            "Recording the room: keep it as it usually is (TV, fridge, street), but with no barking or crying.",
            file=sys.stderr,
        )
    rec = record(cfg, args.seconds, args.device, args.input, rate)
    try:
        check_alive(rec)
    except DeadInputError as e:
        print(f"detector calibrate: {e}", file=sys.stderr)
        return EXIT_DEAD_INPUT
    positives = load_positives(Path(args.positives) if args.positives else BUNDLED_POSITIVES, clf.labels, rate)
    second = load_second_opinion(cfg)
    stats, results = analyse(
        cfg, clf, rec, positives, event_dbfs, second=None if second is None else CachedYamnet(second)
    )
    snippet = suggestion_yaml(stats, results)
    state = Path(cfg.state_dir)
    noise_path = save_noise(rec, state) if keeps_noise(args) else None
    out = Path(args.out) if args.out else state / "calibration"
    md = write_report(out, stats, results, snippet, noise_path, event_dbfs, clf)
    hand_over(state, [out, *([noise_path.parent] if noise_path else [])])
    print(md.read_text())
    if args.apply:
        path = Path(args.config) if args.config else DEFAULT_PATH
        backup = apply_to_config(path, snippet)
        print(
            f"applied to {backup.parent / backup.name.split('.bak-')[0]}, which {path.name} includes (backup: "
            f"{backup.name if backup.exists() else 'none, the file was new'})"
        )
    return 0
