"""The bark screening: YAMNet's dog classes decide which clips of a loosely labelled source stay barks."""

from __future__ import annotations

import csv

import numpy as np
from conftest import ROOT

from barkcry_train import bark_screening as bs
from barkcry_train.data import Clip, read_manifest
from detector.audiofile import read_audio
from detector.yamnet import Yamnet


def test_a_street_bark_stays_a_bark_and_a_tone_is_no_dog(data_root):
    yamnet = Yamnet()
    bark = next(c for c in read_manifest(data_root / "manifest.csv") if c.label == "bark" and c.source == "us8k")
    at, scores = bs.screen_clip(yamnet, read_audio(data_root / bark.path, 16000))
    assert max(scores, key=scores.__getitem__) in bs.BARK_CLASSES, scores
    assert 0 <= at < bark.duration_s
    # a short clip is padded to one patch, and a pure tone hears no dog
    t = np.arange(4000) / 16000
    _, tone = bs.screen_clip(yamnet, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert max(tone.values()) < 0.2, tone


def test_the_verdicts_round_trip_and_decide_what_trains(tmp_path):
    verdicts = [
        bs.Verdict("bark/a.flac", "animalsound", 1, 2.0, 0.5, "Howl", {c: 0.1 for c in bs.DOG_CLASSES}),
        bs.Verdict("bark/b.flac", "dogspeak", 2, 1.0, 0.0, "Bow-wow", {c: 0.2 for c in bs.DOG_CLASSES}),
    ]
    path = tmp_path / "screening.csv"
    bs.write(verdicts, path)
    assert bs.verdicts(path) == {"bark/a.flac": False, "bark/b.flac": True}
    assert bs.counts(path) == [("animalsound", "Howl", 1), ("dogspeak", "Bow-wow", 1)]
    clips = [
        Clip("bark/a.flac", "bark", "animalsound", "dog", 1, 2.0),
        Clip("bark/b.flac", "bark", "dogspeak", "dog", 2, 1.0),
        Clip("bark/c.flac", "bark", "us8k", "dog", 3, 4.0),  # not screened: kept as it is
    ]
    kept = bs.verdicts(path)
    assert [c.path for c in bs.apply(clips, kept, "drop")] == ["bark/b.flac", "bark/c.flac"]
    relabelled = bs.apply(clips, kept, "negative")
    assert [c.label for c in relabelled] == ["negative", "bark", "bark"]


def test_the_committed_screening_covers_every_new_bark(data_root):
    """The CSV training reads is complete for the corpus it was made from: rerun the module when it changes."""
    screened = {
        c.path
        for c in read_manifest(data_root / "manifest.csv")
        if c.label == "bark" and c.source in bs.SCREENED_SOURCES
    }
    with open(ROOT / "reports" / "bark_cry" / "bark_screening.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["path"] for r in rows} == screened
    assert all(r["verdict"] == ("bark" if r["top_class"] in bs.BARK_CLASSES else "not-bark") for r in rows)
