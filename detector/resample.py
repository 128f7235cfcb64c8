"""Rational-ratio resampling with a Kaiser-windowed sinc, in numpy (the Pi runtime has no scipy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd

import numpy as np


@dataclass
class Resampler:
    """Resample from ``src`` Hz to ``dst`` Hz. Anti-aliasing cut-off at 0.95 of the lower Nyquist."""

    src: int
    dst: int
    half_taps: int = 16
    beta: float = 8.0
    _table: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        g = gcd(self.src, self.dst)
        self.up, self.down = self.dst // g, self.src // g
        cutoff = 0.95 * min(1.0, self.up / self.down)  # relative to the input Nyquist
        k = np.arange(-self.half_taps + 1, self.half_taps + 1)  # taps relative to floor(t)
        phases = np.arange(self.up) / self.up  # fractional positions
        d = phases[:, None] - k[None, :]  # distance from each tap, in input samples
        win = np.kaiser(2 * self.half_taps + 1, self.beta)
        # Evaluate the continuous Kaiser window at the fractional distance.
        w = np.interp(d, np.linspace(-self.half_taps, self.half_taps, win.size), win, left=0, right=0)
        self._table = (cutoff * np.sinc(cutoff * d) * w).astype(np.float32)
        self._k = k

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.up == self.down:
            return x.copy()
        n_out = int(np.ceil(x.size * self.up / self.down))
        pad = self.half_taps + 1
        xp = np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad, np.float32)])
        out = np.empty(n_out, dtype=np.float32)
        step = 1 << 15  # bounded memory for long files
        for s in range(0, n_out, step):
            n = np.arange(s, min(s + step, n_out))
            base, phase = np.divmod(n * self.down, self.up)
            idx = base[:, None] + self._k[None, :] + pad
            out[s : s + n.size] = np.einsum("ij,ij->i", xp[idx], self._table[phase])
        return out


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    return Resampler(src, dst)(x)


class StreamingResampler:
    """``Resampler`` over a stream of blocks, with the same output as over the whole: a long file is
    resampled in bounded memory. Call with ``final=True`` (an empty block will do) at the end."""

    def __init__(self, src: int, dst: int, half_taps: int = 16, beta: float = 8.0) -> None:
        self.r = Resampler(src, dst, half_taps, beta)
        self._buf = np.zeros(half_taps + 1, np.float32)  # the zeros before the stream
        self._start = -(half_taps + 1)  # stream index of _buf[0]
        self._total = 0  # input samples seen
        self._n = 0  # next output index

    def __call__(self, x: np.ndarray, final: bool = False) -> np.ndarray:
        r = self.r
        if r.up == r.down:
            return np.asarray(x, np.float32).copy()
        x = np.asarray(x, np.float32)
        self._total += x.size
        h = r.half_taps
        if final:
            n_end = -(-self._total * r.up // r.down)
            x = np.concatenate([x, np.zeros(h + 1, np.float32)])  # the zeros after the stream
        else:  # outputs whose every tap has arrived
            n_end = max(self._n, -(-(self._total - h) * r.up // r.down))
        self._buf = np.concatenate([self._buf, x])
        n = np.arange(self._n, n_end)
        base, phase = np.divmod(n * r.down, r.up)
        idx = base[:, None] + r._k[None, :] - self._start
        out = np.einsum("ij,ij->i", self._buf[idx], r._table[phase]).astype(np.float32)
        self._n = n_end
        keep_from = n_end * r.down // r.up - h + 1 - self._start  # the first tap of the next output
        self._buf, self._start = self._buf[keep_from:], self._start + keep_from
        return out


class StreamingDecimator:
    """Integer-factor decimation of a live stream (e.g. a 48 kHz-only USB microphone to 16 kHz).

    Keeps the filter history between blocks, so block boundaries leave no trace.
    """

    def __init__(self, factor: int, taps_per_phase: int = 16, beta: float = 8.0) -> None:
        self.factor = int(factor)
        n = 2 * taps_per_phase * self.factor + 1
        m = np.arange(n) - n // 2
        cutoff = 0.95 / self.factor
        self._h = (cutoff * np.sinc(cutoff * m) * np.kaiser(n, beta)).astype(np.float32)
        self._hist = np.zeros(n - 1, dtype=np.float32)
        self._phase = 0  # index, within the next block, of the next sample to keep

    def __call__(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._hist, np.asarray(x, dtype=np.float32)])
        y = np.convolve(buf, self._h, mode="valid")  # y[i] is the filtered sample at x[i]
        out = y[self._phase :: self.factor]
        self._phase = (self._phase - y.size) % self.factor
        self._hist = buf[-(self._h.size - 1) :]
        return out
