"""The helpers that score another detector (BirdNET, YAMNet) on barkcry's test: its windows cover every clip
to the end, and its alarms are counted as a detector without hold would raise them."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from barkcry_train.reference import runs, window_starts


@given(n=st.integers(1, 200_000), size=st.integers(100, 50_000), hop_frac=st.floats(0.1, 1.0))
def test_windows_cover_the_whole_clip_and_the_last_ends_at_its_end(n, size, hop_frac):
    hop = max(1, int(size * hop_frac))
    starts = window_starts(n, size, hop)
    if n <= size:
        assert starts == [0]  # one window, padded by the model
        return
    assert starts[0] == 0 and starts[-1] == n - size
    assert all(0 < b - a <= hop for a, b in zip(starts, starts[1:]))


def test_a_run_of_windows_over_threshold_is_one_alarm():
    hits = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], bool)
    assert runs(hits) == 3
    assert runs(np.ones(5, bool)) == 1
    assert runs(np.zeros(5, bool)) == 0
    assert runs(np.zeros(0, bool)) == 0
