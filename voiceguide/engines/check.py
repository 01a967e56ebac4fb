"""Checks around every synthesis: text in, settings, clip out.

An engine that fails must fail loudly: a silent, empty or truncated clip in a guided
session would pass unnoticed until a client hears it.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from voiceguide.errors import EngineError, SettingsError
from voiceguide.model import Clip

if TYPE_CHECKING:  # base imports this module: every engine is checked there
    from voiceguide.engines.base import VoiceSettings

SANE_RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450  # what espeak-ng accepts (it clamps outside)
SILENCE_DBFS = -50.0
# A clip may be this much shorter/longer than its words at the set rate...
MIN_LENGTH_RATIO, MAX_LENGTH_RATIO = 0.25, 4.0
# ...give or take this much: one-word lines, numbers read out in words, the end pause.
SHORT_SLACK_S, LONG_SLACK_S = 0.25, 1.0


def _tokens(text: str) -> list[str]:
    return [token for token in text.split() if any(c.isalnum() for c in token)]


def count_words(text: str) -> int:
    """Words as written: whitespace-separated tokens with a letter or digit."""
    return len(_tokens(text))


def most_words(text: str) -> int:
    """An upper bound on the words spoken: numbers are read out in words ("1990" is
    "nineteen ninety", "555-1234" many more), and Chinese or Japanese writes no spaces,
    so count a word per digit and per wide character too."""
    return sum(1 + sum(_is_word_like(c) for c in token) for token in _tokens(text))


def _is_word_like(char: str) -> bool:
    return char.isdigit() or unicodedata.east_asian_width(char) == "W"


def expected_seconds(text: str, rate_wpm: int) -> float:
    return count_words(text) * 60 / rate_wpm


def preview(text: str, limit: int = 60) -> str:
    """A short quote of an utterance for messages."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def closest(word: str, choices: Iterable[str]) -> str:
    """'closest: a, b' for a hint, or '' when nothing is close."""
    near = difflib.get_close_matches(word.lower(), sorted(set(choices)), n=3, cutoff=0.5)
    return f"closest: {', '.join(near)}" if near else ""


def check_settings(settings: VoiceSettings) -> None:
    if not MIN_RATE_WPM <= settings.rate <= MAX_RATE_WPM:
        raise SettingsError(
            f"rate {settings.rate} is out of range",
            hint=f"use {MIN_RATE_WPM} to {MAX_RATE_WPM} words per minute",
        )
    if not 0.0 < settings.volume <= 1.0:
        raise SettingsError(f"volume {settings.volume} is out of range", hint="use 0.1 to 1.0")


def check_text(text: str) -> None:
    """Engines get plain words only. pyttsx3 does not pass espeak's SSML flag, so
    markup would be read aloud ("less than break time..."): pauses are real silence."""
    if count_words(text) == 0:
        raise EngineError(f"nothing to say in {preview(text)}", hint="every line needs words")
    if "<" in text or ">" in text:
        raise EngineError(
            f"markup in {preview(text)} would be read aloud",
            hint="remove '<' and '>'; use a pause step for silence",
        )


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
