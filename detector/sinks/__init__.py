"""Where windows and events go: the log, MQTT, saved clips, a scan's stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..confirm import Verdict
    from ..types import Event, Window


class Sink:
    """Base sink: override what you need. Sinks must not block the audio loop."""

    def start(self) -> None:  # once, before the first window
        pass

    def window(self, w: Window) -> None:  # every scored window
        pass

    def event(self, ev: Event) -> None:  # start, ongoing and end messages
        pass

    def verdict(self, v: Verdict) -> None:  # the second opinion confirmed or rejected a candidate
        pass

    def close(self) -> object:  # what a sink says of its ending (MqttSink: the messages left unsent)
        return None
