"""A preallocated single-producer ring of samples with a monotonic sample index."""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """The audio callback ``write``s into it (copy only, no allocation); a reader ``read``s by sample index.

    ``total`` counts every sample ever written, so timestamps derived from it never drift. A reader
    that falls more than ``capacity`` behind loses the oldest samples: ``read`` then skips ahead and
    ``lost`` counts what was skipped, so an overrun is reported, never silent.
    """

    def __init__(self, capacity: int, dtype=np.float32) -> None:
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=dtype)
        self.total = 0  # samples written since start: updated after the copy, read by the consumer
        self._pending = 0  # what ``total`` will be once the write in progress ends: set before the copy
        self.overflows = 0  # input overflows reported by the audio driver
        self.lost = 0  # samples overwritten before the reader got them
        self._cond = threading.Condition()

    def write(self, block: np.ndarray) -> None:
        """Copy ``block`` in. Safe to call from a real-time audio callback: it never allocates or blocks long."""
        # announce the index this write will reach before touching the buffer, so a reader copying
        # the oldest part of the ring at this moment knows its copy may be torn
        self._pending = end = self.total + block.shape[0]
        if block.shape[0] > self.capacity:  # only the newest samples fit, but the index counts them all
            block = block[-self.capacity :]
        n = block.shape[0]
        i = (end - n) % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i : i + first] = block[:first]
        if first < n:
            self._buf[: n - first] = block[first:]
        self.total = end
        # notify without waiting for the lock: a busy reader must never stall the callback
        if self._cond.acquire(blocking=False):
            try:
                self._cond.notify_all()
            finally:
                self._cond.release()

    def wait(self, beyond: int, timeout: float) -> bool:
        """Block until more than ``beyond`` samples were written in total, or ``timeout`` seconds pass."""
        with self._cond:
            return self._cond.wait_for(lambda: self.total > beyond, timeout)

    def read(self, start: int, n: int | None = None) -> tuple[int, np.ndarray]:
        """Samples from index ``start`` (up to ``n``, default all available): returns (actual start, copy)."""
        end = self.total
        oldest = max(0, end - self.capacity)
        if start < oldest:
            self.lost += oldest - start
            start = oldest
        stop = end if n is None else min(end, start + n)
        i, j = start % self.capacity, stop % self.capacity
        if stop <= start:
            out = self._buf[:0].copy()
        elif i < j or stop - start < self.capacity and j == 0:
            out = self._buf[i : j or self.capacity].copy()
        else:  # wraps around the end of the buffer
            out = np.concatenate([self._buf[i:], self._buf[:j]])
        # the writer lapped us during the copy, or is overwriting our oldest samples now: drop that part
        if self._pending - self.capacity > start:
            skip = min(self._pending - self.capacity - start, out.size)
            self.lost += skip
            return start + skip, out[skip:]
        return start, out

    def latest(self, n: int) -> np.ndarray:
        """The newest ``n`` samples (fewer at the very start)."""
        return self.read(max(0, self.total - n), n)[1]


class ArrayHistory:
    """A whole recording read like the pipeline's ring (``read`` by sample index): what lets scored windows
    be replayed through the decider and the second opinion without running the small model again."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples

    def read(self, start: int, n: int) -> tuple[int, np.ndarray]:
        start = max(0, start)
        return start, self.samples[start : start + n].copy()
