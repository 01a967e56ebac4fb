"""Clips + plan -> audio tracks with an exact layout. The only place audio is stitched.

A track is stitched by pydub from its segments: each sentence and cue wrapped as an
`AudioSegment` (no copy), each silence a view of one segment that
`AudioSegment.silent` made as long as the longest. The segments are kept in order
(`Stitched`) and joined once, as the encoder, the meters and the hash read them: never
with pydub's repeated `+`, which copies the whole track each time (quadratic: 1000
appends took 85-101 s), and never into a second whole copy of the track (a 30-minute
track stays within 3x its PCM in memory). Every item's start and end are kept in
samples, so pauses and holds are exact at the track's frame rate and the manifest,
chapters and tests all read one layout. The full routine is its tracks back to back:
in MP3 its file is joined from the tracks' frames (mp3join).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voiceguide.errors import SettingsError
from voiceguide.model import (
    Clip,
    Placed,
    RoutinePlan,
    Silence,
    Speech,
    Stitched,
    Track,
    TrackPlan,
    ms_to_samples,
    samples_to_ms,
)
from voiceguide.native import import_pydub
from voiceguide.pcm import resample
from voiceguide.sounds import Cues

if TYPE_CHECKING:
    from pydub import AudioSegment

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


def _lengths(plan: TrackPlan, clips: Mapping[str, Clip], cues: Cues, frame: int
             ) -> list[int]:
    """Each item's length in samples, from the clips' and cues' lengths alone; with
    `frame` > 1, a closing silence is lengthened (by less than `frame` samples) to make
    the track a whole number of frames long. The one place a track's layout is decided:
    assembly and length estimates both read it."""
    frame_rate = cues.frame_rate
    lengths: list[int] = []
    for item in plan.items:
        if isinstance(item, Speech):
            lengths.append(resample(clips[item.text], frame_rate).samples)
        elif isinstance(item, Silence):
            lengths.append(_silence_samples(item, lengths[-1] if lengths else 0,
                                            frame_rate))
        else:
            lengths.append(cues[item.name].samples)
    if lengths and isinstance(plan.items[-1], Silence):
        lengths[-1] += -sum(lengths) % frame
    return lengths


def silence(samples: int, frame_rate: int) -> AudioSegment:
    """Exactly `samples` of digital silence. pydub counts `int(rate * ms / 1000)` frames,
    so asking for half a sample more gives the exact count whatever the rounding."""
    pydub = import_pydub(converter=False)  # wraps and makes silence: no ffmpeg
    quiet = pydub.AudioSegment.silent(duration=(samples + 0.5) * 1000 / frame_rate,
                                      frame_rate=frame_rate)
    assert int(quiet.frame_count()) == samples
    return quiet


def segment(clip: Clip) -> AudioSegment:
    """A clip as a pydub segment (mono, 16-bit), wrapping its bytes without a copy."""
    pydub = import_pydub(converter=False)  # wraps and makes silence: no ffmpeg
    return pydub.AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.frame_rate,
                              channels=1)


def assemble_track(plan: TrackPlan, clips: Mapping[str, Clip], cues: Cues, frame: int = 1
                   ) -> Track:
    """The track's audio and layout (see `_lengths`), stitched from pydub segments at the
    cues' frame rate (see the module's docstring): the track holds no new copy of its
    sentences and cues, and one silence as long as the longest."""
    rate = cues.frame_rate
    placed = _placed(plan, _lengths(plan, clips, cues, frame))
    longest = max((p.end - p.start for p in placed if isinstance(p.item, Silence)),
                  default=0)
    zeros = memoryview(silence(longest, rate).raw_data)
    pieces: list[bytes | memoryview] = []
    for p in placed:
        item = p.item
        if isinstance(item, Silence):
            pieces.append(zeros[:2 * (p.end - p.start)])
        else:
            clip = resample(clips[item.text], rate) if isinstance(item, Speech) \
                else cues[item.name]
            pieces.append(segment(clip).raw_data)
    return Track(plan, Stitched(pieces, rate), placed)


def _placed(plan: TrackPlan, lengths: Sequence[int]) -> tuple[Placed, ...]:
    placed, position = [], 0
    for item, samples in zip(plan.items, lengths, strict=True):
        placed.append(Placed(item, position, position + samples))
        position += samples
    return tuple(placed)


def assemble_routine(plan: RoutinePlan, clips: Mapping[str, Clip], cues: Cues,
                     frame: int = 1) -> AssembledRoutine:
    """The routine's tracks, at the cues' frame rate (the voice's: see `frame_rate_of`).
    With `frame` > 1, every track but the last is made a whole number of `frame` samples
    long (at most 26 ms more of its closing silence at 22050 Hz), so that encoded tracks
    can be joined frame by frame."""
    last = len(plan.tracks) - 1
    return AssembledRoutine(plan, tuple(
        assemble_track(t, clips, cues, frame if n < last else 1)
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


def planned_samples(plan: RoutinePlan, clips: Mapping[str, Clip], cues: Cues,
                    frame: int = 1) -> int:
    """The exact length a plan will assemble to (with the same `frame` as
    `assemble_routine`), without building any audio: to fit a routine to a length, or to
    say how long it is."""
    last = len(plan.tracks) - 1
    return sum(sum(_lengths(t, clips, cues, frame if n < last else 1))
               for n, t in enumerate(plan.tracks))


def layout(plan: RoutinePlan, clips: Mapping[str, Clip], cues: Cues, frame: int = 1
           ) -> tuple[tuple[Placed, ...], ...]:
    """Where each track's items will be (samples from the track's start), as
    `assemble_routine` places them with the same `frame`, without building any audio:
    with the clips and cues they are made of, what a routine's audio is."""
    last = len(plan.tracks) - 1
    return tuple(_placed(t, _lengths(t, clips, cues, frame if n < last else 1))
                 for n, t in enumerate(plan.tracks))


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
