"""The shared corpus: manifest, folds, and audio loaded once into memory."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audiofile import read_audio

LABELS = ("bark", "cry")
DEFAULT_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MUSIC_WORDS = ("music", "guitar", "sing", "lullab", "cello", "violin", "bassoon", "piano", "drum")


@dataclass(frozen=True)
class Clip:
    path: str
    label: str  # bark, cry, negative, noise, rir
    source: str
    origin: str
    fold: int
    duration_s: float
    license: str = ""

    @property
    def is_music(self) -> bool:
        """Music, singing, instruments: the hard negatives for 'cry'."""
        o = (self.origin + " " + self.path).lower()
        return self.label == "negative" and "_desc_" not in o and any(w in o for w in MUSIC_WORDS)

    @property
    def recording(self) -> str:
        """The recording a clip was cut from, for intervals that resample recordings, not clips:
        UrbanSound8K slices share a freesound id, ESC-50 parts (-A, -B) a clip id, Donate-a-Cry files
        a device id (one baby's phone). Any other clip is its own recording."""
        stem = Path(self.path).stem
        if self.source == "us8k":
            return f"us8k:{stem.split('-')[0]}"
        if self.source == "esc50":
            return f"esc50:{stem.rsplit('-', 1)[0]}"
        if self.source == "donateacry":
            return f"donateacry:{'-'.join(stem.split('-')[:5]).lower()}"
        return self.path

    @property
    def target(self) -> np.ndarray:
        return np.array([self.label == lab for lab in LABELS], dtype=np.float32)


def read_manifest(manifest: Path) -> list[Clip]:
    with open(manifest, newline="") as f:
        return [
            Clip(r["path"], r["label"], r["source"], r.get("origin", ""), int(r["fold"]), float(r["duration_s"]),
                 r.get("license", ""))
            for r in csv.DictReader(f)
        ]


def manifest_hash(manifest: Path) -> str:
    return hashlib.sha256(Path(manifest).read_bytes()).hexdigest()[:16]


@dataclass
class Corpus:
    root: Path
    clips: list[Clip]
    audio: dict[str, np.ndarray]

    @classmethod
    def load(cls, root: Path, sample_rate: int = 16000, extra_noise_dirs: list[Path] | None = None) -> "Corpus":
        """Load every clip of the manifest, plus user noise recordings (labelled noise, fold 0: train)."""
        root = Path(root)
        clips = read_manifest(root / "manifest.csv")
        audio = {}
        for c in clips:
            audio[c.path] = read_audio(root / c.path, sample_rate)
        for d in extra_noise_dirs or []:
            for p in sorted(Path(d).glob("*.flac")) + sorted(Path(d).glob("*.wav")):
                x = read_audio(p, sample_rate)
                key = str(p.resolve())
                clips.append(Clip(key, "noise", "local", f"local recording {p.name}", 0, x.size / sample_rate))
                audio[key] = x
        return cls(root, clips, audio)

    def select(self, labels=None, folds=None, exclude_sources_for=None, local: bool = False) -> list[Clip]:
        """Clips with a label in ``labels`` and fold in ``folds``; ``local`` adds the user's noise (fold 0)."""
        out = []
        for c in self.clips:
            if labels is not None and c.label not in labels:
                continue
            if folds is not None and c.fold not in folds and not (local and c.fold == 0):
                continue
            if exclude_sources_for and (c.label, c.source) in exclude_sources_for:
                continue
            out.append(c)
        return out
