"""Loudness: measure per ITU-R BS.1770 (pyloudnorm) and bring a track to a target
integrated loudness with its true peak under a ceiling.

espeak-ng speaks at about -21 LUFS with peaks near -1.4 dBTP, so the +5 dB to reach -16
LUFS would clip. Gain alone is not enough: a look-ahead limiter holds the true peak under
the ceiling. No maintained library offers a sample-exact, true-peak limiter on numpy
arrays (pedalboard's Limiter judges sample peaks, not inter-sample peaks), so the limiter
below is written by hand; it is the classic "minimum filter, then smoothing" design.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from voiceguide.assemble import AssembledRoutine, join_clips
from voiceguide.model import Clip

OVERSAMPLE = 4  # BS.1770-4 Annex 2: true peak from 4x oversampling at 44.1/48 kHz
LIMITER_RADIUS_MS = 15  # look-ahead and release of the limiter: gentle on speech
ENCODER_MARGIN_DB = 0.5  # lossy encoders add overshoot: limit this far below the ceiling
_CHUNK = 1 << 20  # samples oversampled at a time: bounds memory on long routines


@dataclass(frozen=True)
class LoudnessTarget:
    lufs: float = -16.0  # podcast platforms' target for speech
    true_peak_db: float = -1.0


@dataclass(frozen=True)
class Loudness:
    lufs: float  # integrated loudness (gated), LUFS
    true_peak_db: float  # dBTP

    def to_json(self) -> dict[str, float]:
        return {"integrated_lufs": round(self.lufs, 2), "true_peak_dbtp": round(
            self.true_peak_db, 2)}


def to_float(clip: Clip) -> np.ndarray:
    return np.frombuffer(clip.pcm, dtype="<i2").astype(np.float64) / 32768.0


def to_clip(samples: np.ndarray, frame_rate: int) -> Clip:
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    return Clip(pcm.tobytes(), frame_rate)


def integrated_lufs(samples: np.ndarray, frame_rate: int) -> float:
    if samples.size < frame_rate // 2:  # shorter than one 400 ms gating block and then some
        return -math.inf
    return float(pyloudnorm.Meter(frame_rate).integrated_loudness(samples))


def peak_envelope(samples: np.ndarray) -> np.ndarray:
    """Per-sample true peak: the largest |value| among each sample's oversampled points.
    (float32 is three times faster than float64 here and far finer than 16-bit audio.)"""
    out = np.empty(samples.size)
    pad = 64  # > the resampling filter's half length: chunks join without edge errors
    as32 = samples.astype(np.float32)
    for start in range(0, samples.size, _CHUNK):
        lo, hi = max(start - pad, 0), min(start + _CHUNK + pad, samples.size)
        up = np.abs(resample_poly(as32[lo:hi], OVERSAMPLE, 1))
        per_sample = up[: (hi - lo) * OVERSAMPLE].reshape(hi - lo, OVERSAMPLE).max(axis=1)
        end = min(start + _CHUNK, samples.size)
        out[start:end] = np.maximum(per_sample[start - lo:end - lo], np.abs(
            samples[start:end]))
    return out


def true_peak_db(samples: np.ndarray) -> float:
    peak = float(peak_envelope(samples).max()) if samples.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def measure(clip: Clip) -> Loudness:
    samples = to_float(clip)
    return Loudness(integrated_lufs(samples, clip.frame_rate), true_peak_db(samples))


def limiter_gain(peaks: np.ndarray, ceiling: float, radius: int) -> np.ndarray:
    """Gain per sample so that gain * peak <= ceiling everywhere, changing smoothly.

    A minimum filter of radius r spreads each needed reduction r samples both ways; a
    moving average of radius <= r then smooths it without ever rising above what any
    sample it covers needs (every sample in the average's window saw the same minimum).
    """
    needed: np.ndarray = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    if needed.min() >= 1.0:
        return needed
    spread = np.asarray(minimum_filter1d(needed, size=2 * radius + 1, mode="nearest"))
    smooth = np.asarray(uniform_filter1d(spread, size=2 * radius + 1, mode="nearest"))
    gain: np.ndarray = np.minimum(smooth, needed)
    return gain


def normalize(clip: Clip, target: LoudnessTarget) -> Clip:
    """Gain to the target loudness, limited to the true-peak ceiling (minus a margin
    for the encoder). Silence stays exactly silent, so the layout is unchanged."""
    samples = to_float(clip)
    loudness = integrated_lufs(samples, clip.frame_rate)
    if not math.isfinite(loudness):
        return clip  # silence, or too short to measure: nothing to normalize
    peaks = peak_envelope(samples)
    ceiling = 10 ** ((target.true_peak_db - ENCODER_MARGIN_DB) / 20)
    radius = clip.frame_rate * LIMITER_RADIUS_MS // 1000
    gain_db = target.lufs - loudness
    out = samples
    for _ in range(4):  # limiting lowers loudness a little: raise the gain and try again
        gain = 10 ** (gain_db / 20)
        out = samples * gain * limiter_gain(peaks * gain, ceiling, radius)
        error = target.lufs - integrated_lufs(out, clip.frame_rate)
        if abs(error) < 0.2:  # well inside the +-1 LU that platforms ask for
            break
        gain_db += error
    return to_clip(out, clip.frame_rate)


def normalize_routine(assembled: AssembledRoutine, target: LoudnessTarget,
                      jobs: int = 1) -> AssembledRoutine:
    """Each track to the target; the full routine is those same tracks joined, so its
    loudness lands on the target too (gating ignores the silences between them)."""
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:  # numpy/scipy free the GIL
        clips = list(pool.map(lambda t: normalize(t.clip, target), assembled.tracks))
    tracks = tuple(replace(t, clip=c) for t, c in zip(assembled.tracks, clips, strict=True))
    return replace(assembled, tracks=tracks, clip=join_clips(clips))
