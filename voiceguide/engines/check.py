"""Checks around every synthesis: text in, settings, clip out.

An engine that fails must fail loudly: a silent, empty or truncated clip in a guided
session would pass unnoticed until a client hears it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from voiceguide.errors import EngineError, SettingsError
from voiceguide.lazy import LazyModule
from voiceguide.model import Clip
from voiceguide.settings import LIMITS, VoiceSettings
from voiceguide.text import MARKUP_PROBLEM, count_words, has_markup, most_words, preview

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it

SANE_RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
SILENCE_DBFS = -50.0
# A clip may be this much shorter/longer than its words at the set rate...
MIN_LENGTH_RATIO, MAX_LENGTH_RATIO = 0.25, 4.0
# ...give or take this much: one-word lines, numbers read out in words, the end pause.
SHORT_SLACK_S, LONG_SLACK_S = 0.25, 1.0


def expected_seconds(text: str, rate_wpm: int) -> float:
    return count_words(text) * 60 / rate_wpm


def check_settings(settings: VoiceSettings) -> None:
    """The rate and volume within LIMITS (the same the command line and scripts use)."""
    for name in ("rate", "volume"):
        value = getattr(settings, name)
        problem = LIMITS[name].problem(value)
        if problem:
            raise SettingsError(f"{name} {value:g} is out of range",
                                hint=problem.removeprefix("must be "))


def check_text(text: str) -> None:
    """Engines get plain words only (see voiceguide.text.MARKUP_PROBLEM)."""
    if count_words(text) == 0:
        raise EngineError(f"nothing to say in {preview(text)}", hint="every line needs words")
    if has_markup(text):
        raise EngineError(f"{preview(text)} {MARKUP_PROBLEM}",
                          hint="remove '<' and '>'; use a pause step for silence")


def peak_dbfs(clip: Clip) -> float:
    samples = np.frombuffer(clip.pcm, dtype="<i2").astype(np.int32)
    peak = int(np.abs(samples).max()) if samples.size else 0
    return 20 * math.log10(peak / 32768) if peak else -math.inf


def check_clip(text: str, clip: Clip, rate_wpm: int) -> None:
    """Raise EngineError unless `clip` is plausibly `text` spoken at `rate_wpm`."""
    what = preview(text)
    if not clip.pcm:
        raise EngineError(f"the voice returned no audio for {what}")
    if len(clip.pcm) % 2:
        raise EngineError(f"the voice returned a broken clip (odd byte count) for {what}")
    if clip.frame_rate not in SANE_RATES:
        raise EngineError(f"the voice returned audio at {clip.frame_rate} Hz for {what}")
    if peak_dbfs(clip) < SILENCE_DBFS:
        raise EngineError(f"the voice returned silence for {what}")
    seconds = clip.samples / clip.frame_rate
    expected = expected_seconds(text, rate_wpm)
    low = MIN_LENGTH_RATIO * expected - SHORT_SLACK_S
    high = MAX_LENGTH_RATIO * most_words(text) * 60 / rate_wpm + LONG_SLACK_S
    if not low <= seconds <= high:
        raise EngineError(
            f"the voice returned {seconds:.2f} s of audio for {what}; "
            f"expected about {expected:.2f} s at {rate_wpm} words per minute"
        )
