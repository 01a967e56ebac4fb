"""A deterministic stand-in voice for tests: a steady tone as long as the words would
take at the set rate. Fast, no native code, same text -> same bytes."""

from __future__ import annotations

import math
import sys
from array import array

from voiceguide.engines.base import Engine, VoiceInfo, VoiceSettings
from voiceguide.errors import SettingsError
from voiceguide.model import Clip, ms_to_samples
from voiceguide.text import count_words

FRAME_RATE = 22050
PITCH_HZ = 220.0
AMPLITUDE = round(32767 * 10 ** (-12 / 20))  # -12 dBFS: clearly audible, far from clipping
FADE_MS = 10  # no clicks at the edges
MIN_MS = 300
VOICE = "tone"


class ToneEngine(Engine):
    name = "tone"

    def __init__(self, settings: VoiceSettings) -> None:
        super().__init__(settings)
        # The default voice is accepted too, so `--engine tone` works without `--voice`.
        if settings.voice not in (VOICE, VoiceSettings().voice):
            raise SettingsError(
                f"unknown voice {settings.voice!r} for the tone engine",
                hint=f"it has one voice, {VOICE!r}",
            )

    def duration_ms(self, text: str) -> int:
        return max(MIN_MS, round(count_words(text) * 60_000 / self.settings.rate))

    def _synthesize(self, text: str) -> Clip:
        count = ms_to_samples(self.duration_ms(text), FRAME_RATE)
        fade = ms_to_samples(FADE_MS, FRAME_RATE)
        step = 2 * math.pi * PITCH_HZ / FRAME_RATE
        gain = AMPLITUDE * self.settings.volume
        samples = array(
            "h",
            (
                round(gain * min(1.0, i / fade, (count - 1 - i) / fade) * math.sin(step * i))
                for i in range(count)
            ),
        )
        if sys.byteorder == "big":
            samples.byteswap()  # Clip PCM is little-endian
        return Clip(samples.tobytes(), FRAME_RATE)

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(VOICE, f"Steady {PITCH_HZ:g} Hz tone (for tests)")]

    def version(self) -> str:
        return f"tone {PITCH_HZ:g} Hz"
