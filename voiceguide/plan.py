"""Model -> a flat timeline per track: repeats and sides expanded, gaps placed.

Pure: no I/O. Speech lengths are unknown until the voice renders them, so a plan holds
only what the script fixes (the silences); `estimate_ms` guesses the rest for `list`
and `show`, and the assembler measures the truth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from voiceguide.model import (
    Chime,
    Cue,
    Hold,
    Pause,
    PlanItem,
    Repeat,
    Routine,
    RoutinePlan,
    Say,
    Sides,
    Silence,
    Speech,
    Step,
    Technique,
    TrackPlan,
)


@dataclass(frozen=True)
class Pacing:
    """The silences the script doesn't spell out."""

    gap_ms: int = 700  # between two things said: a breath, so sentences don't run together
    lead_in_ms: int = 500  # before the first word of a track
    tail_ms: int = 2000  # after the last sound of a track, before the next one starts


CHIME_MS = 2500  # the chime's length, fixed by sounds.chime


def plan_routine(routine: Routine, techniques: Mapping[str, Technique],
                 pacing: Pacing = Pacing()) -> RoutinePlan:
    tracks = tuple(plan_track(n, techniques[tid], pacing)
                   for n, tid in enumerate(routine.track_ids(), 1))
    return RoutinePlan(routine, tracks)


def plan_track(number: int, technique: Technique, pacing: Pacing = Pacing()) -> TrackPlan:
    items = [replace(item, step=number) for number, step in enumerate(technique.steps, 1)
             for item in _expand((step,), {})]
    return TrackPlan(number, technique, tuple(_with_gaps(items, pacing)))


def _expand(steps: tuple[Step, ...], sides: dict[str, str]) -> Iterator[PlanItem]:
    for step in steps:
        if isinstance(step, Say):
            yield Speech(_fill(step.text, sides), step.source)
        elif isinstance(step, Pause):
            yield Silence(step.ms, "pause", step.source)
        elif isinstance(step, Chime):
            yield Cue("chime", step.source)
        elif isinstance(step, Hold):
            yield Speech(_fill(step.say, sides), step.source)
            yield Silence(step.ms, "hold", step.source)
            yield Speech(_fill(step.release, sides), step.source)
        elif isinstance(step, Repeat):
            for _ in range(step.times):
                yield from _expand(step.steps, sides)
        elif isinstance(step, Sides):
            first = {"side": step.first, "other_side": step.second}
            second = {"side": step.second, "other_side": step.first}
            yield from _expand(step.steps, first)
            yield Speech(_fill(step.switch, second), step.source)
            yield from _expand(step.steps, second)


def _fill(text: str, sides: dict[str, str]) -> str:
    # The parser allows {side} and {other_side} only inside a sides block.
    return text.format(**sides) if sides else text


def _with_gaps(items: list[PlanItem], pacing: Pacing) -> Iterator[PlanItem]:
    yield Silence(pacing.lead_in_ms, "gap")
    previous: PlanItem | None = None
    for item in items:
        sounding = not isinstance(item, Silence)
        if sounding and previous is not None and not isinstance(previous, Silence):
            yield Silence(pacing.gap_ms, "gap")
        yield item
        previous = item
    yield Silence(pacing.tail_ms, "gap")


# --------------------------------------------------------------------------- estimates


def estimate_item_ms(item: PlanItem, rate_wpm: int) -> int:
    """A guess before rendering: espeak-ng speaks close to its set words per minute."""
    if isinstance(item, Silence):
        return item.ms
    if isinstance(item, Cue):
        return CHIME_MS
    words = len(item.text.split())
    return round(words * 60_000 / rate_wpm) + 250


def estimate_ms(track: TrackPlan, rate_wpm: int) -> int:
    return sum(estimate_item_ms(item, rate_wpm) for item in track.items)


def words(plan: RoutinePlan) -> int:
    return sum(len(i.text.split()) for t in plan.tracks for i in t.items
               if isinstance(i, Speech))
