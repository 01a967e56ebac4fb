"""Cues made in code, so the project needs no audio assets."""

from __future__ import annotations

import numpy as np

from voiceguide.model import Clip, CueName
from voiceguide.pcm import trim
from voiceguide.plan import CHIME_MS

# A small bell: inharmonic partials (ratios of a struck bar) with their own decays.
_BELL_PARTIALS = ((1.0, 1.0, 1.2), (2.76, 0.45, 0.7), (5.40, 0.20, 0.35), (8.93, 0.08, 0.2))
_CHIME_PEAK_DBFS = -12.0  # clearly audible under a voice peaking near -1 dBFS, not startling


def chime(frame_rate: int, fundamental_hz: float = 660.0) -> Clip:
    """A soft bell of about CHIME_MS, fading out into silence."""
    n = CHIME_MS * frame_rate // 1000
    t = np.arange(n) / frame_rate
    wave = np.zeros(n)
    for ratio, level, decay_s in _BELL_PARTIALS:
        freq = fundamental_hz * ratio
        if freq < frame_rate / 2:
            wave += level * np.sin(2 * np.pi * freq * t) * np.exp(-t / decay_s)
    attack = min(n, frame_rate * 8 // 1000)  # 8 ms: no click at the start
    wave[:attack] *= np.linspace(0.0, 1.0, attack)
    release = frame_rate * 300 // 1000  # fade the tail to true silence
    wave[-release:] *= np.linspace(1.0, 0.0, release)
    wave *= 10 ** (_CHIME_PEAK_DBFS / 20) / np.max(np.abs(wave))
    # Trimmed like speech, so the silence after it starts where it stops being heard.
    return trim(Clip((wave * 32767).astype("<i2").tobytes(), frame_rate))


def cue(name: CueName, frame_rate: int) -> Clip:
    if name == "chime":
        return chime(frame_rate)
    raise ValueError(name)  # unreachable: CueName is closed
