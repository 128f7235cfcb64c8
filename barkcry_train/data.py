"""The shared corpus: manifest, folds, and audio loaded once into memory."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.audiofile import read_audio

LABELS = ("bark", "cry")
DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
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
            Clip(
                r["path"],
                r["label"],
                r["source"],
                r.get("origin", ""),
                int(r["fold"]),
                float(r["duration_s"]),
                r.get("license", ""),
            )
            for r in csv.DictReader(f)
        ]


def pure_tone_hz(x: np.ndarray, sample_rate: int, share: float = 0.95) -> float | None:
    """The frequency of a clip that is one steady sine (``share`` of its energy within 2 bins of one
    frequency), else None. Two of the corpus's three t04glovern "barks" are such test tones (440 Hz and
    1 kHz): a label no bark detector could or should learn, and one that would cap any test they sit in."""
    if x.size < 2:
        return None
    power = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    total = power.sum()
    if total <= 0:
        return None
    k = int(np.argmax(power))
    if power[max(0, k - 2) : k + 3].sum() < share * total:
        return None
    return k * sample_rate / x.size


def manifest_hash(manifest: Path) -> str:
    return hashlib.sha256(Path(manifest).read_bytes()).hexdigest()[:16]


@dataclass
class Corpus:
    root: Path
    clips: list[Clip]
    audio: dict[str, np.ndarray]
    dropped: dict[str, str] = field(default_factory=dict)  # manifest path -> why it is not used

    @classmethod
    def load(cls, root: Path, sample_rate: int = 16000, extra_noise_dirs: list[Path] | None = None) -> Corpus:
        """Load every clip of the manifest, plus user noise recordings (labelled noise, fold 0: train).
        A bark or cry that is a pure test tone is dropped (and listed in ``dropped``): it is mislabelled."""
        root = Path(root)
        clips, audio, dropped = [], {}, {}
        for c in read_manifest(root / "manifest.csv"):
            x = read_audio(root / c.path, sample_rate)
            if c.label in LABELS and (hz := pure_tone_hz(x, sample_rate)) is not None:
                dropped[c.path] = f"labelled {c.label}, but a steady {hz:.0f} Hz sine"
                continue
            clips.append(c)
            audio[c.path] = x
        for d in extra_noise_dirs or []:
            for p in sorted(Path(d).glob("*.flac")) + sorted(Path(d).glob("*.wav")):
                x = read_audio(p, sample_rate)
                key = str(p.resolve())
                clips.append(Clip(key, "noise", "local", f"local recording {p.name}", 0, x.size / sample_rate))
                audio[key] = x
        return cls(root, clips, audio, dropped)

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
