"""The "piper" engine: Piper's neural voices (piper-tts, onnxruntime) in a worker process.

- The voice (see voiceguide.voices) is loaded once per worker, when it starts.
- `--rate` is words per minute as for every engine: Piper's length_scale comes from the
  voice's measured speed (voices.Speed).
- Piper says each sentence of an utterance as its own chunk, with its own quiet at both
  ends: each chunk is trimmed and the sentences are joined by one fixed breath, so an
  utterance's length depends on its words alone, not on the padding.
- Its model draws random noise inside onnxruntime, from a generator each session seeds
  when it is made and that moves on with every sentence: a sentence's take depends on
  what the session said before (a fresh session says the same sentence the same way; a
  used one does not, and onnxruntime's seed can't be set again for a session already
  made). So every block of sentences (render.BLOCK_TEXTS) is said by a session made
  afresh with the seed SEED: the same block gives the same clips in a fresh worker or one
  that said other blocks before, in any run. Making a session from the model's bytes,
  kept in memory, took 0.75 s here under load; a fresh worker (imports, finding the
  voice, reading 63 MB, a first session) about 10 s, which was paid once per block. The
  render cache keys on the model file's SHA-256 and the seed.
- One onnxruntime thread per worker: with one worker per core, two single-threaded
  workers did the same sentences about 10% faster than two with onnxruntime's default
  threads (measured on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceguide import voices as piper_voices
from voiceguide.engines.base import VoiceInfo, VoiceSettings
from voiceguide.engines.worker import WorkerEngine
from voiceguide.errors import EngineError
from voiceguide.lazy import LazyModule
from voiceguide.model import Clip, ms_to_samples
from voiceguide.pcm import trim

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it

BREATH_MS = 350  # between the sentences of one utterance
THREADS = 1
SEED = 20_251_201  # onnxruntime's random noise, at the start of every block


def _voice_info(voice: piper_voices.VoiceFiles) -> VoiceInfo:
    try:
        language = str(voice.settings().get("language", {}).get("code", ""))
    except (EngineError, AttributeError):
        language = ""
    return VoiceInfo(voice.name, f"Piper {voice.name} ({voice.where})",
                     (language,) if language else ())


class PiperBackend:
    """Runs in the worker: loads the voice once, then says one utterance per call."""

    def __init__(self, settings: VoiceSettings, scratch: Path) -> None:  # no files
        piper_voices.require_piper()
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig, SynthesisConfig

        self._ort = onnxruntime
        self._files = piper_voices.find_voice(settings.voice)
        config = self._files.settings()
        try:
            self._model = self._files.model.read_bytes()
            self._voice = PiperVoice(config=PiperConfig.from_dict(config),
                                     session=self._session())
        except Exception as exc:  # onnxruntime's own error types; a bad .onnx.json
            raise EngineError(
                f"the Piper voice {self._files.name!r} could not be loaded: "
                f"{type(exc).__name__}: {str(exc)[:200]}",
                hint=f"the file {self._files.model} may be damaged: install the voice "
                "again") from None
        self._rate = self._voice.config.sample_rate
        self._used = False  # since the session was made
        self._stale = False  # reset after use: the next sentence needs a new session
        self._syn = SynthesisConfig(
            length_scale=piper_voices.length_scale(self._files, settings.rate),
            volume=settings.volume)

    def _session(self) -> Any:
        """A new onnxruntime session of the voice, its random noise seeded with SEED."""
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = THREADS
        options.log_severity_level = 3  # errors only: they are raised, not printed
        self._ort.set_seed(SEED)  # read when the session is made
        return self._ort.InferenceSession(self._model, sess_options=options,
                                          providers=["CPUExecutionProvider"])

    def reset(self) -> None:
        """The next sentence is said as by a fresh worker: by a new session (made when it
        is needed, so a reset that nothing follows costs nothing)."""
        self._stale = self._used

    def synthesize(self, text: str) -> Clip:
        if self._stale:
            self._voice.session = self._session()
            self._stale = False
        self._used = True
        sentences: list[bytes] = []
        for chunk in self._voice.synthesize(text, self._syn):
            pcm: Any = chunk.audio_int16_array
            clip = trim(Clip(np.asarray(pcm, dtype="<i2").tobytes(), self._rate))
            if clip.pcm:
                sentences.append(clip.pcm)
        breath = b"\0\0" * ms_to_samples(BREATH_MS, self._rate)
        return Clip(breath.join(sentences), self._rate)

    def voices(self) -> list[VoiceInfo]:
        return [_voice_info(v) for v in piper_voices.all_voices()]

    def version(self) -> str:
        return (f"piper-tts {metadata.version('piper-tts')}, onnxruntime "
                f"{metadata.version('onnxruntime')}, voice {self._files.name}")


class PiperEngine(WorkerEngine):
    """Piper neural voices. The voice is found (and its model hashed) in this process,
    so a missing voice fails before anything starts, and the render cache keys on the
    model's content."""

    name = "piper"
    factory = PiperBackend
    resettable = True  # a new seeded session per block, in the same worker
    packages = ("piper-tts", "onnxruntime")
    start_timeout_s = 120.0  # loading a model on a busy core
    timeout_s = 60.0
    timeout_per_10_words_s = 10.0
    # LAME overshoots the limiter by up to about 2 dB on this voice's bright consonants
    # (under 1.3 dB on espeak-ng's): with the usual margin, 5 of the default routine's 6
    # tracks missed -1 dBTP and were encoded a second time, which cost a quarter of the
    # build. A second encode limits by the overshoot anyway, so the sound is the same.
    encoder_margin_db = 2.7

    def __init__(self, settings: VoiceSettings) -> None:
        super().__init__(settings)
        piper_voices.require_piper()
        self.voice = piper_voices.find_voice(settings.voice)
        self.voice.settings()  # readable, or EngineError now

    def worker_settings(self) -> VoiceSettings:
        """The voice found here, by its path: the worker need not look for it again."""
        return replace(self.settings, voice=str(self.voice.model))

    def voices(self) -> list[VoiceInfo]:
        """The installed voices, without starting a worker."""
        return [_voice_info(v) for v in piper_voices.all_voices()]

    def identity(self) -> str:
        voice = self.voice
        digest = piper_voices.model_sha256(voice.model)
        config = json.dumps(voice.settings(), sort_keys=True)
        return (f"{super().identity()}, voice {voice.name} sha256 {digest}, settings "
                f"{hashlib.sha256(config.encode()).hexdigest()[:16]}, "
                f"{piper_voices.speed(voice)}, breath {BREATH_MS} ms, seed {SEED} per block")
