"""Reading audio files into mono float32 at the model rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .resample import resample


class AudioFileError(Exception):
    """A file that soundfile cannot read, or that holds no samples."""


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Any format libsndfile reads, down-mixed to mono and resampled to ``sample_rate``."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types (LibsndfileError, RuntimeError, OSError)
        raise AudioFileError(f"{path}: cannot read audio ({e})") from e
    if data.size == 0:
        raise AudioFileError(f"{path}: no samples")
    mono = data.mean(axis=1)
    return mono if sr == sample_rate else resample(mono, sr, sample_rate)
