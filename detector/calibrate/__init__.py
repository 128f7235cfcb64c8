"""`detector calibrate`: record the room, measure it, count false alarms, tune thresholds, keep the noise.

The recording is assumed to hold no barks or cries: every event on it is a false alarm. Capture, analysis,
report and --apply are modules of their own; this one runs them in order.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import resolve_device
from ..audiofile import duration_s
from ..config import DEFAULT_PATH, Config
from ..confirm import load_second_opinion
from ..model import Classifier
from ..replay import CachedYamnet
from .analysis import BUNDLED_POSITIVES, TYPICAL_EVENT_DBFS, analyse, load_positives, suggestion_yaml
from .apply import apply_to_config, hand_over
from .capture import DeadInputError, check_alive, record, save_noise
from .report import write_report

MIN_SECONDS = 3.0  # of the room, to measure it at all
MIN_APPLY_SECONDS = 60.0  # to write thresholds into the config: a minute of the room's usual sounds at least
EXIT_DEAD_INPUT = 3


@dataclass
class CalibrationRequest:
    """What one `detector calibrate` run is asked to do."""

    seconds: float = 300.0  # of the room to record (with ``input``: at most this much of the file, if set)
    device: str | None = None  # the input device; None: the config's
    input: Path | None = None  # a recording of the room instead of the microphone
    out: Path | None = None  # the report's folder; None: <state_dir>/calibration
    positives: Path = BUNDLED_POSITIVES  # bark/ and cry/ clips to lay into the room
    apply: bool = False  # write the suggested thresholds into ``config``
    config: Path = DEFAULT_PATH
    event_dbfs: dict[str, float] = field(default_factory=dict)  # overrides of TYPICAL_EVENT_DBFS
    keep_noise: bool = True  # keep a microphone's recording for training (an input file is never copied)

    @property
    def keeps_noise(self) -> bool:
        return self.input is None and self.keep_noise


def writable(directory: Path) -> bool:
    """Whether files can be written in ``directory``, creating it (and its missing parents) if need be."""
    d = directory
    while not d.exists():
        d = d.parent
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def unwritable(cfg: Config, req: CalibrationRequest) -> list[str]:
    """What this run could not write, found before minutes of recording rather than after them."""
    state = Path(cfg.state_dir)
    places = [("the report", req.out or state / "calibration")]
    if req.keeps_noise:
        places.append(("the room's noise", state / "noise"))
    if req.apply:
        places.append(("--apply's new config (and its backup)", req.config.parent))
    return [f"cannot write {what} in {d}" for what, d in places if not writable(d)]


def fail(msg: str, code: int = 2) -> int:
    print(f"detector calibrate: {msg}", file=sys.stderr)
    return code


def calibrate(cfg: Config, req: CalibrationRequest) -> int:
    if problems := unwritable(cfg, req):
        return fail(f"{'; '.join(problems)}. Run it as a user who may (sudo), or set --out, state_dir or --no-keep.")
    clf = Classifier(cfg.model_path())
    rate = clf.frontend.sample_rate
    event_dbfs = {**TYPICAL_EVENT_DBFS, **req.event_dbfs}
    seconds = min(duration_s(req.input), req.seconds or float("inf")) if req.input else req.seconds
    least = MIN_APPLY_SECONDS if req.apply else MIN_SECONDS
    if seconds < least:
        return fail(
            f"{seconds:.1f} s of the room is too short: at least {least:.0f} s "
            f"{'to --apply' if req.apply else 'to measure'}, since thresholds set from a few seconds would only "
            "fit those seconds"
        )
    if req.input is None:
        resolve_device(req.device if req.device is not None else cfg.audio.device)  # before the banner
        print(
            "Recording the room: keep it as it usually is (TV, fridge, street), but with no barking or crying.",
            file=sys.stderr,
        )
    rec = record(cfg, req.seconds, req.device, str(req.input) if req.input else None, rate)
    try:
        check_alive(rec)
    except DeadInputError as e:
        return fail(str(e), EXIT_DEAD_INPUT)
    positives = load_positives(req.positives, clf.labels, rate)
    second = load_second_opinion(cfg)
    stats, results = analyse(
        cfg, clf, rec, positives, event_dbfs, second=None if second is None else CachedYamnet(second)
    )
    snippet = suggestion_yaml(stats, results)
    state = Path(cfg.state_dir)
    noise_path = save_noise(rec, state) if req.keeps_noise else None
    out = req.out or state / "calibration"
    md = write_report(out, stats, results, snippet, noise_path, event_dbfs, clf)
    hand_over(state, [out, *([noise_path.parent] if noise_path else [])])
    print(md.read_text())
    if req.apply:
        backup = apply_to_config(req.config, snippet)
        print(
            f"applied to {backup.parent / backup.name.split('.bak-')[0]}, which {req.config.name} includes (backup: "
            f"{backup.name if backup.exists() else 'none, the file was new'})"
        )
    return 0
