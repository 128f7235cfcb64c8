"""Audio sources: a live microphone (sounddevice/PortAudio) and a file replay. Both yield float32 blocks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audiofile import audio_blocks, duration_s
from .resample import StreamingDecimator
from .ring import RingBuffer

log = logging.getLogger(__name__)

INT16_SCALE = 1.0 / 32768.0


class DeviceError(Exception):
    """The requested input device does not exist or cannot capture at a usable rate."""


def list_input_devices() -> list[dict]:
    import sounddevice as sd

    return [
        {"index": i, "name": d["name"], "channels": d["max_input_channels"], "default_rate": d["default_samplerate"]}
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]


def refresh_device_list() -> None:
    """PortAudio lists the devices once, when it starts: a USB microphone plugged back in (perhaps as
    another card) is only found after a restart of PortAudio. Safe only with no stream open."""
    import sounddevice as sd

    sd._terminate()  # the way sounddevice's author gives (python-sounddevice issue #125); private API
    sd._initialize()


def supported_rates(device: int, rates=(8000, 16000, 22050, 32000, 44100, 48000)) -> list[int]:
    import sounddevice as sd

    ok = []
    for r in rates:
        try:
            sd.check_input_settings(device=device, samplerate=r, channels=1, dtype="int16")
            ok.append(r)
        except Exception:  # PortAudioError or ValueError: that rate is not offered
            pass
    return ok


def resolve_device(device: str | int | None) -> tuple[int, str]:
    """Index and name of an input device given by index, exact name or name substring (None: default)."""
    import sounddevice as sd

    inputs = list_input_devices()
    available = "; ".join(f"[{d['index']}] {d['name']}" for d in inputs) or "none"
    if device is None or device == "default":
        try:
            idx = sd.default.device[0]
            if idx is None or idx < 0:
                idx = sd.query_devices(kind="input")["index"]
        except Exception as e:
            raise DeviceError(f"no default input device ({e}); available inputs: {available}") from e
        return int(idx), sd.query_devices(idx)["name"]
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        idx = int(device)
        match = [d for d in inputs if d["index"] == idx]
    else:
        match = [d for d in inputs if d["name"] == device] or [d for d in inputs if device.lower() in d["name"].lower()]
    if len(match) != 1:
        what = "matches several" if match else "matches no"
        raise DeviceError(f"input device {device!r} {what} input device; available inputs: {available}")
    return match[0]["index"], match[0]["name"]


@dataclass
class CaptureInfo:
    device: str
    device_rate: int
    rate: int
    overflows: int
    lost_samples: int
    reopens: int


class MicrophoneSource:
    """A sounddevice input stream whose callback only copies int16 samples into a preallocated ring.

    Runs at the model rate, or at an integer multiple of it that the device offers (then decimated in
    the reader thread, never in the callback). If the device stops delivering (unplugged), the stream
    is closed and reopened with exponential backoff.
    """

    def __init__(
        self,
        device: str | int | None = None,
        rate: int = 16000,
        block_s: float = 0.1,
        ring_s: float = 30.0,
        max_samples: int | None = None,
        stall_s: float = 3.0,
    ) -> None:
        self.device, self.rate, self.block_s = device, rate, block_s
        self.max_samples = max_samples  # stop after this many model-rate samples (tests, calibration)
        self.stall_s = stall_s
        self.index, self.name = resolve_device(device)
        rates = supported_rates(self.index)
        if rate in rates:
            self.device_rate = rate
        else:
            multiples = [r for r in rates if r % rate == 0]
            if not multiples:
                raise DeviceError(
                    f"input device {self.name!r} offers {rates} Hz, none a multiple of {rate} Hz: "
                    "choose ALSA's 'default' or a 'plughw' device, which resample"
                )
            self.device_rate = min(multiples)
        factor = self.device_rate // rate
        self._limit = None if max_samples is None else max_samples * factor  # device-rate samples to capture
        # With a limit (calibration, tests) the ring holds it all: a file-backed device is not paced.
        self.ring = RingBuffer(max(int(ring_s * self.device_rate), (self._limit or 0) + 1), dtype=np.int16)
        self.reopens = 0
        import sounddevice as sd

        self._callback_stop = sd.CallbackStop  # looked up once: the callback does nothing but copy
        self._portaudio_error = sd.PortAudioError
        self._stream = None
        self._stop = threading.Event()

    def info(self) -> CaptureInfo:
        return CaptureInfo(self.name, self.device_rate, self.rate, self.ring.overflows, self.ring.lost, self.reopens)

    def _callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            self.ring.overflows += 1
        if self._limit is not None:
            room = self._limit - self.ring.total
            if room < frames:
                if room > 0:
                    self.ring.write(indata[:room, 0])
                raise self._callback_stop
        self.ring.write(indata[:, 0])

    def _open(self) -> None:
        import sounddevice as sd

        stream = sd.InputStream(
            device=self.index,
            samplerate=self.device_rate,
            channels=1,
            dtype="int16",
            blocksize=int(self.block_s * self.device_rate),
            callback=self._callback,
        )
        stream.start()
        self._stream = stream

    def _close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            except Exception as e:  # the device may already be gone
                log.debug("closing stream: %s", e)
            self._stream = None

    def stop(self) -> None:
        self._stop.set()

    def blocks(self) -> Iterator[np.ndarray]:
        """Float32 blocks at the model rate, in order, until ``stop()`` or ``max_samples``."""
        decim = StreamingDecimator(self.device_rate // self.rate) if self.device_rate != self.rate else None
        want = self._limit
        pos, backoff = 0, 1.0
        try:
            self._open()
        except self._portaudio_error as e:  # busy (another program holds it), or it cannot do what we ask
            raise DeviceError(
                f"cannot open input device {self.name!r} at {self.device_rate} Hz: {e} (is another program using it?)"
            ) from e
        try:
            last_data = time.monotonic()
            while not self._stop.is_set():
                if want is not None and pos >= want:
                    return
                if not self.ring.wait(pos, timeout=0.5):
                    if time.monotonic() - last_data > self.stall_s:
                        backoff = self._reopen(backoff)
                        last_data = time.monotonic()
                    yield np.zeros(0, np.float32)  # keeps the consumer's loop (and watchdog) turning
                    continue
                last_data, backoff = time.monotonic(), 1.0
                start, raw = self.ring.read(pos)
                if want is not None:
                    raw = raw[: max(0, want - start)]
                pos = start + raw.size
                x = raw.astype(np.float32) * INT16_SCALE
                if decim is not None:
                    x = decim(x)
                yield x
        finally:
            self._close()

    def _reopen(self, backoff: float) -> float:
        log.warning(
            "input device %r delivered nothing for %.0f s: reopening in %.0f s", self.name, self.stall_s, backoff
        )
        self._close()
        if self._stop.wait(backoff):
            return backoff
        try:
            refresh_device_list()
            self.index, self.name = resolve_device(self.device)
            self._open()
            self.reopens += 1
            log.info("input device %r reopened", self.name)
        except Exception as e:  # still unplugged: try again later, never crash the daemon
            log.warning("cannot reopen input device %r: %s", self.device, e)
        return min(backoff * 2, 20.0)


class FileSource:
    """Replays a recording in blocks, paced in real time (as a microphone would) or as fast as possible; read
    as it goes, so that a file of hours costs no more memory than one of seconds."""

    def __init__(
        self,
        path: str | Path,
        rate: int = 16000,
        block_s: float = 0.1,
        realtime: bool = False,
        pad: int = 0,
        max_s: float | None = None,
    ) -> None:
        """``pad``: samples of silence before and after the recording (scan: a file cut from a stream);
        ``max_s``: play only this much of it."""
        self.path, self.rate, self.block_s, self.realtime = Path(path), rate, block_s, realtime
        self.pad, self.max_s = pad, max_s
        self.duration_s = duration_s(self.path)  # opens it: an unreadable file fails here, not mid-run
        if max_s is not None:
            self.duration_s = min(self.duration_s, max_s)
        self.name = str(self.path)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def info(self) -> CaptureInfo:
        return CaptureInfo(f"file {self.path.name}", self.rate, self.rate, 0, 0, 0)

    def _stream(self) -> Iterator[np.ndarray]:
        silence = np.zeros(self.pad, np.float32)
        yield silence
        yield from audio_blocks(self.path, self.rate, self.max_s)
        yield silence

    def blocks(self) -> Iterator[np.ndarray]:
        n = max(1, int(self.block_s * self.rate))
        t0 = time.monotonic()
        done = 0
        pending = np.zeros(0, np.float32)
        for chunk in self._stream():
            pending = np.concatenate([pending, chunk]) if pending.size else chunk
            while pending.size >= n:
                block, pending = pending[:n], pending[n:]
                if not self._paced(t0, done + n):
                    return
                done += n
                yield block
        if pending.size and self._paced(t0, done + pending.size):
            yield pending

    def _paced(self, t0: float, recorded: int) -> bool:
        """Wait until a block would exist, were this a microphone; False once stopped."""
        if self._stop.is_set():
            return False
        if self.realtime:
            delay = t0 + recorded / self.rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return False
        return True
