"""The detector loop, top to bottom: samples -> log-mel frames -> classifier -> decider -> second
opinion -> sinks.

`detector run`, `detector scan` and `detector calibrate` all drive this same class; only the source
and the sinks differ, so a file replay in a test exercises exactly what the Pi runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .config import Config, ConfigError
from .confirm import SecondOpinion, confirm_thresholds
from .decision import Decider, Event
from .frontend import LogMel
from .model import Classifier
from .ring import RingBuffer
from .sinks import Sink
from .types import Window
from .verifier import Verifier
from .yamnet import Yamnet


def dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS)."""
    ms = float(np.dot(x, x)) / max(x.size, 1)
    return 10 * math.log10(ms) if ms > 1e-20 else -200.0


class Pipeline:
    """Feed blocks of samples with ``process``; every ``hop_s`` it scores the last window and decides."""

    def __init__(
        self,
        classifier: Classifier,
        decider: Decider,
        sinks: Iterable[Sink] = (),
        hop_s: float = 0.25,
        history_s: float = 10.0,
        second_opinion: Yamnet | None = None,
        confirm: dict[str, float] | None = None,
    ) -> None:
        self.classifier = classifier
        self.decider = decider
        self.sinks = list(sinks)
        self.frontend = LogMel(classifier.frontend)
        p = self.frontend.params
        self.rate = p.sample_rate
        self.hop_frames = max(1, round(hop_s * p.sample_rate / p.hop_length))
        self.hop_samples = self.hop_frames * p.hop_length
        self.window_frames = p.window_frames
        self.window_s = p.window_samples / p.sample_rate
        # Recent samples, for the level of each window and the pre-roll of saved clips.
        self.history = RingBuffer(max(int(history_s * self.rate), p.window_samples))
        self._frames = np.zeros((self.window_frames + 2 * self.hop_frames + 8, p.n_mels), dtype=np.float32)
        self._n_buffered = 0  # valid rows at the top of _frames
        self._frames_total = 0  # frames produced since start
        self._next_end = self.window_frames  # frame count at which the next window is complete
        self.second = (
            None
            if second_opinion is None or not confirm
            else SecondOpinion(second_opinion, confirm, self.history, self.rate)
        )
        self.verifier: Verifier | None = None  # the home's; swapped in whole by whoever refits it
        self.muted: frozenset[str] = frozenset()  # labels switched off or snoozed: they start no event
        self.vetoed: frozenset[str] = frozenset()  # the last window's labels that could not count as a hit
        self.on_thresholds = {label: p.on for label, p in decider.policies.items()}

    @property
    def t(self) -> float:
        """Stream time: samples seen so far / rate. Derived from a sample count, so it never drifts."""
        return self.history.total / self.rate

    def process(self, block: np.ndarray) -> list[Event]:
        """One block of float32 samples in; the event messages it raised out.

        A large block (an unpaced device, a fast file replay) is taken one hop at a time, so that each
        window's level is read from the history before newer samples can overwrite it.
        """
        events: list[Event] = []
        for i in range(0, block.size, self.hop_samples):
            piece = block[i : i + self.hop_samples]
            self.history.write(piece)
            self._append(self.frontend.push(piece))
            while self._frames_total >= self._next_end:
                events += self._score(self._frames_total - self._next_end)
                self._next_end += self.hop_frames
        return events

    def finish(self) -> list[Event]:
        """End every open event: the stream is over."""
        events = self.decider.flush(self.t)
        if self.second is not None:
            events = self.second.flush(events)
        self._emit(events)
        return events

    # -- internals ------------------------------------------------------------------------------
    def _append(self, new: np.ndarray) -> None:
        n = new.shape[0]
        if self._n_buffered + n > self._frames.shape[0]:  # slide: keep only the last window
            keep = self.window_frames
            self._frames[:keep] = self._frames[self._n_buffered - keep : self._n_buffered]
            self._n_buffered = keep
        self._frames[self._n_buffered : self._n_buffered + n] = new
        self._n_buffered += n
        self._frames_total += n

    def _score(self, lag: int) -> list[Event]:
        """Score the window that ended ``lag`` frames ago."""
        end = self._n_buffered - lag
        window = self._frames[end - self.window_frames : end]
        p = self.frontend.params
        end_frame = self._frames_total - lag  # exclusive
        end_sample = (end_frame - 1) * p.hop_length + p.n_fft
        _, samples = self.history.read(end_sample - p.window_samples, p.window_samples)
        w = Window(end_sample / self.rate, self.classifier(window), dbfs(samples), self.classifier.embedding())
        self.vetoed = self._vetoed(w)
        events = self.decider.update(w.t_end, w.scores, w.dbfs, self.vetoed)
        if self.second is not None and (events or self.second.pending):
            events = self.second.filter(events, w.t_end, self.decider.hitting)
        for s in self.sinks:
            s.window(w)
        self._emit(events)
        return events

    def _vetoed(self, w: Window) -> frozenset[str]:
        v = self.verifier  # read once: a refit may swap it meanwhile
        vetoed = frozenset() if v is None else v.vetoed(w.scores, w.embedding, self.on_thresholds)
        return vetoed | self.muted

    def _emit(self, events: list[Event]) -> None:
        verdicts = self.second.drain() if self.second is not None else []
        for s in self.sinks:
            for v in verdicts:
                s.verdict(v)
            for ev in events:
                s.event(ev)

    def run(self, blocks: Iterable[np.ndarray]) -> None:
        """Drive the pipeline from a source until it ends, then close every open event."""
        for block in blocks:
            self.process(block)
        self.finish()


def make_pipeline(cfg: Config, clf: Classifier, sinks: list[Sink], second_opinion: Yamnet | None = None) -> Pipeline:
    """The one place a pipeline is put together from the configuration: ``run``, ``scan``, ``evaluate`` and
    ``calibrate`` all come here. ``second_opinion``: the loaded YAMNet, or None for the small model alone."""
    measured = clf.sidecar.extra.get("hop_s")  # the hop the thresholds were chosen at
    if measured is not None and abs(cfg.audio.hop_s - measured) > 1e-9:
        raise ConfigError(
            f"audio.hop_s: got {cfg.audio.hop_s}, expected {measured}: the model's thresholds and "
            "the decider's hits were measured at that hop (min_hits windows apart)"
        )
    confirm = confirm_thresholds(cfg, clf, second_opinion)
    policies = cfg.detection.policies(clf.thresholds_for(confirm))
    decider = Decider(policies, clf.frontend.window_samples / clf.frontend.sample_rate, cfg.detection.ongoing_every_s)
    # A saved clip is read from the pipeline's history when its event ends, a hold time after its last
    # hit: the history must reach back over the whole clip and that hold.
    longest_clip = cfg.clips.max_s + max(p.hold_s for p in policies.values()) + 2.0 if cfg.clips.enabled else 0.0
    return Pipeline(
        clf,
        decider,
        sinks,
        hop_s=cfg.audio.hop_s,
        history_s=max(10.0, longest_clip),
        second_opinion=second_opinion,
        confirm=confirm,
    )
