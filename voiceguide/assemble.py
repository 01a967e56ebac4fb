"""Clips + plan -> audio tracks with an exact layout. The only place audio is joined.

Each track is built once from a list of PCM pieces (pydub's repeated `+` is quadratic),
and every item's start and end are kept in samples, so pauses and holds are exact at the
track's frame rate and the manifest, chapters and tests all read one layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from voiceguide.engines.bundled import import_pydub
from voiceguide.errors import SettingsError
from voiceguide.model import (
    Clip,
    Placed,
    RoutinePlan,
    Silence,
    Speech,
    Track,
    TrackPlan,
    ms_to_samples,
    samples_to_ms,
)
from voiceguide.sounds import DEFAULT_STYLE, cue

DEFAULT_FRAME_RATE = 22050  # espeak-ng's rate; used when a track has no speech at all


@dataclass(frozen=True)
class AssembledRoutine:
    """The full routine is its tracks back to back. It is never joined into one buffer:
    encoders and meters take the tracks one after another (memory stays one copy)."""

    plan: RoutinePlan
    tracks: tuple[Track, ...]

    @property
    def frame_rate(self) -> int:
        return self.tracks[0].clip.frame_rate if self.tracks else DEFAULT_FRAME_RATE

    @property
    def samples(self) -> int:
        return sum(t.clip.samples for t in self.tracks)

    @property
    def duration_ms(self) -> int:
        return samples_to_ms(self.samples, self.frame_rate)

    @property
    def starts(self) -> tuple[int, ...]:
        """Each track's first sample in the full routine."""
        return starts_of([t.clip for t in self.tracks])

    @property
    def clips(self) -> tuple[Clip, ...]:
        return tuple(t.clip for t in self.tracks)


def frame_rate_of(clips: Mapping[str, Clip]) -> int:
    return next((c.frame_rate for c in clips.values()), DEFAULT_FRAME_RATE)


def resample(clip: Clip, frame_rate: int) -> Clip:
    if clip.frame_rate == frame_rate:
        return clip
    pydub = import_pydub()
    seg = pydub.AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.frame_rate,
                             channels=1).set_frame_rate(frame_rate)
    return Clip(bytes(seg.raw_data), frame_rate)


def _lengths(plan: TrackPlan, clips: Mapping[str, Clip], frame_rate: int,
             cue_style: str, frame: int) -> list[int]:
    """Each item's length in samples, from the clips' and cues' lengths alone; with
    `frame` > 1, a closing silence is lengthened (by less than `frame` samples) to make
    the track a whole number of frames long. The one place a track's layout is decided:
    assembly and length estimates both read it."""
    lengths: list[int] = []
    for item in plan.items:
        if isinstance(item, Speech):
            lengths.append(resampled_length(clips[item.text], frame_rate))
        elif isinstance(item, Silence):
            lengths.append(_silence_samples(item, lengths[-1] if lengths else 0,
                                            frame_rate))
        else:
            lengths.append(cue(item.name, frame_rate, cue_style).samples)
    if lengths and isinstance(plan.items[-1], Silence):
        lengths[-1] += -sum(lengths) % frame
    return lengths


def assemble_track(plan: TrackPlan, clips: Mapping[str, Clip], frame_rate: int,
                   cue_style: str = DEFAULT_STYLE, frame: int = 1) -> Track:
    """The track's audio and layout (see `_lengths`)."""
    pieces: list[bytes] = []
    placed: list[Placed] = []
    position = 0
    for item, samples in zip(plan.items, _lengths(plan, clips, frame_rate, cue_style, frame),
                             strict=True):
        if isinstance(item, Speech):
            pieces.append(resample(clips[item.text], frame_rate).pcm)
        elif isinstance(item, Silence):
            pieces.append(bytes(2 * samples))
        else:
            pieces.append(cue(item.name, frame_rate, cue_style).pcm)
        placed.append(Placed(item, position, position + samples))
        position += samples
    return Track(plan, Clip(b"".join(pieces), frame_rate), tuple(placed))


def assemble_routine(plan: RoutinePlan, clips: Mapping[str, Clip],
                     cue_style: str = DEFAULT_STYLE, frame: int = 1) -> AssembledRoutine:
    """The routine's tracks. With `frame` > 1, every track but the last is made a whole
    number of `frame` samples long (at most 26 ms more of its closing silence at
    22050 Hz), so that encoded tracks can be joined frame by frame."""
    frame_rate = frame_rate_of(clips)
    last = len(plan.tracks) - 1
    return AssembledRoutine(plan, tuple(
        assemble_track(t, clips, frame_rate, cue_style, frame if n < last else 1)
        for n, t in enumerate(plan.tracks)))


def join_clips(clips: Sequence[Clip], frame_rate: int = DEFAULT_FRAME_RATE) -> Clip:
    rate = clips[0].frame_rate if clips else frame_rate
    return Clip(b"".join(c.pcm for c in clips), rate)


def starts_of(clips: Sequence[Clip]) -> tuple[int, ...]:
    """Where each clip begins, in samples, when they are joined back to back."""
    starts, position = [], 0
    for clip in clips:
        starts.append(position)
        position += clip.samples
    return tuple(starts)


def planned_samples(plan: RoutinePlan, clips: Mapping[str, Clip], frame_rate: int,
                    cue_style: str = DEFAULT_STYLE, frame: int = 1) -> int:
    """The exact length a plan will assemble to (with the same `frame` as
    `assemble_routine`), without building any audio: to fit a routine to a length, or to
    say how long it is."""
    last = len(plan.tracks) - 1
    return sum(sum(_lengths(t, clips, frame_rate, cue_style, frame if n < last else 1))
               for n, t in enumerate(plan.tracks))


def resampled_length(clip: Clip, frame_rate: int) -> int:
    if clip.frame_rate == frame_rate:
        return clip.samples
    return resample(clip, frame_rate).samples


def _silence_samples(item: Silence, previous: int, frame_rate: int) -> int:
    """A silence's length; the rest of a hold after a countdown counts from the start of
    the countdown's words (`previous` samples long), so the hold stays exact."""
    samples = ms_to_samples(item.ms, frame_rate)
    if not item.after_speech:
        return samples
    if samples < previous:
        where = f" at {item.source.file}:{item.source.line}" if item.source.line else ""
        raise SettingsError(
            f"the countdown in the hold{where} takes longer to say than the "
            f"{item.ms / 1000:g} s it leaves", "give the countdown more time (e.g. 10s)")
    return samples - previous
