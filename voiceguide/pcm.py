"""Small operations on mono 16-bit PCM clips."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from voiceguide.lazy import LazyModule
from voiceguide.model import Clip

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it


def resample(clip: Clip, frame_rate: int) -> Clip:
    """`clip` at another frame rate, through a polyphase filter with an anti-aliasing
    low-pass (scipy's resample_poly): speech from a 16 kHz voice in a 22.05 kHz routine,
    or the other way, without the aliasing that plain interpolation leaves."""
    if clip.frame_rate == frame_rate:
        return clip
    from scipy.signal import resample_poly

    common = math.gcd(clip.frame_rate, frame_rate)
    samples = np.frombuffer(clip.pcm, dtype="<i2").astype(np.float32)
    out = resample_poly(samples, frame_rate // common, clip.frame_rate // common)
    return Clip(to_int16(out).tobytes(), frame_rate)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Samples on the 16-bit scale, rounded and clipped into 16-bit PCM."""
    return np.clip(np.round(samples), -32768, 32767).astype("<i2")

SILENCE_DBFS = -45.0  # quieter than this (RMS, 10 ms windows) is padding, not sound
KEEP_MARGIN_MS = 20  # keep a little of the padding so no consonant is clipped


def trim(clip: Clip) -> Clip:
    """Cut the leading and trailing stretches quieter than SILENCE_DBFS (judged in 10 ms
    windows, so a faint hiss after the last word is cut too), keeping a short margin."""
    samples = np.frombuffer(clip.pcm, dtype="<i2")
    window = max(clip.frame_rate // 100, 1)
    count = samples.size // window
    if count == 0:
        return clip
    frames = samples[: count * window].astype(np.float64).reshape(count, window)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > 32768 * 10 ** (SILENCE_DBFS / 20))
    if loud.size == 0:
        return clip  # the engine's own check rejects silent clips; nothing to trim here
    margin = clip.frame_rate * KEEP_MARGIN_MS // 1000
    start = max(int(loud[0]) * window - margin, 0)
    end = min((int(loud[-1]) + 1) * window + margin, samples.size)
    return Clip(samples[start:end].tobytes(), clip.frame_rate)
