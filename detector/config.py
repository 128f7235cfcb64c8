"""Configuration: dataclasses with working defaults, loaded from YAML with errors that name the key."""

from __future__ import annotations

import dataclasses
import logging
import socket
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .decision import LabelPolicy

DEFAULT_PATH = Path("/etc/barkcry/config.yaml")


class ConfigError(Exception):
    """A bad key or value. The message names the key, the value and what was expected."""


@dataclass
class AudioConfig:
    device: str | int | None = None  # None: the system default input; a name (substring) or an index
    block_s: float = 0.1  # capture callback period
    hop_s: float = 0.25  # one classifier window every hop


@dataclass
class LabelConfig:
    # (not "on"/"off": YAML 1.1 reads those keys as booleans)
    on_threshold: float | None = None  # None: the model sidecar's threshold
    off_threshold: float | None = None  # None: on_threshold * off_ratio
    min_hits: int | None = None
    hold_s: float | None = None
    smoothing: int | None = None
    min_dbfs: float | None = None


@dataclass
class DetectionConfig:
    off_ratio: float = 0.6  # default off threshold as a fraction of on
    min_hits: int = 2  # consecutive windows over ``on`` (0.25 s apart) before an event starts
    hold_s: float = 1.5  # quiet time before an event ends
    smoothing: int = 1  # windows in the moving average (min_hits already demands consecutive hits)
    min_dbfs: float = -65.0  # level gate: quieter windows never start or sustain an event
    ongoing_every_s: float = 10.0  # "ongoing" updates for long events
    labels: dict[str, LabelConfig] = field(default_factory=dict)

    def policies(self, model_thresholds: dict[str, float]) -> dict[str, LabelPolicy]:
        """Each of the model's labels' decision policy; a configured label the model lacks is an error (a
        typo such as "barks" would otherwise change nothing, silently)."""
        for label in self.labels:
            if label not in model_thresholds:
                raise ConfigError(
                    f"detection.labels.{label}: the model has no such label; expected one of "
                    f"{', '.join(model_thresholds)}"
                )
        out = {}
        for label, thr in model_thresholds.items():
            lc = self.labels.get(label, LabelConfig())
            on = lc.on_threshold if lc.on_threshold is not None else thr
            pick = lambda v, d: d if v is None else v  # noqa: E731
            if lc.off_threshold is not None and lc.off_threshold > on:
                raise ConfigError(
                    f"detection.labels.{label}.off_threshold: got {lc.off_threshold}, expected at "
                    f"most the on threshold in force ({on})"
                )
            out[label] = LabelPolicy(
                on=on,
                off=pick(lc.off_threshold, round(on * self.off_ratio, 4)),
                min_hits=pick(lc.min_hits, self.min_hits),
                hold_s=pick(lc.hold_s, self.hold_s),
                smoothing=pick(lc.smoothing, self.smoothing),
                min_dbfs=pick(lc.min_dbfs, self.min_dbfs),
            )
        return out


@dataclass
class TLSConfig:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # skip hostname verification (self-signed certificates on a LAN)


@dataclass
class MQTTConfig:
    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    prefix: str = "barkcry"
    device_id: str = field(default_factory=lambda: socket.gethostname().split(".")[0].lower())
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    tls: TLSConfig | None = None
    keepalive: int = 30
    queue_size: int = 1000  # messages kept while the broker is away; the oldest go first
    level_every_s: float = 5.0
    discovery: bool = True
    discovery_prefix: str = "homeassistant"


@dataclass
class ClipsConfig:
    enabled: bool = False  # privacy: audio never leaves the device, nor is it kept, unless asked
    dir: str = "/var/lib/barkcry/clips"
    pre_roll_s: float = 2.0
    max_s: float = 30.0
    max_total_mb: float = 500.0  # the oldest clips go once the directory holds more
    max_days: float = 30.0  # and clips older than this go anyway


@dataclass
class HistoryConfig:
    enabled: bool = True  # every event and the owner's verdicts, in <state_dir>/events.db (no audio)
    keep_days: float = 90.0
    keep_rows: int = 100_000


@dataclass
class VerifierConfig:
    # learn this home's false alarms from what is marked (needs the history); off until it keeps recall
    # (reports/verifier.md): the verdicts are kept either way
    enabled: bool = False
    min_false_alarms: int = 3  # marked false alarms of a label before its head is fitted
    max_positive_loss: float = 0.05  # a head losing more of the held-out bundled positives is refused


@dataclass
class SecondOpinionConfig:
    enabled: bool = True  # YAMNet confirms each candidate before its event starts
    model: str | None = None  # None: the bundled models/yamnet.tflite
    # label -> YAMNet's score that confirms its candidates (null: that label is not confirmed); unset labels
    # keep the choice in the small model's sidecar, measured on validation (reports/second_opinion.md)
    labels: dict[str, float | None] = field(default_factory=dict)


@dataclass
class LoudConfig:
    enabled: bool = False  # a "loud sound" binary sensor in Home Assistant, whatever the sound
    dbfs: float = -30.0  # on when a window is this loud
    hold_s: float = 5.0  # off once it has been quieter this long


@dataclass
class MetricsConfig:
    enabled: bool = False  # Prometheus metrics (pip install prometheus-client) at http://<host>:<port>/metrics
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass
class EpisodeConfig:
    gap_s: float = 30.0  # events of the label less than this apart are one episode
    min_s: float = 90.0  # an episode is announced once it has lasted this long


def default_episodes() -> dict[str, EpisodeConfig]:
    # A crying baby stops to breathe and starts again: its pauses split the events (an event ends 1.5 s after
    # the last hit) but stay under 30 s; 90 s of that is what a parent means by "crying", and no cough or
    # single whimper lasts it. Barking comes in bursts further apart; five minutes of it is a complaint.
    return {"cry": EpisodeConfig(gap_s=30.0, min_s=90.0), "bark": EpisodeConfig(gap_s=60.0, min_s=300.0)}


@dataclass
class HealthConfig:
    # each cause of Home Assistant's "problem" sensor, with its threshold
    no_audio_s: float = 10.0  # no samples from the input this long
    muted_s: float = 30.0  # exact zeros this long: a muted input or a gain at zero
    reopened_s: float = 60.0  # the input device was reopened less than this long ago
    overflows_per_min: int = 5  # capture overflows in the last minute
    queue_share: float = 0.5  # the MQTT queue fuller than this share of mqtt.queue_size
    min_free_mb: float = 200.0  # free disk for the state directory (history, clips)


@dataclass
class WebConfig:
    # `detector web`, the review page. On another address than loopback it needs a password.
    host: str = "127.0.0.1"
    port: int = 8787
    password: str | None = None
    password_file: str | None = None

    def secret(self) -> str | None:
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as e:
                raise ConfigError(f"web.password_file: cannot read {self.password_file!r} ({e})") from e
        return self.password


def loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass
class Config:
    model: str | None = None  # None: the bundled models/bark_cry.tflite
    # a YAML file of settings that override this one's (relative: beside it): calibrate --apply writes there
    include: str | None = None
    state_dir: str = "/var/lib/barkcry"
    log_level: str = "info"
    audio: AudioConfig = field(default_factory=AudioConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    mqtt: MQTTConfig = field(default_factory=MQTTConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    second_opinion: SecondOpinionConfig = field(default_factory=SecondOpinionConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    verifier: VerifierConfig = field(default_factory=VerifierConfig)
    web: WebConfig = field(default_factory=WebConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    # per label: the sustained-sound episode (cry_episode, bark_episode); a label left out has none
    episodes: dict[str, EpisodeConfig] = field(default_factory=default_episodes)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    loud: LoudConfig = field(default_factory=LoudConfig)

    def validate(self) -> None:
        """Cross-field checks the type walk cannot do."""
        d = self.detection
        _check(0 < d.off_ratio <= 1, "detection.off_ratio", d.off_ratio, "a number in (0, 1]")
        _check(d.min_hits >= 1, "detection.min_hits", d.min_hits, "an integer >= 1")
        _check(d.smoothing >= 1, "detection.smoothing", d.smoothing, "an integer >= 1")
        _check(d.hold_s >= 0, "detection.hold_s", d.hold_s, "seconds >= 0")
        for label, lc in d.labels.items():
            for k in ("on_threshold", "off_threshold"):
                v = getattr(lc, k)
                _check(v is None or 0 < v <= 1, f"detection.labels.{label}.{k}", v, "a score in (0, 1]")
            if lc.on_threshold is not None and lc.off_threshold is not None:
                _check(
                    lc.off_threshold <= lc.on_threshold,
                    f"detection.labels.{label}.off_threshold",
                    lc.off_threshold,
                    f"at most on_threshold ({lc.on_threshold})",
                )
            for k, ok, expected in (
                ("min_hits", lambda v: v >= 1, "an integer >= 1"),
                ("smoothing", lambda v: v >= 1, "an integer >= 1"),
                ("hold_s", lambda v: v >= 0, "seconds >= 0"),
            ):
                v = getattr(lc, k)
                _check(v is None or ok(v), f"detection.labels.{label}.{k}", v, expected)
        _check(
            d.ongoing_every_s >= 1,
            "detection.ongoing_every_s",
            d.ongoing_every_s,
            "seconds >= 1 (each update is a QoS 1 message)",
        )
        _check(
            -120 <= d.min_dbfs <= 0,
            "detection.min_dbfs",
            d.min_dbfs,
            "dBFS in [-120, 0] (a full-scale sine is about -3; above 0 nothing is ever loud enough)",
        )
        for label, lc in d.labels.items():
            _check(
                lc.min_dbfs is None or -120 <= lc.min_dbfs <= 0,
                f"detection.labels.{label}.min_dbfs",
                lc.min_dbfs,
                "dBFS in [-120, 0]",
            )
        _check(0 < self.clips.max_s <= 600, "clips.max_s", self.clips.max_s, "seconds in (0, 600]")
        _check(self.clips.max_days > 0, "clips.max_days", self.clips.max_days, "days > 0")
        _check(self.clips.max_total_mb > 0, "clips.max_total_mb", self.clips.max_total_mb, "megabytes > 0")
        _check(self.clips.pre_roll_s >= 0, "clips.pre_roll_s", self.clips.pre_roll_s, "seconds >= 0")
        _check(self.history.keep_days > 0, "history.keep_days", self.history.keep_days, "days > 0")
        _check(self.history.keep_rows >= 1, "history.keep_rows", self.history.keep_rows, "an integer >= 1")
        _check(
            self.verifier.min_false_alarms >= 1,
            "verifier.min_false_alarms",
            self.verifier.min_false_alarms,
            "an integer >= 1",
        )
        _check(
            0 <= self.verifier.max_positive_loss < 1,
            "verifier.max_positive_loss",
            self.verifier.max_positive_loss,
            "a share in [0, 1)",
        )
        so = self.second_opinion
        for label, t in so.labels.items():
            _check(t is None or 0 < t <= 1, f"second_opinion.labels.{label}", t, "a score in (0, 1], or null")
        _check(0 < self.audio.hop_s <= 1, "audio.hop_s", self.audio.hop_s, "seconds in (0, 1]")
        _check(0 < self.audio.block_s <= 1, "audio.block_s", self.audio.block_s, "seconds in (0, 1]")
        m = self.mqtt
        _check(0 < m.port < 65536, "mqtt.port", m.port, "a TCP port (1-65535)")
        _check(bool(m.host.strip()), "mqtt.host", m.host, "the broker's host name or address")
        _check(5 <= m.keepalive <= 65535, "mqtt.keepalive", m.keepalive, "seconds in [5, 65535]")
        _check(m.level_every_s > 0, "mqtt.level_every_s", m.level_every_s, "seconds > 0")
        _check(
            bool(m.device_id) and not any(c in m.device_id for c in "#+/") and m.device_id.isprintable(),
            "mqtt.device_id",
            m.device_id,
            "a name without '#', '+' or '/' (it is one MQTT topic level)",
        )
        if m.tls is not None:
            for k in ("ca_file", "cert_file", "key_file"):
                f = getattr(m.tls, k)
                _check(f is None or Path(f).is_file(), f"mqtt.tls.{k}", f, "a file that exists")
            _check(
                (m.tls.cert_file is None) == (m.tls.key_file is None),
                "mqtt.tls.key_file",
                m.tls.key_file,
                "set together with mqtt.tls.cert_file (a client certificate needs both)",
            )
        _check(m.queue_size >= 1, "mqtt.queue_size", m.queue_size, "an integer >= 1")
        _check(
            m.password is None or m.password_file is None,
            "mqtt.password_file",
            m.password_file,
            "either mqtt.password or mqtt.password_file, not both",
        )
        _check(
            bool(m.prefix) and "#" not in m.prefix and "+" not in m.prefix,
            "mqtt.prefix",
            m.prefix,
            "a topic prefix without wildcards",
        )
        for label, e in self.episodes.items():
            _check(e.gap_s >= 0, f"episodes.{label}.gap_s", e.gap_s, "seconds >= 0")
            _check(e.min_s > 0, f"episodes.{label}.min_s", e.min_s, "seconds > 0")
        _check(-120 <= self.loud.dbfs <= 0, "loud.dbfs", self.loud.dbfs, "dBFS in [-120, 0]")
        _check(self.loud.hold_s >= 0, "loud.hold_s", self.loud.hold_s, "seconds >= 0")
        _check(0 < self.metrics.port < 65536, "metrics.port", self.metrics.port, "a TCP port (1-65535)")
        h = self.health
        for k in ("no_audio_s", "muted_s", "reopened_s", "min_free_mb"):
            _check(getattr(h, k) > 0, f"health.{k}", getattr(h, k), "a number > 0")
        _check(h.overflows_per_min >= 1, "health.overflows_per_min", h.overflows_per_min, "an integer >= 1")
        _check(0 < h.queue_share <= 1, "health.queue_share", h.queue_share, "a share in (0, 1]")
        w = self.web
        _check(0 < w.port < 65536, "web.port", w.port, "a TCP port (1-65535)")
        _check(
            w.password is None or w.password_file is None,
            "web.password_file",
            w.password_file,
            "either web.password or web.password_file, not both",
        )
        _check(
            loopback(w.host) or bool(w.password or w.password_file),
            "web.host",
            w.host,
            "127.0.0.1, or set web.password: the page shows and plays what the microphone heard",
        )
        _check(
            self.log_level.lower() in ("debug", "info", "warning", "error"),
            "log_level",
            self.log_level,
            "one of debug, info, warning, error",
        )

    def model_path(self) -> Path:
        from .model import DEFAULT_MODEL

        return Path(self.model) if self.model else DEFAULT_MODEL

    def history_path(self) -> Path:
        return Path(self.state_dir) / "events.db"

    def second_opinion_path(self) -> Path:
        from .yamnet import DEFAULT_YAMNET

        return Path(self.second_opinion.model) if self.second_opinion.model else DEFAULT_YAMNET

    def mqtt_password(self) -> str | None:
        if self.mqtt.password_file:
            try:
                return Path(self.mqtt.password_file).read_text().strip()
            except OSError as e:
                raise ConfigError(f"mqtt.password_file: cannot read {self.mqtt.password_file!r} ({e})") from e
        return self.mqtt.password


def _check(ok: bool, key: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: got {value!r}, expected {expected}")


def _type_name(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {type(None): "null", str: "a string", int: "an integer", float: "a number", bool: "true/false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(tp, value, key: str):
    """Check ``value`` against the annotation ``tp``, building nested dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _convert(arg, value, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: got {value!r}, expected {_type_name(tp)}")
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: got {value!r}, expected a mapping")
        # an empty section under a label (``bark:``) is that label's defaults
        fill = lambda v: {} if v is None and dataclasses.is_dataclass(vt) else v  # noqa: E731
        return {str(k): _convert(vt, fill(v), f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{key}: got {value!r}, expected {_type_name(tp)}")


def _build(cls, data, prefix: str = ""):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: got {data!r}, expected a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if isinstance(k, bool):
            where = f"{prefix}.{str(k).lower()}" if prefix else str(k).lower()
            raise ConfigError(
                f"{where}: YAML reads on/off/yes/no keys as booleans; did you mean on_threshold "
                f"or off_threshold? Expected one of {', '.join(names)}"
            )
        if k not in names:
            where = f"{prefix}.{k}" if prefix else str(k)
            raise ConfigError(f"{where}: unknown key, expected one of {', '.join(names)}")
    kwargs = {k: _convert(hints[k], v, f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    return cls(**kwargs)


def read_yaml(p: Path):
    """The YAML document in ``p``, or ConfigError naming the file and what is wrong with it."""
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"config file {p}: cannot read ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {p}: not UTF-8 text (byte {e.start})") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config file {p}: not valid YAML{where}: {problem}") from e


def merged(base: dict, over: dict) -> dict:
    """``over`` laid on ``base``, mapping by mapping."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def included(p: Path, data) -> Path | None:
    inc = data.get("include") if isinstance(data, dict) else None
    if inc is None:
        return None
    if not isinstance(inc, str) or not inc:
        raise ConfigError(f"include: got {inc!r}, expected the path of a YAML file")
    return p.parent / inc


def load(path: Path | str | None) -> Config:
    """Defaults, overridden by the YAML file at ``path`` if given (a missing explicit file is an error), itself
    overridden by the file it names in ``include``."""
    if path is None:
        cfg = Config()
    else:
        p = Path(path)
        data = read_yaml(p)
        if (inc := included(p, data)) is not None:
            over = read_yaml(inc)
            if over is not None and not isinstance(over, dict):
                raise ConfigError(f"config file {inc} (included): got {over!r}, expected a mapping")
            if isinstance(over, dict) and "include" in over:
                raise ConfigError(f"config file {inc} (included): include: an included file cannot include another")
            data = merged(data, over or {})
        cfg = _build(Config, data)
        secret = p if cfg.mqtt.password else Path(cfg.mqtt.password_file) if cfg.mqtt.password_file else None
        if secret is not None and secret.exists() and secret.stat().st_mode & 0o004:
            logging.getLogger(__name__).warning(
                "%s holds the MQTT password and anyone on this machine can read it: chmod o-r %s", secret, secret
            )
    cfg.validate()
    return cfg


SECRET_KEYS = {"password"}


def to_dict(cfg: Config, mask: bool = True) -> dict:
    """The effective configuration as plain data; secrets masked."""

    def walk(o):
        if isinstance(o, dict):
            return {k: ("***" if mask and k in SECRET_KEYS and v else walk(v)) for k, v in o.items()}
        return o

    return walk(dataclasses.asdict(cfg))
