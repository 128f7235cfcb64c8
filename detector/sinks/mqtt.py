"""MQTT publishing (paho-mqtt 2): retained state and availability, QoS 1 events, Home Assistant discovery.

Topics under ``<prefix>/<device_id>/``: ``status`` (online/offline, retained, the last will),
``<label>`` (ON/OFF, retained), ``event`` (JSON, QoS 1) and ``level`` (dBFS). With a feedback handler it
also listens on ``feedback`` ({"id": ..., "verdict": "false_alarm" | "confirmed"}) and on
``<label>/feedback`` (a verdict on that label's latest event: Home Assistant's buttons).

No event is lost while the broker is away: every message waits in a bounded queue until it is handed
to paho, and counts as pending until the broker acknowledges it (PUBACK). A QoS 1 message handed over
but not acknowledged when the connection drops stays with paho, which sends it again first thing after
it reconnects; so delivery is at-least-once (the event id lets subscribers deduplicate), and nothing
of ours may go out on a new connection before that resend is done (see ``_on_connect``).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from ..clock import WallClock
from ..config import ConfigError, MQTTConfig
from ..controls import SENSITIVITIES, SNOOZE_S
from . import Sink
from .log import event_dict

log = logging.getLogger(__name__)

PRETTY = {"bark": "Dog bark", "cry": "Baby cry"}
MAX_INFLIGHT = 50
TAKEOVER_WITHIN_S = 5.0  # a connection closed this soon, again and again: another client with our id


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    qos: int = 1
    retain: bool = False


def connect_error(e: BaseException | None, tls: bool) -> str:
    """A failed connection attempt in words a person can act on."""
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({e.verify_message}); check mqtt.tls.ca_file"
    if isinstance(e, ssl.CertificateError):
        return f"TLS: {e}; check mqtt.host against the certificate's names"
    if isinstance(e, ssl.SSLError):
        hint = "; is that port TLS at all?" if "WRONG_VERSION_NUMBER" in str(e) or "wrong version" in str(e) else ""
        return f"TLS: {e.reason or e}{hint}"
    if tls and isinstance(e, ConnectionResetError):  # a plain MQTT port hangs up on a TLS hello
        return "the connection was reset during the TLS handshake: is that port TLS at all?"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused: is the broker running, on this port?"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve the host name ({e.strerror})"
    if isinstance(e, (TimeoutError, socket.timeout)):
        return "no answer (timed out): is the address right, and the port open?"
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return str(e) or type(e).__name__


class MqttSink(Sink):
    def __init__(
        self,
        cfg: MQTTConfig,
        labels: list[str],
        password: str | None = None,
        model_name: str = "",
        clock: WallClock | None = None,
        version: str = "",
        on_feedback: Callable[[str | None, bytes], None] | None = None,
        episodes: Sequence[str] = (),
        loud: bool = False,
        stats: bool = False,
        on_control: Callable[[str, str, str], bool] | None = None,
    ) -> None:
        """``on_feedback(label, payload)``: a verdict arrived on ``<label>/feedback`` (label set) or on
        ``feedback`` (label None); called on paho's thread, so it must only hand the payload on."""
        self.cfg, self.labels, self.model_name, self.version = cfg, labels, model_name, version
        self.on_feedback = on_feedback
        self.base = f"{cfg.prefix}/{cfg.device_id}"
        self.status_topic = f"{self.base}/status"
        self.clock = clock or WallClock()
        self.dropped = 0  # messages dropped because the queue was full
        self._queue: deque[Message] = deque()
        self._inflight: dict[int, Message] = {}  # sent, awaiting PUBACK
        self._acked_early: set[int] = set()  # QoS 1 ids acknowledged before publish() returned them to us
        self._qos0: set[int] = set()  # QoS 0 ids handed over, not yet written out (paho reports those too)
        self._kick, self._closing = threading.Event(), threading.Event()
        self._drainer = threading.Thread(target=self._drain_loop, name="mqtt-drain", daemon=True)
        self._lock = threading.RLock()
        # One sender at a time, from taking a message off the queue to handing it to paho: the pipeline's
        # thread, the drainer and close() all send, and a later message must never overtake an earlier one
        # (an OFF before its ON would leave a retained state ON). Never taken in paho's callbacks.
        self._send_lock = threading.Lock()
        self._connected = threading.Event()
        self._warned_down = False
        self._down_reason: str | None = None  # why the last connection attempt failed, as said in the log
        self._up = False  # a connection was accepted, and has not dropped since
        self._up_since = 0.0
        self._short: deque[float] = deque(maxlen=3)  # when connections that lasted seconds were closed
        self._warned_takeover = False
        self._last_level = -1e9
        self.episodes = [lab for lab in episodes if lab in labels]  # labels with a sustained-sound episode
        # each label's (and episode's) state as of the last event raised
        self._states = {lab: "OFF" for lab in labels + [f"{e}_episode" for e in self.episodes]}
        self.on_control = on_control  # (label, "enabled" | "snooze" | "sensitivity", payload), paho's thread
        self.loud, self.stats_on = loud, stats  # the loud-sound sensor, the counts from the history, are offered
        if loud:
            self._states["loud"] = "OFF"

        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"barkcry-{cfg.device_id}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if cfg.username:
            c.username_pw_set(cfg.username, password)
        if cfg.tls is not None:
            try:
                c.tls_set(
                    ca_certs=cfg.tls.ca_file,
                    certfile=cfg.tls.cert_file,
                    keyfile=cfg.tls.key_file,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (ssl.SSLError, OSError, ValueError) as e:
                raise ConfigError(f"mqtt.tls: the CA file, certificate or key cannot be used ({e})") from e
            if cfg.tls.insecure:
                c.tls_insecure_set(True)
        c.will_set(self.status_topic, "offline", qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        # We bound the queue ourselves; paho's own store only holds what we handed it and the broker has not
        # acknowledged yet (at most MAX_INFLIGHT messages).
        c.max_inflight_messages_set(MAX_INFLIGHT)
        c.on_connect, c.on_disconnect, c.on_subscribe = self._on_connect, self._on_disconnect, self._on_subscribe
        c.on_publish, c.on_message = self._on_publish, self._on_message
        c.on_connect_fail = self._on_connect_fail
        self.client = c

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; retries forever with backoff (paho's loop thread)."""
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()
        self._drainer.start()

    def _drain_loop(self) -> None:
        """Sends the backlog beyond the in-flight window as acknowledgements free room (after a reconnect)."""
        while not self._closing.is_set():
            self._kick.wait(0.5)
            self._kick.clear()
            self._drain()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def close(self, timeout: float = 5.0) -> int:
        """Publish offline, flush the queue (up to ``timeout`` s), disconnect. Returns messages left unsent."""
        self._enqueue(Message(self.status_topic, "offline", 1, True))
        if not self._connected.is_set():  # the broker is away: a short grace for a reconnect, then go
            timeout = min(timeout, 1.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pending():
            if self._connected.is_set():
                self._drain()
            time.sleep(0.02)
        left = self.pending()
        if left:
            log.warning("MQTT: %d message(s) not delivered at shutdown", left)
        self._closing.set()
        self.client.disconnect()
        self.client.loop_stop()
        return left

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._inflight)

    # -- sink interface -------------------------------------------------------------------------
    def event(self, ev) -> None:
        payload = event_dict(ev, self.clock) | {"event_type": f"{ev.label}_{ev.state}"}
        if ev.state == "start":
            self._states[ev.label] = "ON"
            self._enqueue(Message(f"{self.base}/{ev.label}", "ON", 1, True))
        self._enqueue(Message(f"{self.base}/event", json.dumps(payload), 1, False))
        if ev.state == "end":
            self._states[ev.label] = "OFF"
            self._enqueue(Message(f"{self.base}/{ev.label}", "OFF", 1, True))

    def diagnostics(self, marked: dict[str, int], taught: set[str]) -> None:
        """Per label: how many false alarms are marked, and whether the home's verifier is on (retained)."""
        for lab in self.labels:
            self._enqueue(Message(f"{self.base}/{lab}/false_alarms", str(marked.get(lab, 0)), 1, True), drain=False)
            self._enqueue(
                Message(f"{self.base}/{lab}/verifier", "ON" if lab in taught else "OFF", 1, True), drain=False
            )

    def stats(self, stats: dict[str, dict[str, float]]) -> None:
        self._enqueue(Message(f"{self.base}/stats", json.dumps(stats), 1, True), drain=False)

    def loud_state(self, on: bool) -> None:
        self._states["loud"] = "ON" if on else "OFF"
        self._enqueue(Message(f"{self.base}/loud", self._states["loud"], 1, True))

    def health(self, reasons: list[str], figures: dict) -> None:
        """The problem sensor (retained, with its reasons) and the diagnostic figures."""
        self._enqueue(
            Message(f"{self.base}/health", json.dumps(figures | {"reason": "; ".join(reasons) or None}), 1, True),
            drain=False,
        )
        self._enqueue(Message(f"{self.base}/problem", "ON" if reasons else "OFF", 1, True))

    def window(self, w) -> None:
        # The level is a live reading: sent only while connected, never queued (a stale level is noise).
        if w.t_end - self._last_level >= self.cfg.level_every_s:
            self._last_level = w.t_end
            if self._connected.is_set():
                info = self.client.publish(f"{self.base}/level", f"{w.dbfs:.1f}", qos=0, retain=False)
                with self._lock:  # paho reports QoS 0 messages as published too, maybe before we get the id
                    if info.mid in self._acked_early:
                        self._acked_early.discard(info.mid)
                    else:
                        self._qos0.add(info.mid)

    # -- queue ----------------------------------------------------------------------------------
    def _enqueue(self, msg: Message, drain: bool = True) -> None:
        with self._lock:
            if len(self._queue) >= self.cfg.queue_size:
                self._queue.popleft()
                self.dropped += 1
                log.warning(
                    "MQTT queue full (%d): dropped the oldest message (%d dropped so far)",
                    self.cfg.queue_size,
                    self.dropped,
                )
            self._queue.append(msg)
        if self._connected.is_set():
            if drain:
                self._drain()
            else:
                self._kick.set()
        elif not self._warned_down and self._down_reason is None:  # (a known reason has been said)
            self._warned_down = True
            log.warning(
                "MQTT broker %s:%d not connected: queueing messages (up to %d) and retrying",
                self.cfg.host,
                self.cfg.port,
                self.cfg.queue_size,
            )

    def _drain(self) -> None:
        """Hand queued messages to paho while connected, in queue order. Never call paho while holding our
        lock: paho holds its own lock while it runs our callbacks, and the callbacks take ours."""
        with self._send_lock:
            while self._connected.is_set():
                with self._lock:
                    if not self._queue or len(self._inflight) >= MAX_INFLIGHT:
                        return
                    msg = self._queue.popleft()
                info = self.client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
                with self._lock:
                    # Without a connection paho still keeps a QoS 1 message, and sends it on reconnect.
                    kept = info.rc == mqtt.MQTT_ERR_SUCCESS or (info.rc == mqtt.MQTT_ERR_NO_CONN and msg.qos > 0)
                    if not kept:
                        self._queue.appendleft(msg)  # paho refused it: it stays first in line
                        return
                    if msg.qos > 0:
                        if info.mid in self._acked_early:  # the PUBACK beat us here
                            self._acked_early.discard(info.mid)
                        else:
                            self._inflight[info.mid] = msg
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        return

    # -- paho callbacks (paho's thread) ---------------------------------------------------------
    def _down(self, reason: str) -> None:
        """Say why the broker cannot be reached: once, and again whenever the reason changes."""
        if reason != self._down_reason:
            self._down_reason = reason
            log.warning(
                "MQTT: cannot connect to %s:%d: %s; messages queue (up to %d) and it keeps trying",
                self.cfg.host,
                self.cfg.port,
                reason,
                self.cfg.queue_size,
            )

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this from inside its ``except OSError``: the exception is the reason
        self._down(connect_error(sys.exc_info()[1], self.cfg.tls is not None))

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            hint = (
                "; check mqtt.username and the password"
                if reason_code in ("Bad user name or password", "Not authorized")
                else ""
            )
            self._down(f"the broker refused the connection ({reason_code}){hint}")
            return
        log.info("MQTT connected to %s:%d", self.cfg.host, self.cfg.port)
        self._warned_down, self._down_reason, self._up, self._up_since = False, None, True, time.monotonic()
        with self._lock:
            for msg in reversed(self._hello()):
                self._queue.appendleft(msg)
        # Right after this callback returns, paho resends what the old connection left unacknowledged
        # (those messages stay in self._inflight, under their ids). Whatever we sent before that resend
        # would overtake it: an OFF queued during the outage ahead of its ON. So we send nothing until
        # the broker answers a subscription made here: paho's thread reads that answer only after it has
        # queued the resend, and one connection keeps its order.
        topic = f"{self.cfg.discovery_prefix}/status" if self.cfg.discovery else self.status_topic
        client.subscribe([(t, 1) for t in [topic, *self._feedback_topics(), *self._control_topics()]])

    def _on_subscribe(self, client, userdata, mid, reason_code_list, properties) -> None:
        self._connected.set()
        self._kick.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        now = time.monotonic()
        if self._up and now - self._up_since < TAKEOVER_WITHIN_S:
            self._short.append(now)
            if len(self._short) == self._short.maxlen and now - self._short[0] < 60 and not self._warned_takeover:
                self._warned_takeover = True
                log.error(
                    "MQTT: the connection was closed %d times in a minute, each within seconds of being "
                    "made: another device probably connects as device_id %r (Raspberry Pi OS names every "
                    "Pi 'raspberrypi'); set mqtt.device_id to a name of its own",
                    len(self._short),
                    self.cfg.device_id,
                )
        if self._up and reason_code != 0 and not self._warned_takeover:  # a connection that never came up
            log.warning("MQTT disconnected (%s): queueing until the broker is back", reason_code)  # said why
        self._up = False

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            if mid in self._qos0:
                self._qos0.discard(mid)
            elif self._inflight.pop(mid, None) is None:
                self._acked_early.add(mid)
            backlog = bool(self._queue)
        if backlog:
            self._kick.set()  # the drainer thread sends more; never publish from inside paho's callback

    def _feedback_topics(self) -> list[str]:
        if self.on_feedback is None:
            return []
        return [f"{self.base}/feedback", *(f"{self.base}/{lab}/feedback" for lab in self.labels)]

    def _control_topics(self) -> list[str]:
        if self.on_control is None:
            return []
        return [f"{self.base}/{lab}/{what}/set" for lab in self.labels for what in ("enabled", "snooze", "sensitivity")]

    def controls(self, states: dict[str, str]) -> None:
        """The controls in force (retained, and sent again on every reconnection)."""
        for key, value in states.items():
            self._states[key] = value
            self._enqueue(Message(f"{self.base}/{key}", value, 1, True), drain=False)
        self._kick.set()

    def _on_message(self, client, userdata, msg) -> None:
        if self.on_control is not None and msg.topic in self._control_topics():
            label, what = msg.topic.split("/")[-3:-1]
            self.on_control(label, what, msg.payload.decode(errors="replace").strip())
            return
        if self.on_feedback is not None and msg.topic in self._feedback_topics():
            label = msg.topic.split("/")[-2] if msg.topic != f"{self.base}/feedback" else None
            self.on_feedback(label, msg.payload)
            return
        if self.cfg.discovery and msg.topic == f"{self.cfg.discovery_prefix}/status" and msg.payload == b"online":
            log.info("Home Assistant came online: sending discovery again")
            for m in self._discovery():
                self._enqueue(m, drain=False)  # we are inside paho's callback: let the drainer send

    # -- what we announce -----------------------------------------------------------------------
    def _hello(self) -> list[Message]:
        """Sent first on every (re)connection: discovery, each label's state, then online. The states put
        right a retained ON that a crash, a power cut or a kill left behind in the middle of an event."""
        return (
            (self._discovery() if self.cfg.discovery else [])
            + [Message(f"{self.base}/{lab}", state, 1, True) for lab, state in self._states.items()]
            + [Message(self.status_topic, "online", 1, True)]
        )

    def discovery_payloads(self) -> dict[str, dict]:
        """Home Assistant MQTT discovery: topic -> config payload."""
        dev_id = self.cfg.device_id
        device = {
            "identifiers": [f"barkcry_{dev_id}"],
            "name": f"barkcry {dev_id}",
            "manufacturer": "barkcry",
            "model": self.model_name or "bark/cry detector",
            "sw_version": self.version,
        }
        avail = {
            "availability_topic": self.status_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
        }
        node = f"barkcry_{dev_id}"
        dp = self.cfg.discovery_prefix

        def ids(component: str, what: str) -> dict:
            # Entity ids such as binary_sensor.barkcry_nursery_cry: default_entity_id since Home Assistant
            # 2025.10, object_id (dropped in 2026.4) for the versions before it.
            return {
                "unique_id": f"{node}_{what}",
                "default_entity_id": f"{component}.{node}_{what}",
                "object_id": f"{node}_{what}",
            }

        out = {}
        for lab in self.labels:
            out[f"{dp}/binary_sensor/{node}/{lab}/config"] = {
                "name": PRETTY.get(lab, lab),
                **ids("binary_sensor", lab),
                "state_topic": f"{self.base}/{lab}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "sound",
                "device": device,
                **avail,
            }
        for lab in self.labels if self.stats_on else []:
            for key, what, extra in (
                ("today", "events today", {"state_class": "measurement", "icon": "mdi:counter"}),
                ("minutes_today", "minutes today", {"unit_of_measurement": "min", "state_class": "measurement"}),
                ("last_hour", "events in the last hour", {"state_class": "measurement", "icon": "mdi:counter"}),
            ):
                out[f"{dp}/sensor/{node}/{lab}_{key}/config"] = {
                    "name": f"{PRETTY.get(lab, lab)}: {what}",
                    **ids("sensor", f"{lab}_{key}"),
                    "state_topic": f"{self.base}/stats",
                    "value_template": f"{{{{ value_json.{lab}.{key} }}}}",
                    **extra,
                    "device": device,
                    **avail,
                }
        for lab in self.labels if self.on_control is not None else []:
            pretty = PRETTY.get(lab, lab)
            out[f"{dp}/switch/{node}/{lab}_enabled/config"] = {
                "name": f"{pretty}: detection",
                **ids("switch", f"{lab}_enabled"),
                "command_topic": f"{self.base}/{lab}/enabled/set",
                "state_topic": f"{self.base}/{lab}/enabled",
                "payload_on": "ON",
                "payload_off": "OFF",
                "icon": "mdi:ear-hearing",
                "device": device,
                **avail,
            }
            for what, options, icon in (
                ("snooze", list(SNOOZE_S), "mdi:sleep"),
                ("sensitivity", list(SENSITIVITIES), "mdi:tune-variant"),
            ):
                out[f"{dp}/select/{node}/{lab}_{what}/config"] = {
                    "name": f"{pretty}: {what}",
                    **ids("select", f"{lab}_{what}"),
                    "command_topic": f"{self.base}/{lab}/{what}/set",
                    "state_topic": f"{self.base}/{lab}/{what}",
                    "options": options,
                    "icon": icon,
                    "device": device,
                    **avail,
                }
        for lab in self.episodes:
            out[f"{dp}/binary_sensor/{node}/{lab}_episode/config"] = {
                "name": f"{PRETTY.get(lab, lab)}: sustained",
                **ids("binary_sensor", f"{lab}_episode"),
                "state_topic": f"{self.base}/{lab}_episode",
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "sound",
                "icon": "mdi:timer-alert",
                "device": device,
                **avail,
            }
        if self.loud:
            out[f"{dp}/binary_sensor/{node}/loud/config"] = {
                "name": "Loud sound",
                **ids("binary_sensor", "loud"),
                "state_topic": f"{self.base}/loud",
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "sound",
                "icon": "mdi:volume-high",
                "device": device,
                **avail,
            }
        out[f"{dp}/event/{node}/event/config"] = {
            "name": "Sound event",
            **ids("event", "event"),
            "state_topic": f"{self.base}/event",
            "event_types": [
                f"{lab}_{s}"
                for lab in self.labels + [f"{e}_episode" for e in self.episodes]
                for s in ("start", "ongoing", "end")
            ],
            "device": device,
            **avail,
        }
        for lab in self.labels if self.on_feedback is not None else []:
            pretty = PRETTY.get(lab, lab)
            out[f"{dp}/sensor/{node}/{lab}_false_alarms/config"] = {
                "name": f"{pretty}: false alarms marked",
                **ids("sensor", f"{lab}_false_alarms"),
                "state_topic": f"{self.base}/{lab}/false_alarms",
                "state_class": "total",
                "icon": "mdi:thumb-down",
                "entity_category": "diagnostic",
                "device": device,
                **avail,
            }
            out[f"{dp}/binary_sensor/{node}/{lab}_verifier/config"] = {
                "name": f"{pretty}: taught by this home",
                **ids("binary_sensor", f"{lab}_verifier"),
                "state_topic": f"{self.base}/{lab}/verifier",
                "payload_on": "ON",
                "payload_off": "OFF",
                "entity_category": "diagnostic",
                "device": device,
                **avail,
            }
            for verdict, what in (("false_alarm", "false alarm"), ("confirmed", "that was right")):
                out[f"{dp}/button/{node}/{lab}_{verdict}/config"] = {
                    "name": f"{PRETTY.get(lab, lab)}: {what}",
                    **ids("button", f"{lab}_{verdict}"),
                    "command_topic": f"{self.base}/{lab}/feedback",
                    "payload_press": verdict,
                    "icon": "mdi:thumb-down" if verdict == "false_alarm" else "mdi:thumb-up",
                    "device": device,
                    **avail,
                }
        out[f"{dp}/binary_sensor/{node}/problem/config"] = {
            "name": "Problem",
            **ids("binary_sensor", "problem"),
            "state_topic": f"{self.base}/problem",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "problem",
            "json_attributes_topic": f"{self.base}/health",
            "json_attributes_template": '{"reason": {{ value_json.reason | tojson }}}',
            "entity_category": "diagnostic",
            "device": device,
            **avail,
        }
        for key, name, extra in (
            (
                "last_audio",
                "Last audio",
                {
                    "device_class": "timestamp",
                    "value_template": "{{ value_json.last_audio | timestamp_local | as_datetime }}",
                },
            ),
            ("overflows", "Capture overflows", {"state_class": "total_increasing"}),
            ("queue", "MQTT backlog", {"state_class": "measurement"}),
            ("cpu_percent", "CPU", {"unit_of_measurement": "%", "state_class": "measurement"}),
            ("rss_mb", "Memory", {"unit_of_measurement": "MB", "state_class": "measurement"}),
            (
                "uptime_s",
                "Uptime",
                {"unit_of_measurement": "s", "device_class": "duration", "state_class": "measurement"},
            ),
        ):
            out[f"{dp}/sensor/{node}/{key}/config"] = {
                "name": name,
                **ids("sensor", key),
                "state_topic": f"{self.base}/health",
                "value_template": f"{{{{ value_json.{key} }}}}",
                **extra,
                "entity_category": "diagnostic",
                "device": device,
                **avail,
            }
        out[f"{dp}/sensor/{node}/level/config"] = {
            "name": "Sound level",
            **ids("sensor", "level"),
            "state_topic": f"{self.base}/level",
            "unit_of_measurement": "dBFS",
            "state_class": "measurement",
            "icon": "mdi:microphone",
            "device": device,
            **avail,
        }
        return out

    def _discovery(self) -> list[Message]:
        # the origin block lets Home Assistant name barkcry in its warnings and repairs
        # (no support_url: Home Assistant takes only an http(s) address, and barkcry has none to give)
        origin = {"name": "barkcry", "sw_version": self.version}
        return [Message(t, json.dumps(p | {"origin": origin}), 1, True) for t, p in self.discovery_payloads().items()]
