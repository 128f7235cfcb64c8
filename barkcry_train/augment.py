"""Make clean recordings sound like a real home: noise at a set SNR, a room, a cheap microphone, a gain.

Every transform is applied to every class with the same probabilities, so that no artefact (a band
limit, reverberation, a noise floor) can become a cue for one label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.signal as ss

if TYPE_CHECKING:
    from detector.frontend import LogMel

RT60_RANGE = (0.15, 0.9)  # seconds: a furnished bedroom up to a bare hallway / tiled kitchen
MIC_FLOOR_DBFS = -80.0  # a microphone's own noise (white): what a far, quiet event sits on


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) + 1e-20


def loudest_window_power(x: np.ndarray, win: int) -> float:
    """Power of the loudest ``win``-sample stretch: the SNR reference for sparse events like barks."""
    if x.size <= win:
        return power(x)
    c = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    step = max(1, win // 4)
    sums = c[win::step] - c[: x.size - win + 1 : step]
    return float(sums.max() / win) + 1e-20


def fit_length(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n``-sample stretch of ``x``, looped when ``x`` is shorter."""
    if x.size < n:
        x = np.tile(x, int(np.ceil(n / x.size)) + 1)
    start = int(rng.integers(0, x.size - n + 1))
    return x[start : start + n]


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float, signal_power: float | None = None) -> np.ndarray:
    """signal + noise scaled so that signal_power / noise_power == snr_db (noise already signal-length)."""
    ps = power(signal) if signal_power is None else signal_power
    scale = np.sqrt(ps / (power(noise) * 10 ** (snr_db / 10)))
    return (signal + scale * noise).astype(np.float32)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a room response, aligned on its direct path, same length and same RMS as ``x``."""
    peak = int(np.argmax(np.abs(rir)))
    y = ss.fftconvolve(x, rir[peak:] if peak < rir.size else rir)[: x.size]
    return (y * np.sqrt(power(x) / power(y))).astype(np.float32)


@lru_cache(maxsize=512)
def _butter(order: int, cutoff_hz: float, kind: str, fs: int) -> np.ndarray:
    return ss.butter(order, cutoff_hz, kind, fs=fs, output="sos")


def lowpass(x: np.ndarray, cutoff_hz: float, fs: int, order: int = 8) -> np.ndarray:
    """Butterworth low-pass; the cut-off is rounded to 10 Hz so that filter designs can be cached."""
    return ss.sosfilt(_butter(order, round(cutoff_hz, -1), "lowpass", fs), x).astype(np.float32)


def highpass(x: np.ndarray, cutoff_hz: float, fs: int, order: int = 2) -> np.ndarray:
    return ss.sosfilt(_butter(order, round(cutoff_hz, -1), "highpass", fs), x).astype(np.float32)


def upper_band_share(x: np.ndarray, fs: int, above_hz: float = 4000.0) -> float:
    """The share of the power above ``above_hz``: an 8 kHz recording's is about 1e-4 (its resampler's leak)."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    return float(spec[np.fft.rfftfreq(x.size, 1 / fs) >= above_hz].sum() / (spec.sum() + 1e-20))


def extend_band(x: np.ndarray, level_db: float, fs: int, cutoff_hz: float = 3800.0) -> np.ndarray:
    """Harmonics above ``cutoff_hz`` made from the signal itself (full-wave rectification doubles and mixes every
    component, as in classic bandwidth extension), mixed in ``level_db`` below it: an 8 kHz recording's
    cry gets a plausible upper band, a full-band sound a little more of one."""
    hf = highpass(np.abs(x) - np.mean(np.abs(x)), cutoff_hz, fs, order=8)
    return (x + hf * np.sqrt(power(x) / power(hf) * 10 ** (level_db / 10))).astype(np.float32)


def tilt_eq(x: np.ndarray, db_per_octave: float, fs: int) -> np.ndarray:
    """Spectral tilt around 1 kHz: a bright or a dull microphone."""
    spec = np.fft.rfft(x)
    f = np.maximum(np.fft.rfftfreq(x.size, 1 / fs), 50.0)
    spec *= 10 ** (db_per_octave * np.log2(f / 1000.0) / 20)
    return np.fft.irfft(spec, n=x.size).astype(np.float32)


def change_pitch(x: np.ndarray, semitones: float, fs: int) -> np.ndarray:
    """Played faster or slower by ``semitones`` (varispeed: pitch and tempo together, as a smaller or a
    bigger dog, or another baby, would sound), cut or zero-padded around the middle to the same length."""
    up, down = Fraction(2 ** (-semitones / 12)).limit_denominator(64).as_integer_ratio()
    y = ss.resample_poly(x, up, down).astype(np.float32)
    if y.size >= x.size:
        off = (y.size - x.size) // 2
        return y[off : off + x.size]
    pad = x.size - y.size
    return np.pad(y, (pad // 2, pad - pad // 2))


def resample_round_trip(x: np.ndarray, fs: int, low_fs: int = 8000) -> np.ndarray:
    """Down to ``low_fs`` and back: a phone, a cheap USB mic, or a Donate-a-Cry upload."""
    y = ss.resample_poly(ss.resample_poly(x, low_fs, fs), fs, low_fs)
    return y[: x.size].astype(np.float32)


def simulate_rooms(n: int, seed: int, fs: int = 16000, cache_dir: Path | None = None) -> list[np.ndarray]:
    """``n`` shoebox rooms (pyroomacoustics image source), RT60 drawn from RT60_RANGE; cached on disk."""
    cache = Path(cache_dir) / f"rirs_n{n}_s{seed}_fs{fs}.npz" if cache_dir else None
    if cache and cache.exists():
        with np.load(cache) as z:
            return [z[k] for k in sorted(z.files, key=int)]
    import pyroomacoustics as pra  # only training needs it

    rng = np.random.default_rng(seed)
    rirs = []
    while len(rirs) < n:
        dims = rng.uniform([2.5, 2.5, 2.3], [7.0, 6.0, 3.2])
        rt60 = rng.uniform(*RT60_RANGE)
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
        except ValueError:  # RT60 impossible for this room size
            continue
        room = pra.ShoeBox(dims, fs=fs, materials=pra.Material(absorption), max_order=min(max_order, 40))
        room.add_source(rng.uniform([0.3, 0.3, 0.3], dims - 0.3))
        room.add_microphone(rng.uniform([0.3, 0.3, 0.5], dims - 0.3))
        room.compute_rir()
        r = np.asarray(room.rir[0][0], dtype=np.float32)
        rirs.append(r / np.max(np.abs(r)))
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **{str(i): r for i, r in enumerate(rirs)})
    return rirs


@dataclass
class Augmenter:
    """The home-condition chain: reverberation -> noise at SNR -> microphone -> gain -> time shift."""

    noises: list[np.ndarray]
    rirs: list[np.ndarray]
    fs: int = 16000
    snr_db: tuple[float, float] = (-5.0, 30.0)
    p_noise: float = 0.9
    p_reverb: float = 0.5
    p_mic: float = 0.8
    p_8k: float = 0.3
    p_extend: float = 0.0  # bandwidth extension of the source
    extend_db: tuple[float, float] = (-30.0, -12.0)
    extend_only_band_limited: bool = False  # ...only of sources with (almost) nothing above 4 kHz, of any class
    p_pitch: float = 0.0  # varispeed of the source
    pitch_semitones: float = 2.0  # ...by up to this many semitones either way
    gain_db: tuple[float, float] = (-20.0, 6.0)  # around peak_ref: peaks from -26 dBFS to full scale
    peak_ref: float = 0.5  # -6 dBFS: a close, loud event reaches full scale
    highpass_hz: tuple[float, float] = (100.0, 400.0)
    lowpass_hz: tuple[float, float] = (3400.0, 8000.0)
    tilt_db_per_octave: tuple[float, float] = (-3.0, 3.0)
    max_shift_s: float = 0.1
    floor_dbfs: float = -75.0  # a real microphone never gives digital silence...
    p_floor: float = 0.8  # ...but files can, so the model also sees some
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def describe(self) -> str:
        """The chain's ranges in one line, for the sidecar: derived, so it cannot drift from the code."""
        return (
            f"reverb p={self.p_reverb} (RT60 {RT60_RANGE[0]}-{RT60_RANGE[1]} s), noise p={self.p_noise} at SNR "
            f"{self.snr_db[0]:g}..{self.snr_db[1]:g} dB, mic sim p={self.p_mic} (HP {self.highpass_hz[0]:g}-"
            f"{self.highpass_hz[1]:g} Hz, LP {self.lowpass_hz[0]:g}-{self.lowpass_hz[1]:g} Hz, tilt "
            f"{self.tilt_db_per_octave[0]:+g}..{self.tilt_db_per_octave[1]:+g} dB/oct, 8 kHz round trip "
            f"p={self.p_8k}), gain {self.gain_db[0]:+g}..{self.gain_db[1]:+g} dB around a "
            f"{20 * np.log10(self.peak_ref):.0f} dBFS peak, shift +-{self.max_shift_s} s"
            + (
                f", band extension p={self.p_extend} at {self.extend_db[0]:g}..{self.extend_db[1]:g} dB"
                + (" of band-limited sources" if self.extend_only_band_limited else "")
                if self.p_extend
                else ""
            )
            + (f", varispeed p={self.p_pitch} by up to +-{self.pitch_semitones:g} semitones" if self.p_pitch else "")
        )

    def mic(self, x: np.ndarray) -> np.ndarray:
        r = self.rng
        if r.random() < self.p_8k:
            x = resample_round_trip(x, self.fs)
        x = highpass(x, r.uniform(*self.highpass_hz), self.fs)
        lp = r.uniform(*self.lowpass_hz)
        if lp < 0.48 * self.fs:
            x = lowpass(x, lp, self.fs)
        return tilt_eq(x, r.uniform(*self.tilt_db_per_octave), self.fs)

    def __call__(self, x: np.ndarray, signal_power: float | None = None) -> np.ndarray:
        r = self.rng
        x = np.asarray(x, dtype=np.float32)
        if self.p_extend and r.random() < self.p_extend:  # no draw at 0: the default pool stays as it was
            level = r.uniform(*self.extend_db)
            if not self.extend_only_band_limited or upper_band_share(x, self.fs) < 1e-3:
                x = extend_band(x, level, self.fs)
        if self.p_pitch and r.random() < self.p_pitch:  # likewise no draw at 0
            x = change_pitch(x, r.uniform(-self.pitch_semitones, self.pitch_semitones), self.fs)
        ps = signal_power if signal_power is not None else power(x)
        if self.rirs and r.random() < self.p_reverb:
            x = reverberate(x, self.rirs[int(r.integers(len(self.rirs)))])
        if self.noises and r.random() < self.p_noise:
            noise = fit_length(self.noises[int(r.integers(len(self.noises)))], x.size, r)
            x = mix_at_snr(x, noise, r.uniform(*self.snr_db), ps)
        if r.random() < self.p_mic:
            x = self.mic(x)
        if r.random() < self.p_floor:
            x = x + r.standard_normal(x.size).astype(np.float32) * 10 ** (self.floor_dbfs / 20)
        shift = int(r.integers(-int(self.max_shift_s * self.fs), int(self.max_shift_s * self.fs) + 1))
        x = np.roll(x, shift)
        peak_target = 10 ** (r.uniform(*self.gain_db) / 20) * self.peak_ref
        x = x * (peak_target / max(float(np.max(np.abs(x))), 1e-6))
        return np.clip(x, -1.0, 1.0).astype(np.float32)


def mask_bands(x: np.ndarray, n: int, rng: np.random.Generator, max_width: int = 8, axis: int = 2) -> None:
    """In place: ``n`` random bands of up to ``max_width`` mels per window set to the window's mean
    (SpecAugment's frequency masking). The model cannot lean on one narrow band, such as the
    harmonics of Donate-a-Cry's phone recordings, so it generalises to other microphones and sources.
    ``axis=1`` masks spans of frames instead (time masking)."""
    mean = x.mean(axis=(1, 2))
    v = x if axis == 2 else x.swapaxes(1, 2)  # a view: the masked axis last, writes land in x
    for i in range(v.shape[0]):
        for _ in range(n):
            wdt = int(rng.integers(1, max_width + 1))
            f0 = int(rng.integers(0, v.shape[2] - wdt + 1))
            v[i, :, f0 : f0 + wdt] = mean[i]


def mic_floor_features(lm: LogMel, n: int, rng: np.random.Generator, dbfs: float = MIC_FLOOR_DBFS) -> np.ndarray:
    """Log-mel windows of a microphone's own noise: white noise at ``dbfs``, ``n`` draws."""
    w = rng.normal(0, 10 ** (dbfs / 20), (n, lm.params.window_samples)).astype(np.float32)
    return lm.compute(w)


def shift_level(x: np.ndarray, max_db: float, floors: np.ndarray, rng: np.random.Generator) -> None:
    """In place on log-mel dB windows: each turned down by 0..``max_db`` dB, as from a farther source,
    and summed in power with a microphone floor window, so that quiet is noise, not digital silence.
    Training windows have peaks from -26 dBFS up; without this, an event whose loudest second is at
    -40 dBFS over a quiet floor was a level the model had never seen."""
    g = rng.uniform(0.0, max_db, x.shape[0]).astype(np.float32)[:, None, None]
    f = floors[rng.integers(floors.shape[0], size=x.shape[0])]
    x[:] = 10 * np.log10(10 ** ((x - g) / 10) + 10 ** (f / 10))


def lay_under(x: np.ndarray, noise: np.ndarray, snr_db: np.ndarray) -> None:
    """In place on log-mel dB windows: each summed in power with its ``noise`` window, scaled so that the
    window's total mel power is ``snr_db`` above the noise's. What the frontend shows for the two sounds
    played together (phase aside), so a fixed pool of windows can meet new noise every epoch."""
    px, pn = 10 ** (x / 10), 10 ** (noise / 10)
    gain = px.sum(axis=(1, 2)) / (pn.sum(axis=(1, 2)) * 10 ** (np.asarray(snr_db) / 10))
    x[:] = 10 * np.log10(px + gain[:, None, None] * pn)
