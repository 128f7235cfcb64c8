"""Reading audio files as mono float32 at the model rate, in blocks, so that memory does not grow with a
file's length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from .resample import StreamingResampler

BLOCK_FRAMES = 1 << 16  # frames read at a time: bounded memory whatever the file's rate and channels


class AudioFileError(Exception):
    """A file that soundfile cannot read, or that holds no samples."""


def open_audio(path: str | Path) -> sf.SoundFile:
    """The file opened for reading, or AudioFileError with a reason a person can act on."""
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{path}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{path}: is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file (0 bytes)")
    try:
        f = sf.SoundFile(str(p))
    except Exception as e:  # soundfile raises several types (LibsndfileError, RuntimeError, OSError)
        raise AudioFileError(f"{path}: cannot read audio ({e})") from e
    if f.frames == 0:
        f.close()
        raise AudioFileError(f"{path}: no samples")
    return f


def duration_s(path: str | Path) -> float:
    with open_audio(path) as f:
        return f.frames / f.samplerate


def audio_blocks(path: str | Path, sample_rate: int, max_s: float | None = None) -> Iterator[np.ndarray]:
    """Any format libsndfile reads, down-mixed to mono and resampled to ``sample_rate``, block by block;
    at most ``max_s`` seconds of it."""
    f = open_audio(path)
    with f:
        left = f.frames if max_s is None else min(f.frames, int(round(max_s * f.samplerate)))
        rs = StreamingResampler(f.samplerate, sample_rate) if f.samplerate != sample_rate else None
        try:
            while left > 0:
                data = f.read(min(BLOCK_FRAMES, left), dtype="float32", always_2d=True)
                if not len(data):
                    break
                left -= len(data)
                mono = data.mean(axis=1)
                yield rs(mono, final=left <= 0) if rs else mono
        except sf.LibsndfileError as e:
            raise AudioFileError(f"{path}: cannot read audio ({e})") from e
        if rs is not None and left > 0:  # the file ended before its header said
            yield rs(np.zeros(0, np.float32), final=True)


def read_audio(path: str | Path, sample_rate: int, max_s: float | None = None) -> np.ndarray:
    """The whole file (or its first ``max_s`` seconds) in memory: for short clips."""
    return np.concatenate(list(audio_blocks(path, sample_rate, max_s)))
