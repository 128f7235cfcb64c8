"""A window's sound level, and the lift that turns quiet windows up before the model sees them.

A bark in another room reaches the microphone 20-30 dB below the clips the model learned from, and its
scores fall below thresholds set at normal levels (shipped model, fold 5: recall at -45 dBFS was bark
0.24, cry 0.57, against 0.76 / 0.97 at the recorded level). Turning the quiet window up, as an automatic
gain control would, puts it back where the model is at home. It works on the log-mel window itself, so the
runtime, `detector calibrate` and every evaluation lift exactly alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DB_TO_LN = np.float32(np.log(10.0) / 10.0)  # 10 ** (dB / 10) == exp(dB * this): 2.7x faster than np.power


def window_level_db(windows: np.ndarray) -> np.ndarray:
    """Level of each log-mel window (..., frames, n_mels) in dB: the mean over frames of the summed mel power."""
    return 10.0 * np.log10(np.exp(windows * _DB_TO_LN).sum(axis=-1).mean(axis=-1) + 1e-12)


@dataclass(frozen=True)
class QuietLift:
    """Add ``min(max_db, target_db - level)`` dB to a window whose level is below ``target_db``.

    Windows at or above the target pass unchanged, so normal-level sound is scored as before. ``max_db``
    caps the gain: a near-silent room is not turned into a loud one.
    """

    target_db: float
    max_db: float

    def __post_init__(self) -> None:
        if not self.max_db >= 0:
            raise ValueError(f"max_db is {self.max_db}: expected a gain >= 0 dB")

    def gain_db(self, windows: np.ndarray) -> np.ndarray:
        return np.clip(self.target_db - window_level_db(windows), 0.0, self.max_db).astype(np.float32)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """The windows, each turned up by its gain; the input is not changed."""
        return windows + self.gain_db(windows)[..., None, None]

    def to_dict(self) -> dict:
        return {"target_db": self.target_db, "max_db": self.max_db}
