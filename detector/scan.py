"""`detector scan` and `detector evaluate`: the live pipeline run over files as fast as the CPU allows."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from .audio import FileSource
from .audiofile import AudioFileError
from .config import Config
from .confirm import load_second_opinion
from .decision import Event
from .metrics import auc_interval, misranked_pairs, rate_at, roc_auc, roc_curve
from .model import Classifier
from .pipeline import Window, make_pipeline
from .sinks import Sink
from .yamnet import Yamnet


@dataclass
class ScanSink(Sink):
    """JSON lines on stdout: every window with --scores, and every event once it has ended.

    Times are on the file's clock: the stream's minus ``offset_s`` (the silence put before the file),
    clipped to the file."""

    file: str
    out: TextIO | None  # None: collect only (evaluate)
    scores: bool = False
    windows: list[Window] = field(default_factory=list)
    ended: list[Event] = field(default_factory=list)
    keep_windows: bool = False
    offset_s: float = 0.0
    duration_s: float = float("inf")
    events: int = 0  # ended

    def _t(self, t: float) -> float:
        return min(max(t - self.offset_s, 0.0), self.duration_s)

    def window(self, w: Window) -> None:
        if self.keep_windows:
            self.windows.append(w)
        if self.scores and self.out is not None:
            self.out.write(
                json.dumps(
                    {
                        "file": self.file,
                        "t": round(self._t(w.t_end), 3),
                        "scores": {k: round(v, 4) for k, v in w.scores.items()},
                    }
                )
                + "\n"
            )

    def event(self, ev: Event) -> None:
        if ev.state != "end":
            return
        self.events += 1
        if self.keep_windows:
            self.ended.append(ev)
        if self.out is not None:
            line = {
                "file": self.file,
                "label": ev.label,
                "start": round(self._t(ev.start), 2),
                "end": round(self._t(ev.end if ev.end is not None else ev.time), 2),
                "score": round(ev.score, 4),
            }
            if ev.confirm_score is not None:
                line["confirm_score"] = round(ev.confirm_score, 4)
            self.out.write(json.dumps(line) + "\n")


def window_scores(cfg: Config, clf: Classifier, x: np.ndarray) -> list[Window]:
    """Every classifier window over ``x``, through the real pipeline."""
    keep = ScanSink("", None, keep_windows=True)
    pipe = make_pipeline(cfg, clf, [keep])
    step = clf.frontend.sample_rate  # a second at a time, as a stream arrives
    for i in range(0, x.size, step):
        pipe.process(x[i : i + step])
    return keep.windows


def scan_file(
    cfg: Config,
    clf: Classifier,
    path: Path,
    out: TextIO | None,
    scores: bool = False,
    keep_windows: bool = False,
    second: Yamnet | None = None,
) -> ScanSink:
    """Run one file through a fresh pipeline. Raises AudioFileError for unreadable files.

    A file is a cut from a stream: silence of a window less a hop goes before and after it, so a sound in
    its first or last moments is in as many windows as anywhere else (without it, an ESC-50 bark in a
    clip's first 0.3 s was in one window, and the decider, which wants two, never heard it), and a file
    shorter than a window is still scored."""
    fe = clf.frontend
    pad = fe.edge_pad(round(cfg.audio.hop_s * fe.sample_rate))
    src = FileSource(path, fe.sample_rate, block_s=1.0, pad=pad)
    sink = ScanSink(
        str(path), out, scores, keep_windows=keep_windows, offset_s=pad / fe.sample_rate, duration_s=src.duration_s
    )
    make_pipeline(cfg, clf, [sink], second).run(src.blocks())
    return sink


def scan(
    cfg: Config, clf: Classifier, files: list[str], scores: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    failed = 0
    second = load_second_opinion(cfg)
    for f in files:
        try:
            if scan_file(cfg, clf, Path(f), out, scores, second=second).events == 0:
                err.write(f"detector scan: {f}: no events\n")
        except AudioFileError as e:
            err.write(f"detector scan: skipped {e}\n")
            failed += 1
    out.flush()
    return 1 if failed else 0


class ManifestError(Exception):
    """A manifest that cannot be read or lacks a needed column."""


def evaluate(
    cfg: Config, clf: Classifier, manifest: Path, root: Path | None, out_dir: Path, err: TextIO = sys.stderr
) -> dict:
    """Clip score = max over windows; per-label AUC, recall and FP rate at the sidecar thresholds.

    Each AUC gets a 95 % bootstrap interval. An optional ``recording`` column names the recording a clip
    was cut from, so the bootstrap resamples recordings, not clips; without it each clip is its own."""
    root = root or manifest.parent
    try:
        with open(manifest, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(f"cannot read manifest {manifest}: {e}") from e
    missing = {"path", "label", "source"} - set(reader.fieldnames or [])
    if missing:
        raise ManifestError(
            f"manifest {manifest} lacks the column(s) {', '.join(sorted(missing))}: expected a CSV "
            "with at least path, label and source (as shared/data/manifest.csv)"
        )
    rows = [r for r in rows if r["label"] != "rir"]
    if rows and not any((root / r["path"]).exists() for r in rows):
        raise ManifestError(
            f"none of the {len(rows)} files of {manifest} is under {root}: its paths are relative "
            "to --root (default: the manifest's folder)"
        )
    labels = clf.labels
    second = load_second_opinion(cfg)
    clips, scores, fired, skipped = [], [], [], []
    for r in rows:
        try:
            sink = scan_file(cfg, clf, root / r["path"], None, keep_windows=True, second=second)
        except AudioFileError as e:
            err.write(f"detector evaluate: skipped {e}\n")
            skipped.append(r["path"])
            continue
        clips.append(r)
        scores.append([max(w.scores[lab] for w in sink.windows) for lab in labels])
        fired.append([any(e.label == lab for e in sink.ended) for lab in labels])
    if not clips:
        return {"clips": 0, "skipped": skipped}
    s = np.asarray(scores).reshape(-1, len(labels))
    ev = np.asarray(fired, dtype=bool).reshape(-1, len(labels))
    recordings = np.array([c.get("recording") or c["path"] for c in clips])
    result: dict = {
        "clips": len(clips),
        "skipped": skipped,
        "labels": {},
        "by_source": {},
        "costliest": {},
        "second_opinion": second is not None,
    }
    for j, lab in enumerate(labels):
        pos = np.array([c["label"] == lab for c in clips], dtype=bool)
        keep = pos | np.array([c["label"] not in labels for c in clips], dtype=bool)
        rec, fpr = rate_at(pos[keep], s[keep, j], clf.thresholds[lab])
        result["labels"][lab] = {
            "auc": roc_auc(pos[keep], s[keep, j]),
            "recall": rec,
            "fpr": fpr,
            "auc_ci95": auc_interval(pos[keep], s[keep, j], recordings[keep]),
            "threshold": clf.thresholds[lab],
            "positives": int(pos.sum()),
            "event_recall": float(ev[pos, j].mean()) if pos.any() else float("nan"),
            "event_fpr": float(ev[keep & ~pos, j].mean()) if (keep & ~pos).any() else float("nan"),
            "negatives": int((keep & ~pos).sum()),
        }
        result["costliest"][lab] = costliest_clips(clips, s[:, j], pos, keep & ~pos)
    for src in sorted({(c["label"], c["source"]) for c in clips}):
        idx = [i for i, c in enumerate(clips) if (c["label"], c["source"]) == src]
        result["by_source"][f"{src[0]}/{src[1]}"] = {"n": len(idx)} | {
            lab: float((s[idx, j] >= clf.thresholds[lab]).mean()) for j, lab in enumerate(labels)
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = _plot_roc(clips, s, labels, out_dir / "roc.png")
    _write_report(result, manifest, out_dir / "evaluation.md", plot)
    (out_dir / "evaluation.json").write_text(json.dumps(result, indent=1))
    return result


def costliest_clips(clips: list[dict], s: np.ndarray, pos: np.ndarray, neg: np.ndarray, top: int = 5) -> list[dict]:
    """The positives and the negatives that cost the AUC the most: each one's share of the (positive, negative)
    pairs ranked the wrong way. What to listen to first when a model does badly on your recordings."""
    if not pos.any() or not neg.any():
        return []
    lost_pos, lost_neg = misranked_pairs(s[pos], s[neg])
    total = lost_pos.sum()
    if not total:
        return []
    rows = [*zip(lost_pos, np.flatnonzero(pos)), *zip(lost_neg, np.flatnonzero(neg))]
    rows = sorted((r for r in rows if r[0] > 0), key=lambda r: -r[0])[: 2 * top]
    return [
        {"path": clips[i]["path"], "label": clips[i]["label"], "score": float(s[i]), "share": float(lost / total)}
        for lost, i in rows
    ]


def _plot_roc(clips, s, labels, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are optional on the Pi
        return False
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for j, lab in enumerate(labels):
        pos = np.array([c["label"] == lab for c in clips], dtype=bool)
        keep = pos | np.array([c["label"] not in labels for c in clips], dtype=bool)
        if pos.any() and (keep & ~pos).any():
            fpr, tpr, _ = roc_curve(pos[keep], s[keep, j])
            ax.plot(fpr, tpr, label=lab)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("recall")
    ax.grid(alpha=0.3)
    if ax.lines:  # none when no label has both positives and negatives
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _write_report(result: dict, manifest: Path, path: Path, plot: bool) -> None:
    L = [
        f"# Evaluation of the model on {manifest}",
        "",
        f"{result['clips']} clips scored (clip score = max over 1 s windows, 0.25 s hop); "
        f"{len(result['skipped'])} unreadable, skipped.",
        "",
        "| label | ROC-AUC | 95 % interval | threshold | recall | FP rate | positives | negatives |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lab, m in result["labels"].items():
        lo, hi = m["auc_ci95"]
        L.append(
            f"| {lab} | {m['auc']:.3f} | {lo:.3f}-{hi:.3f} | {m['threshold']:.3f} | {m['recall']:.3f} | "
            f"{m['fpr']:.3f} | {m['positives']} | {m['negatives']} |"
        )
    L += [
        "",
        "Events: the share of clips on which the detector raised an event of the label "
        + (
            "(small model, then the second opinion: the product as it runs)."
            if result["second_opinion"]
            else "(the small model alone)."
        ),
        "",
        "| label | event recall | event FP rate |",
        "|---|---:|---:|",
    ]
    L += [f"| {lab} | {m['event_recall']:.3f} | {m['event_fpr']:.3f} |" for lab, m in result["labels"].items()]
    L += [
        "",
        "The interval is a bootstrap over recordings (the manifest's optional `recording` column; "
        "without it, over clips).",
    ]
    labels = list(result["labels"])
    L += [
        "",
        "Per source: the fraction of clips whose score reaches each label's threshold "
        "(recall for that label's own clips, false-positive rate otherwise).",
        "",
        "| label/source | clips | " + " | ".join(labels) + " |",
        "|---|---:|" + "---:|" * len(labels),
    ]
    for src, m in result["by_source"].items():
        L.append(f"| {src} | {m['n']} | " + " | ".join(f"{m[lab]:.3f}" for lab in labels) + " |")
    for lab, rows in result["costliest"].items():
        L += [
            "",
            f"Clips that cost the {lab} AUC the most (share of the pairs ranked the wrong way): a positive "
            "scored below negatives, or a negative above positives. Listen to these first.",
            "",
            "| clip | label | score | share |",
            "|---|---|---:|---:|",
        ]
        L += [f"| {r['path']} | {r['label']} | {r['score']:.3f} | {r['share']:.0%} |" for r in rows] or [
            "| (none: every positive scored above every negative) | | | |"
        ]
    if plot:
        L += ["", "![ROC](roc.png)"]
    if result["skipped"]:
        L += ["", "Skipped: " + ", ".join(result["skipped"])]
    path.write_text("\n".join(L) + "\n")
