import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.frontend import FrontendParams, LogMel, mel_filterbank

librosa = pytest.importorskip("librosa")

# Float32 FFTs against librosa's: 1e-3 dB covers rounding; a parameter slip shows up as > 1 dB.
TOL_DB = 1e-3


def librosa_logmel(y: np.ndarray, p: FrontendParams) -> np.ndarray:
    S = librosa.feature.melspectrogram(
        y=y,
        sr=p.sample_rate,
        n_fft=p.n_fft,
        hop_length=p.hop_length,
        win_length=p.win_length,
        window="hann",
        center=False,
        power=2.0,
        n_mels=p.n_mels,
        fmin=p.fmin,
        fmax=p.fmax,
        htk=False,
        norm="slaney",
    )
    return librosa.power_to_db(S, ref=1.0, amin=p.amin, top_db=None).T


@pytest.mark.parametrize("rel", ["bark/esc50/1-100032-A.flac", "cry/donateacry/", "noise/giulbia_silence/"])
def test_matches_librosa_on_real_audio(data_root, rel):
    path = data_root / rel
    if path.is_dir():
        path = sorted(path.glob("*.flac"))[0]
    y, sr = sf.read(path, dtype="float32")
    lm = LogMel()
    assert sr == lm.params.sample_rate
    ours, ref = lm.compute(y), librosa_logmel(y, lm.params)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) < TOL_DB


def test_filterbank_matches_librosa():
    p = FrontendParams()
    ref = librosa.filters.mel(sr=p.sample_rate, n_fft=p.n_fft, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax)
    np.testing.assert_allclose(mel_filterbank(p), ref, atol=1e-7)


def test_floor_is_amin():
    lm = LogMel()
    out = lm.compute(np.zeros(lm.params.window_samples, np.float32))
    assert out.shape == (lm.params.window_frames, lm.params.n_mels)
    np.testing.assert_allclose(out, 10 * np.log10(lm.params.amin))


_signal = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=40))
def test_streaming_equals_batch_for_any_blocks(blocks):
    lm_batch, lm_stream = LogMel(), LogMel()
    cuts = np.cumsum(blocks)
    cuts = cuts[cuts < _signal.size]
    pieces = np.split(_signal, cuts)
    streamed = np.concatenate([lm_stream.push(b) for b in pieces])
    batch = lm_batch.compute(_signal)
    assert streamed.shape == batch.shape
    # Bit for bit: the int8 model turns a few-micro-dB difference into a different input step, and its
    # score can move by 0.02 (seen with a float32 matrix product whose rounding followed the block size).
    np.testing.assert_array_equal(streamed, batch)


def test_push_returns_only_new_frames():
    lm = LogMel()
    p = lm.params
    assert lm.push(np.zeros(p.n_fft - 1)).shape[0] == 0
    assert lm.push(np.zeros(1)).shape[0] == 1
    assert lm.push(np.zeros(p.hop_length * 3)).shape[0] == 3


def test_mismatch_names_parameter():
    p = FrontendParams()
    d = p.to_dict() | {"n_mels": 40}
    (msg,) = p.mismatches(d)
    assert "n_mels" in msg and "40" in msg and "64" in msg
