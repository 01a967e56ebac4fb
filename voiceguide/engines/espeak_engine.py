"""libespeak-ng called directly through ctypes, and the "espeak" engine built on it.

The binding is written by hand because there is no maintained Python binding of the
library's synthesis API (pyttsx3 keeps a private one; other packages run the CLI). The pyttsx3
engine uses this module too, on the same loaded library, to list and check voices and
to read the true sample rate.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voiceguide.engines.base import VoiceInfo, VoiceSettings
from voiceguide.engines.worker import WorkerEngine
from voiceguide.errors import EngineError, SettingsError
from voiceguide.model import Clip
from voiceguide.native import load_espeak
from voiceguide.text import did_you_mean

# From speak_lib.h.
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
CHARS_UTF8 = 1
ENDPAUSE = 0x1000  # the pause after the last sentence, as pyttsx3 asks for it too
RATE, VOLUME = 1, 2
EE_OK = 0
# The start of espeak-ng's noise generator for every utterance (see EspeakLib.reseed).
NOISE_SEED = 1


class _Voice(ctypes.Structure):
    # `languages` is a run of (priority byte, NUL-terminated name), ended by a 0 byte:
    # a c_void_p, because c_char_p would stop at the first NUL.
    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); events unused.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class EspeakVoice:
    """A voice (or variant) file as the library lists it, spelled as on disk: variant
    files are looked up by file name, so their case matters."""

    identifier: str  # "gmw/en-US", or "!v/f3" for a variant
    name: str
    languages: tuple[tuple[int, str], ...]  # (priority, language); lower is preferred

    @property
    def short(self) -> str:
        return self.identifier.rsplit("/", 1)[-1]

    @property
    def keys(self) -> tuple[str, ...]:
        """What a user may type for it, lower-case."""
        return (self.identifier.lower(), self.short.lower(), self.name.lower())

    def info(self) -> VoiceInfo:
        return VoiceInfo(
            self.identifier.lower(), self.name, tuple(lang for _, lang in self.languages)
        )


def _languages(address: int | None) -> tuple[tuple[int, str], ...]:
    found: list[tuple[int, str]] = []
    while address and (priority := ctypes.string_at(address, 1)[0]):
        language = ctypes.string_at(address + 1)
        found.append((priority, language.decode("utf-8", "replace")))
        address += len(language) + 2
    return tuple(found)


class EspeakLib:
    """Typed calls into a loaded libespeak-ng."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept alive: the library holds it
        c_int, c_uint = ctypes.c_int, ctypes.c_uint
        signatures: dict[str, tuple[object, list[object]]] = {
            "espeak_Initialize": (c_int, [c_int, c_int, ctypes.c_char_p, c_int]),
            "espeak_Info": (ctypes.c_char_p, [ctypes.POINTER(ctypes.c_char_p)]),
            "espeak_ng_GetSampleRate": (c_int, []),
            "espeak_ListVoices": (ctypes.POINTER(ctypes.POINTER(_Voice)), [ctypes.c_void_p]),
            "espeak_SetVoiceByName": (c_int, [ctypes.c_char_p]),
            "espeak_SetParameter": (c_int, [c_int, c_int, c_int]),
            "espeak_SetSynthCallback": (None, [_SYNTH_CALLBACK]),
            "espeak_Synth": (
                c_int,
                [
                    ctypes.c_char_p,
                    ctypes.c_size_t,
                    c_uint,
                    c_int,
                    c_uint,
                    c_uint,
                    ctypes.c_void_p,
                    ctypes.c_void_p,
                ],
            ),
            "espeak_Synchronize": (c_int, []),
        }
        for name, (restype, argtypes) in signatures.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
        # In the wheel's espeak-ng (1.52); an older system library may lack it.
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.restype = c_int
            self._set_seed.argtypes = [ctypes.c_long]

    def initialize(self) -> None:
        """Synchronous output: espeak_Synth returns when the audio is all delivered."""
        if self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0) < 0:
            raise EngineError("espeak-ng could not start (its data files may be missing)")
        self._lib.espeak_SetSynthCallback(self._callback)

    def version(self) -> str:
        return str(self._lib.espeak_Info(None).decode())

    def sample_rate(self) -> int:
        return int(self._lib.espeak_ng_GetSampleRate())

    def list_voices(self, variants: bool = False) -> list[EspeakVoice]:
        """Needs an initialised library (it reads the voice files under its data path)."""
        kind = ctypes.create_string_buffer(b"variant")  # how espeak-ng asks for variants
        query = _Voice(languages=ctypes.addressof(kind))
        found = self._lib.espeak_ListVoices(ctypes.byref(query) if variants else None)
        voices: list[EspeakVoice] = []
        while found[len(voices)]:  # a NULL-terminated array
            voice = found[len(voices)].contents
            languages = _languages(voice.languages)
            voices.append(EspeakVoice(voice.identifier.decode(), voice.name.decode(), languages))
        return voices

    def resolve_voice(self, spec: str) -> str:
        return resolve_voice(spec, self.list_voices(), self.list_voices(variants=True))

    def set_voice(self, spec: str) -> None:
        """Select a voice resolved by `resolve_voice` (unchecked names pass silently)."""
        if self._lib.espeak_SetVoiceByName(spec.encode()) != EE_OK:
            raise SettingsError(f"espeak-ng could not load voice {spec!r}")

    def set_rate_volume(self, rate: int, volume: float) -> None:
        self._lib.espeak_SetParameter(RATE, rate, 0)
        self._lib.espeak_SetParameter(VOLUME, round(volume * 100), 0)

    def reseed(self) -> None:
        """Start the noise generator from the same point: call before each utterance.

        Breathy variants, the default f3 among them, mix noise into the voice, and
        espeak_ng_Initialize seeds its generator from the clock: the same sentence came
        out different from one second to the next, and its noise went on from whatever
        the process said before. Seeded before every utterance, a clip depends on its
        text and settings alone, whichever worker says it and when.
        """
        if self._set_seed is not None:
            self._set_seed(NOISE_SEED)

    def synthesize(self, text: str) -> bytes:
        """PCM for `text`, at `sample_rate()`. Needs `initialize()`."""
        self._chunks.clear()
        self.reseed()
        data = text.encode()
        flags = CHARS_UTF8 | ENDPAUSE
        error = self._lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, flags, None, None)
        if error != EE_OK or self._lib.espeak_Synchronize() != EE_OK:
            raise EngineError(f"espeak-ng failed (error {error})")
        return b"".join(self._chunks)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _: object) -> int:
        if count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # 0: go on


def resolve_voice(spec: str, voices: Sequence[EspeakVoice], variants: Sequence[EspeakVoice]) -> str:
    """The exact name espeak-ng loads for `spec` ("en-us", "gmw/en-us", "English
    (America)", a language such as "en-gb", each optionally with "+variant"), else
    SettingsError. Checked here because espeak-ng ignores an unknown variant silently.
    """
    base, plus, variant = spec.strip().partition("+")
    voice = _find(base, voices) or _by_language(base.strip().lower(), voices)
    if voice is None:
        raise SettingsError(f"unknown voice {spec!r}", hint=_choices_hint(base, voices))
    if not plus:
        return voice.identifier
    chosen = _find(variant, variants)
    if chosen is None:
        raise SettingsError(
            f"unknown voice variant {variant!r} in {spec!r}", hint=_choices_hint(variant, variants)
        )
    return f"{voice.identifier}+{chosen.short}"


def _find(word: str, voices: Sequence[EspeakVoice]) -> EspeakVoice | None:
    key = word.strip().lower()
    return next((v for v in voices if key in v.keys), None)


def _by_language(key: str, voices: Sequence[EspeakVoice]) -> EspeakVoice | None:
    ranked = [(p, i) for i, v in enumerate(voices) for p, lang in v.languages if lang == key]
    return voices[min(ranked)[1]] if ranked else None


def _choices_hint(word: str, voices: Sequence[EspeakVoice]) -> str:
    near = did_you_mean(word.strip().lower(), [v.short.lower() for v in voices])
    return "run `voiceguide voices` to see the choices" + (f"; {near}" if near else "")


def all_voices(lib: EspeakLib) -> list[VoiceInfo]:
    """Voices, then the variants (ids like "+f3", language "variant") to add to one."""
    variants = [
        VoiceInfo("+" + v.short.lower(), v.name, ("variant",))
        for v in lib.list_voices(variants=True)
    ]
    return [v.info() for v in lib.list_voices()] + variants


class EspeakBackend:
    """Runs in the worker: synthesizes with the library directly."""

    def __init__(self, settings: VoiceSettings, scratch: Path) -> None:  # no files: no scratch
        self._lib = EspeakLib(load_espeak())
        self._lib.initialize()
        self._lib.set_voice(self._lib.resolve_voice(settings.voice))
        self._lib.set_rate_volume(settings.rate, settings.volume)
        self._rate = self._lib.sample_rate()

    def synthesize(self, text: str) -> Clip:
        return Clip(self._lib.synthesize(text), self._rate)

    def voices(self) -> list[VoiceInfo]:
        return all_voices(self._lib)

    def version(self) -> str:
        return f"espeak-ng {self._lib.version()}"


class EspeakEngine(WorkerEngine):
    """libespeak-ng directly: no pyttsx3 in between."""

    name = "espeak"
    factory = EspeakBackend
