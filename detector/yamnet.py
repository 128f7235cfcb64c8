"""YAMNet (AudioSet's 521 classes) as a LiteRT model: its own log-mel in numpy, and the network.

The second opinion runs it on a candidate event's audio only (detector/confirm.py). The .tflite is
built by scripts/export_yamnet.py; its sidecar <model>.json carries the frontend parameters, the class
names and, for each barkcry label, the classes that count for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .model import ModelError, _bundled_model, new_interpreter

DEFAULT_YAMNET = _bundled_model("yamnet.tflite")
EMBEDDING_SIZE = 1024


@dataclass(frozen=True)
class YamnetFrontendParams:
    """YAMNet's features (tensorflow/models yamnet params.py): 25 ms periodic Hann, 10 ms hop, magnitude,
    64 HTK mel bands 125-7500 Hz, log(mel + 0.001); 96-frame patches every 48 frames."""

    sample_rate: int = 16000
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.001
    patch_frames: int = 96
    patch_hop_frames: int = 48

    @property
    def patch_samples(self) -> int:  # 15 600: 0.975 s
        return self.win_length + (self.patch_frames - 1) * self.hop_length

    @property
    def patch_hop_samples(self) -> int:  # 7 680: 0.48 s
        return self.patch_hop_frames * self.hop_length


def mel_matrix(p: YamnetFrontendParams) -> np.ndarray:
    """tf.signal.linear_to_mel_weight_matrix: triangles in HTK mel over the rfft bins, the DC bin zeroed."""

    def hz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    bins = hz_to_mel(np.linspace(0.0, p.sample_rate / 2, p.n_fft // 2 + 1))
    edges = np.linspace(hz_to_mel(p.fmin), hz_to_mel(p.fmax), p.n_mels + 2)
    w = np.maximum(
        0.0,
        np.minimum(
            (bins[:, None] - edges[:-2]) / (edges[1:-1] - edges[:-2]),
            (edges[2:] - bins[:, None]) / (edges[2:] - edges[1:-1]),
        ),
    )
    w[0] = 0.0
    return w


class YamnetLogMel:
    """Log-mel frames of a stretch of 16 kHz audio, and the patches YAMNet takes."""

    def __init__(self, params: YamnetFrontendParams = YamnetFrontendParams()) -> None:
        self.params = p = params
        self.mel = mel_matrix(p).astype(np.float32)
        n = np.arange(p.win_length)
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * n / p.win_length)).astype(np.float32)  # periodic Hann

    def frames(self, x: np.ndarray) -> np.ndarray:
        """(n_frames, n_mels): one frame every hop_length samples, each win_length long (no padding)."""
        p = self.params
        n = 1 + (x.size - p.win_length) // p.hop_length if x.size >= p.win_length else 0
        framed = np.lib.stride_tricks.sliding_window_view(x.astype(np.float32, copy=False), p.win_length)
        mag = np.abs(np.fft.rfft(framed[:: p.hop_length][:n] * self.window, p.n_fft))
        return np.log(mag.astype(np.float32) @ self.mel + p.log_offset)

    def patch(self, x: np.ndarray) -> np.ndarray:
        """The (patch_frames, n_mels) patch of exactly patch_samples of audio."""
        if x.size != self.params.patch_samples:
            raise ValueError(f"a patch is {self.params.patch_samples} samples, got {x.size}")
        return self.frames(x)


@dataclass(frozen=True)
class YamnetSidecar:
    frontend: YamnetFrontendParams
    classes: list[str]
    label_classes: dict[str, list[str]]  # barkcry label -> the YAMNet classes that count for it

    @classmethod
    def read(cls, path: Path) -> YamnetSidecar:
        try:
            d = json.loads(Path(path).read_text())
            fe = YamnetFrontendParams(**d["frontend"])
            classes, label_classes = list(d["classes"]), {k: list(v) for k, v in d["labels"].items()}
        except FileNotFoundError as e:
            raise ModelError(f"YAMNet sidecar {path} is missing") from e
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"YAMNet sidecar {path} is not valid: {e}") from e
        unknown = [c for names in label_classes.values() for c in names if c not in classes]
        if unknown:
            raise ModelError(f"YAMNet sidecar {path} names classes it lacks: {unknown}")
        return cls(fe, classes, label_classes)


class PatchScorer(Protocol):
    """What the second opinion needs of YAMNet: its sidecar and log-mel, and scores for a patch (the model
    itself, or a replay's memo of it)."""

    sidecar: YamnetSidecar
    logmel: YamnetLogMel
    labels: list[str]

    def __call__(self, patch: np.ndarray) -> tuple[dict[str, float], np.ndarray | None]: ...


class Yamnet:
    """Scores patches of audio: per-label scores (the best of the label's classes, sigmoid) and the
    1024-d embedding before the classifier, one invoke per patch."""

    def __init__(self, model_path: Path | str = DEFAULT_YAMNET, num_threads: int = 1) -> None:
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"YAMNet model {self.path} not found")
        self.sidecar = YamnetSidecar.read(self.path.with_suffix(".json"))
        self.logmel = YamnetLogMel(self.sidecar.frontend)
        try:
            self._interp = new_interpreter(self.path, num_threads)
        except ModelError:
            raise
        except Exception as e:  # the runtimes raise ValueError/RuntimeError for corrupt flatbuffers
            raise ModelError(f"YAMNet model {self.path} cannot be loaded: {e}") from e
        p = self.sidecar.frontend
        inp = self._interp.get_input_details()[0]
        if tuple(inp["shape"]) != (1, p.patch_frames, p.n_mels, 1):
            raise ModelError(
                f"YAMNet model input shape {tuple(inp['shape'])} is not (1, {p.patch_frames}, {p.n_mels}, 1)"
            )
        self._in = inp["index"]
        # The outputs are told apart by size: the 521 logits and the embedding.
        outs = {int(o["shape"][-1]): o["index"] for o in self._interp.get_output_details()}
        if len(self.sidecar.classes) not in outs:
            raise ModelError(f"YAMNet model has no output of {len(self.sidecar.classes)} classes")
        self._logits = outs[len(self.sidecar.classes)]
        self._embedding = outs.get(EMBEDDING_SIZE)
        self.labels = list(self.sidecar.label_classes)
        self.columns = {
            lab: [self.sidecar.classes.index(c) for c in names] for lab, names in self.sidecar.label_classes.items()
        }

    def class_scores(self, patch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(521 sigmoid scores, embedding or None) of one (96, 64) log-mel patch."""
        self._interp.set_tensor(self._in, patch[None, :, :, None].astype(np.float32))
        self._interp.invoke()
        logits = self._interp.get_tensor(self._logits)[0]
        emb = self._interp.get_tensor(self._embedding)[0].copy() if self._embedding is not None else None
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30))), emb

    def __call__(self, patch: np.ndarray) -> tuple[dict[str, float], np.ndarray | None]:
        """Per-label scores and the embedding of one patch."""
        prob, emb = self.class_scores(patch)
        return {lab: float(prob[cols].max()) for lab, cols in self.columns.items()}, emb
