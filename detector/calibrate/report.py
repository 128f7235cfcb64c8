"""The calibration report: Markdown, JSON and (where matplotlib is installed) two plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from ..model import Classifier
from .analysis import MAX_FA_PER_HOUR, LabelResult


def write_report(
    out: Path,
    stats: dict,
    results: list[LabelResult],
    snippet: dict,
    noise_path: Path | None,
    event_dbfs: dict,
    clf: Classifier,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plots = _plots(out, stats, results)
    p = stats["dbfs_percentiles"]
    L = [
        "# Room calibration",
        "",
        "**The recording is assumed to hold no barks or cries: every detection on it counts as a false alarm.**",
        "",
        f"- device: {stats['device']}, {stats['rate']} Hz, {stats['seconds']:.0f} s, input overflows: {stats['overflows']}",
        f"- level (dBFS, 100 ms blocks): p5 {p['5']:.1f}, median {p['50']:.1f}, p95 {p['95']:.1f}, "
        f"p99 {p['99']:.1f}, max {stats['dbfs_max']:.1f}",
        f"- clipped samples: {stats['clipped_samples']}; DC offset: {stats['dc_offset']:+.5f}",
        f"- model: {clf.path.name}"
        + (
            f", confirmed by the second opinion (YAMNet at least {stats['second_opinion']})"
            if stats.get("second_opinion")
            else ", alone (no second opinion)"
        ),
        "",
        "## False alarms and recall",
        "",
        f"Recall: the bundled positives mixed into this room's noise at the SNR the room implies (typical event "
        f"level {event_dbfs} dBFS, an assumption, minus the median noise level). Target: <= {MAX_FA_PER_HOUR:g} "
        f"false alarm per hour; on a {stats['seconds'] / 60:.1f}-minute recording that means none in it.",
        "",
        "| label | room SNR | threshold now | false alarms/h now | recall now | suggested | false alarms/h | recall | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    hours = stats["seconds"] / 3600
    for r in results:
        L.append(
            f"| {r.label} | {r.room_snr_db:.1f} dB | {r.default_threshold:.2f} | {r.false_alarms_default / hours:.1f} | "
            f"{100 * r.recall_default:.0f} % | {r.suggested:.2f} | {r.false_alarms_suggested / hours:.1f} | "
            f"{100 * r.recall_suggested:.0f} % | {r.advice} |"
        )
    for r in results:
        if r.worst:
            L += [
                "",
                f"Worst {r.label} false alarms at the current threshold (time in the recording, score): "
                + ", ".join(f"{t:.1f} s ({s:.2f})" for t, s in r.worst),
            ]
    L += [
        "",
        "## Suggested configuration",
        "",
        "```yaml",
        yaml.safe_dump(snippet, sort_keys=False).rstrip(),
        "```",
        "",
        f"`min_dbfs` {stats['suggested_min_dbfs']:g}: windows quieter than that can start no event. It is the "
        "median noise level + 6 dB, capped 10 dB below the quietest typical event level, 3 dB below the quietest "
        "level at which any of the bundled barks or cries laid into this room is still found"
        + (
            f" ({stats['quietest_found_dbfs']:g} dBFS)"
            if stats.get("quietest_found_dbfs") is not None
            else " (none was, at the levels tried)"
        )
        + f", and never below the gate in force ({stats['min_dbfs_now']:g}). Events quieter than "
        f"{stats['suggested_min_dbfs']:g} dBFS, such as a dog barking far away, are what a raised gate costs.",
    ]
    if noise_path:
        L += [
            "",
            f"The recording is kept (owner-only) as `{noise_path}` for training: "
            f"`python -m scripts.train --noise-dir {noise_path.parent}`.",
        ]
    for name in plots:
        L += ["", f"![{name}]({name})"]
    md = out / "calibration.md"
    md.write_text("\n".join(L) + "\n")
    summary = {k: v for k, v in stats.items() if k != "mel_spectrum_db"} | {
        "suggestion": snippet,
        "noise_recording": str(noise_path) if noise_path else None,
        "typical_event_dbfs": event_dbfs,
        "max_false_alarms_per_hour": MAX_FA_PER_HOUR,
        "labels": {
            r.label: {k: v for k, v in vars(r).items() if k not in ("grid", "fa_curve", "recall_curve")}
            | {
                "false_alarms_per_hour_default": r.false_alarms_default / hours,
                "false_alarms_per_hour_suggested": r.false_alarms_suggested / hours,
            }
            for r in results
        },
    }
    (out / "calibration.json").write_text(json.dumps(summary, indent=1))
    return md


def _plots(out: Path, stats: dict, results: list[LabelResult]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # matplotlib is optional on the Pi
        return []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(stats["mel_spectrum_db"])
    ax.set_xlabel("mel band")
    ax.set_ylabel("mean dB")
    ax.set_title("room noise spectrum")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "noise_spectrum.png", dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.5))
    for ax, r in zip(np.atleast_1d(axes), results):
        ax.plot(r.grid, np.array(r.fa_curve) / (stats["seconds"] / 3600), label="false alarms / h")
        ax2 = ax.twinx()
        ax2.plot(r.grid, r.recall_curve, color="C1", label="recall")
        ax2.set_ylim(0, 1.02)
        ax.axvline(r.suggested, color="k", ls="--", lw=0.8)
        ax.set_title(r.label)
        ax.set_xlabel("threshold")
        ax.set_yscale("symlog")
    fig.tight_layout()
    fig.savefig(out / "thresholds.png", dpi=90)
    plt.close(fig)
    return ["noise_spectrum.png", "thresholds.png"]
