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
