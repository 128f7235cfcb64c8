"""The table two benchmarks share: CPU per second of audio with a feature off (the reference) and on."""

from __future__ import annotations

import numpy as np


def ratio_table(off_label: str, on_label: str, off: list[float], on: list[float], goal: float = 1.10) -> list[str]:
    """Report lines: each run, the medians and their ratio against ``goal``."""
    m_off, m_on = float(np.median(off)), float(np.median(on))
    runs = lambda v: ", ".join(f"{x:.4f}" for x in v)  # noqa: E731
    return [
        "| | CPU s per s of audio | runs |",
        "|---|---:|---|",
        f"| {off_label} (reference) | {m_off:.4f} | {runs(off)} |",
        f"| {on_label} | {m_on:.4f} | {runs(on)} |",
        "",
        f"Ratio: **{m_on / m_off:.3f}x** (goal: at most {goal:.2f}x).",
    ]
