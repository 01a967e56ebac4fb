"""Everything a build can be told, where each value comes from, and the limits of each.

A setting can be given in five places. `resolve` is the one place that decides which
wins, for the CLI, `batch`, `share` and the Python API alike:

    command-line flag > client file > clinic profile > routine > preset (--slow) > default

(A routine, or a technique built alone, gives only its `language`. The voice follows
the language when no place names one: espeak-ng's voice for it, see `voice_for`.)

(`share` puts the settings of the routine's last build just under the flags, so sharing
never changes the audio it shares.)

`LIMITS` is the one table of numeric limits: the typer options, the script schemas and
the engines all read it, so `--rate 70` and `rate: 70` in a client file are refused
alike. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict, cast

from voiceguide.errors import SettingsError
from voiceguide.model import Client, Clinic, Routine
from voiceguide.text import normal_language


@dataclass(frozen=True)
class Limit:
    """The accepted range of a numeric setting, and how to say it to a user."""

    low: float
    high: float
    unit: str  # "words per minute"
    example: str  # "140 is calm"

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def problem(self, value: object) -> str | None:
        """None when `value` is a number in range, else "must be ..." for a message."""
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not self.contains(value):
            return f"must be {self.unit}, from {self.low:g} to {self.high:g} ({self.example})"
        return None


LIMITS: dict[str, Limit] = {
    # espeak-ng accepts 80 to 450; past 300 instructions are too fast to follow.
    "rate": Limit(80, 300, "words per minute", "140 is calm"),
    "volume": Limit(0.1, 1.0, "a voice volume", "1 is full"),
    "pace": Limit(0.5, 2.0, "a factor", "1 keeps the script's pauses"),
    "minutes": Limit(1, 120, "a length in minutes", "e.g. 15"),
    "countdown": Limit(0, 60, "seconds", "0 for none"),
    "loudness": Limit(-30, -10, "a loudness target in LUFS", "podcast apps expect -16"),
    "true_peak": Limit(-9, 0, "a true-peak ceiling in dBTP", "-1 is usual"),
}

MIN_COUNTDOWN_S = 3  # "3 more seconds" takes about a second and a half to say


def countdown_problem(seconds: float) -> str | None:
    """A countdown is said in whole seconds, at least MIN_COUNTDOWN_S (0: none)."""
    if seconds == 0 or (seconds == int(seconds) and seconds >= MIN_COUNTDOWN_S):
        return None
    return f"is said in whole seconds, at least {MIN_COUNTDOWN_S} (e.g. 10), or 0 for none"


@dataclass(frozen=True)
class VoiceSettings:
    """What the voice sounds like: what an engine is started with, and part of the render
    cache's key."""

    engine: str = "pyttsx3"
    voice: str = "en-us+f3"  # see the README: the clearest espeak-ng voice measured here
    rate: int = 140  # words per minute: calm guidance, slower than espeak's 175
    volume: float = 1.0  # 0.1 .. 1.0


_VOICE = VoiceSettings()


@dataclass(frozen=True)
class Settings:
    """Everything a build can be told, resolved (see `resolve`). Recorded in the manifest,
    so a routine can be built again exactly as it was."""

    engine: str = _VOICE.engine
    voice: str = _VOICE.voice
    rate: int = _VOICE.rate
    volume: float = _VOICE.volume
    pace: float = 1.0  # scales the scripts' pauses (never holds)
    minutes: float | None = None  # fit each routine to about this long
    countdown: int = 0  # say "N more seconds" N s before the end of long holds (0: off)
    cues: str = "bowl"  # the sound of bells and hold cues
    background: str | None = None  # a bed's name or a music file; None: silence
    format: str = "mp3"
    bitrate: str | None = None  # None: the format's default
    loudness: float = -16.0  # LUFS, integrated
    true_peak: float = -1.0  # dBTP
    step_chapters: bool = False  # a chapter per script step instead of per track
    language: str = "en"  # of the narration (tags, feed, page)

    def voice_settings(self) -> VoiceSettings:
        return VoiceSettings(self.engine, self.voice, self.rate, self.volume)

    def check(self) -> Settings:
        """Raise SettingsError for a value out of its LIMITS; return self."""
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            problem = limit.problem(value)
            if problem:
                raise SettingsError(f"{_NAMES[name]} {value:g} is out of range",
                                    problem.removeprefix("must be "))
        problem = countdown_problem(self.countdown)
        if problem:
            raise SettingsError(f"the countdown {problem}")
        return self

    def choices(self) -> Choices:
        """Every value, as a layer for `resolve` (it then wins over everything)."""
        return cast(Choices, asdict(self))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """The settings a manifest recorded; ValueError when they can't be read."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known}).check()
        except (TypeError, SettingsError) as exc:
            raise ValueError(f"settings that can't be read: {exc}") from None


_NAMES = {"rate": "the speech rate", "volume": "the volume", "pace": "the pace",
          "minutes": "the length in minutes", "countdown": "the countdown",
          "loudness": "the loudness target", "true_peak": "the true-peak ceiling"}


class Choices(TypedDict, total=False):
    """Some settings, as one place gives them (a flag, a client file, a profile)."""

    engine: str
    voice: str
    rate: int
    volume: float
    pace: float
    minutes: float | None
    countdown: int
    cues: str
    background: str | None
    format: str
    bitrate: str | None
    loudness: float
    true_peak: float
    step_chapters: bool
    language: str


SLOW = Choices(rate=120, pace=1.4)  # --slow: gentler speech, longer pauses, same holds


def client_choices(client: Client) -> Choices:
    """What a client file sets."""
    given = {"engine": client.engine, "voice": client.voice, "rate": client.rate,
             "pace": client.pace, "minutes": client.minutes, "cues": client.cues,
             "background": client.background, "language": client.language}
    return cast(Choices, {k: v for k, v in given.items() if v is not None})


def clinic_choices(clinic: Clinic) -> Choices:
    """What the clinic profile sets for every routine it publishes."""
    given = {"engine": clinic.engine, "voice": clinic.voice, "rate": clinic.rate,
             "language": clinic.language}
    return cast(Choices, {k: v for k, v in given.items() if v is not None})


def routine_choices(routine: Routine) -> Choices:
    """What a routine (or a technique built alone) sets: its language."""
    return Choices(language=routine.language) if routine.language else Choices()


# Engines whose voices are espeak-ng's: a language code names a voice ("es+f3").
_ESPEAK_ENGINES = ("pyttsx3", "espeak")


def voice_for(engine: str, language: str) -> str:
    """The voice of `language` when nobody chose one: for espeak-ng, the language's own
    voice with the default's variant ("es+f3"; English keeps "en-us+f3"). A Piper voice
    is looked up among the installed ones (voices.resolve_settings)."""
    normal = normal_language(language)
    if engine not in _ESPEAK_ENGINES or normal in ("en", "en-us"):
        return _VOICE.voice
    variant = _VOICE.voice.partition("+")[2]
    return f"{normal}+{variant}" if variant else normal


def resolve(flags: Choices | None = None, *, client: Client | None = None,
            clinic: Clinic | None = None, routine: Routine | None = None,
            last_built: Settings | None = None, slow: bool = False) -> Settings:
    """The settings of a build: each value from the first place that gives it, in the
    order flag, last build (for `share`), client file, clinic profile, routine, --slow,
    default. The voice follows the language when no place names one. SettingsError for
    a value out of its limits."""
    layers: list[Mapping[str, Any]] = [
        flags or {},
        last_built.choices() if last_built else {},
        client_choices(client) if client else {},
        clinic_choices(clinic) if clinic else {},
        routine_choices(routine) if routine else {},
        SLOW if slow else {},
    ]
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged.update(layer)
    unknown = set(merged) - {f.name for f in fields(Settings)}
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    if "voice" not in merged and "language" in merged:
        merged["voice"] = voice_for(merged.get("engine", _VOICE.engine), merged["language"])
    return Settings(**merged).check()
