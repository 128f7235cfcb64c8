"""The service's sinks: opened in one place from the configuration, started and closed in one place."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .clock import WallClock
from .config import Config, ConfigError
from .controls import Controls
from .episodes import EpisodeTracker
from .history import HistorySink
from .live import LiveSink
from .loud import LoudSink
from .model import Classifier
from .sinks import Sink
from .sinks.clips import ClipSink
from .sinks.log import LogSink
from .stats import StatsReporter

if TYPE_CHECKING:
    from .metrics_export import MetricsSink
    from .pipeline import Pipeline
    from .sinks.mqtt import MqttSink

log = logging.getLogger(__name__)


@dataclass
class ServiceSinks:
    log: LogSink
    history: HistorySink | None
    mqtt: MqttSink | None
    episodes: EpisodeTracker
    loud: LoudSink | None
    metrics: MetricsSink | None
    live: LiveSink | None
    clips: ClipSink | None
    stats: StatsReporter | None

    def all(self) -> list[Sink]:
        """In the order each window and event reaches them."""
        order = (self.log, self.history, self.mqtt, self.episodes, self.loud, self.metrics, self.live, self.clips)
        return [s for s in (*order, self.stats) if s is not None]

    def start(self) -> None:
        """The history first: MQTT's feedback is written there as soon as MQTT connects."""
        for s in self.all():
            s.start()

    def close(self, t: float) -> None:
        """After the pipeline's last events (``t``: its time): open episodes end, the history writes what it
        holds, the statistics count it, MQTT sends what it can, then the rest."""
        self.episodes.flush(t)
        first = [s for s in (self.history, self.stats, self.mqtt) if s is not None]
        for s in first + [s for s in self.all() if s not in first]:
            s.close()


def open_sinks(
    cfg: Config,
    clf: Classifier,
    pipeline: Pipeline,
    source_name: str,
    model_sha256: str,
    clock: WallClock,
    controls: Controls,
    stream: TextIO | None = None,
    on_marked: Callable[[dict[str, int]], None] | None = None,
) -> ServiceSinks:
    """Every sink ``cfg`` asks for, none started yet. A history, metrics endpoint or live feed that cannot be
    opened is said once and left out: detection never depends on them."""
    log_sink = LogSink(stream, clock)
    history = open_history(cfg, model_sha256, clock, on_marked)
    mqtt = None
    if cfg.mqtt.enabled:
        from .sinks.mqtt import MqttSink

        mqtt = MqttSink(
            cfg.mqtt,
            clf.labels,
            cfg.mqtt_password(),
            clf.path.stem,
            clock,
            __version__,
            on_feedback=history.feedback if history is not None else None,
            episodes=list(cfg.episodes),
            loud=cfg.loud.enabled,
            stats=history is not None,
            on_control=controls.command,
        )
    # episodes go where events are announced: the log and MQTT (the history keeps the events themselves)
    episodes = EpisodeTracker(episode_labels(cfg, clf), [s for s in (log_sink, mqtt) if s is not None])
    loud = None
    if cfg.loud.enabled:
        loud = LoudSink(
            cfg.loud,
            mqtt.loud_state if mqtt is not None else lambda on: log.info("loud sound: %s", "on" if on else "off"),
        )
    clips = None
    if cfg.clips.enabled:
        on_saved = history.clip_saved if history is not None else None
        clips = ClipSink(cfg.clips, pipeline.history, clf.frontend.sample_rate, clock, on_saved)
    stats = StatsReporter(history.path, clf.labels, mqtt.stats) if history is not None and mqtt is not None else None
    return ServiceSinks(
        log_sink,
        history,
        mqtt,
        episodes,
        loud,
        open_metrics(cfg, clf),
        open_live(cfg, pipeline, source_name, clf),
        clips,
        stats,
    )


def episode_labels(cfg: Config, clf: Classifier) -> dict:
    for label in cfg.episodes:
        if label not in clf.labels:
            raise ConfigError(f"episodes.{label}: the model has no such label; expected one of {', '.join(clf.labels)}")
    return cfg.episodes


def open_history(
    cfg: Config, model_sha256: str, clock: WallClock, on_marked: Callable[[dict[str, int]], None] | None = None
) -> HistorySink | None:
    if not cfg.history.enabled:
        return None
    path = cfg.history_path()
    try:
        return HistorySink(path, model_sha256, clock, cfg.history.keep_days, cfg.history.keep_rows, on_marked)
    except (OSError, sqlite3.Error) as e:
        log.warning("event history off: cannot open %s (%s)", path, e)
        return None


def open_metrics(cfg: Config, clf: Classifier) -> MetricsSink | None:
    if not cfg.metrics.enabled:
        return None
    try:
        from .metrics_export import MetricsSink

        sink = MetricsSink(cfg.metrics.host, cfg.metrics.port, clf.labels)
    except ImportError:
        log.warning("metrics off: prometheus-client is not installed (pip install prometheus-client)")
        return None
    except OSError as e:
        log.warning("metrics off: cannot listen on %s:%d (%s)", cfg.metrics.host, cfg.metrics.port, e)
        return None
    log.info("metrics on http://%s:%d/metrics", cfg.metrics.host, cfg.metrics.port)
    return sink


def open_live(cfg: Config, pipeline: Pipeline, source_name: str, clf: Classifier) -> LiveSink | None:
    """The live feed for the review page, at <state_dir>/live.sock."""
    path = Path(cfg.state_dir) / "live.sock"
    try:
        return LiveSink(
            path, pipeline, {"device": source_name, "model": clf.path.name, "thresholds": pipeline.on_thresholds}
        )
    except OSError as e:
        log.warning("live feed off: cannot listen on %s (%s)", path, e)
        return None
