"""Three rooms built from the shared corpus's noise and negatives, for calibration and room alarm counts:

- quiet: the giulbia room tone;
- kitchen/appliance: dish-washing, running tap and exercise-bike noise, with appliance sounds laid over it;
- street/TV: street music, car horns, sirens and speech in many languages over traffic-like noise.

Events laid over the beds come from folds 4-5 only (never trained on).
"""

from __future__ import annotations

import numpy as np

from detector.audiofile import read_audio

FS = 16000


def rms_db(x):
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)


def build_room(clips, root, bed_words, event_filter, bed_db, event_db, seconds, rng, event_folds=(4, 5)) -> np.ndarray:
    beds = [c for c in clips if c.label == "noise" and any(w in c.origin.lower() or w in c.path for w in bed_words)]
    bed = np.concatenate([read_audio(root / c.path, FS) for c in beds])
    bed = np.resize(bed, int(seconds * FS))
    bed = bed * 10 ** ((bed_db - rms_db(bed)) / 20)
    events = [c for c in clips if c.label == "negative" and c.fold in event_folds and event_filter(c)]
    t = 2.0
    while events and t < seconds - 5:
        c = events[int(rng.integers(len(events)))]
        x = read_audio(root / c.path, FS)[: 5 * FS]
        x = x * 10 ** ((event_db + rng.uniform(-6, 6) - rms_db(x)) / 20)
        s = int(t * FS)
        bed[s : s + x.size] += x[: bed.size - s]
        t += x.size / FS + rng.uniform(1, 6)
    return np.clip(bed, -1, 1).astype(np.float32)


ROOMS = {
    "quiet": dict(bed_words=["giulbia_silence"], event_filter=lambda c: False, bed_db=-55, event_db=-40),
    "kitchen/appliance": dict(
        bed_words=["dishes", "running_tap", "exercise_bike"],
        event_filter=lambda c: any(
            w in c.origin.lower() or w in c.path
            for w in ("air_conditioner", "engine_idling", "drilling", "household", "jackhammer")
        ),
        bed_db=-42,
        event_db=-30,
    ),
    "street/TV": dict(
        bed_words=["white_noise", "pink_noise", "stereo_noise", "exercise_bike"],
        event_filter=lambda c: (
            c.source == "tuxpaint_speech"
            or any(w in c.origin.lower() for w in ("street_music", "car_horn", "siren", "children_playing"))
        ),
        bed_db=-45,
        event_db=-28,
    ),
}
