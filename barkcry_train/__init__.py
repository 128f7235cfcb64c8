"""Offline training. Never imported by the runtime (it needs scipy, tensorflow, pyroomacoustics)."""
