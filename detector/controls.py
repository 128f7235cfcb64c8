"""What Home Assistant can change while the detector runs, per label: on or off, a snooze, and the
sensitivity. Kept in <state_dir>/controls.json, so that a restart keeps them; the service applies them
to the pipeline on its own thread, within one hop of the command."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)

SNOOZE_S = {"off": 0.0, "15 min": 900.0, "1 h": 3600.0, "8 h": 28800.0}


def sensitive(on: float, sensitivity: str) -> float:
    """The on threshold for a sensitivity, from the one in force at "normal": "low" halves its distance to
    1 (fewer events), "high" makes it 1.5 times as far (more events, never under 0.3). What "high" costs in
    false alarms is measured in reports/sensitivity.md."""
    if sensitivity == "low":
        return round(1 - (1 - on) * 0.5, 4)
    if sensitivity == "high":
        return round(max(0.3, 1 - (1 - on) * 1.5), 4)
    return on


SENSITIVITIES = ("low", "normal", "high")


@dataclass
class LabelControl:
    enabled: bool = True
    snooze: str = "off"  # the option chosen
    snoozed_until: float = 0.0  # wall clock
    sensitivity: str = "normal"


class Controls:
    def __init__(self, path: Path, labels: list[str]) -> None:
        self.path, self.labels = Path(path), labels
        self._lock = threading.Lock()
        self.by_label = {lab: LabelControl() for lab in labels}
        try:
            saved = json.loads(self.path.read_text())
            for lab, d in saved.items():
                if lab in self.by_label:
                    c = LabelControl(**d)
                    if c.snooze in SNOOZE_S and c.sensitivity in SENSITIVITIES:
                        self.by_label[lab] = c
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as e:
            log.warning("controls %s cannot be read (%s): every label on, at normal sensitivity", self.path, e)
        self.version = 1  # bumped by every accepted command: the service re-applies when it changes

    def command(self, label: str, what: str, payload: str) -> bool:
        """A command from Home Assistant (paho's thread). False, said in the log, for a bad one."""
        with self._lock:
            c = self.by_label.get(label)
            if c is None:
                log.warning("control ignored: no label %r", label)
                return False
            if what == "enabled" and payload in ("ON", "OFF"):
                c.enabled = payload == "ON"
            elif what == "snooze" and payload in SNOOZE_S:
                c.snooze, c.snoozed_until = payload, time.time() + SNOOZE_S[payload]
            elif what == "sensitivity" and payload in SENSITIVITIES:
                c.sensitivity = payload
            else:
                log.warning("control ignored: %s/%s does not take %r", label, what, payload[:40])
                return False
            self._save()
            self.version += 1
            return True

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({lab: asdict(c) for lab, c in self.by_label.items()}, f)
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("controls cannot be saved in %s (%s): they hold until a restart", self.path, e)

    def muted(self, now: float) -> frozenset[str]:
        """The labels that may not start an event now: off, or snoozed."""
        with self._lock:
            return frozenset(lab for lab, c in self.by_label.items() if not c.enabled or c.snoozed_until > now)

    def states(self, now: float) -> dict[str, str]:
        """Topic suffix -> the retained state Home Assistant shows."""
        out = {}
        with self._lock:
            for lab, c in self.by_label.items():
                out[f"{lab}/enabled"] = "ON" if c.enabled else "OFF"
                out[f"{lab}/snooze"] = c.snooze if c.snoozed_until > now else "off"
                out[f"{lab}/sensitivity"] = c.sensitivity
        return out

    def sensitivity(self, label: str) -> str:
        with self._lock:
            return self.by_label[label].sensitivity


class ControlApplier:
    """Applies the controls to the pipeline, on the pipeline's thread, whenever they change (a command, or
    a snooze running out), and says what is in force."""

    def __init__(self, controls: Controls, pipeline, publish) -> None:
        self.controls, self.pipeline, self.publish = controls, pipeline, publish
        self.base = dict(pipeline.decider.policies)  # "normal"
        self._seen: tuple | None = None

    def update(self, now: float) -> None:
        muted = self.controls.muted(now)
        if (self.controls.version, muted) == self._seen:
            return
        self._seen = (self.controls.version, muted)
        for label, p in self.base.items():
            on = sensitive(p.on, self.controls.sensitivity(label))
            self.pipeline.decider.set_policy(label, replace(p, on=on, off=min(p.off * on / p.on, on)))
        self.pipeline.on_thresholds = {lab: p.on for lab, p in self.pipeline.decider.policies.items()}
        self.pipeline.muted = muted
        if muted:
            log.info("not detecting now: %s", ", ".join(sorted(muted)))
        self.publish(self.controls.states(now))
