"""Log-mel (dB) frontend in pure numpy: the one feature code for runtime, training and evaluation.

It reproduces ``librosa.power_to_db(librosa.feature.melspectrogram(y, center=False, power=2,
htk=False, norm="slaney"), ref=1.0, amin=amin, top_db=None)``, transposed to (frames, mels).
Frames are ``n_fft`` samples long with a ``win_length`` Hann window centred in them (librosa's
framing), so streaming and batch see exactly the same samples per frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class FrontendParams:
    """Everything that changes the features. The model sidecar stores these and must match."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    amin: float = 1e-10  # power floor: -100 dB
    window_frames: int = 98  # frames the classifier sees at once (~1.0 s)

    @property
    def window_samples(self) -> int:
        """Samples spanned by one classifier window."""
        return self.n_fft + (self.window_frames - 1) * self.hop_length

    def edge_pad(self, hop_samples: int) -> int:
        """Silence to put before and after a recording cut from a stream, for windows ``hop_samples`` apart:
        a window less a hop, so that its first and last moments lie in as many windows as any other."""
        return self.window_samples - hop_samples

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FrontendParams:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown frontend parameter(s): {sorted(unknown)}")
        return cls(**d)

    def mismatches(self, other: dict) -> list[str]:
        """Names and values of parameters in ``other`` that differ from these (sidecar check)."""
        mine = self.to_dict()
        out = []
        for key in sorted(set(mine) | set(other)):
            if key not in other:
                out.append(f"{key}: missing in model sidecar (frontend has {mine[key]!r})")
            elif key not in mine:
                out.append(f"{key}: unknown to this frontend (sidecar has {other[key]!r})")
            elif not np.isclose(float(mine[key]), float(other[key]), rtol=1e-9, atol=0):
                out.append(f"{key}: sidecar has {other[key]!r}, frontend has {mine[key]!r}")
        return out


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's default, htk=False)."""
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(p: FrontendParams) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular filters with Slaney area normalisation, as librosa.filters.mel."""
    fft_freqs = np.linspace(0, p.sample_rate / 2, p.n_fft // 2 + 1)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(p.fmin), _hz_to_mel(p.fmax), p.n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_pts[2:] - mel_pts[:-2]))[:, None]
    return weights


def frame_window(p: FrontendParams) -> np.ndarray:
    """Periodic Hann of win_length, zero-padded to n_fft and centred (librosa's pad_center)."""
    n = np.arange(p.win_length)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / p.win_length)
    out = np.zeros(p.n_fft)
    left = (p.n_fft - p.win_length) // 2
    out[left : left + p.win_length] = w
    return out


class LogMel:
    """Batch and streaming log-mel. Filterbank and window are computed once, here."""

    def __init__(self, params: FrontendParams | None = None) -> None:
        self.params = params or FrontendParams()
        p = self.params
        # Only the non-zero part of the padded window matters; slicing it saves ~20 % of the multiply.
        self._left = (p.n_fft - p.win_length) // 2
        self._window = frame_window(p)[self._left : self._left + p.win_length].astype(np.float32)
        # float64: a float32 matrix product's rounding depends on how many frames are multiplied at once
        # (BLAS picks other kernels for other shapes), and then streaming would not equal batch bit for bit.
        self._fb_t = np.ascontiguousarray(mel_filterbank(p).T.astype(np.float64))  # (bins, mels)
        self._tail = np.zeros(0, dtype=np.float32)
        self._log_amin = float(np.log10(p.amin))

    # -- batch ---------------------------------------------------------------------------------
    def n_frames(self, n_samples: int) -> int:
        p = self.params
        return 0 if n_samples < p.n_fft else 1 + (n_samples - p.n_fft) // p.hop_length

    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Log-mel dB of a whole signal: (frames, n_mels) float32. Leading axes are batch axes."""
        x = np.asarray(samples, dtype=np.float32)
        p = self.params
        n = self.n_frames(x.shape[-1])
        if n == 0:
            return np.zeros(x.shape[:-1] + (0, p.n_mels), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(x, p.win_length, axis=-1)
        frames = frames[..., self._left : self._left + (n - 1) * p.hop_length + 1 : p.hop_length, :]
        spec = np.fft.rfft(frames * self._window, n=p.n_fft, axis=-1)
        power = spec.real**2 + spec.imag**2
        mel = (power @ self._fb_t).astype(np.float32)
        np.maximum(mel, p.amin, out=mel)
        return (10.0 * np.log10(mel)).astype(np.float32, copy=False)

    # -- streaming -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._tail = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed new samples; return only the frames they complete: (new_frames, n_mels)."""
        p = self.params
        x = np.concatenate([self._tail, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = self.n_frames(x.size)
        self._tail = x[n * p.hop_length :] if n else x
        return self.compute(x[: (n - 1) * p.hop_length + p.n_fft]) if n else np.zeros((0, p.n_mels), np.float32)
