"""The pipeline gives the same windows and events whatever the block size (a paced microphone, an
unpaced device delivering seconds at once, a file replay)."""

import pytest
from conftest import ROOT

from detector.audiofile import read_audio
from detector.config import Config
from detector.model import Classifier
from detector.scan import make_pipeline
from detector.sinks import Sink

DEMO = ROOT / "detector" / "data" / "demo.flac"


class Keep(Sink):
    def __init__(self):
        self.windows, self.events = [], []

    def window(self, w):
        self.windows.append((round(w.t_end, 6), tuple(round(v, 6) for v in w.scores.values()), round(w.dbfs, 4)))

    def event(self, e):
        self.events.append((e.label, e.state, round(e.start, 4), None if e.end is None else round(e.end, 4)))


@pytest.fixture(scope="module")
def clf(shipped_model):
    return Classifier(shipped_model)


def run(clf, x, block):
    keep = Keep()
    p = make_pipeline(Config(), clf, [keep])
    for i in range(0, x.size, block):
        p.process(x[i : i + block])
    p.finish()
    return keep


def test_block_size_does_not_change_windows_or_events(clf):
    x = read_audio(DEMO, 16000)
    ref = run(clf, x, 1600)
    assert len(ref.windows) == (x.size - clf.frontend.window_samples) // 4000 + 1
    assert {e[0] for e in ref.events} == {"bark", "cry"}
    for block in (160, 4001, 16000, 12 * 16000 + 7, x.size):  # 12 s blocks exceed the 10 s history
        got = run(clf, x, block)
        assert got.windows == ref.windows, block
        assert got.events == ref.events, block
    # the level is the window's real level, never the -200 dBFS of an empty read
    assert min(w[2] for w in ref.windows) > -80
