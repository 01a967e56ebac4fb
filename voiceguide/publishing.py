"""How a routine is published, how its audio was made, and what a build wrote: the values
that the build, the export, the manifest and the up-to-date check (voiceguide.freshness)
share.

They live apart from voiceguide.export and voiceguide.manifest, which need pydantic and
the audio libraries: a rebuild with nothing to do decides from these alone (pydantic
took about a tenth of such a rebuild).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar, Literal

from voiceguide.encode import Encoding
from voiceguide.loudness import LoudnessTarget
from voiceguide.messages import Messages, messages_for
from voiceguide.model import Clinic, Routine
from voiceguide.plan import Pacing
from voiceguide.voices import VoiceCredit

FORMAT: Literal[5] = 5  # of the manifest (voiceguide.manifest): 4: settings as resolved,
#                          how the audio was made under "build", each file's size and
#                          sha256; 5: the voice and its licence
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Publishing:
    """How a routine is published: format, tags and chapters."""

    encoding: Encoding = field(default_factory=Encoding)
    clinic: Clinic = field(default_factory=Clinic)
    step_chapters: bool = False
    loudness: LoudnessTarget | None = field(default_factory=LoudnessTarget)  # None: as is
    language: str = "en"  # of the narration: tags, captions' players
    year: str = field(default_factory=lambda: str(date.today().year))
    voice: str = ""  # "Voice: NAME (ENGINE) - LICENCE", in every file's comment
    encoder_margin_db: float | None = None  # the engine's (None: ENCODER_MARGIN_DB)

    def messages(self) -> Messages:
        """voiceguide's words for captions, chapters, the cover and album titles."""
        return messages_for(self.language)


@dataclass(frozen=True)
class Provenance:
    """How the audio was made, beyond the settings: enough to tell whether it would come
    out the same today. The manifest records it under "build"."""

    # The manifest's reader (pydantic) refuses a field it does not know, as it does in
    # the rest of the manifest.
    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    engine_version: str  # the engine and the versions of what makes its sound
    voice: str  # "en_US-joe-medium (piper)": the voice's name and engine, never a path
    voice_licence: str  # a Piper voice's licence and dataset lines; espeak-ng's licence
    voiceguide: str
    pacing: Pacing  # as used: --minutes fits repeats and pauses
    lexicon_files: tuple[str, ...]
    lexicon_digest: str
    clinic: str = ""  # the publisher's name in the tags

    def credit(self) -> VoiceCredit:
        return VoiceCredit(self.voice, self.voice_licence)


@dataclass(frozen=True)
class Written:
    folder: Path
    files: tuple[Path, ...]  # audio files, full routine last
    manifest: Path
    others: tuple[Path, ...] = ()  # captions and playlist
    unchanged: bool = False  # nothing had changed: nothing was written


def is_alone(routine: Routine) -> bool:
    """A technique built on its own: one audio file serves as track and full routine."""
    ids = routine.track_ids()
    return len(ids) == 1 and ids[0] == routine.id


def audio_file_count(routine: Routine) -> int:
    return 1 if is_alone(routine) else len(routine.track_ids()) + 1
