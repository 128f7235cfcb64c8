"""The shipped model against a retrained candidate's seeds, on the same tests: writes reports/bark_cry/candidate.md.

    python -m scripts.compare_candidate --candidate RUN [--variant NAME=RUN2 ...]

A RUN is a training run's folder: `scripts.train --out RUN/NAME --reports RUN/report --save-seeds` leaves
there each fold-5 seed's int8 model (NAME-seedN.tflite), runs.json and training.md, whose command is quoted.

Every model is the int8 one the device runs, scored as `detector scan` scores a clip (the best score two
consecutive windows reach). The tests:

- fold 5: the held-out fold of the corpus as it is now, with the screened-out barks left out of it;
  clean, at 0 dB through a room and a microphone, and clean through an 8 kHz round trip (a model that finds
  barks or cries by their empty top band finds them in the negatives too, and its AUC falls);
- cross-new: the barks of the sources added last (every fold), which the fold-5 candidate partly trained on
  and the shipped model never heard, against the fold-5 negatives of the other sources; the candidate run's
  own cross-new split (trained without them), where a run has one, stands for its recipe there;
- the household bed: an hour of fold-5 negatives and noise at -20, -30 and -40 dBFS; every event is a false
  alarm. Each model is set to the shipped model's fold-5 clean recall, per label, and its events counted;
- the cascade: the small model proposes, YAMNet confirms barks as shipped (`second_opinion` in the sidecar).
  Per model, the lowest small-model threshold whose cascade raises no more household alarms than the shipped
  cascade does today, and the event recall it reaches on fold-5 barks and cries.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from barkcry_train import bark_screening
from barkcry_train.augment import resample_round_trip
from barkcry_train.beds import build_bed
from barkcry_train.data import LABELS, Clip, Corpus
from barkcry_train.evaluate import CONDITIONS, TestSet, clip_windows
from barkcry_train.experiment import NEW_SOURCES, PARITY_GATE, Resources, best_run, make_splits
from detector.config import Config, LabelConfig
from detector.confirm import confirm_thresholds
from detector.frontend import LogMel
from detector.metrics import rate_at, roc_auc, threshold_for_fpr
from detector.model import Classifier
from detector.replay import CachedYamnet, replay
from detector.scan import window_scores
from detector.yamnet import Yamnet

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
CONDS = {c.name: c for c in CONDITIONS if c.name in ("clean", "room+mic +10 dB", "room+mic +0 dB")}
SMALL_GRID = np.round(np.arange(0.30, 0.99, 0.02), 2)


def mean_sd(v, fmt: str = "{:.3f}") -> str:
    v = [x for x in v if x == x]
    if not v:
        return "n/a"
    return fmt.format(np.mean(v)) + (" ± " + fmt.format(np.std(v)) if len(v) > 1 else "")


@dataclass
class Recipe:
    """One training run: its fold-5 seeds, its runs (float, every split) and the command that made it."""

    name: str
    seeds: dict[int, Path]  # seed -> its int8 model
    runs: list[dict]
    command: str

    @property
    def models(self) -> dict[str, Path]:
        """Each seed's model, under the name the report gives it."""
        return {f"{self.name} seed{n}": p for n, p in self.seeds.items()}

    @classmethod
    def load(cls, name: str, run: Path) -> Recipe:
        seeds = dict(sorted((int(p.stem.rsplit("-seed", 1)[1]), p) for p in run.glob("*-seed*.tflite")))
        if not seeds:
            raise SystemExit(f"{run}: no NAME-seedN.tflite (train with --save-seeds)")
        lines = (run / "report" / "training.md").read_text().splitlines()
        command = next(ln.split("`")[1] for ln in lines if ln.startswith("Command: `"))
        return cls(name, seeds, json.loads((run / "report" / "runs.json").read_text()), command)


def float_runs(runs: list[dict]) -> dict[str, list[dict]]:
    """Per split/variant, each seed's clean float AUC, recall and FP rate, and its AUC at 0 dB room+mic."""
    out: dict[str, list[dict]] = {}
    for r in runs:
        c = r["summary"]["conditions"]
        out.setdefault(f"{r['split']}/{r['variant']}", []).append(
            {
                lab: {
                    "auc": c["clean"][lab]["auc"],
                    "recall": c["clean"][lab]["recall"],
                    "fpr": c["clean"][lab]["fpr"],
                    "auc_rm0": c["room+mic +0 dB"][lab]["auc"],
                }
                for lab in LABELS
            }
        )
    return out


def int8_pick(runs: list[dict]) -> dict:
    """The fold-5 run the training ships (``best_run``: chosen on validation), and its int8 agreement on the
    test windows, which must stay within PARITY_GATE."""
    pick = best_run([SimpleNamespace(**r) for r in runs], "fold5")
    return {"seed": pick.seed, "val": pick.val_int8_max_diff, "test": pick.int8_parity["max_abs_diff"]}


def seed_parity(runs: list[dict], seed: int) -> float:
    """One fold-5 seed's largest |float - int8| score difference on the test windows."""
    r = next(r for r in runs if r["split"] == "fold5" and r["variant"] == "augmented" and r["seed"] == seed)
    return r["int8_parity"]["max_abs_diff"]


def test_sets(res: Resources, clips: list[Clip]) -> TestSet:
    """``clips`` clean, at 0 dB through a room and microphone, and clean through an 8 kHz round trip."""
    ts = TestSet.build(
        clips,
        res.corpus.audio,
        res.lm,
        res.noises(clips),
        res.test_rirs,
        seed=7,
        conditions=[CONDS["clean"], CONDS["room+mic +0 dB"]],
    )
    clean = res.condition_audio(clips, CONDS["clean"])
    ts.feats["clean, 8 kHz round trip"] = [clip_windows(res.lm, resample_round_trip(x, RATE)) for x in clean]
    return ts


def label_metrics(clips: list[Clip], s: np.ndarray, j: int, threshold: float, max_fpr: float = 0.02) -> dict:
    lab = LABELS[j]
    pos = np.array([c.label == lab for c in clips])
    neg = np.array([c.label not in LABELS for c in clips])
    keep = pos | neg
    recall, fpr = rate_at(pos[keep], s[keep, j], threshold)
    at2 = threshold_for_fpr(s[neg, j], max_fpr)
    return {
        "auc": roc_auc(pos[keep], s[keep, j]),
        "recall": recall,
        "fpr": fpr,
        "recall_at_2pct": rate_at(pos[keep], s[keep, j], at2)[0],
    }


def per_label(clips: list[Clip], s: np.ndarray, thr: list[float], mask=None, labels=LABELS) -> dict:
    """``label_metrics`` of each of ``labels`` at its threshold, on the clips ``mask`` keeps (all by default)."""
    if mask is not None:
        clips, s = [c for c, k in zip(clips, mask) if k], s[mask]
    return {lab: label_metrics(clips, s, j, thr[j]) for j, lab in enumerate(LABELS) if lab in labels}


def threshold_at_recall(clips: list[Clip], s: np.ndarray, j: int, recall: float) -> float:
    """The highest threshold at which the clean clip recall of label ``j`` reaches ``recall``."""
    pos = np.sort(s[[c.label == LABELS[j] for c in clips], j])[::-1]
    k = max(1, int(np.ceil(recall * pos.size - 1e-9)))
    return float(pos[k - 1])


def events(cfg_thresholds: dict[str, float], windows, x, window_s, yam, confirm) -> dict[str, int]:
    cfg = Config()
    cfg.detection.labels = {lab: LabelConfig(on_threshold=t) for lab, t in cfg_thresholds.items()}
    policies = cfg.detection.policies(cfg_thresholds)
    evs = replay(windows, policies, window_s, x, RATE, yam, confirm or None)
    return {lab: sum(e.state == "start" and e.label == lab for e in evs) for lab in cfg_thresholds}


class Scored:
    """One model: its windows over the bed and over each positive's conditioned audio, scored once."""

    def __init__(
        self, clf: Classifier, bed: np.ndarray, hours: float, positives: dict[str, list[tuple[Clip, np.ndarray]]]
    ):
        self.clf, self.bed, self.hours = clf, bed, hours
        self.window_s = clf.frontend.window_samples / RATE
        cfg = Config()
        self.bed_windows = window_scores(cfg, clf, bed)
        self.pos_windows = {k: [(c, x, window_scores(cfg, clf, x)) for c, x in v] for k, v in positives.items()}

    def bed_alarms(self, thresholds: dict[str, float], yam, confirm) -> dict[str, float]:
        n = events(thresholds, self.bed_windows, self.bed, self.window_s, yam, confirm)
        return {lab: n[lab] / self.hours for lab in thresholds}

    def event_recall(self, label: str, t: float, yam, confirm, cond: str) -> float:
        found = [
            events({label: t}, w, x, self.window_s, yam, confirm)[label] > 0
            for c, x, w in self.pos_windows[cond]
            if c.label == label
        ]
        return float(np.mean(found))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shipped", type=Path, default=ROOT / "models" / "bark_cry.tflite")
    ap.add_argument("--candidate", type=Path, required=True, help="the candidate's training run folder")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=RUN",
        help="another recipe's run folder, scored on the same tests and summed up beside the candidate",
    )
    ap.add_argument("--shipped-runs", type=Path, default=ROOT / "reports" / "bark_cry" / "runs.json")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--bark-screening", type=Path, default=ROOT / "reports" / "bark_cry" / "bark_screening.csv")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache")
    ap.add_argument("--bed-minutes", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bark_cry" / "candidate.md")
    ap.add_argument("--json", type=Path, help="also write every number here")
    a = ap.parse_args(argv)

    lm = LogMel()
    corpus = Corpus.load(a.data, lm.params.sample_rate)
    kept = bark_screening.verdicts(a.bark_screening)
    rejected = [c for c in corpus.clips if c.label == "bark" and not kept.get(c.path, True)]
    corpus.clips = bark_screening.apply(corpus.clips, kept, "drop")
    res = Resources.load(corpus, lm, 60, a.cache)
    splits = make_splits(corpus, new_cross=True)
    fold5, cross, cross_new = splits["fold5"], splits["cross"], splits["cross-new"]
    recipes = [Recipe.load("candidate", a.candidate)]
    for spec in a.variant:
        name, run = spec.split("=", 1)
        recipes.append(Recipe.load(name, Path(run)))
    models = {"shipped": Classifier(a.shipped, lm.params)}
    for r in recipes:
        models |= {name: Classifier(p, lm.params) for name, p in r.models.items()}
    print(f"models: {list(models)}", flush=True)

    out: dict = {"models": list(models)}
    ts5, tsn = test_sets(res, fold5.test), test_sets(res, cross_new.test)
    tsc = TestSet.build(
        cross.test, corpus.audio, lm, res.noises(cross.test), res.test_rirs, seed=7, conditions=[CONDS["clean"]]
    )
    # the cross test's negatives are fold 5's, which now hold the added animals: scored without them too, as
    # the shipped recipe's cross runs were tested
    cross_old = np.array([c.source not in NEW_SOURCES for c in cross.test])
    tr = TestSet.build(
        rejected, corpus.audio, lm, res.noises(fold5.test), res.test_rirs, seed=7, conditions=[CONDS["clean"]]
    )
    with open(a.bark_screening, newline="") as f:
        top = {r["path"]: r["top_class"] for r in csv.DictReader(f)}
    rejected_kinds = sorted({top[c.path] for c in rejected})
    new5 = np.array([c.source in NEW_SOURCES for c in fold5.test])
    neg5 = np.array([c.label not in LABELS for c in fold5.test])
    for name, clf in models.items():
        thr = [clf.thresholds[lab] for lab in LABELS]
        s5, sn = ts5.score(clf.score_windows), tsn.score(clf.score_windows)
        m = out.setdefault(name, {})
        for cond, s in s5.items():
            m[f"fold5 {cond}"] = per_label(fold5.test, s, thr)
        # fold 5 without the new sources, and their barks alone (against every fold-5 negative)
        m["fold5 clean, old sources"] = per_label(fold5.test, s5["clean"], thr, ~new5)
        m["fold5 clean, new barks"] = per_label(fold5.test, s5["clean"], thr, new5 | neg5, ("bark",))
        for cond, s in sn.items():
            m[f"cross-new {cond}"] = per_label(cross_new.test, s, thr, labels=("bark",))
        s_cross = tsc.score(clf.score_windows)["clean"]
        m["cross clean"] = per_label(cross.test, s_cross, thr)
        m["cross clean, old negatives"] = per_label(cross.test, s_cross, thr, cross_old)
        m["clean scores"] = s5["clean"]
        # the screened-out dog sounds (howls, growls, whines): how many the model calls a bark, at its own
        # threshold; fold 5's apart, since a recipe that trains them as negatives has heard folds 1-3
        sr = tr.score(clf.score_windows)["clean"][:, 0]
        m["screened out"] = {
            k: float(np.mean([s >= thr[0] for s, c in zip(sr, rejected) if top[c.path] == k])) for k in rejected_kinds
        } | {
            "all": float(np.mean(sr >= thr[0])),
            "all, fold 5": float(np.mean([s >= thr[0] for s, c in zip(sr, rejected) if c.fold == 5])),
        }
        print(f"{name}: tests scored", flush=True)

    # the household bed, and the positives' audio for event recall
    negatives = [c for c in fold5.test if c.label not in LABELS]
    bed = build_bed(negatives, corpus.audio, a.bed_minutes * 60, np.random.default_rng(0))
    hours = a.bed_minutes / 60
    positives = {
        cond: [(c, x) for c, x in zip(fold5.test, res.condition_audio(fold5.test, CONDS[cond])) if c.label in LABELS]
        for cond in CONDS
    }
    yam = CachedYamnet(Yamnet())
    shipped = models["shipped"]
    confirm = confirm_thresholds(Config(), shipped, yam.model)
    today = shipped.thresholds_for(confirm)
    scored = {name: Scored(clf, bed, hours, positives) for name, clf in models.items()}
    ship_recall = {lab: out["shipped"]["fold5 clean"][lab]["recall"] for lab in LABELS}
    cascade_today = scored["shipped"].bed_alarms(today, yam, confirm)
    out["cascade today"] = {"thresholds": today, "confirm": confirm, "alarms_per_hour": cascade_today}
    for name, sc in scored.items():
        m = out[name]
        s = m.pop("clean scores")
        eq = {lab: threshold_at_recall(fold5.test, s, j, ship_recall[lab]) for j, lab in enumerate(LABELS)}
        m["equal recall thresholds"] = eq
        m["bed alone, own thresholds"] = sc.bed_alarms(dict(sc.clf.thresholds), yam, {})
        m["bed alone, equal recall"] = sc.bed_alarms(eq, yam, {})
        cascade = {}
        for lab in LABELS:
            conf = {lab: confirm[lab]} if lab in confirm else {}
            ok = [t for t in SMALL_GRID if sc.bed_alarms({lab: float(t)}, yam, conf)[lab] <= cascade_today[lab]]
            t = float(min(ok)) if ok else float("nan")
            cascade[lab] = {"threshold": t, "confirm": conf.get(lab)}
            for cond in CONDS:
                cascade[lab][cond] = sc.event_recall(lab, t, yam, conf, cond) if ok else float("nan")
        m["cascade"] = cascade
        print(f"{name}: bed and cascade done", flush=True)

    shipped_runs = json.loads(a.shipped_runs.read_text())
    out["runs"] = {r.name: float_runs(r.runs) for r in recipes}
    out["runs"]["shipped recipe"] = float_runs(shipped_runs)
    out["int8 pick"] = {r.name: int8_pick(r.runs) for r in recipes} | {"shipped": int8_pick(shipped_runs)}
    for r in recipes:
        for seed, name in zip(r.seeds, r.models):
            out[name]["int8 max diff"] = seed_parity(r.runs, seed)
    out["shipped"]["int8 max diff"] = out["int8 pick"]["shipped"]["test"]
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=float))
    a.out.write_text(report(a, out, recipes, hours))
    print(f"wrote {a.out}")
    return 0


def report(a, out: dict, recipes: list[Recipe], hours: float) -> str:
    cands = list(recipes[0].models)

    def head(first: str = "measure") -> list[str]:
        return [
            f"| {first} | shipped | candidate mean ± sd | " + " | ".join(cands) + " |",
            "|---|---:|---:|" + "---:|" * len(cands),
        ]

    def row(title: str, get, fmt="{:.3f}") -> str:
        ship = get(out["shipped"])
        vals = [get(out[n]) for n in cands]
        return (
            f"| {title} | {fmt.format(ship)} | {mean_sd(vals, fmt)} | " + " | ".join(fmt.format(v) for v in vals) + " |"
        )

    L = [
        "# The shipped model against the candidate",
        "",
        "Commands:",
        "",
        "```",
        "python -m barkcry_train.bark_screening --data ../shared/data --out reports/bark_cry/bark_screening.csv",
        *[f"{r.command}  # {r.name}" for r in recipes],
        f"python -m scripts.compare_candidate --candidate {a.candidate}"
        + "".join(f" --variant {v}" for v in a.variant),
        "```",
        "",
        (__doc__ or "")[(__doc__ or "").index("Every model") :].strip(),
        "",
        "## Bark screening",
        "",
        "| source | YAMNet's top dog class | clips | kept as bark |",
        "|---|---|---:|---|",
        *[
            f"| {s} | {k} | {n} | {'yes' if k in bark_screening.BARK_CLASSES else 'no'} |"
            for s, k, n in bark_screening.counts(a.bark_screening)
        ],
        "",
        f"## Fold 5 ({len(cands)} candidate seeds; shipped: one model)",
        "",
        *head(),
    ]
    for cond in ("clean", "room+mic +0 dB", "clean, 8 kHz round trip", "clean, old sources"):
        for lab in LABELS:
            L.append(row(f"{lab} AUC, {cond}", lambda m, c=cond, lab=lab: m[f"fold5 {c}"][lab]["auc"]))
    L += [
        row("bark AUC, clean, new barks", lambda m: m["fold5 clean, new barks"]["bark"]["auc"]),
        row("bark recall at 2 % test FP, clean", lambda m: m["fold5 clean"]["bark"]["recall_at_2pct"]),
        row("cry recall at 2 % test FP, clean", lambda m: m["fold5 clean"]["cry"]["recall_at_2pct"]),
    ]
    for cond in ("clean", "room+mic +0 dB"):
        for lab in LABELS:
            L.append(
                row(f"{lab} recall at own threshold, {cond}", lambda m, c=cond, lab=lab: m[f"fold5 {c}"][lab]["recall"])
            )
            L.append(
                row(f"{lab} FP rate at own threshold, {cond}", lambda m, c=cond, lab=lab: m[f"fold5 {c}"][lab]["fpr"])
            )
    L += [
        "",
        "## Cross-new: the added sources' barks",
        "",
        *head(),
        row("bark AUC, clean", lambda m: m["cross-new clean"]["bark"]["auc"]),
        row("bark AUC, room+mic +0 dB", lambda m: m["cross-new room+mic +0 dB"]["bark"]["auc"]),
        row("bark recall at own threshold, clean", lambda m: m["cross-new clean"]["bark"]["recall"]),
        "",
        "The fold-5 candidates trained on the added sources' folds 1-3, so their cross-new numbers are not a",
        "cross-source test; a run's own cross-new split, where it has one, is (float, from its runs.json, below).",
        "",
        "## Cross: ESC-50's and t04glovern's barks and cries, against fold 5's negatives",
        "",
        "Every model here trained on those sources' folds 1-3, so this is not a cross-source test for them; the",
        "training runs' cross split is (below). It shows what the added animals among the negatives do to the test",
        "itself: the shipped recipe's cross runs were tested without them, every later run with them.",
        "",
        *head(),
        *[
            row(f"{lab} AUC, clean, {neg}", lambda m, lab=lab, k=key: m[k][lab]["auc"])
            for lab in LABELS
            for neg, key in (
                ("all fold-5 negatives", "cross clean"),
                ("without the added animals", "cross clean, old negatives"),
            )
        ],
        "",
        f"## Household bed ({hours * 60:.0f} minutes, false alarms an hour)",
        "",
        *head(),
    ]
    for lab in LABELS:
        L.append(row(f"{lab}, own threshold", lambda m, lab=lab: m["bed alone, own thresholds"][lab], "{:.1f}"))
        L.append(row(f"{lab}, at the shipped recall", lambda m, lab=lab: m["bed alone, equal recall"][lab], "{:.1f}"))
        L.append(row(f"{lab} threshold at the shipped recall", lambda m, lab=lab: m["equal recall thresholds"][lab]))
    ct = out["cascade today"]
    L += [
        "",
        "## The cascade: event recall at today's household false alarms",
        "",
        f"Today (shipped, small thresholds {ct['thresholds']}, YAMNet confirming {ct['confirm']}): "
        + ", ".join(f"{lab} {v:.1f}" for lab, v in ct["alarms_per_hour"].items())
        + " false alarms an hour on the bed. Each model gets the lowest small threshold that raises no more.",
        "",
        *head(),
    ]
    for lab in LABELS:
        L.append(row(f"{lab} small threshold", lambda m, lab=lab: m["cascade"][lab]["threshold"], "{:.2f}"))
        for cond in CONDS:
            L.append(row(f"{lab} event recall, {cond}", lambda m, lab=lab, c=cond: m["cascade"][lab][c]))
    kinds = list(out["shipped"]["screened out"])
    L += [
        "",
        "## The screened-out dog sounds",
        "",
        "The clips the screening kept from the barks (every fold), clean: the share each model calls a bark at its",
        "own threshold. A model that calls them barks would gain from training them as negatives; one that does not,",
        "loses little by leaving them out. A recipe that trains them as negatives has heard those of folds 1-3, so",
        "for it only the fold-5 row is a test.",
        "",
        *head("YAMNet's top class"),
        *[row(k, lambda m, k=k: m["screened out"][k]) for k in kinds],
    ]
    L += ["", "## Targets", "", *targets(out, cands)]
    groups = {r.name: list(r.models) for r in recipes}
    variants = sorted(r.name for r in recipes[1:])
    if variants:
        L += ["", "## Other recipes on the same tests (mean ± sd over their seeds)", ""]
        L += [
            "| measure | shipped | candidate | " + " | ".join(variants) + " |",
            "|---|---:|---:|" + "---:|" * len(variants),
        ]
        for title, get in VARIANT_ROWS:
            group = lambda v: [get(out[n]) for n in groups[v]]  # noqa: E731
            L.append(
                f"| {title} | {get(out['shipped']):.3f} | {mean_sd(group('candidate'))} | "
                + " | ".join(mean_sd(group(v)) for v in variants)
                + " |"
            )
        picks = out["int8 pick"]
        L.append(
            "| int8 vs float, largest difference, of the seed the training picks | "
            + " | ".join(
                f"{picks[v]['test']:.3f} (seed {picks[v]['seed']})" for v in ["shipped", "candidate", *variants]
            )
            + " |"
        )
    L += [
        "",
        "## The training runs (float, clean; mean ± sd over seeds, then each seed)",
        "",
        "The shipped recipe's runs were tested on the corpus before the additions; the others on the corpus",
        "now (their fold-5 and cross negatives include the added animals).",
        "",
        "| run | split/variant | seeds | bark AUC | cry AUC | bark recall | bark FP | bark AUC 0 dB room+mic |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, groups in out["runs"].items():
        for sv, rows in groups.items():
            cell = lambda v: f"{mean_sd(v)} ({', '.join(f'{x:.3f}' for x in v)})"  # noqa: E731
            L.append(
                f"| {key} | {sv} | {len(rows)} | {cell([r['bark']['auc'] for r in rows])} | "
                f"{cell([r['cry']['auc'] for r in rows])} | {cell([r['bark']['recall'] for r in rows])} | "
                f"{cell([r['bark']['fpr'] for r in rows])} | {cell([r['bark']['auc_rm0'] for r in rows])} |"
            )
    return "\n".join(L) + "\n"


VARIANT_ROWS = [
    ("fold-5 bark AUC, clean", lambda m: m["fold5 clean"]["bark"]["auc"]),
    ("fold-5 cry AUC, clean", lambda m: m["fold5 clean"]["cry"]["auc"]),
    ("fold-5 bark AUC, 0 dB room+mic", lambda m: m["fold5 room+mic +0 dB"]["bark"]["auc"]),
    ("bark recall at 2 % FP", lambda m: m["fold5 clean"]["bark"]["recall_at_2pct"]),
    ("bark AUC, new barks", lambda m: m["fold5 clean, new barks"]["bark"]["auc"]),
    ("household bark alarms/h at the shipped recall", lambda m: m["bed alone, equal recall"]["bark"]),
    ("household cry alarms/h at the shipped recall", lambda m: m["bed alone, equal recall"]["cry"]),
    ("fold-5 cry AUC, 0 dB room+mic", lambda m: m["fold5 room+mic +0 dB"]["cry"]["auc"]),
    ("cascade bark event recall, clean", lambda m: m["cascade"]["bark"]["clean"]),
    ("cascade bark event recall, 0 dB room+mic", lambda m: m["cascade"]["bark"]["room+mic +0 dB"]),
    ("cascade cry event recall, clean", lambda m: m["cascade"]["cry"]["clean"]),
    ("screened-out howls called barks", lambda m: m["screened out"]["Howl"]),
    ("int8 vs float, largest difference (test windows)", lambda m: m["int8 max diff"]),
]


def targets(out: dict, cands: list[str]) -> list[str]:
    """The candidate's targets, and the rule it ships by: fold-5 bark AUC and household bark alarms better
    beyond the candidate's seed spread, and nothing worse beyond it."""

    def vals(get):
        v = np.array([get(out[n]) for n in cands], dtype=float)
        return get(out["shipped"]), float(np.mean(v)), float(np.std(v))

    checks = [  # (measure, getter, target on the candidate's mean or None, higher is better)
        ("fold-5 bark AUC, clean", lambda m: m["fold5 clean"]["bark"]["auc"], lambda s, c: c >= 0.975, True),
        ("bark recall at 2 % FP", lambda m: m["fold5 clean"]["bark"]["recall_at_2pct"], lambda s, c: c >= 0.85, True),
        (
            "household bark alarms/h at the shipped recall",
            lambda m: m["bed alone, equal recall"]["bark"],
            lambda s, c: c <= s / 2,
            False,
        ),
        ("household cry alarms/h at the shipped recall", lambda m: m["bed alone, equal recall"]["cry"], None, False),
        ("fold-5 cry AUC, clean", lambda m: m["fold5 clean"]["cry"]["auc"], None, True),
        ("fold-5 bark AUC, 0 dB room+mic", lambda m: m["fold5 room+mic +0 dB"]["bark"]["auc"], None, True),
        ("fold-5 cry AUC, 0 dB room+mic", lambda m: m["fold5 room+mic +0 dB"]["cry"]["auc"], None, True),
        ("fold-5 bark recall, 0 dB room+mic", lambda m: m["fold5 room+mic +0 dB"]["bark"]["recall"], None, True),
        ("bark AUC through 8 kHz", lambda m: m["fold5 clean, 8 kHz round trip"]["bark"]["auc"], None, True),
        ("cry AUC through 8 kHz", lambda m: m["fold5 clean, 8 kHz round trip"]["cry"]["auc"], None, True),
        ("cascade bark event recall, clean", lambda m: m["cascade"]["bark"]["clean"], None, True),
        ("cascade bark event recall, 0 dB room+mic", lambda m: m["cascade"]["bark"]["room+mic +0 dB"], None, True),
    ]
    L = [
        "| measure | shipped | candidate | target | met | beyond the seed spread |",
        "|---|---:|---:|---|---|---|",
    ]
    better, worse = {}, []
    for name, get, target, up in checks:
        s, c, sd = vals(get)
        d = (c - s) if up else (s - c)
        verdict = "better" if d > sd else ("worse" if d < -sd else "within")
        better[name] = verdict == "better"
        if verdict == "worse":
            worse.append(name)
        met = "" if target is None else ("yes" if target(s, c) else "no")
        L.append(f"| {name} | {s:.3f} | {c:.3f} ± {sd:.3f} | {'' if target is None else 'yes'} | {met} | {verdict} |")
    pick = out["int8 pick"]["candidate"]
    parity = pick["test"] <= PARITY_GATE
    L.append(
        f"| int8 vs float, largest difference on the test windows, of the seed the training picks (seed "
        f"{pick['seed']}) | {out['int8 pick']['shipped']['test']:.3f} | {pick['test']:.3f} | ≤ {PARITY_GATE} | "
        f"{'yes' if parity else 'no'} | |"
    )
    ships = (
        better["fold-5 bark AUC, clean"]
        and better["household bark alarms/h at the shipped recall"]
        and not worse
        and parity
    )
    L += [
        "",
        f"Ships: **{'yes' if ships else 'no'}** (the rule: fold-5 bark AUC and household bark alarms better beyond the "
        "seed spread, nothing worse beyond it, and the picked seed's int8 agreement within the gate"
        + (f"; worse: {', '.join(worse)}" if worse else "")
        + ("" if parity else "; int8 agreement outside the gate")
        + ").",
    ]
    return L


if __name__ == "__main__":
    raise SystemExit(main())
