"""One line of text -> one audio file, for `voiceguide say "text"`: hear how the voice reads
a word (and a respelling for the lexicon) without writing a whole script.

The line goes through the same steps as a sentence of a built track: the lexicon, the
engine, trimming the engine's padding, loudness normalization, the encoder.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from voiceguide.atomic import temp_path
from voiceguide.encode import FORMATS, Encoding, encode
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import OutputError, SettingsError
from voiceguide.lexicon import Lexicon
from voiceguide.loudness import LoudnessTarget, normalize
from voiceguide.model import Clip
from voiceguide.pcm import trim
from voiceguide.text import spoken_problem


@dataclass(frozen=True)
class Said:
    path: Path
    spoken: str  # the text the voice was given: the line after the lexicon
    ms: int  # length of the audio


def encoding_for(path: Path) -> Encoding:
    """The format a file name asks for (say.mp3, say.wav, ...), else SettingsError."""
    suffix = path.suffix.lower()
    for audio in FORMATS.values():
        if audio.suffix == suffix:
            return Encoding(audio.name)
    known = ", ".join(a.suffix for a in FORMATS.values())
    raise SettingsError(f"can't tell the audio format of '{path.name}'",
                        f"end the file name with one of {known}")


def say_to_file(text: str, settings: VoiceSettings, lexicon: Lexicon, path: Path,
                encoding: Encoding | None = None,
                loudness: LoudnessTarget | None = None) -> Said:
    """Say `text` (after `lexicon.apply`) into `path`, in the format its suffix names
    unless `encoding` is given. The file appears whole or not at all.

    SettingsError: nothing to say, markup, a bad setting or format; EngineError: the
    voice or encoder failed; OutputError: the file could not be written.
    """
    line = " ".join(text.split())
    problem = spoken_problem(line)
    if problem:
        raise SettingsError(f"the text {problem}",
                            'give the words in quotes, e.g. voiceguide say "Breathe in."')
    encoding = (encoding or encoding_for(path)).check()
    target = (loudness or LoudnessTarget()).check()
    spoken = lexicon.apply(line)
    with make_engine(settings) as engine:
        clip = normalize(trim(engine.synthesize(spoken)), target)
    _write(clip, path, encoding)
    return Said(path, spoken, clip.ms)


def _write(clip: Clip, path: Path, encoding: Encoding) -> None:
    partial = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        encode(clip, partial, encoding)
        partial.replace(path)
    except OSError as exc:
        raise OutputError(f"can't write {path}: {exc.strerror or exc}",
                          "check the folder exists and is writable") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
