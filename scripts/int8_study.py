#!/usr/bin/env python3
"""Where the int8 model parts from the float one: the study behind ReLU6 and the rescaling's move out of the graph.

    python scripts/int8_study.py ranges models/bark_cry.tflite     # each int8 tensor's step, max and p99.9
    python scripts/int8_study.py causes [--weights /tmp/fmean_s0.weights.h5]
        # one fold-5 model (fmean recipe, seed 0, no ReLU cap; trained unless --weights names saved ones),
        # exported four ways: as it is, rescaling moved out, ReLU6 put in after training, both;
        # max |float - int8| over the screening test windows (fold 5, clean and 0 dB room+mic)
    python scripts/int8_study.py input [--weights /tmp/relu6_s0.weights.h5]
        # the shipped recipe (ReLU6, seed 0): how much of its int8 error the input's rounding alone causes
    python scripts/int8_study.py conditions --weights /tmp/loc/fold5-seed0.weights.h5 \\
        --config freq_masks=2 --config pooling=freq-mean --config relu_max=6
        # a model saved by screen.py --save-models (and the FitConfig fields it was trained with), over check_model.py's
        # windows: where |float - int8| is largest, per test condition (--clips val: on the validation clips)
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from detector.frontend import LogMel  # noqa: E402
from detector.model import _interpreter_class  # noqa: E402


def int8_run(interp, x: np.ndarray, rescale=(1.0, 0.0)) -> None:
    inp = interp.get_input_details()[0]
    s, z = inp["quantization"]
    q = np.clip(np.round((x * rescale[0] + rescale[1]) / s + z), -128, 127).astype(np.int8)
    interp.set_tensor(inp["index"], q[None, ..., None])
    interp.invoke()


def ranges(model: Path, pool_cache: Path) -> None:
    import json

    rescale = json.loads(model.with_suffix(".json").read_text()).get("input", {}).get("rescale", [1.0, 0.0])
    pool = pickle.loads(pool_cache.read_bytes())
    xs = pool.feats[np.random.default_rng(0).choice(len(pool.feats), 400, replace=False)]
    it = _interpreter_class()(model_path=str(model), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    acts: dict = {}
    for x in xs:
        int8_run(it, x, rescale)
        for d in it.get_tensor_details():
            if d["dtype"] == np.int8 and len(d["shape"]) >= 2 and d["quantization"][0] > 0:
                acts.setdefault((d["index"], d["name"][:50], d["quantization"]), []).append(
                    it.get_tensor(d["index"]).astype(np.int16).ravel()
                )
    print("| tensor | step | max | p99.9 |\n|---|---:|---:|---:|")
    for (_, name, (scale, zero)), v in sorted(acts.items()):
        real = (np.concatenate(v) - zero) * scale
        print(f"| {name} | {scale:.4f} | {real.max():.2f} | {np.quantile(real, 0.999):.2f} |")


def study_model(data: Path, pool_cache: Path, weights: Path | None, relu_max: float = 0.0):
    """One fold-5 float model (seed 0, the fmean recipe with the given ReLU cap), the screening test
    windows, the calibration windows and the resources they came from."""
    from barkcry_train.data import Corpus
    from barkcry_train.evaluate import CONDITIONS
    from barkcry_train.experiment import Resources, make_splits, representative_windows, validation_set
    from barkcry_train.train import FitConfig, build_model, fit

    lm = LogMel()
    corpus = Corpus.load(data, lm.params.sample_rate)
    res = Resources.load(corpus, lm, 60, ROOT / "cache")
    split = make_splits(corpus)["fold5"]
    conds = [c for c in CONDITIONS if c.name in ("clean", "room+mic +0 dB")]
    windows = res.test_set(split.test, conds).all_windows()
    cfg = FitConfig(epochs=30, per_group=750, patience=0, seed=0, freq_masks=2, pooling="freq-mean", relu_max=relu_max)
    if weights and weights.exists():  # a Lambda layer does not survive model.save, weights do
        model = build_model(*windows.shape[1:], cfg.width, pooling=cfg.pooling, relu_max=relu_max)
        model.load_weights(weights)
    else:
        model = fit(pickle.loads(pool_cache.read_bytes()), validation_set(res, split, seed=123), cfg)
        if weights:
            model.save_weights(weights)
    return model, windows, representative_windows(res, split), res, split


def input_rounding(data: Path, pool_cache: Path, weights: Path | None) -> None:
    """The float model on inputs snapped to the int8 input grid, against the full int8 model."""
    from barkcry_train.export import to_int8_tflite
    from barkcry_train.train import predict_windows

    model, windows, rep, _, _ = study_model(data, pool_cache, weights, relu_max=6.0)
    int8 = to_int8_tflite(model, rep)
    it = _interpreter_class()(model_content=int8.tflite)
    it.allocate_tensors()
    (s, z), (so, zo) = it.get_input_details()[0]["quantization"], it.get_output_details()[0]["quantization"]
    (a, b), out = int8.rescale, it.get_output_details()[0]["index"]
    q = []
    for x in windows:
        int8_run(it, x, int8.rescale)
        q.append((it.get_tensor(out)[0].astype(np.float32) - zo) * so)
    grid = (np.clip(np.round((windows * a + b) / s + z), -128, 127) - z) * s  # what the int8 input holds
    f = predict_windows(model, windows)
    for name, d in [
        ("int8 model", np.abs(np.stack(q) - f)),
        ("float model, input rounded only", np.abs(predict_windows(model, ((grid - b) / a).astype(np.float32)) - f)),
    ]:
        print(f"{name}: max {d.max():.4f}, p99 {np.quantile(d, 0.99):.4f}  (input step {s / a:.3f} dB)")


def causes(data: Path, pool_cache: Path, weights: Path | None) -> None:
    import keras
    from keras import layers

    from barkcry_train.data import LABELS
    from barkcry_train.experiment import pick_thresholds, validation_clips
    from barkcry_train.export import parity, serving_model, to_int8_tflite
    from barkcry_train.train import predict_windows

    model, windows, rep, res, split = study_model(data, pool_cache, weights)
    vc = validation_clips(res, split)
    thr = pick_thresholds(vc, vc.score(lambda w: predict_windows(model, w)), 0.02)

    def relu6(m):  # the same weights with every ReLU capped at 6
        x = inp = keras.Input(m.input.shape[1:])
        for layer in m.layers[1:]:
            if isinstance(layer, layers.ReLU):
                layer = layers.ReLU(max_value=6.0)
            elif isinstance(layer, layers.Rescaling):  # a fresh one: serving_model cuts the graph at its output
                layer = layers.Rescaling(layer.scale, offset=layer.offset)
            x = layer(x)
        return keras.Model(inp, x)

    def keep_rescaling(m):  # to_int8_tflite without serving_model: the rescaling stays in the int8 graph
        inp = keras.Input(m.input.shape[1:])
        return keras.Model(inp, m(inp))

    base = predict_windows(model, windows)
    print(
        f"{len(windows)} test windows, thresholds {thr}\n\n| export | max abs diff | p99 | same decision |\n|---|---:|---:|---:|"
    )
    capped = relu6(model)
    for name, m in [
        ("as it was", keep_rescaling(model)),
        ("rescaling moved out", model),
        ("ReLU6 after training", keep_rescaling(capped)),
        ("both", capped),
    ]:
        assert (serving_model(m)[1] == (1.0, 0.0)) == name.startswith(("as it", "ReLU6"))
        int8 = to_int8_tflite(m, rep)
        it = _interpreter_class()(model_content=int8.tflite)
        it.allocate_tensors()
        out = it.get_output_details()[0]
        so, zo = out["quantization"]
        q = []
        for x in windows:
            int8_run(it, x, int8.rescale)
            q.append((it.get_tensor(out["index"])[0].astype(np.float32) - zo) * so)
        f = predict_windows(m, windows)
        p = parity(f, np.stack(q), [thr[lab] for lab in LABELS])
        print(f"| {name} | {p['max_abs_diff']:.4f} | {p['p99_abs_diff']:.4f} | {100 * p['same_decision']:.2f} % |")
    print(
        f"\nReLU6 after training moves the float scores by up to {np.abs(predict_windows(capped, windows) - base).max():.3f}"
    )


def conditions(data: Path, weights: Path, config: list[str], clips: str = "test") -> None:
    import screen

    from barkcry_train.data import LABELS, Corpus
    from barkcry_train.evaluate import CONDITIONS, LEVEL_CONDITIONS
    from barkcry_train.experiment import Resources, make_splits, representative_windows
    from barkcry_train.export import int8_classifier, to_int8_tflite
    from barkcry_train.train import predict_windows
    from detector.model import DEFAULT_MODEL, Sidecar

    lm = LogMel()
    res = Resources.load(Corpus.load(data, lm.params.sample_rate), lm, 60, ROOT / "cache")
    split = make_splits(res.corpus)["fold5"]
    lift = Sidecar.read(DEFAULT_MODEL.with_suffix(".json")).quiet_lift  # the serving lift, as check_model.py scores
    model = screen.load_weights(weights, screen.fit_config(config, 0), (lm.params.window_frames, lm.params.n_mels))
    clf = int8_classifier(
        to_int8_tflite(model, representative_windows(res, split)),
        {
            "labels": list(LABELS),
            "frontend": lm.params.to_dict(),
            "thresholds": {lab: 0.5 for lab in LABELS},
            "input": {"lift": lift.to_dict()},
        },
        lm.params,
    )
    print(
        "| condition | windows | max |float - int8| | p99 | float score there | label |\n|---|---:|---:|---:|---:|---|"
    )
    worst = 0.0
    for cond, per in res.test_set(getattr(split, clips), CONDITIONS + LEVEL_CONDITIONS).feats.items():
        w = np.concatenate(per)
        f = predict_windows(model, w, lift)
        d = np.abs(f - clf.score_windows(w))
        i, j = np.unravel_index(d.argmax(), d.shape)
        worst = max(worst, float(d.max()))
        print(f"| {cond} | {len(w)} | {d.max():.4f} | {np.quantile(d, 0.99):.4f} | {f[i, j]:.3f} | {LABELS[j]} |")
    print(f"\nlargest over every condition: {worst:.4f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["ranges", "causes", "input", "conditions"])
    ap.add_argument("model", nargs="?", type=Path, default=ROOT / "models" / "bark_cry.tflite", help="for ranges")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument(
        "--pool-cache",
        type=Path,
        default=Path("/tmp/barkcry-screen-pool.pkl"),
        help="the window pool scripts/screen.py caches (run it once first)",
    )
    ap.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="causes: load the float model's weights from here, or save them here after training",
    )
    ap.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="conditions: a FitConfig field the weights were trained with (repeat for each)",
    )
    ap.add_argument(
        "--clips",
        choices=["test", "val"],
        default="test",
        help="conditions: the fold-5 test clips (check_model.py's windows) or the fold-4 validation clips",
    )
    a = ap.parse_args(argv)
    if a.what == "conditions":
        conditions(a.data, a.weights, a.config, a.clips)
    elif a.what == "ranges":
        ranges(a.model, a.pool_cache)
    elif a.what == "input":
        input_rounding(a.data, a.pool_cache, a.weights)
    else:
        causes(a.data, a.pool_cache, a.weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
