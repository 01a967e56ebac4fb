"""Speech engines, by the name `--engine` accepts."""

from __future__ import annotations

from voiceguide.engines.base import Engine, VoiceInfo, VoiceSettings
from voiceguide.engines.espeak_engine import EspeakEngine
from voiceguide.engines.piper_engine import PiperEngine
from voiceguide.engines.pyttsx3_engine import Pyttsx3Engine
from voiceguide.engines.tone import ToneEngine
from voiceguide.errors import SettingsError
from voiceguide.text import did_you_mean

ENGINES: dict[str, type[Engine]] = {
    "pyttsx3": Pyttsx3Engine,  # the default
    "espeak": EspeakEngine,  # libespeak-ng directly
    "tone": ToneEngine,  # deterministic, for tests
    "piper": PiperEngine,  # neural voices: pip install 'voiceguide[piper]'
}

__all__ = ["ENGINES", "Engine", "VoiceInfo", "VoiceSettings", "engine_names", "make_engine"]


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINES)


def make_engine(settings: VoiceSettings) -> Engine:
    """The engine `settings` names, not yet started (use it as a context manager).
    SettingsError for an unknown engine, bad rate/volume or (tone) voice; espeak-based
    engines check the voice when they start."""
    engine = ENGINES.get(settings.engine)
    if engine is None:
        near = did_you_mean(settings.engine, ENGINES)
        raise SettingsError(
            f"unknown engine {settings.engine!r}",
            hint=f"choose one of {', '.join(ENGINES)}" + (f"; {near}" if near else ""),
        )
    return engine(settings)
