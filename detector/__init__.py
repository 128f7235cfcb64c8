"""barkcry: an always-on dog-bark and baby-cry detector that publishes events over MQTT."""

__version__ = "0.1.0"
