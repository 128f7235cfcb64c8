"""Audio files are read as they are played: a file of hours costs what a file of seconds does."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT

from detector.audiofile import audio_blocks, read_audio
from detector.resample import Resampler, StreamingResampler


def test_the_streaming_resampler_gives_exactly_what_the_whole_file_would():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50_001).astype(np.float32)
    for src in (44100, 48000, 22050, 8000):
        s = StreamingResampler(src, 16000)
        parts, i = [], 0
        while i < x.size:
            k = int(rng.integers(1, 4000))
            parts.append(s(x[i : i + k]))
            i += k
        parts.append(s(np.zeros(0, np.float32), final=True))
        assert np.array_equal(np.concatenate(parts), Resampler(src, 16000)(x)), src


def test_blocks_downmix_and_resample_as_the_whole_file(tmp_path):
    rng = np.random.default_rng(1)
    stereo = (0.3 * rng.standard_normal((3 * 44100 + 17, 2))).astype(np.float32)
    f = tmp_path / "s.wav"
    sf.write(f, stereo, 44100, subtype="FLOAT")
    blocks = list(audio_blocks(f, 16000))
    assert len(blocks) > 1
    assert np.array_equal(np.concatenate(blocks), Resampler(44100, 16000)(stereo.mean(axis=1)))
    assert read_audio(f, 16000, max_s=1.0).size == 16000


@pytest.mark.slow  # a 2-hour file: about a minute
def test_a_two_hour_stereo_file_scans_in_flat_memory(tmp_path, shipped_model):
    """2 h of 44.1 kHz stereo is 1.2 GB as float32; read whole, the scan would hold several times that."""
    path = tmp_path / "long.flac"
    rate = 44100
    block = np.zeros((10 * rate, 2), np.float32)
    block[:rate, 0] = 0.1 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)  # a tone every 10 s
    with sf.SoundFile(path, "w", rate, 2, format="FLAC", subtype="PCM_16") as f:
        for _ in range(2 * 360):
            f.write(block)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would count the forking test process
    code = (
        "import re, sys\nfrom detector.cli import main\nrc = main(['--config', '/dev/null', 'scan', "
        f"{str(path)!r}])\nhwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
        "print(int(hwm.group(1)) // 1024, file=sys.stderr)\nsys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "long.flac: no events" in r.stderr  # a file without events says so, on stderr
    peak_mb = int(r.stderr.strip().splitlines()[-1])
    assert peak_mb < 150, f"peak RSS {peak_mb} MB"
