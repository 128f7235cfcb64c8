"""The daemon: wire source, pipeline and sinks; systemd notify and watchdog; clean shutdown on signals."""

from __future__ import annotations

import logging
import os
import signal
import time
from contextlib import closing
from pathlib import Path
from typing import TextIO

from .audio import FileSource, MicrophoneSource
from .clock import WallClock
from .config import Config
from .confirm import load_second_opinion
from .controls import ControlApplier, Controls
from .health import Health, HealthReporter, Reading
from .history import connect, false_alarms, file_sha256
from .lessons import Refitter, Teacher, verifier_path
from .model import Classifier, ModelError
from .pipeline import make_pipeline
from .service_sinks import episode_labels, open_sinks
from .verifier import Verifier

log = logging.getLogger(__name__)

# A source that has delivered nothing for this long (an unplugged microphone) ends the open events: nothing
# can say they go on, and a sensor left ON through an outage would be a false alarm that lasts for hours.
NO_AUDIO_END_S = 2.0
SILENT_WARN_S = 10.0  # this long of exact zeros from the device: a muted or dead input, said once in the log


class Notifier:
    """systemd sd_notify (READY, WATCHDOG, STOPPING, STATUS); a no-op outside systemd."""

    def __init__(self) -> None:
        self._n = None
        if os.environ.get("NOTIFY_SOCKET"):
            import sdnotify

            self._n = sdnotify.SystemdNotifier()
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        self.watchdog_every = usec / 2e6 if usec else None
        self._last = 0.0

    def send(self, msg: str) -> None:
        if self._n is not None:
            self._n.notify(msg)

    def alive(self) -> None:
        """Called from the audio loop: the watchdog only hears from a loop that is really turning."""
        now = time.monotonic()
        if self.watchdog_every and now - self._last >= self.watchdog_every:
            self._last = now
            self.send("WATCHDOG=1")


class VerifierWatch:
    """Picks up verifier.json whenever it changes (a refit after a mark, `detector verifier fit` or
    `reset`), checking at most every ``every_s``."""

    def __init__(self, path, model_sha256: str, every_s: float = 2.0) -> None:
        self.path, self.sha, self.every_s = path, model_sha256, every_s
        self._stamp: float | None = -1.0
        self._checked = 0.0

    def poll(self) -> tuple[Verifier | None] | None:
        """(the verifier to use now,) when it changed since the last call, else None."""
        now = time.monotonic()
        if now - self._checked < self.every_s:
            return None
        self._checked = now
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        v = Verifier.load(self.path, self.sha) if stamp is not None else None
        log.info("per-home verifier: %s", f"on for {', '.join(v.heads)}" if v and v.heads else "off")
        return (v,)


def marked_counts(path: Path, model_sha256: str) -> dict[str, int]:
    """False alarms marked per label, read on a connection of its own (the writer's belongs to its thread)."""
    with closing(connect(path)) as db:
        return false_alarms(db, model_sha256)


def check(cfg: Config) -> list[str]:
    """Build what `run` builds, short of opening the input and connecting to the broker: whatever would stop
    `run` raises here. Returns what `run` would only warn about."""
    from .sinks.clips import clip_dir
    from .sinks.mqtt import MqttSink
    from .yamnet import Yamnet

    warnings, second = [], None
    clf = Classifier(cfg.model_path())
    if cfg.second_opinion.enabled:  # run goes on without it, with a warning: so does check
        try:
            second = Yamnet(cfg.second_opinion_path())
        except ModelError as e:
            warnings.append(f"second opinion off, events would rest on the small model alone: {e}")
    make_pipeline(cfg, clf, [], second)  # thresholds, labels, policies
    episode_labels(cfg, clf)
    if cfg.mqtt.enabled:
        MqttSink(cfg.mqtt, clf.labels, cfg.mqtt_password())  # the password file, the TLS files
    if cfg.clips.enabled:
        clip_dir(cfg.clips, create=False)
    if cfg.history.enabled and cfg.verifier.enabled and clf.embedding_size is None:
        warnings.append(f"model {clf.path.name} has no embedding output: the per-home verifier would be off")
    return warnings


def run_service(cfg: Config, input_file: str | None = None, realtime: bool = True, seconds: float | None = None) -> int:
    logging.getLogger().setLevel(cfg.log_level.upper())
    clf = Classifier(cfg.model_path())
    rate = clf.frontend.sample_rate
    source: FileSource | MicrophoneSource
    if input_file:
        source = FileSource(input_file, rate, cfg.audio.block_s, realtime=realtime, max_s=seconds)
    else:
        limit = None if seconds is None else int(round(seconds * rate))
        source = MicrophoneSource(cfg.audio.device, rate, cfg.audio.block_s, max_samples=limit)
    return serve(cfg, clf, source, realtime)


def serve(
    cfg: Config,
    clf: Classifier,
    source: FileSource | MicrophoneSource,
    realtime: bool = True,
    stream: TextIO | None = None,
) -> int:
    """Run ``source`` through the pipeline into the sinks until it ends or a signal stops it. ``realtime``:
    the source delivers audio as it is heard (a microphone, a paced replay), so event times are wall times.
    ``stream``: where the log sink writes (default stdout)."""
    rate = clf.frontend.sample_rate
    clock = WallClock()
    sha = file_sha256(clf.path)
    teaching = cfg.history.enabled and cfg.verifier.enabled and clf.embedding_size is not None
    if cfg.history.enabled and cfg.verifier.enabled and not teaching:
        log.warning("model %s has no embedding output: the per-home verifier is off", clf.path.name)
    # called at the first refit, once the pipeline below exists: the teacher learns at its thresholds
    refitter = Refitter(lambda: Teacher(cfg, sha, pipeline.on_thresholds)) if teaching else None
    taught: set[str] = set()  # labels the home's verifier acts on now

    def marked(counts: dict[str, int]) -> None:  # the history's thread, after a verdict from MQTT
        if sinks.mqtt is not None:
            sinks.mqtt.diagnostics(counts, taught)
        if refitter is not None:
            refitter.marked()

    pipeline = make_pipeline(cfg, clf, [], load_second_opinion(cfg))
    controls = Controls(Path(cfg.state_dir) / "controls.json", clf.labels)
    sinks = open_sinks(cfg, clf, pipeline, source.name, sha, clock, controls, stream, marked)
    pipeline.sinks = sinks.all()
    sinks.start()
    mqtt_sink, history_sink, metrics = sinks.mqtt, sinks.history, sinks.metrics
    if mqtt_sink is not None and history_sink is not None:
        mqtt_sink.diagnostics(marked_counts(history_sink.path, sha), taught)
    log.info(
        "listening on %s with model %s (thresholds %s)",
        source.name,
        clf.path.name,
        {k: p.on for k, p in pipeline.decider.policies.items()},
    )
    if pipeline.second is not None:
        log.info("second opinion: %s confirms %s", cfg.second_opinion_path().name, pipeline.second.thresholds)

    notifier = Notifier()
    stopping = {"signal": None}

    def on_signal(signum, frame):
        stopping["signal"] = signum
        source.stop()

    # SIGHUP (a closed terminal, or `kill -HUP` meant as a reload) stops cleanly too: open events end, and
    # systemd restarts the unit with the new config.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    notifier.send("READY=1")
    notifier.send(f"STATUS=listening on {source.name}")
    watch = VerifierWatch(verifier_path(cfg), sha) if teaching else None
    applier = ControlApplier(controls, pipeline, mqtt_sink.controls if mqtt_sink is not None else lambda states: None)
    applier.update(time.time())
    told = [x.health for x in (mqtt_sink, sinks.live) if x is not None]  # Home Assistant, the review page
    health = HealthReporter(
        Health(cfg.health, Path(cfg.state_dir)), lambda reasons, figures: [tell(reasons, figures) for tell in told], log
    )
    overflows, last_audio, gap_ended = 0, time.monotonic(), False
    zeros, warned_zeros = 0, False  # samples of exact silence in a row
    try:
        for block in source.blocks():
            if block.size:
                last_audio, gap_ended = time.monotonic(), False
                zeros = zeros + block.size if not block.any() else 0
                if zeros >= SILENT_WARN_S * rate and not warned_zeros:
                    log.warning(
                        "the input has been exact silence for %.0f s: is the microphone muted or its "
                        "gain at zero? (alsamixer)",
                        SILENT_WARN_S,
                    )
                warned_zeros = zeros >= SILENT_WARN_S * rate
            elif not gap_ended and time.monotonic() - last_audio >= NO_AUDIO_END_S:
                gap_ended = True
                if ended := pipeline.finish():
                    log.warning("no audio for %.0f s: ended %s", NO_AUDIO_END_S, ", ".join(e.label for e in ended))
                sinks.episodes.flush(pipeline.t)
            if realtime and block.size:  # heard as it is read (a replay at full speed keeps time 0 at its start)
                clock.anchor(pipeline.t + block.size / rate)
            if watch is not None and (changed := watch.poll()):
                pipeline.verifier = changed[0]
                taught.clear()
                taught.update(changed[0].heads if changed[0] else ())
                if mqtt_sink is not None and history_sink is not None:
                    mqtt_sink.diagnostics(marked_counts(history_sink.path, sha), taught)
            applier.update(time.time())
            t_hop = time.perf_counter()
            pipeline.process(block)
            notifier.alive()
            info = source.info()
            if metrics is not None and block.size:
                metrics.loop(
                    (time.perf_counter() - t_hop) / max(1.0, block.size / pipeline.hop_samples),
                    info.overflows,
                    info.reopens,
                    mqtt_sink.pending() if mqtt_sink else 0,
                    mqtt_sink.dropped if mqtt_sink else 0,
                )
            if sinks.stats is not None:
                sinks.stats.update()
            health.update(
                Reading(
                    time.monotonic(),
                    last_audio,
                    zeros / rate,
                    info.reopens,
                    info.overflows,
                    mqtt_sink.pending() if mqtt_sink is not None else 0,
                    cfg.mqtt.queue_size if mqtt_sink is not None else 0,
                )
            )
            if info.overflows != overflows:
                log.warning("audio input overflowed %d time(s) so far: samples were lost", info.overflows)
                overflows = info.overflows
    finally:
        notifier.send("STOPPING=1")
        pipeline.finish()
        sinks.close(pipeline.t)
        if pipeline.second is not None:
            g = pipeline.second
            log.info(
                "second opinion: confirmed %s, rejected %s (%d YAMNet inferences)",
                g.confirmed,
                g.rejected,
                g.inferences,
            )
        log.info("stopped%s", f" on signal {stopping['signal']}" if stopping["signal"] else "")
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
