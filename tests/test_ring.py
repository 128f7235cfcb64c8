"""The ring buffer returns exactly what was written, by monotonic sample index, and counts what it lost."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.ring import RingBuffer


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.lists(st.integers(0, 150), min_size=1, max_size=30), st.data())
def test_reads_match_what_was_written(capacity, blocks, data):
    ring = RingBuffer(capacity, dtype=np.int32)
    written = np.arange(sum(blocks), dtype=np.int32)
    pos = 0
    for n in blocks:
        ring.write(written[pos : pos + n])
        pos += n
        start = data.draw(st.integers(0, pos))
        got_start, got = ring.read(start, data.draw(st.integers(0, capacity + 5)))
        assert got_start == max(start, pos - capacity)
        assert np.array_equal(got, written[got_start : got_start + got.size])
        assert got.size <= capacity and got_start + got.size <= pos
    assert ring.total == pos


def test_overrun_is_counted():
    ring = RingBuffer(10, dtype=np.int16)
    ring.write(np.arange(25, dtype=np.int16))
    start, got = ring.read(0)
    assert start == 15 and ring.lost == 15 and list(got) == list(range(15, 25))


class _ReadDuringWrite(np.ndarray):
    """The ring's storage, calling ``hook`` right after each store: a reader running mid-write."""

    hook = None

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if type(self).hook is not None:
            type(self).hook()


def test_a_read_during_a_write_drops_the_samples_being_overwritten():
    # 7 samples in a ring of 10; the next block of 6 wraps and overwrites indices 0..2. A reader that
    # copies between that store and the index update must not return the new values as indices 0..2.
    ring = RingBuffer(10, dtype=np.int32)
    ring.write(np.arange(7, dtype=np.int32))
    ring._buf = ring._buf.view(_ReadDuringWrite)
    reads = []
    _ReadDuringWrite.hook = lambda: reads.append(ring.read(0))
    try:
        ring.write(np.arange(7, 13, dtype=np.int32))
    finally:
        _ReadDuringWrite.hook = None
    (first_start, first), (torn_start, torn) = reads  # after the store that wraps, then after the one that overwrites
    assert first_start == 3 and list(first) == [3, 4, 5, 6]
    assert torn_start == 3 and list(torn) == [3, 4, 5, 6]
    assert ring.lost == 6 and ring.total == 13
