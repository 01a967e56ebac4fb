"""The one small interface every speech engine implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from voiceguide.engines.check import check_clip, check_settings, check_text
from voiceguide.model import Clip
from voiceguide.settings import VoiceSettings

__all__ = ["Engine", "VoiceInfo", "VoiceSettings"]


@dataclass(frozen=True)
class VoiceInfo:
    id: str  # what --voice accepts
    name: str
    languages: tuple[str, ...] = ()


class Engine(ABC):
    """Turns one utterance into audio.

    Engines are context managers: `__enter__` starts whatever the engine needs (a worker
    process, a library) and `__exit__` stops it. `synthesize` is called once per distinct
    utterance, in order, from one thread.
    """

    name: str
    # How far under the true-peak ceiling to limit this engine's audio, so that the lossy
    # encoder's overshoot still lands under it (None: loudness.ENCODER_MARGIN_DB). A file
    # that misses is encoded again, so a margin that fits the voice saves time.
    encoder_margin_db: float | None = None

    def __init__(self, settings: VoiceSettings) -> None:
        check_settings(settings)
        self.settings = settings

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release what the engine holds."""

    def reset(self) -> None:
        """Start the next block of speech (see render.BLOCK_TEXTS) as a fresh engine
        would: by default by closing it, so the next utterance starts it again."""
        self.close()

    def synthesize(self, text: str) -> Clip:
        """The spoken `text` as mono 16-bit PCM. Every engine's text and audio are checked
        here (engines.check): EngineError for text it can't say or implausible audio."""
        check_text(text)
        clip = self._synthesize(text)
        check_clip(text, clip, self.settings.rate)
        return clip

    @abstractmethod
    def _synthesize(self, text: str) -> Clip:
        """Say `text` (already checked); raise EngineError on failure."""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """The voices this engine can use."""

    def version(self) -> str:
        """Engine and library versions: anything that changes the sound."""
        return self.name

    def identity(self) -> str:
        """What makes this engine's sound, known without starting it (the render cache's
        key): by default its version."""
        return self.version()
