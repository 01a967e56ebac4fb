"""Domain types, from script to sound. Pure data: no I/O here.

A *technique* is one script file (a track in a routine); its *steps* are what the voice
says and the silences between. A *routine* lists techniques in order. The planner flattens
a technique into *plan items* (speech, silence, cue); the assembler places those items on
a *track* with exact sample positions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import PurePath
from typing import Literal, Protocol, assert_never

# --------------------------------------------------------------------------- scripts


@dataclass(frozen=True)
class Source:
    """Where a piece of a script came from, for messages and the timeline."""

    file: str
    line: int  # 1-based
    column: int = 0  # 1-based, 0 when unknown


NO_SOURCE = Source("<generated>", 0)


@dataclass(frozen=True)
class Say:
    """A sentence (or a few) spoken as one utterance."""

    text: str
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class Pause:
    """Silence that lets the client do what was said."""

    ms: int
    source: Source = NO_SOURCE


@dataclass(frozen=True)
class Hold:
    """Spoken instruction, a soft start cue, exactly `ms` of stillness, a soft end cue,
    then the spoken release. The instruction never counts toward the hold; a countdown
    ("10 more seconds", said when `countdown_ms` remain) is spoken inside it."""

    say: str
    ms: int
    release: str
    source: Source = NO_SOURCE
    countdown_ms: int | None = None  # None: the build's default; 0: never


@dataclass(frozen=True)
class Repeat:
    """A block of steps done `times` times in a row; fitting a routine to a length may
    choose any count from `least` to `most`."""

    times: int
    steps: tuple[Step, ...]
    source: Source = NO_SOURCE
    least: int = 0  # 0: same as times
    most: int = 0  # 0: same as times

    def bounds(self) -> tuple[int, int]:
        return (self.least or self.times, self.most or self.times)


@dataclass(frozen=True)
class Sides:
    """A block done once per side; `{side}` and `{other_side}` in its text are filled in
    per pass, and `switch` is spoken between passes (with `{side}` = the coming side)."""

    first: str
    second: str
    switch: str
    steps: tuple[Step, ...]
    source: Source = NO_SOURCE
    first_only: bool = False  # a client's routine may do one side only


@dataclass(frozen=True)
class Chime:
    """A soft bell, e.g. to mark the start of a new part."""

    source: Source = NO_SOURCE


Step = Say | Pause | Hold | Repeat | Sides | Chime


# Placeholders any spoken line may use, filled from the routine being built, so shared
# framing text fits each client: "these two techniques", only her equipment, her name.
ROUTINE_WORDS: dict[str, str] = {
    "these_techniques": "'these four techniques', or 'this technique'",
    "techniques": "the techniques' titles, e.g. 'Neck and Back'",
    "equipment": "what they need, e.g. 'a tennis ball, a wall and a chair'",
    "name": "the client's name as it is said",
}


def fill(text: str, words: Mapping[str, str]) -> str:
    """A text with its placeholders filled in: {side} and {other_side} (the parser allows
    them only inside a sides block) and the routine's words (ROUTINE_WORDS)."""
    return text.format(**words) if "{" in text else text


def leaves_out(text: str, words: Mapping[str, str]) -> bool:
    """Whether a line is better left unsaid: it names a routine word that is empty here
    ("Have {equipment} nearby." in a routine that needs nothing)."""
    return any(f"{{{name}}}" in text and not words.get(name) for name in ROUTINE_WORDS)


def side_names(step: Sides) -> tuple[dict[str, str], dict[str, str]]:
    """What {side} and {other_side} mean in the first and the second pass."""
    return ({"side": step.first, "other_side": step.second},
            {"side": step.second, "other_side": step.first})


def walk(steps: Iterable[Step]) -> Iterator[Step]:
    """Every step, blocks before the steps inside them, in script order."""
    for step in steps:
        yield step
        match step:
            case Repeat() | Sides():
                yield from walk(step.steps)
            case Say() | Pause() | Hold() | Chime():
                pass
            case _:
                assert_never(step)


@dataclass(frozen=True)
class Technique:
    """One script file: becomes one track."""

    id: str
    title: str
    summary: str
    steps: tuple[Step, ...]
    equipment: tuple[str, ...] = ()
    file: str = ""
    source: Source = NO_SOURCE  # where its id is written
    language: str | None = None  # BCP 47; None: the clinic's, else English


@dataclass(frozen=True)
class Routine:
    """An ordered list of techniques, with optional intro and outro tracks."""

    id: str
    title: str
    summary: str
    techniques: tuple[str, ...]
    intro: str | None = None
    outro: str | None = None
    default: bool = False
    file: str = ""
    source: Source = NO_SOURCE  # where its id is written
    track_sources: tuple[Source, ...] = ()  # where each of track_ids() is named
    language: str | None = None  # BCP 47; None: the clinic's, else English

    def track_ids(self) -> tuple[str, ...]:
        head = (self.intro,) if self.intro else ()
        tail = (self.outro,) if self.outro else ()
        return (*head, *self.techniques, *tail)

    def framing_ids(self) -> frozenset[str]:
        """The intro and outro: tracks around the techniques, not techniques of it."""
        return frozenset(t for t in (self.intro, self.outro) if t)


@dataclass(frozen=True)
class ClinicWords:
    """The clinic's lines and framing techniques in another language (None: as in the
    profile)."""

    contact: str | None = None
    safety: str | None = None
    intro: str | None = None
    outro: str | None = None


@dataclass(frozen=True)
class Clinic:
    """Who publishes the audio: shown as the artist, on the cover, in the tags."""

    name: str = "voiceguide"
    website: str = ""
    contact: str = ""  # e.g. "Questions? Call us at 555 0100."
    cover: str | None = None  # the clinic's own cover image; None: one is drawn
    language: str | None = None  # of every routine that names none (BCP 47: en, es)
    engine: str | None = None  # the voice every routine uses, unless a client's differs
    voice: str | None = None
    rate: int | None = None
    safety: str = ""  # said at the start of every routine, e.g. "stop if anything hurts"
    intro: str | None = None  # technique ids framing a client's personal routine
    outro: str | None = None
    bundled: bool = True  # False: the clinic's scripts are the whole library
    file: str = ""
    share_url: str = ""  # the studio shares a client's routine at <share_url><id>/
    translations: tuple[tuple[str, ClinicWords], ...] = ()  # by language, lower case

    def in_language(self, language: str) -> Clinic:
        """The profile as a routine in `language` uses it: its translated lines and
        framing techniques ('es-mx', else 'es'), where the profile gives them."""
        key = language.strip().lower().replace("_", "-")
        found = dict(self.translations)
        words = found.get(key) or found.get(key.split("-")[0])
        if words is None:
            return self
        given = {k: v for k, v in vars(words).items() if v is not None}
        return replace(self, **given)


@dataclass(frozen=True)
class Override:
    """A client's changes to one technique."""

    repeats: int | None = None  # every repeat block does this many passes
    hold_ms: int | None = None  # every hold lasts this long
    side: str | None = None  # only this side of every sides block


@dataclass(frozen=True)
class Client:
    """A personal routine: chosen techniques, in order, with the client's own settings."""

    id: str
    name: str
    techniques: tuple[str, ...]
    title: str = ""
    note: str = ""  # read at the start, after the greeting
    say_name: str = ""  # how the voice says the name ("Zoey Ng" for Zoë Ng), if not as written
    overrides: tuple[tuple[str, Override], ...] = ()
    engine: str | None = None
    voice: str | None = None
    rate: int | None = None
    pace: float | None = None
    minutes: float | None = None
    language: str | None = None
    cues: str | None = None
    background: str | None = None  # a bed's name
    file: str = ""
    technique_sources: tuple[Source, ...] = ()  # where each chosen technique is named
    override_sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Library:
    """Every technique and routine found in the scripts folders, cross-checked."""

    root: str  # the clinic's own folder (or the bundled library, when it has none)
    techniques: dict[str, Technique] = field(default_factory=dict)
    routines: dict[str, Routine] = field(default_factory=dict)
    clinic: Clinic = field(default_factory=Clinic)
    # Every folder read (as shown), the one that wins first: root, then the bundled
    # library under it.
    folders: tuple[str, ...] = ()
    bundled_folder: str = ""  # the bundled library, when it is one of them

    def bundled(self, file: str) -> bool:
        """Whether a script comes from the bundled library, not the clinic's own."""
        return bool(self.bundled_folder) and PurePath(file).is_relative_to(
            self.bundled_folder)

    def default_routine(self) -> Routine | None:
        chosen = [r for r in self.routines.values() if r.default]
        if chosen:
            return chosen[0]
        if len(self.routines) == 1:
            return next(iter(self.routines.values()))
        return None


# --------------------------------------------------------------------------- plan

SilenceReason = Literal["pause", "hold", "gap"]
# chime: a script's own `- chime`; bell: between techniques; closing: the end of a
# routine; hold_start / hold_end: bracket the stillness of a hold.
CueName = Literal["chime", "bell", "closing", "hold_start", "hold_end"]


@dataclass(frozen=True)
class Speech:
    text: str
    source: Source = NO_SOURCE
    step: int = 0  # the top-level script step it comes from (1-based); 0: added


@dataclass(frozen=True)
class Silence:
    ms: int
    reason: SilenceReason
    source: Source = NO_SOURCE
    step: int = 0  # the top-level script step it comes from (1-based); 0: added
    # The rest of a hold after a countdown: `ms` counts from the start of the speech
    # before it, so the hold stays exact whatever the speech's length.
    after_speech: bool = False


@dataclass(frozen=True)
class Cue:
    name: CueName
    source: Source = NO_SOURCE
    step: int = 0  # the top-level script step it comes from (1-based); 0: added


PlanItem = Speech | Silence | Cue


@dataclass(frozen=True)
class Chapter:
    """A named stretch of a file, for players' chapter lists."""

    title: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class TrackPlan:
    """One technique flattened into a timeline."""

    number: int  # 1-based position in the routine
    technique: Technique
    items: tuple[PlanItem, ...]

    @property
    def id(self) -> str:
        return self.technique.id

    @property
    def file_name(self) -> str:
        return f"{self.number:02d}-{self.technique.id}"


@dataclass(frozen=True)
class RoutinePlan:
    routine: Routine
    tracks: tuple[TrackPlan, ...]


# --------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class Clip:
    """Mono signed 16-bit little-endian PCM."""

    pcm: bytes
    frame_rate: int

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def ms(self) -> int:
        return samples_to_ms(self.samples, self.frame_rate)

    def chunks(self) -> Iterator[bytes]:
        """The PCM in pieces (see `Pcm`): one, itself."""
        yield self.pcm

    @cached_property
    def sha256(self) -> str:
        """The SHA-256 of the PCM (hex): what the clip is, to fingerprints."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    @classmethod
    def checked(cls, pcm: bytes, frame_rate: int, sha256: str) -> Clip:
        """A clip whose PCM was just checked against its SHA-256 (a cache entry): the
        digest is kept, not computed again."""
        clip = cls(pcm, frame_rate)
        clip.__dict__["sha256"] = sha256  # where cached_property keeps it
        return clip


class Stitched(Clip):
    """A clip that is pieces of PCM back to back (a track: its sentences, cues and views of
    one buffer of zeros), never joined unless its `pcm` is asked for: what reads it
    chunk by chunk (hashing, loudness, the encoder) holds no copy of it, so a long
    track made of a few sentences costs little more than the sentences."""

    def __init__(self, parts: Iterable[bytes | memoryview], frame_rate: int) -> None:
        kept = tuple(parts)
        object.__setattr__(self, "parts", kept)
        object.__setattr__(self, "frame_rate", frame_rate)
        object.__setattr__(self, "_bytes", sum(len(p) for p in kept))

    parts: tuple[bytes | memoryview, ...]
    _bytes: int

    @property
    def pcm(self) -> bytes:
        """The whole PCM, joined now (a copy): for what needs it in one piece."""
        return b"".join(self.parts)

    @property
    def samples(self) -> int:
        return self._bytes // 2

    def __repr__(self) -> str:
        return f"Stitched({len(self.parts)} parts, {self.samples} samples at {self.frame_rate} Hz)"

    def chunks(self) -> Iterator[bytes]:
        for part in self.parts:
            yield bytes(part) if isinstance(part, memoryview) else part


def window(clip: Clip, start: int, stop: int) -> Stitched:
    """Samples `start` to `stop` of a clip, as views of its own parts (no copy)."""
    parts = clip.parts if isinstance(clip, Stitched) else (clip.pcm,)
    views: list[bytes | memoryview] = []
    position, first, last = 0, 2 * start, 2 * stop
    for part in parts:
        end = position + len(part)
        if end > first and position < last:
            views.append(memoryview(part)[max(first - position, 0):last - position])
        position = end
    return Stitched(views, clip.frame_rate)


class Pcm(Protocol):
    """Mono 16-bit PCM that may be made a piece at a time (a clip, or a clip on its way
    to its loudness target): an encoder takes it chunk by chunk."""

    @property
    def frame_rate(self) -> int: ...

    @property
    def samples(self) -> int: ...

    def chunks(self) -> Iterator[bytes]: ...


def samples_to_ms(samples: int, frame_rate: int) -> int:
    return (samples * 1000 + frame_rate // 2) // frame_rate


def clock(ms: int) -> str:
    """62345 -> '00:01:02.345', as WebVTT and Vorbis chapters write times."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def fmt_ms(ms: int) -> str:
    """9:05 for 545000 ms; 1:02:03 past an hour."""
    seconds = round(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def ms_to_samples(ms: int, frame_rate: int) -> int:
    """Exact when ms * frame_rate is a multiple of 1000 (e.g. whole seconds at 22050 Hz)."""
    return (ms * frame_rate + 500) // 1000


@dataclass(frozen=True)
class Placed:
    """A plan item at its final place in a track, in samples (exact) from the track start."""

    item: PlanItem
    start: int
    end: int


@dataclass(frozen=True)
class Track:
    """Assembled audio for one technique, with the layout every later output is cut from."""

    plan: TrackPlan
    clip: Clip
    placed: tuple[Placed, ...]

    @property
    def duration_ms(self) -> int:
        return self.clip.ms
