"""The default engine: pyttsx3 (espeak-ng driver on Linux) in a worker process.

pyttsx3 2.99 has traps, each measured on Linux with espeak-ng and handled here:
- the first runAndWait() after init() returns before the audio is written: prime it;
- two save_to_file() calls before one runAndWait() write only the last file: one each;
- runAndWait() can return before the file is written (not only the first time; under
  load, and then the next utterance is cancelled or mixed): wait for 'finished-utterance';
- a rate set while libespeak-ng's queue is cancelled is lost: read it back and re-set;
- it prints "Audio saved to ..." on stdout: the worker silences stdout;
- its WAV header always says 22050 Hz: the rate is read from the library instead;
- forking after init() hangs: the worker is spawned (see worker.py).
"""

from __future__ import annotations

import threading
import wave
from importlib.metadata import version
from pathlib import Path
from typing import Any

from voiceguide.engines.base import VoiceInfo, VoiceSettings
from voiceguide.engines.espeak_engine import EspeakLib, all_voices
from voiceguide.engines.worker import WorkerEngine
from voiceguide.errors import EngineError
from voiceguide.model import Clip
from voiceguide.native import load_espeak

_FINISH_TIMEOUT_S = 60.0  # the parent's per-clip time limit is shorter and wins


class Pyttsx3Backend:
    """Runs in the worker process."""

    def __init__(self, settings: VoiceSettings, scratch: Path) -> None:
        # pyttsx3's driver dlopens "libespeak-ng.so.1": the bundled copy must be loaded first.
        self._cdll = load_espeak()
        self._lib = EspeakLib(self._cdll)
        import pyttsx3

        self._errors: list[BaseException] = []
        try:
            self._tts: Any = pyttsx3.init()
        except (RuntimeError, OSError) as exc:
            raise EngineError(f"pyttsx3 could not start: {exc}") from exc
        # pyttsx3 queues commands and swallows their exceptions; collect them instead.
        self._tts.connect("error", lambda name, exception: self._errors.append(exception))
        self._finished = threading.Event()
        self._completed = False
        self._tts.connect("finished-utterance", self._on_finished)
        # The driver's own defaults are queued in libespeak-ng's thread; were it still busy
        # with them when the priming loop ends, pyttsx3 would flag a stop that cancels the
        # first real utterance. Let it finish first.
        self._cdll.espeak_Synchronize()
        self._tts.runAndWait()  # priming: see the module docstring
        self._settings = settings
        self._wav = scratch / "utterance.wav"
        self._apply_settings()
        # A first real utterance, waited for, so the settings are in force (and checked)
        # before anything is spoken for the user.
        self._speak("Ready.", scratch / "priming.wav")
        self._check_settings()

    def _apply_settings(self) -> None:
        self._tts.setProperty("voice", self._lib.resolve_voice(self._settings.voice))
        self._tts.setProperty("rate", self._settings.rate)
        self._tts.setProperty("volume", self._settings.volume)
        self._raise_errors("setting up the voice")

    def _check_settings(self) -> None:
        # libespeak-ng queues parameter changes behind synthesis in its own thread, and
        # pyttsx3 cancels that queue when a loop ends early: a lost change would silently
        # speak at the default 200 wpm. Read the values back; set them again if lost.
        if self._tts.getProperty("rate") != self._settings.rate:
            self._apply_settings()
            self._speak("Ready.", self._wav)
            if self._tts.getProperty("rate") != self._settings.rate:
                raise EngineError("pyttsx3 did not take the speech rate "
                                  f"{self._settings.rate} wpm")

    def _on_finished(self, name: object, completed: bool) -> None:
        self._completed = completed
        self._finished.set()

    def _speak(self, text: str, path: Path) -> None:
        """One utterance, one save_to_file, one runAndWait, then wait for the file.

        runAndWait can return while libespeak-ng is still synthesizing in its own thread
        (pyttsx3 uses its asynchronous mode), most often under CPU load; the driver
        announces 'finished-utterance' only after writing the file, so wait for that.
        """
        path.unlink(missing_ok=True)  # so a file that was not written cannot pass as new
        # Wait until libespeak-ng is idle: if it still "is playing" when runAndWait ends
        # its loop, pyttsx3 flags a stop that cancels the *next* utterance.
        self._cdll.espeak_Synchronize()
        self._lib.reseed()  # the same breath noise for the same text (see EspeakLib.reseed)
        self._finished.clear()
        self._tts.save_to_file(text, str(path))
        self._tts.runAndWait()
        self._raise_errors("speaking")
        if not self._finished.wait(timeout=_FINISH_TIMEOUT_S):
            raise EngineError("pyttsx3 never finished speaking")
        if not self._completed:
            raise EngineError("pyttsx3 stopped before the end of the sentence")
        self._cdll.espeak_Synchronize()

    def synthesize(self, text: str) -> Clip:
        path = self._wav
        self._check_settings()
        self._speak(text, path)
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
    packages = ("pyttsx3", "espeakng-loader")
