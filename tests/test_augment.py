"""Augmentation does what it says, on real recordings from the shared corpus."""

import numpy as np
import pytest

pytest.importorskip("scipy")
from barkcry_train.augment import (  # noqa: E402
    MIC_FLOOR_DBFS,
    Augmenter,
    change_pitch,
    extend_band,
    fit_length,
    lowpass,
    mask_bands,
    mic_floor_features,
    mix_at_snr,
    power,
    resample_round_trip,
    reverberate,
    shift_level,
    simulate_rooms,
)
from detector.audiofile import read_audio  # noqa: E402

FS = 16000


@pytest.fixture(scope="module")
def bark(data_root):
    return read_audio(data_root / "bark/esc50/1-100032-A.flac", FS)


@pytest.fixture(scope="module")
def noise(data_root):
    return read_audio(sorted((data_root / "noise/speechcommands").glob("*.flac"))[0], FS)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 20.0])
def test_achieved_snr_within_half_db(bark, noise, snr):
    n = fit_length(noise, bark.size, np.random.default_rng(1))
    mixed = mix_at_snr(bark, n, snr)
    achieved = 10 * np.log10(power(bark) / power(mixed - bark))
    assert abs(achieved - snr) < 0.5


@pytest.mark.parametrize("cutoff", [3400.0, 5000.0])
def test_lowpass_removes_energy_above_cutoff(noise, cutoff):
    y = lowpass(noise, cutoff, FS)
    f = np.fft.rfftfreq(y.size, 1 / FS)
    spec_in, spec_out = np.abs(np.fft.rfft(noise)) ** 2, np.abs(np.fft.rfft(y)) ** 2
    band = f > cutoff * 1.25
    # At least 30 dB less energy a quarter above the cut-off; the pass band stays within 1 dB.
    assert 10 * np.log10(spec_out[band].sum() / spec_in[band].sum()) < -30
    pas = (f > 300) & (f < cutoff * 0.7)
    assert abs(10 * np.log10(spec_out[pas].sum() / spec_in[pas].sum())) < 1.0


def test_8k_round_trip_leaves_nothing_above_4k(noise):
    y = resample_round_trip(noise, FS)
    assert y.size == noise.size
    f = np.fft.rfftfreq(y.size, 1 / FS)
    spec = np.abs(np.fft.rfft(y)) ** 2
    assert spec[f > 4100].sum() / spec.sum() < 1e-3


def test_reverb_keeps_length_and_scale(data_root, bark):
    real = read_audio(sorted((data_root / "rir").rglob("*.flac"))[0], FS)
    for rir in [real, *simulate_rooms(2, seed=5)]:
        y = reverberate(bark, rir)
        assert y.size == bark.size
        assert abs(10 * np.log10(power(y) / power(bark))) < 0.01
        # Not a no-op: the room changes the waveform.
        assert np.corrcoef(y, bark)[0, 1] < 0.99


def test_augmenter_is_band_limited_for_every_class(bark, noise):
    """The mic chain runs on any input: 'band-limited' cannot become a cue for one label."""
    aug = Augmenter([noise], [], p_noise=0.0, p_mic=1.0, p_8k=1.0, rng=np.random.default_rng(0))
    y = aug(bark)
    f = np.fft.rfftfreq(y.size, 1 / FS)
    spec = np.abs(np.fft.rfft(y)) ** 2
    assert spec[f > 4100].sum() / spec.sum() < 1e-3
    assert y.size == bark.size and np.max(np.abs(y)) <= 1.0


def test_mask_bands_sets_whole_bands_to_the_window_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(-40, 10, (20, 98, 64)).astype(np.float32)
    means = x.mean(axis=(1, 2))
    y = x.copy()
    mask_bands(y, 2, rng)
    for i in range(len(x)):
        changed = np.flatnonzero((y[i] != x[i]).any(axis=0))
        assert 1 <= changed.size <= 16  # two masks of 1-8 bands, possibly overlapping
        assert np.allclose(y[i][:, changed], means[i])  # every frame of a masked band, nothing else
        assert np.array_equal(np.delete(y[i], changed, axis=1), np.delete(x[i], changed, axis=1))


def test_time_masks_set_whole_frame_spans_to_the_window_mean():
    rng = np.random.default_rng(1)
    x = rng.normal(-40, 10, (20, 98, 64)).astype(np.float32)
    means = x.mean(axis=(1, 2))
    y = x.copy()
    mask_bands(y, 2, rng, max_width=10, axis=1)
    for i in range(len(x)):
        changed = np.flatnonzero((y[i] != x[i]).any(axis=1))
        assert 1 <= changed.size <= 20  # two masks of 1-10 frames, possibly overlapping
        assert np.allclose(y[i][changed], means[i])  # every band of a masked frame, nothing else
        assert np.array_equal(np.delete(y[i], changed, axis=0), np.delete(x[i], changed, axis=0))


@pytest.mark.parametrize("db", [20.0, 40.0])
def test_shift_level_matches_turning_the_audio_down_over_a_mic_floor(bark, db):
    """The feature-level shift is what a farther source sounds like: the audio turned down by ``db`` over
    a -80 dBFS microphone floor, within half a dB in the median bin (the rest is signal-noise cross terms)."""
    from detector.frontend import LogMel

    lm = LogMel()
    w = lm.params.window_samples
    start = max(range(0, bark.size - w, w // 4), key=lambda i: power(bark[i : i + w]))
    x = bark[start : start + w]  # the bark's loudest second
    floor_audio = np.random.default_rng(0).normal(0, 10 ** (MIC_FLOOR_DBFS / 20), x.size).astype(np.float32)
    real = lm.compute((x * 10 ** (-db / 20) + floor_audio)[None])[0]
    feats = lm.compute(x[None]).copy()

    class Exactly:  # the shift drawn is exactly db, the floor window is this floor
        def uniform(self, lo, hi, n):
            return np.full(n, db)

        def integers(self, k, size):
            return np.zeros(size, dtype=int)

    shift_level(feats, db, lm.compute(floor_audio[None]), Exactly())
    d = np.abs(feats[0] - real)
    assert np.median(d) < 0.5 and abs(feats.mean() - real.mean()) < 0.5
    orig, floor = lm.compute(x[None])[0], lm.compute(floor_audio[None])[0]
    loud = orig - db > floor + 20  # bins the floor cannot touch are exactly db lower
    assert loud.sum() > 100 and np.allclose(feats[0][loud], orig[loud] - db, atol=0.05)
    floors = mic_floor_features(lm, 4, np.random.default_rng(1))
    assert floors.shape == (4, lm.params.window_frames, lm.params.n_mels)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0])
def test_lay_under_matches_playing_the_two_sounds_together(bark, noise, snr):
    """Laying a noise window under a bark window in the features is what the frontend shows for the two
    played together at the mel-power SNR asked, within a dB in the median bin (phase cross terms are the rest)."""
    from barkcry_train.augment import lay_under
    from detector.frontend import LogMel

    lm = LogMel()
    w = lm.params.window_samples
    start = max(range(0, bark.size - w, w // 4), key=lambda i: power(bark[i : i + w]))
    x, n = bark[start : start + w], fit_length(noise, w, np.random.default_rng(0))
    fx, fn = lm.compute(x[None]), lm.compute(n[None])
    mixed = fx.copy()
    lay_under(mixed, fn, np.array([snr]))
    gain = (10 ** (fx / 10)).sum() / ((10 ** (fn / 10)).sum() * 10 ** (snr / 10))
    real = lm.compute((x + np.sqrt(gain) * n).astype(np.float32)[None])
    assert np.median(np.abs(mixed - real)) < 1.0 < np.median(np.abs(fx - real))  # and the noise is really there


def band_power(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / FS)
    return float(spec[(f >= lo) & (f < hi)].sum()) + 1e-20


@pytest.mark.parametrize("level_db", [-30.0, -20.0, -12.0])
def test_bandwidth_extension_fills_the_empty_upper_band_at_the_requested_level(data_root, level_db):
    # A Donate-a-Cry cry: recorded at 8 kHz, nothing above 4 kHz.
    cry = read_audio(
        data_root / "cry/donateacry/02c3b725-26e4-4a2c-9336-04ddc58836d9-1430726196216-1.7-m-04-hu.flac", FS
    )
    assert band_power(cry, 4000, 8000) < 1e-3 * band_power(cry, 0, 4000)
    out = extend_band(cry, level_db, FS)
    assert out.size == cry.size
    added = 10 * np.log10(band_power(out - cry, 0, 8000) / band_power(cry, 0, 8000))
    assert abs(added - level_db) < 0.5  # what was asked for
    assert band_power(out - cry, 3500, 8000) > 0.9 * band_power(out - cry, 0, 8000)  # and above the cut-off (its skirt)
    assert abs(10 * np.log10(band_power(out, 0, 3500) / band_power(cry, 0, 3500))) < 0.2  # the band below is kept


def spectral_centroid(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    return float((np.fft.rfftfreq(x.size, 1 / FS) * spec).sum() / spec.sum())


@pytest.mark.parametrize("semitones", [-2.0, -0.7, 1.0, 2.0])
def test_varispeed_moves_the_spectrum_by_the_requested_interval_and_keeps_the_length(bark, semitones):
    # The bark's loudest second, band-limited so that a rise of 2 semitones keeps it below Nyquist.
    start = int(np.argmax(np.convolve(bark**2, np.ones(FS), "valid")[:: FS // 10])) * (FS // 10)
    x = lowpass(bark[start : start + FS], 5000.0, FS)
    y = change_pitch(x, semitones, FS)
    assert y.size == x.size
    ratio = spectral_centroid(y) / spectral_centroid(x)
    # Every frequency scales by 2^(s/12), so the centroid does too (edges cut or padded move it a little).
    assert abs(12 * np.log2(ratio) - semitones) < 0.15


def test_the_chain_applies_varispeed_when_asked(bark):
    # Everything else off: the centroid moves by at most the range, and not by nothing.
    start = int(np.argmax(np.convolve(bark**2, np.ones(FS), "valid")[:: FS // 10])) * (FS // 10)
    x = lowpass(bark[start : start + FS], 5000.0, FS)
    off = dict(p_noise=0.0, p_reverb=0.0, p_mic=0.0, p_floor=0.0, max_shift_s=0.0, gain_db=(0.0, 0.0))
    moved = []
    for seed in range(4):
        y = Augmenter([], [], rng=np.random.default_rng(seed), p_pitch=1.0, pitch_semitones=2.0, **off)(x)
        moved.append(12 * np.log2(spectral_centroid(y) / spectral_centroid(x)))
    assert all(abs(m) < 2.15 for m in moved) and max(abs(m) for m in moved) > 0.2
    same = Augmenter([], [], rng=np.random.default_rng(0), **off)(x)  # p_pitch 0: the window as it came
    assert abs(12 * np.log2(spectral_centroid(same) / spectral_centroid(x))) < 0.01
