"""The training report: markdown tables and PNG plots from the runs of a study."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.metrics import misranked_pairs, rate_at, roc_auc, roc_curve

from .data import LABELS
from .evaluate import CONDITIONS, CONTRAST_SPLIT_DB, LEVEL_CONDITIONS


def mean_sd(values) -> str:
    v = np.asarray([x for x in values if x == x], dtype=float)
    if v.size == 0:
        return "n/a"
    return f"{v.mean():.3f} ± {v.std():.3f}" if v.size > 1 else f"{v[0]:.3f}"


# "teacher": the undistilled seeds of a --distill run; "teacher-bands": those that hear only the lowest mel bands
VARIANTS = ("augmented", "teacher", "teacher-bands", "no-augmentation")


def _runs(results, split, variant):
    return [r for r in results if r.split == split and r.variant == variant]


def auc_table(results, splits) -> list[str]:
    lines = [
        "| test | variant | seeds | "
        + " | ".join(f"{lab} AUC clean" for lab in LABELS)
        + " | "
        + " | ".join(f"{lab} AUC 0 dB room+mic" for lab in LABELS)
        + " |",
        "|---|---|---:|" + "---:|" * (2 * len(LABELS)),
    ]
    for split in splits:
        for variant in VARIANTS:
            rs = _runs(results, split, variant)
            if not rs:
                continue
            clean = [mean_sd(r.summary["conditions"]["clean"][lab]["auc"] for r in rs) for lab in LABELS]
            hard = [
                mean_sd(r.summary["conditions"]["room+mic +0 dB"][lab]["auc"] for r in rs)
                if "room+mic +0 dB" in rs[0].summary["conditions"]
                else "n/a"
                for lab in LABELS
            ]
            lines.append(f"| {split} | {variant} | {len(rs)} | " + " | ".join(clean) + " | " + " | ".join(hard) + " |")
    return lines


def condition_table(metrics: dict, title: str = "condition") -> list[str]:
    """One model's AUC (with its 95 % interval over recordings), recall and FP rate per condition."""
    lines = [
        f"| {title} | "
        + " | ".join(f"{lab} AUC (95 % interval) | {lab} recall | {lab} FP rate" for lab in LABELS)
        + " |",
        "|---|" + "---|---:|---:|" * len(LABELS),
    ]
    for cond, row in metrics["conditions"].items():
        lines.append(
            f"| {cond} | "
            + " | ".join(
                f"{row[lab]['auc']:.3f} ({row[lab]['auc_ci95'][0]:.3f}-{row[lab]['auc_ci95'][1]:.3f}) | "
                f"{row[lab]['recall']:.3f} | {row[lab]['fpr']:.3f}"
                for lab in LABELS
            )
            + " |"
        )
    return lines


def contrast_table(
    clips,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float],
    contrast: np.ndarray,
    split_db: float = CONTRAST_SPLIT_DB,
    conditions=("clean", "room+mic +0 dB"),
) -> list[str]:
    """Per label, AUC and recall at threshold for the positives that stand out of their own recording
    (``contrast`` ≥ ``split_db``, see ``evaluate.contrast_db``) and for those that do not, each against
    every negative: whether a test's misses are the model's or already in the recording."""
    neg = np.array([c.label not in LABELS for c in clips])
    lines = [
        "| label | positives | clips | " + " | ".join(f"AUC {c} | recall {c}" for c in conditions) + " |",
        "|---|---|---:|" + "---:|---:|" * len(conditions),
    ]
    for j, lab in enumerate(LABELS):
        pos = np.array([c.label == lab for c in clips])
        for name, sel in (
            ("all", pos),
            (f"contrast ≥ {split_db:g} dB", pos & (contrast >= split_db)),
            (f"contrast < {split_db:g} dB", pos & (contrast < split_db)),
        ):
            if not sel.any():
                continue
            keep = sel | neg
            cells = []
            for cond in conditions:
                s = scores[cond][keep, j]
                cells += [f"{roc_auc(sel[keep], s):.3f}", f"{rate_at(sel[keep], s, thresholds[lab])[0]:.2f}"]
            lines.append(f"| {lab} | {name} | {int(sel.sum())} | " + " | ".join(cells) + " |")
    return lines


def auc_loss_table(clips, clean: np.ndarray, label: str, top: int = 6) -> list[str]:
    """Where ``label``'s clean AUC is lost: the recordings, positive and negative, whose clips lose the most
    (positive, negative) pairs, each with its share of all lost pairs and the AUC without its clips."""
    j = LABELS.index(label)
    pos = [i for i, c in enumerate(clips) if c.label == label]
    neg = [i for i, c in enumerate(clips) if c.label not in LABELS]
    lost_pos, lost_neg = misranked_pairs(clean[pos, j], clean[neg, j])
    total, pairs = lost_pos.sum(), len(pos) * len(neg)
    if not total:  # also no pairs at all: nothing lost, nothing to attribute
        return [f"{label}: no (positive, negative) pair of the {pairs} ranked the wrong way."]
    lines = [
        f"{label}: clean AUC {1 - total / pairs:.3f}, {total:g} of {pairs} (positive, negative) pairs ranked "
        "the wrong way.",
        "",
        "| side | recording | clips | top score | lost pairs | share | AUC without it |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for side, idx, lost in (("positive", pos, lost_pos), ("negative", neg, lost_neg)):
        by_rec: dict[str, list[int]] = {}
        for k, i in enumerate(idx):
            by_rec.setdefault(clips[i].recording, []).append(k)
        ranked = sorted(by_rec.items(), key=lambda kv: -lost[kv[1]].sum())[:top]
        for rec, ks in ranked:
            gone = lost[ks].sum()
            # Removing a recording removes its lost pairs and its pairs; the rest rank as they did.
            n_pos, n_neg = (len(pos) - len(ks), len(neg)) if side == "positive" else (len(pos), len(neg) - len(ks))
            top_score = clean[[idx[k] for k in ks], j].max()
            without = f"{1 - (total - gone) / (n_pos * n_neg):.3f}" if n_pos * n_neg else "n/a"
            lines.append(
                f"| {side} | {rec} | {len(ks)} | {top_score:.3f} | {gone:g} | {gone / total:.0%} | {without} |"
            )
    return lines


def missed_table(clips, clean: np.ndarray, thresholds: dict[str, float], contrast: np.ndarray) -> list[str]:
    """The positives a clean test misses at the threshold, lowest score first, with their contrast."""
    lines = ["| label | clean score | contrast (dB) | source | clip |", "|---|---:|---:|---|---|"]
    missed = [
        (clean[i, j], i, lab)
        for j, lab in enumerate(LABELS)
        for i, c in enumerate(clips)
        if c.label == lab and clean[i, j] < thresholds[lab]
    ]
    for score, i, lab in sorted(missed):
        lines.append(f"| {lab} | {score:.3f} | {contrast[i]:.1f} | {clips[i].source} | {clips[i].path} |")
    return lines


def snr_table(results, split) -> list[str]:
    """Recall and false-positive rate per condition, mean ± sd over seeds, both variants."""
    lines = [
        "| condition | variant | "
        + " | ".join(f"{lab} recall | {lab} precision | {lab} FP rate" for lab in LABELS)
        + " |",
        "|---|---|" + "---:|---:|---:|" * len(LABELS),
    ]
    for cond in [c.name for c in CONDITIONS + LEVEL_CONDITIONS]:
        for variant in VARIANTS:
            rs = _runs(results, split, variant)
            if not rs or cond not in rs[0].summary["conditions"]:
                continue
            cells = []
            for lab in LABELS:
                for key in ("recall", "precision", "fpr"):
                    cells.append(mean_sd(r.summary["conditions"][cond][lab].get(key, float("nan")) for r in rs))
            lines.append(f"| {cond} | {variant} | " + " | ".join(cells) + " |")
    return lines


def fp_source_table(results, split) -> list[str]:
    rs = _runs(results, split, "augmented")
    if not rs:
        return []
    lines = [
        "| negative source | clips | " + " | ".join(f"{lab} FP rate" for lab in LABELS) + " |",
        "|---|---:|" + "---:|" * len(LABELS),
    ]
    for src in rs[0].summary["fp_by_source"]:
        n = rs[0].summary["fp_by_source"][src]["n"]
        cells = [mean_sd(r.summary["fp_by_source"][src][lab] for r in rs) for lab in LABELS]
        lines.append(f"| {src} | {n} | " + " | ".join(cells) + " |")
    return lines


def plot_roc(result, clips, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(LABELS), figsize=(5 * len(LABELS), 4.2))
    for j, lab in enumerate(LABELS):
        ax = axes[j]
        is_pos = np.array([c.label == lab for c in clips])
        keep = is_pos | np.array([c.label not in LABELS for c in clips])
        for cond in ("clean", "+10 dB", "+0 dB", "room+mic +0 dB"):
            if cond in result.clip_scores:
                fpr, tpr, _ = roc_curve(is_pos[keep], result.clip_scores[cond][keep, j])
                ax.plot(fpr, tpr, label=cond)
        ax.set_title(f"{lab} ({result.split}, seed {result.seed})")
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("recall")
        ax.set_xscale("symlog", linthresh=0.01)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_snr(results, split, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    snrs = [c for c in CONDITIONS if not c.room_mic]
    xs = np.arange(len(snrs))
    fig, axes = plt.subplots(1, len(LABELS), figsize=(5 * len(LABELS), 4.2))
    for j, lab in enumerate(LABELS):
        ax = axes[j]
        for variant, style in (("augmented", "-"), ("no-augmentation", "--")):
            rs = _runs(results, split, variant)
            if not rs:
                continue
            for room, marker in ((False, "o"), (True, "s")):
                names = [c.name for c in CONDITIONS if c.room_mic == room]
                if names[0] not in rs[0].summary["conditions"]:
                    continue
                vals = np.array([[r.summary["conditions"][n][lab]["recall"] for n in names] for r in rs])
                ax.errorbar(
                    xs,
                    vals.mean(0),
                    yerr=vals.std(0),
                    fmt=style + marker,
                    capsize=3,
                    label=f"{variant}{' + room/mic' if room else ''}",
                )
        ax.set_xticks(xs, [c.name.replace(" dB", "") for c in snrs])
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{lab} recall at shipped-style thresholds ({split})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def floors_table(runs: list[dict], shipped: dict, parity: dict, model: dict) -> list[str]:
    """The issue's floors against what was reached. ``runs``: every training run as runs.json holds it
    (split, variant, summary); ``shipped``: the shipped int8 model's fold-5 ``summarize``; ``parity`` and
    ``model``: the sidecar's ``int8_vs_float`` and ``model`` entries."""

    def seeds(split: str, lab: str) -> list[float]:
        return [
            r["summary"]["conditions"]["clean"][lab]["auc"]
            for r in runs
            if r["split"] == split and r["variant"] == "augmented"
        ]

    def row(what: str, floor: str, reached: str, met: bool | None) -> str:
        return f"| {what} | {floor} | {reached} | {'—' if met is None else 'yes' if met else '**no**'} |"

    lines = ["| what | floor | reached | met |", "|---|---|---|---|"]
    for split, name in (("fold5", "held-out fold"), ("cross", "sources never seen")):
        for lab in LABELS:
            if seeds(split, lab):
                lines.append(
                    row(
                        f"{lab} ROC-AUC clean, {name} (float, mean ± sd over seeds)",
                        "≥ 0.98",
                        mean_sd(seeds(split, lab)),
                        bool(np.mean(seeds(split, lab)) >= 0.98),
                    )
                )
    c = shipped["conditions"]
    for lab in LABELS:
        clean, hard = c["clean"][lab], c["room+mic +0 dB"][lab]
        lines.append(
            row(
                f"{lab} recall / FP clean, shipped int8 at its threshold (held-out fold)",
                "≥ 0.95 / ≤ 2 %",
                f"{clean['recall']:.2f} / {100 * clean['fpr']:.1f} %",
                clean["recall"] >= 0.95 and clean["fpr"] <= 0.02,
            )
        )
        lines.append(
            row(
                f"{lab} recall at 0 dB SNR, room + microphone, shipped int8",
                "≥ 0.90",
                f"{hard['recall']:.2f}",
                hard["recall"] >= 0.90,
            )
        )
    music = shipped["fp_by_source"].get("music (hard negative for cry)")
    if music:
        lines.append(
            row(
                "music and singing set off cry (shipped int8, clean)",
                "reported",
                f"{100 * music['cry']:.1f} % of {music['n']} clips",
                None,
            )
        )
    lines += [
        row(
            "int8 vs float: same decision",
            "≥ 99 %",
            f"{100 * parity['same_decision']:.2f} % of {parity['windows']} windows",
            parity["same_decision"] >= 0.99,
        ),
        row(
            "int8 vs float: largest score difference",
            "≤ 0.05",
            f"{parity['max_abs_diff']:.3f} (p99 {parity['p99_abs_diff']:.3f})",
            parity["max_abs_diff"] <= 0.05,
        ),
        row("model size", "≤ 100 KB", f"{model['bytes'] / 1000:.0f} KB", model["bytes"] <= 100_000),
        row(
            "multiply-accumulates per window",
            "≤ 5 M",
            f"{model['macs_per_window'] / 1e6:.1f} M",
            model["macs_per_window"] <= 5_000_000,
        ),
    ]
    return lines
