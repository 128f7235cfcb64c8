"""The int8 TFLite classifier and its JSON sidecar.

Runs on ai-edge-litert (64-bit Pi OS, x86) or tflite-runtime (32-bit Pi OS), whichever is installed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .frontend import FrontendParams
from .level import QuietLift


def _bundled_model(name: str = "bark_cry.tflite") -> Path:
    """The shipped model: in the source tree's models/ (a checkout, an editable install), or carried inside
    an installed package as detector/models (pyproject.toml maps the one onto the other)."""
    here = Path(__file__).resolve().parent
    tree, installed = here.parent / "models" / name, here / "models" / name
    return installed if installed.exists() else tree


DEFAULT_MODEL = _bundled_model()


class ModelError(Exception):
    """The model or its sidecar is missing, corrupt, or does not fit this frontend."""


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as e:
            raise ModelError(
                "no TFLite runtime: install ai-edge-litert (64-bit) or tflite-runtime (32-bit Pi OS)"
            ) from e
    return Interpreter


def new_interpreter(path: Path, num_threads: int):
    """The runtime's interpreter for ``path``, tensors allocated. The runtime's C++ logger announces its CPU
    delegate on stderr once per process, with no setting to stop it: while this is the only thread, fd 2 is
    pointed at /dev/null for the call (with other threads running, their lines matter more than silence)."""
    cls = _interpreter_class()
    quiet = threading.active_count() == 1
    if quiet:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
    try:
        interp = cls(model_path=str(path), num_threads=num_threads)
        interp.allocate_tensors()
        return interp
    finally:
        if quiet:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


@dataclass(frozen=True)
class Sidecar:
    """What the model needs from the rest of the system, stored next to it as <model>.json."""

    labels: list[str]
    frontend: dict
    thresholds: dict[str, float]
    extra: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Sidecar:
        try:
            d = json.loads(Path(path).read_text())
        except FileNotFoundError as e:
            raise ModelError(f"model sidecar {path} is missing: it holds the labels and frontend parameters") from e
        except json.JSONDecodeError as e:
            raise ModelError(f"model sidecar {path} is not valid JSON: {e}") from e
        for key in ("labels", "frontend", "thresholds"):
            if key not in d:
                raise ModelError(f"model sidecar {path} lacks '{key}'")
        rest = {k: v for k, v in d.items() if k not in ("labels", "frontend", "thresholds")}
        thresholds = d["thresholds"]
        for label in d["labels"]:  # a label without a threshold would be announced and never detected
            t = thresholds.get(label) if isinstance(thresholds, dict) else None
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
                raise ModelError(f"model sidecar {path}: thresholds.{label} is {t!r}, expected a score in (0, 1]")
        return cls(list(d["labels"]), dict(d["frontend"]), {k: float(thresholds[k]) for k in d["labels"]}, rest)

    @property
    def input_rescale(self) -> tuple[float, float]:
        """(scale, offset): the network's input is log-mel dB * scale + offset (identity if unset)."""
        r = self.extra.get("input", {}).get("rescale", [1.0, 0.0])
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(v, (int, float)) for v in r) and r[0]):
            raise ModelError(f"model sidecar 'input.rescale' is {r!r}: expected [scale, offset], scale non-zero")
        return float(r[0]), float(r[1])

    @property
    def quiet_lift(self) -> QuietLift | None:
        """The gain for quiet windows the model's numbers were measured with (``input.lift``), if any."""
        d = self.extra.get("input", {}).get("lift")
        if d is None:
            return None
        try:
            return QuietLift(float(d["target_db"]), float(d["max_db"]))
        except (TypeError, KeyError, ValueError) as e:
            raise ModelError(
                f'model sidecar \'input.lift\' is {d!r}: expected {{"target_db": dB, "max_db": dB >= 0}}'
            ) from e

    def to_dict(self) -> dict:
        return {"labels": self.labels, "frontend": self.frontend, "thresholds": self.thresholds, **self.extra}


class Classifier:
    """Scores one window of log-mel frames: (window_frames, n_mels) dB -> {label: score in [0, 1]}."""

    def __init__(
        self, model_path: Path | str = DEFAULT_MODEL, frontend: FrontendParams | None = None, num_threads: int = 1
    ) -> None:
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"model file {self.path} not found")
        self.sidecar = Sidecar.read(self.path.with_suffix(".json"))
        self.frontend = frontend or FrontendParams()
        bad = self.frontend.mismatches(self.sidecar.frontend)
        if bad:
            raise ModelError(f"model {self.path.name} was trained with another frontend: " + "; ".join(bad))
        try:
            self._interp = new_interpreter(self.path, num_threads)
        except Exception as e:  # the runtimes raise ValueError/RuntimeError for corrupt flatbuffers
            raise ModelError(f"model {self.path} cannot be loaded: {e}") from e
        inp = self._interp.get_input_details()[0]
        out, emb = self._outputs()
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        self._in_scale, self._in_zero = inp["quantization"]
        # dB -> network input -> int8 folded into one multiply-add: q = dB * mul + add
        r_scale, r_offset = self.sidecar.input_rescale
        q_scale, q_zero = (self._in_scale, self._in_zero) if self._in_scale else (1.0, 0.0)
        self._in_mul, self._in_add = r_scale / q_scale, r_offset / q_scale + q_zero
        self._out_scale, self._out_zero = out["quantization"]
        # The pooled vector before the dense layer, from the same invoke: what a per-home verifier learns on.
        self._emb = emb
        self.embedding_size = int(emb["shape"][-1]) if emb is not None else None
        self.lift = self.sidecar.quiet_lift
        want = (1, self.frontend.window_frames, self.frontend.n_mels, 1)
        if tuple(inp["shape"]) != want:
            raise ModelError(f"model input shape {tuple(inp['shape'])} does not match the frontend's {want}")
        if out["shape"][-1] != len(self.labels):
            raise ModelError(f"model has {out['shape'][-1]} outputs but the sidecar names {len(self.labels)} labels")
        self._buf = np.zeros(want, dtype=self._in_dtype)

    def _outputs(self) -> tuple[dict, dict | None]:
        """(scores, embedding or None): by the names the sidecar's ``outputs`` gives, else the one output."""
        details = {d["name"]: d for d in self._interp.get_output_details()}
        names = self.sidecar.extra.get("outputs")
        if names is None:
            if len(details) != 1:
                raise ModelError(f"model {self.path.name} has {len(details)} outputs and its sidecar names none")
            return next(iter(details.values())), None
        missing = [n for n in names.values() if n not in details]
        if missing or "scores" not in names:
            raise ModelError(f"model {self.path.name} lacks the outputs its sidecar names: {missing or ['scores']}")
        return details[names["scores"]], details.get(names.get("embedding"))

    @property
    def labels(self) -> list[str]:
        return self.sidecar.labels

    @property
    def thresholds(self) -> dict[str, float]:
        """The on thresholds of the small model alone."""
        return self.sidecar.thresholds

    def thresholds_for(self, confirmed: Iterable[str] = ()) -> dict[str, float]:
        """The on thresholds to run with: for the ``confirmed`` labels, whose candidates the second opinion
        filters, the lower ones in the sidecar's ``second_opinion.thresholds``."""
        lowered = self.sidecar.extra.get("second_opinion", {}).get("thresholds", {})
        return self.thresholds | {k: float(v) for k, v in lowered.items() if k in self.thresholds and k in confirmed}

    def scores(self, window_db: np.ndarray) -> np.ndarray:
        """Raw score vector in label order."""
        if self.lift is not None:
            window_db = self.lift(window_db)
        x = window_db * self._in_mul + self._in_add
        if self._in_scale:  # int8 input: quantise into the preallocated buffer
            info = np.iinfo(self._in_dtype)
            self._buf[0, :, :, 0] = np.clip(np.round(x), info.min, info.max)
        else:
            self._buf[0, :, :, 0] = x
        self._interp.set_tensor(self._in_index, self._buf)
        self._interp.invoke()
        return self._dequantised(self._out_index, self._out_scale, self._out_zero)

    def embedding(self) -> np.ndarray | None:
        """The pooled vector of the window scored last (no second invoke), or None for a model without it."""
        if self._emb is None:
            return None
        scale, zero = self._emb["quantization"]
        return self._dequantised(self._emb["index"], scale, zero)

    def _dequantised(self, index: int, scale: float, zero: int) -> np.ndarray:
        raw = self._interp.get_tensor(index)[0]
        if scale:
            return (raw.astype(np.float32) - zero) * scale
        return raw.astype(np.float32)

    def score_windows(self, windows_db: np.ndarray) -> np.ndarray:
        """(n, labels) scores of a stack of windows, one invoke each (the model takes one at a time)."""
        return np.stack([self.scores(w) for w in windows_db])

    def __call__(self, window_db: np.ndarray) -> dict[str, float]:
        return dict(zip(self.labels, map(float, self.scores(window_db))))
