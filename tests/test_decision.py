"""The decider: no flapping, min hits and hold as stated, and event invariants over random scores."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.decision import Decider, LabelPolicy

HOP = 0.25


def feed(decider, scores, label="bark", dbfs=-30.0, t0=1.0):
    events = []
    for i, s in enumerate(scores):
        events += decider.update(t0 + i * HOP, {label: s}, dbfs)
    return events


def test_no_flapping_around_threshold():
    """Scores dithering across `on` give one event, not one per crossing."""
    d = Decider({"bark": LabelPolicy(on=0.5, off=0.3, min_hits=2, hold_s=1.0, smoothing=2)}, window_s=1.0)
    scores = [0.1] * 4 + [0.58, 0.46, 0.56, 0.47, 0.6, 0.45, 0.55, 0.49] * 4 + [0.1] * 8
    ev = feed(d, scores)
    assert [e.state for e in ev] == ["start", "end"]


def test_min_hits_needs_consecutive_hits():
    d = Decider({"bark": LabelPolicy(on=0.5, off=0.3, min_hits=3, smoothing=1)}, window_s=1.0)
    assert feed(d, [0.9, 0.9, 0.1, 0.9, 0.9, 0.1]) == []
    ev = feed(d, [0.9, 0.9, 0.9], t0=10.0)
    assert [e.state for e in ev] == ["start"]
    assert ev[0].start == 10.0 - 1.0  # the first hit's window start


def test_hold_time_ends_event_after_quiet():
    d = Decider({"bark": LabelPolicy(on=0.5, off=0.3, min_hits=1, hold_s=1.0, smoothing=1)}, window_s=1.0)
    ev = feed(d, [0.9] + [0.1] * 3)  # 0.75 s of quiet: still on
    assert [e.state for e in ev] == ["start"]
    ev = d.update(1.0 + 4 * HOP, {"bark": 0.1}, -30.0)  # 1.0 s of quiet: ends
    assert [e.state for e in ev] == ["end"]
    assert ev[0].end == 1.0  # the end is the last time it was above `off`


def test_level_gate_blocks_silence():
    d = Decider({"bark": LabelPolicy(on=0.5, off=0.3, min_hits=1, min_dbfs=-60)}, window_s=1.0)
    assert feed(d, [0.99] * 10, dbfs=-80.0) == []
    assert [e.state for e in feed(d, [0.99], dbfs=-40.0)] == ["start"]


def test_ongoing_updates_and_ids():
    d = Decider({"cry": LabelPolicy(on=0.5, off=0.3, min_hits=1, smoothing=1)}, window_s=1.0, ongoing_every_s=2.0)
    ev = feed(d, [0.9] * 20 + [0.0] * 10, label="cry")
    states = [e.state for e in ev]
    assert states[0] == "start" and states[-1] == "end" and states.count("ongoing") >= 2
    assert len({e.id for e in ev}) == 1
    assert ev[-1].duration_s > 4


def test_labels_are_independent():
    d = Decider({lab: LabelPolicy(on=0.5, off=0.3, min_hits=1, smoothing=1) for lab in ("bark", "cry")}, 1.0)
    ev = d.update(1.0, {"bark": 0.9, "cry": 0.9}, -20)
    assert sorted(e.label for e in ev) == ["bark", "cry"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=4),
    st.floats(min_value=0, max_value=3),
)
def test_every_start_has_one_end_and_no_overlap(scores, min_hits, smoothing, hold):
    d = Decider({"bark": LabelPolicy(on=0.6, off=0.4, min_hits=min_hits, hold_s=hold, smoothing=smoothing)}, 1.0)
    ev = feed(d, scores)
    ev += d.flush(1.0 + len(scores) * HOP)
    starts = [e for e in ev if e.state == "start"]
    ends = [e for e in ev if e.state == "end"]
    assert len(starts) == len(ends)
    assert [s.id for s in starts] == [e.id for e in ends]
    assert len({s.id for s in starts}) == len(starts)
    # In order: start, (ongoing...), end, start, ...; intervals never overlap.
    active = None
    last_end = -np.inf
    for e in ev:
        if e.state == "start":
            assert active is None
            assert e.start >= last_end
            active = e.id
        elif e.state == "end":
            assert active == e.id and e.end >= e.start
            last_end, active = e.end, None
        else:
            assert active == e.id
    assert active is None
