"""The default engine: pyttsx3 (espeak-ng driver on Linux) in a worker process.

pyttsx3 2.99 has traps, each handled here (see GUIDE.md section 5):
- the first runAndWait() after init() returns before the audio is written: prime it;
- two save_to_file() calls before one runAndWait() write only the last file: one each;
- it prints "Audio saved to ..." on stdout: the worker silences stdout;
- its WAV header always says 22050 Hz: the rate is read from the library instead;
- forking after init() hangs: the worker is spawned (see worker.py).
"""

from __future__ import annotations

import wave
from importlib.metadata import version
from pathlib import Path
from typing import Any

from voiceguide.engines.base import VoiceInfo, VoiceSettings
from voiceguide.engines.bundled import load_espeak
from voiceguide.engines.espeak_engine import EspeakLib, all_voices
from voiceguide.engines.worker import WorkerEngine
from voiceguide.errors import EngineError
from voiceguide.model import Clip


class Pyttsx3Backend:
    """Runs in the worker process."""

    def __init__(self, settings: VoiceSettings, scratch: Path) -> None:
        # pyttsx3's driver dlopens "libespeak-ng.so.1": the bundled copy must be loaded first.
        self._lib = EspeakLib(load_espeak())
        import pyttsx3

        self._errors: list[BaseException] = []
        try:
            self._tts: Any = pyttsx3.init()
        except (RuntimeError, OSError) as exc:
            raise EngineError(f"pyttsx3 could not start: {exc}") from exc
        # pyttsx3 queues commands and swallows their exceptions; collect them instead.
        self._tts.connect("error", lambda name, exception: self._errors.append(exception))
        self._tts.runAndWait()  # priming: see the module docstring
        self._tts.setProperty("voice", self._lib.resolve_voice(settings.voice))
        self._tts.setProperty("rate", settings.rate)
        self._tts.setProperty("volume", settings.volume)
        self._raise_errors("setting up the voice")
        self._wav = scratch / "utterance.wav"

    def synthesize(self, text: str) -> Clip:
        path = self._wav
        path.unlink(missing_ok=True)  # so a file that was not written cannot pass as new
        self._tts.save_to_file(text, str(path))
        self._tts.runAndWait()
        self._raise_errors("speaking")
        try:
            with wave.open(str(path), "rb") as wav:
                if (wav.getnchannels(), wav.getsampwidth()) != (1, 2):
                    raise EngineError("pyttsx3 wrote audio that is not mono 16-bit")
                pcm = wav.readframes(wav.getnframes())
        except (OSError, EOFError, wave.Error) as exc:
            raise EngineError(f"pyttsx3 wrote no readable audio: {exc}") from exc
        finally:
            path.unlink(missing_ok=True)
        # The header's rate is hard-coded to 22050 Hz; the library knows the real one.
        return Clip(pcm, self._lib.sample_rate())

    def voices(self) -> list[VoiceInfo]:
        return all_voices(self._lib)

    def version(self) -> str:
        return f"pyttsx3 {version('pyttsx3')}, espeak-ng {self._lib.version()}"

    def _raise_errors(self, doing: str) -> None:
        if self._errors:
            first, self._errors = self._errors[0], []
            raise EngineError(f"pyttsx3 failed while {doing}: {first}")


class Pyttsx3Engine(WorkerEngine):
    """pyttsx3 with its espeak-ng driver (the default engine)."""

    name = "pyttsx3"
    factory = Pyttsx3Backend
