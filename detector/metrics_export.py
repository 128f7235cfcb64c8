"""Prometheus metrics (prometheus-client), opt-in, on 127.0.0.1 by default: what the detector did, and how
long each hop took, for a dashboard over months."""

from __future__ import annotations

from .sinks import Sink

SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
HOP_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)


class MetricsSink(Sink):
    def __init__(self, host: str, port: int, labels: list[str]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

        r = self.registry = CollectorRegistry()  # our own: nothing of the process's defaults, no global state
        self.windows = Counter("barkcry_windows", "Classifier windows scored", registry=r)
        self.scores = Histogram("barkcry_score", "Each window's score", ["label"], buckets=SCORE_BUCKETS, registry=r)
        self.events = Counter("barkcry_events", "Event messages raised", ["label", "state"], registry=r)
        self.overflows = Gauge("barkcry_capture_overflows", "Capture overflows since start", registry=r)
        self.reopens = Gauge("barkcry_device_reopens", "Times the input device was reopened", registry=r)
        self.queue = Gauge("barkcry_mqtt_queue", "MQTT messages waiting for the broker", registry=r)
        self.dropped = Gauge("barkcry_mqtt_dropped", "MQTT messages dropped from a full queue", registry=r)
        self.hop = Histogram("barkcry_hop_seconds", "Processing time per hop of audio", buckets=HOP_BUCKETS, registry=r)
        for lab in labels:  # every series exists from the start, at 0
            self.scores.labels(lab)
            for state in ("start", "end"):
                self.events.labels(lab, state)
        self.server, self.thread = start_http_server(port, addr=host, registry=r)

    def window(self, w) -> None:
        self.windows.inc()
        for lab, s in w.scores.items():
            self.scores.labels(lab).observe(s)

    def event(self, ev) -> None:
        self.events.labels(ev.label, ev.state).inc()

    def loop(self, seconds_per_hop: float, overflows: int, reopens: int, queue: int, dropped: int) -> None:
        """The service loop's figures, after each block."""
        self.hop.observe(seconds_per_hop)
        self.overflows.set(overflows)
        self.reopens.set(reopens)
        self.queue.set(queue)
        self.dropped.set(dropped)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
