#!/usr/bin/env python3
"""Screen a training variant against the others before it goes into scripts/train.py.

Each variant trains 3 seeds on the fold-5 split and on the cross-source split, from one cached pool of
augmented windows, and is scored on the same clean and 0 dB room+mic test clips; the fold-5 runs are also
converted to int8 for the parity check. Rows go to a JSON-lines file; the table compares every variant in it.

    python scripts/screen.py base
    python scripts/screen.py fmask freq_masks=2        # any FitConfig field=value
    python scripts/screen.py NAME ... --seeds 0         # only what the options log (e.g. --localize's window counts)
    python scripts/screen.py --table
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from barkcry_train.augment import Augmenter  # noqa: E402
from barkcry_train.data import LABELS, Corpus  # noqa: E402
from barkcry_train.evaluate import CONDITIONS, LEVEL_CONDITIONS, LEVELS, summarize  # noqa: E402
from barkcry_train.experiment import (  # noqa: E402
    CROSS_SOURCES,
    Resources,
    build_pools,
    make_splits,
    oversample_negatives,
    pick_thresholds,
    representative_windows,
    run,
    train_augmenter,
    validation_clips,
    validation_set,
)
from barkcry_train.export import int8_classifier, int8_parity, to_int8_tflite  # noqa: E402
from barkcry_train.sirens import siren_clips  # noqa: E402
from barkcry_train.train import FitConfig, count_macs, ensemble_model, model_for, predict_windows  # noqa: E402
from barkcry_train.windows import WindowPool, WindowSampler, localize_positives, positive_window_scores  # noqa: E402
from barkcry_train.yamnet import training_scorer  # noqa: E402
from detector.frontend import LogMel  # noqa: E402
from detector.level import QuietLift  # noqa: E402

COLUMNS = [
    "bark_auc_clean",
    "cry_auc_clean",
    "bark_auc_rm0",
    "cry_auc_rm0",
    "bark_recall_clean",
    "cry_recall_clean",
    "music_cry_fp",
    "sfx_cry_fp",
    "int8_max_diff",
]
MAX_FPR = 0.02  # thresholds: at most this share of validation negatives above them, as scripts/train.py
LEVEL_COLUMNS = [f"{lab}_{m}_{-lv}dbfs" for m in ("auc", "recall") for lv in LEVELS for lab in LABELS]  # at -lv dBFS


def field_values(cls, pairs: list[str]) -> dict:
    """``cls`` fields from field=value pairs, each cast to its default's type; a tuple takes comma-separated
    numbers (snr_db=-10,20). Fields without a plain default (data, generators) cannot be set."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    out = {}
    for p in pairs:
        k, _, v = p.partition("=")
        if k not in defaults:
            raise SystemExit(f"unknown {cls.__name__} field {k!r}: expected one of {sorted(defaults)}")
        d = defaults[k]
        out[k] = (
            v in ("1", "true", "True")
            if isinstance(d, bool)
            else tuple(float(x) for x in v.split(","))
            if isinstance(d, tuple)
            else type(d)(v)
        )
    return out


def fit_config(pairs: list[str], seed: int) -> FitConfig:
    """FitConfig from field=value pairs, on top of the screening defaults."""
    return FitConfig(**{"epochs": 30, "per_group": 750, "patience": 0, "seed": seed, **field_values(FitConfig, pairs)})


def row(name: str, pairs: list[str], split: str, seed: int, r, par: dict) -> dict:
    c, fp = r.summary["conditions"], r.summary["fp_by_source"]
    out = {
        "name": name,
        "config": pairs,
        "split": split,
        "seed": seed,
        "val_loss": r.val_loss,
        "thresholds": r.thresholds,
        "music_cry_fp": fp.get("music (hard negative for cry)", {}).get("cry"),
        "sfx_cry_fp": fp.get("tuxpaint_sfx", {}).get("cry"),
        "int8_max_diff": par.get("max_abs_diff"),
        "test_edges": "padded",
    }  # rows without it scored the test clips as cut (before a0d6d18)
    for lab in LABELS:
        out[f"{lab}_auc_clean"] = c["clean"][lab]["auc"]
        out[f"{lab}_auc_rm0"] = c["room+mic +0 dB"][lab]["auc"]
        out[f"{lab}_recall_clean"] = c["clean"][lab]["recall"]
        for cond in LEVEL_CONDITIONS:
            if cond.name in c:
                out[f"{lab}_recall_{-cond.level_dbfs}dbfs"] = c[cond.name][lab]["recall"]
                out[f"{lab}_auc_{-cond.level_dbfs}dbfs"] = c[cond.name][lab]["auc"]
    return out


def ensemble_run(models: list, ts, val_clips, lift) -> SimpleNamespace:
    """The models as one graph scoring their mean (``ensemble_model``), thresholds picked as for each."""
    model = ensemble_model(models)
    predict = lambda w: predict_windows(model, w, lift)  # noqa: E731
    thresholds = pick_thresholds(val_clips, val_clips.score(predict), MAX_FPR)
    summary = summarize(ts.clips, ts.score(predict), thresholds)
    return SimpleNamespace(model=model, summary=summary, thresholds=thresholds, val_loss=None)


def parity_check(r, rep: np.ndarray, windows: np.ndarray, lm: LogMel, lift: QuietLift | None) -> dict:
    """Float against int8 on ``windows``, for a run's model at its thresholds."""
    sidecar = {
        "labels": list(LABELS),
        "frontend": lm.params.to_dict(),
        "thresholds": r.thresholds,
        "input": {"lift": lift.to_dict()} if lift else {},
    }
    clf = int8_classifier(to_int8_tflite(r.model, rep), sidecar, lm.params)
    return int8_parity(r.model, clf, windows, [r.thresholds[lab] for lab in LABELS])


def per_label_teacher(bark: keras.Model, cry: keras.Model, feats: np.ndarray) -> np.ndarray:
    """Teacher scores with each label from its own ensemble (--cry-teachers)."""
    return np.stack(
        [predict_windows(bark, feats)[:, LABELS.index("bark")], predict_windows(cry, feats)[:, LABELS.index("cry")]],
        axis=1,
    )


def load_weights(path: Path, cfg: FitConfig, shape: tuple[int, int]) -> keras.Model:
    """A model saved by --save-models, rebuilt with ``cfg``'s architecture."""
    m = model_for(cfg, *shape)
    m.load_weights(path)
    return m


def saved_models(specs: list[str], split: str, pairs: list[str], shape: tuple[int, int]) -> list[keras.Model]:
    """A split's models from --save-models folders, each spec DIR[:field=value,...]: its FitConfig is ``pairs``
    with the spec's own fields on top."""
    ms = []
    for spec in specs:
        folder, _, fields = spec.partition(":")
        cfg = fit_config(pairs + [f for f in fields.split(",") if f], 0)
        ms += [load_weights(p, cfg, shape) for p in sorted(Path(folder).glob(f"{split}-seed*.weights.h5"))]
    return ms


def with_val_positives(pool, res: Resources, split, log, per_group: int):
    """``pool`` plus augmented windows of ``split``'s validation barks and cries, as many per clip as the
    pool has for its own, so each clip of folds 1-4 is drawn as often as any other."""
    extra = {lab: [c for c in split.val if c.label == lab] for lab in LABELS}
    take = {lab: round(per_group * len(extra[lab]) / len(split.train[lab])) for lab in LABELS}
    # The same augmentation chain (training negatives, noise and rooms) as the pool; another seed.
    ext = WindowPool.build(
        WindowSampler(res.corpus, res.lm), extra, max(take.values()), seed=4, augment=train_augmenter(res, split)
    )
    log(f"pool + fold-4 positives: {take} windows of {[len(v) for v in extra.values()]} clips")
    return pool.extended(ext, take)


def table(results: Path, columns: list[str] = COLUMNS) -> str:
    """Mean ± sd over seeds per (split, variant); only variants that have any of ``columns``. Rows scored on
    padded test clips (every row since a0d6d18) are marked: they do not compare with rows scored as cut."""
    groups = defaultdict(list)
    for line in results.read_text().splitlines():
        r = json.loads(line)
        groups[(r["split"], r["name"] + (" (padded)" if r.get("test_edges") == "padded" else ""))].append(r)
    cell = lambda v: "n/a" if not v else f"{np.mean(v):.3f} ± {np.std(v):.3f}"  # noqa: E731
    lines = ["| split | variant | seeds | " + " | ".join(columns) + " |", "|---|---|---:|" + "---:|" * len(columns)]
    for (split, name), rs in sorted(groups.items()):
        if not any(k in r for r in rs for k in columns):
            continue
        vals = [cell([r[k] for r in rs if r.get(k) is not None]) for k in columns]
        lines.append(f"| {split} | {name} | {len(rs)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def localized_pool(res: Resources, split, models: list, name: str, spec: str, log) -> WindowPool:
    """The default pool's windows drawn again, bark and cry only from where ``models`` (the ensemble of one
    split's saved models) hear them (``localize_positives``); cached like the default pool, one per split.
    The window scores are computed on every run, cached pool or not: they are what the log reports."""
    if not models:
        raise SystemExit(f"--localize: no {name}-seed*.weights.h5 models")
    sampler = WindowSampler(res.corpus, res.lm)
    scored = positive_window_scores(
        sampler, split.train["bark"] + split.train["cry"], partial(predict_windows, ensemble_model(models)), LABELS
    )
    sampler.localized = localize_positives(scored)
    for lab in LABELS:
        sc = [s for p, (_, s) in scored.items() if p.startswith(f"{lab}/")]
        log(
            f"{name} {lab}: {np.mean(np.concatenate(sc) < 0.3):.1%} of {sum(s.size for s in sc)} energetic windows "
            f"score below 0.3, {sum(s.max() < 0.5 for s in sc)} of {len(sc)} clips peak below 0.5; kept "
            f"{sum(sampler.localized[p].size for p in scored if p.startswith(f'{lab}/'))} windows"
        )
    cache = Path(f"/tmp/barkcry-screen-pool-localized-{spec.strip('/').replace('/', '_')}-{name}.pkl")
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    pool = WindowPool.build(sampler, split.train, 6000, seed=0, augment=train_augmenter(res, split))
    cache.write_bytes(pickle.dumps(pool, protocol=4))
    return pool


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", nargs="?", help="variant name")
    ap.add_argument("config", nargs="*", help="FitConfig field=value pairs")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--results", type=Path, default=ROOT / "reports" / "screening.jsonl")
    ap.add_argument(
        "--pool-cache",
        type=Path,
        help="default: /tmp/barkcry-screen-pool.pkl (pool size 6000), /tmp/barkcry-screen-poolN.pkl for another",
    )
    ap.add_argument(
        "--pool-size",
        type=int,
        default=6000,
        help="augmented windows per group; a larger pool starts with the 6000 of the default one",
    )
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="resume a variant: seeds first-seed .. seeds-1")
    ap.add_argument(
        "--split", choices=["fold5", "cross"], action="append", help="run only this split (repeatable; default both)"
    )
    ap.add_argument("--lift-target-db", type=float, default=-5.0, help="serving lift, as scripts/train.py")
    ap.add_argument(
        "--lift-max-db",
        type=float,
        default=20.0,
        help="serving lift (0: off; rows before 2026-11-26's third session were scored without)",
    )
    ap.add_argument(
        "--ensemble",
        action="store_true",
        help="also score the seeds' models as one ensemble graph: a row NAME-ensN (seed = the first seed)",
    )
    ap.add_argument("--save-models", type=Path, help="keep each seed's weights here, as SPLIT-seedN.weights.h5")
    ap.add_argument(
        "--teachers",
        action="append",
        metavar="DIR[:FIELD=VALUE,...]",
        help="a --save-models directory: each split's models (this variant's architecture, or the fields "
        "after the colon), averaged, teach (FitConfig distill=W); repeat to mix several directories",
    )
    ap.add_argument(
        "--cry-teachers",
        action="append",
        default=[],
        metavar="DIR[:FIELD=VALUE,...]",
        help="as --teachers, but these join the ensemble for the cry score only (bark: --teachers alone)",
    )
    ap.add_argument(
        "--train-without-fold",
        type=int,
        action="append",
        default=[],
        help="a learning-curve point: leave this fold's bark, cry and negative windows out of the pool "
        "(its noise beds stay: nearly all of them are in fold 3)",
    )
    ap.add_argument(
        "--teacher-config",
        action="append",
        metavar="FIELD=VALUE",
        help="the teachers' FitConfig architecture fields when they differ from the variant's (e.g. width=80)",
    )
    ap.add_argument(
        "--augment",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="an Augmenter field for this variant's own pool (e.g. snr_db=-10,20 or p_reverb=0.8)",
    )
    ap.add_argument(
        "--val-positives-train",
        action="store_true",
        help="train on fold 4's barks and cries too (validation keeps its negatives): the cached pool plus "
        "windows of those clips in proportion to their number",
    )
    ap.add_argument(
        "--localize",
        metavar="DIR[:FIELD=VALUE,...]",
        help="train each split on the windows of its barks and cries that its models in DIR score at half "
        "the clip's best or more (windows.localize_positives); a pool of its own per split",
    )
    ap.add_argument(
        "--yamnet-teacher",
        action="store_true",
        help="YAMNet's scores of each pool window's audio teach (FitConfig distill=W; barkcry_train.yamnet): "
        "the default pool's very windows, built again with the scores beside them",
    )
    ap.add_argument(
        "--yamnet-aux",
        action="store_true",
        help="YAMNet's 521 class scores of each pool window's audio, for an auxiliary head to learn "
        "(FitConfig aux_weight=W): the default pool's very windows, built again with the scores",
    )
    ap.add_argument(
        "--synthetic-sirens",
        type=int,
        default=0,
        metavar="N",
        help="add N synthetic sirens (barkcry_train/sirens.py) to the training negatives",
    )
    ap.add_argument(
        "--oversample",
        action="append",
        default=[],
        metavar="WORD=K",
        help="draw the training negatives whose origin names WORD K times as often (siren=4)",
    )
    ap.add_argument("--table", action="store_true", help="print the comparison tables and exit")
    a = ap.parse_args(argv)
    if a.table or not a.name:
        print(
            table(a.results)
            + "\n\nEvents turned down to a far-away level (`LEVEL_CONDITIONS`):\n\n"
            + table(a.results, LEVEL_COLUMNS)
        )
        return 0
    fit_config(a.config, 0)  # fail on a bad field before minutes of work
    aug_over = field_values(Augmenter, a.augment)
    t0 = time.time()
    log = lambda msg: print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)  # noqa: E731
    lm = LogMel()
    corpus = Corpus.load(a.data, lm.params.sample_rate)
    res = Resources.load(corpus, lm, 60, ROOT / "cache")
    if a.synthetic_sirens:  # fold 1: training negatives (and noise under events) in both splits, never tested
        clips, audio = siren_clips(a.synthetic_sirens, fs=lm.params.sample_rate)
        corpus.clips += clips
        corpus.audio.update(audio)
    splits = make_splits(corpus)
    if a.oversample:  # the pool is drawn from fold5's training groups; cross takes its subset
        pairs = [p.rpartition("=") for p in a.oversample]
        if any(not w or not k.isdigit() or int(k) < 1 for w, _, k in pairs):
            raise SystemExit(f"--oversample takes WORD=K with K a whole number >= 1, got {a.oversample}")
        weights = {w: int(k) for w, _, k in pairs}
        splits = {name: oversample_negatives(s, weights) for name, s in splits.items()}
    tag = ("" if a.pool_size == 6000 else str(a.pool_size)) + "".join(f"-{p}" for p in sorted(a.augment + a.oversample))
    if a.yamnet_teacher and a.yamnet_aux:
        raise SystemExit("--yamnet-teacher and --yamnet-aux each build the pool with their own YAMNet scores: pick one")
    tag += "-yamnet" if a.yamnet_teacher else "-yamnet521" if a.yamnet_aux else ""
    tag += f"-sirens{a.synthetic_sirens}" if a.synthetic_sirens else ""
    a.pool_cache = a.pool_cache or Path(f"/tmp/barkcry-screen-pool{tag}.pkl")
    if a.pool_cache.exists():  # the same windows for every variant: only the training differs
        pool = pickle.loads(a.pool_cache.read_bytes())
    else:
        scorer = training_scorer(ROOT / "cache", all_classes=a.yamnet_aux) if a.yamnet_teacher or a.yamnet_aux else None
        pool = build_pools(res, splits["fold5"], a.pool_size, False, log, aug_over, scorer)["augmented"]
        if a.yamnet_aux:  # the scores are for the auxiliary head, not targets of the labels
            pool = dataclasses.replace(pool, aux=pool.teacher, teacher=None)
        a.pool_cache.write_bytes(pickle.dumps(pool, protocol=4))
    if a.val_positives_train:
        pool = with_val_positives(pool, res, splits["fold5"], log, a.pool_size)
        splits = make_splits(corpus, val_positives_train=True)
    pools = {name: pool for name in splits}
    if a.localize:
        if a.val_positives_train or a.augment or a.pool_size != 6000:
            raise SystemExit(
                "--localize builds its own pools: use it without --val-positives-train, --augment, --pool-size"
            )
        pools = {
            name: localized_pool(
                res,
                splits["fold5"],
                saved_models([a.localize], name, a.config, pool.feats.shape[-2:]),
                name,
                a.localize,
                log,
            )
            for name in splits
        }
    lift = QuietLift(a.lift_target_db, a.lift_max_db) if a.lift_max_db > 0 else None
    conds = [c for c in CONDITIONS if c.name in ("clean", "room+mic +0 dB")] + LEVEL_CONDITIONS
    rep = representative_windows(res, splits["fold5"])
    teachers = {}  # split -> the ensemble of its saved models, as a scorer of window features
    teacher_pairs = a.config + (a.teacher_config or [])
    for name in splits if a.teachers else []:
        if ms := saved_models(a.teachers, name, teacher_pairs, pool.feats.shape[-2:]):
            teachers[name] = partial(predict_windows, ensemble_model(ms))
            if cry_only := saved_models(a.cry_teachers, name, teacher_pairs, pool.feats.shape[-2:]):
                teachers[name] = partial(per_label_teacher, ensemble_model(ms), ensemble_model(ms + cry_only))
            log(
                f"{name}: {len(ms)} teachers from {', '.join(a.teachers)}"
                + (f", {len(cry_only)} more for cry from {', '.join(a.cry_teachers)}" if cry_only else "")
            )
    for name, split in splits.items():
        if a.split and name not in a.split:
            continue
        val, val_clips = validation_set(res, split, seed=123), validation_clips(res, split)
        ts = res.test_set(split.test, conds)
        allw = ts.all_windows()
        held = {c.path for c in corpus.clips if (c.label, c.source) in CROSS_SOURCES} if name == "cross" else set()
        held |= {
            c.path for c in corpus.clips if c.fold in a.train_without_fold and c.label in ("bark", "cry", "negative")
        }
        models = []
        train_pool = pools[name].for_training(held)
        for seed in range(a.first_seed, a.seeds):
            r = run(
                train_pool,
                split,
                ts,
                val,
                val_clips,
                fit_config(a.config, seed),
                MAX_FPR,
                log,
                lift,
                teachers.get(name),
            )
            models.append(r.model)
            if a.save_models:
                a.save_models.mkdir(parents=True, exist_ok=True)
                r.model.save_weights(a.save_models / f"{name}-seed{seed}.weights.h5")
            par = parity_check(r, rep, allw, lm, lift) if name == "fold5" else {}
            with a.results.open("a") as f:
                f.write(
                    json.dumps(
                        row(a.name, a.config, name, seed, r, par)
                        | {"lift": lift and lift.to_dict()}
                        | ({"train_without_fold": a.train_without_fold} if a.train_without_fold else {})
                        | ({"val_positives_train": True} if a.val_positives_train else {})
                        | ({"pool_size": a.pool_size} if a.pool_size != 6000 else {})
                        | ({"augment": a.augment} if a.augment else {})
                        | ({"oversample": a.oversample} if a.oversample else {})
                        | ({"synthetic_sirens": a.synthetic_sirens} if a.synthetic_sirens else {})
                        | ({"localize": a.localize} if a.localize else {})
                        | ({"yamnet_teacher": True} if a.yamnet_teacher else {})
                        | ({"yamnet_aux": True} if a.yamnet_aux else {})
                    )
                    + "\n"
                )
        if a.ensemble and len(models) > 1:  # the seeds' mean window score: what their spread costs one model
            r = ensemble_run(models, ts, val_clips, lift)
            par = parity_check(r, rep, allw, lm, lift) if name == "fold5" else {}
            with a.results.open("a") as f:
                f.write(
                    json.dumps(
                        row(f"{a.name}-ens{len(models)}", a.config, name, a.first_seed, r, par)
                        | {"lift": lift and lift.to_dict(), "macs": count_macs(r.model)}
                    )
                    + "\n"
                )
    print(table(a.results) + "\n\n" + table(a.results, LEVEL_COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
