"""Model -> a flat timeline per track: repeats and sides expanded, holds bracketed by
cues, transitions between techniques, gaps placed.

Pure: no I/O. Speech lengths are unknown until the voice renders them, so a plan holds
only what the script fixes (the silences); `estimate_ms` guesses the rest for `list`
and `show`, and the assembler measures the truth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import assert_never

from voiceguide.messages import ENGLISH, Messages
from voiceguide.model import (
    Chime,
    Cue,
    CueName,
    Hold,
    Override,
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
    fill,
    leaves_out,
    side_names,
)

# How long each cue lasts (the default "bowl" style at 22,050 Hz; the other styles and
# rates differ by under a second in all), for estimates before any audio is made. A
# test checks these against the cues themselves.
CUE_MS: dict[CueName, int] = {
    "chime": 2405, "bell": 1197, "closing": 3183, "hold_start": 210, "hold_end": 669}


@dataclass(frozen=True)
class Pacing:
    """The timing the script doesn't spell out."""

    gap_ms: int = 700  # between two things said: a breath, so sentences don't run together
    lead_in_ms: int = 500  # before the first word of a track
    tail_ms: int = 2000  # after the last sound of a track, before the next one starts
    settle_ms: int = 3000  # after a technique is announced, to get ready
    pace: float = 1.0  # scales the script's pauses (never its holds)
    countdown_ms: int = 0  # say "N more seconds" this long before the end of holds at
    #                        least twice as long (0: only where a script asks for it)
    repeat_level: float | None = None  # None: each repeat's `times`; 0..1: from its `min`
    #                                    to its `max` (set by --minutes)

    def pause(self, ms: int) -> int:
        # Whole multiples of 20 ms are whole samples at 22,050 and 44,100 Hz.
        return max(round(ms * self.pace / 20) * 20, 20)

    def repeats(self, repeat: Repeat) -> int:
        if self.repeat_level is None:
            return repeat.times
        least, most = repeat.bounds()
        return round(least + self.repeat_level * (most - least))

    def countdown(self, hold: Hold) -> int:
        if hold.countdown_ms is not None:
            return hold.countdown_ms
        return self.countdown_ms if hold.ms >= 2 * self.countdown_ms > 0 else 0


@dataclass(frozen=True)
class Framing:
    """What a routine says around its techniques."""

    opening: tuple[str, ...] = ()  # said first: greeting, note, overview, safety note
    closing: tuple[str, ...] = ()  # said last, before the closing bell: the contact line
    framing_ids: frozenset[str] = field(default_factory=frozenset)  # intro/outro tracks
    words: Mapping[str, str] = field(default_factory=dict)  # ROUTINE_WORDS, filled
    messages: Messages = ENGLISH  # voiceguide's own words, in the routine's language


def plan_routine(routine: Routine, techniques: Mapping[str, Technique],
                 pacing: Pacing = Pacing(), framing: Framing | None = None) -> RoutinePlan:
    framing = framing or Framing(framing_ids=routine.framing_ids())
    say = framing.messages
    if not framing.words:
        framing = replace(framing, words=routine_words(
            [techniques[t] for t in routine.track_ids() if t not in framing.framing_ids],
            messages=say))
    ids = routine.track_ids()
    tracks = []
    for number, tid in enumerate(ids, 1):
        technique = techniques[tid]
        before: list[PlanItem] = []
        after: list[PlanItem] = []
        if number == 1:
            before += [Speech(text) for text in framing.opening]
        if tid not in framing.framing_ids:  # bell, title and equipment first
            before += transition(technique, pacing, say)
        if number == len(ids):
            after += [Speech(text) for text in framing.closing]
            after.append(Cue("closing"))
        tracks.append(plan_track(number, technique, pacing, before, after, framing.words,
                                 say))
    return RoutinePlan(routine, tuple(tracks))


def routine_words(techniques: Sequence[Technique], name: str = "",
                  messages: Messages = ENGLISH) -> dict[str, str]:
    """The routine's own words for its spoken lines (ROUTINE_WORDS): from the techniques
    it does (not its intro and outro) and the client's name, in the routine's language."""
    equipment = list(dict.fromkeys(e for t in techniques for e in t.equipment))
    return {"these_techniques": messages.these_techniques(len(techniques)),
            "techniques": messages.and_list([t.title for t in techniques]),
            "equipment": messages.and_list(equipment), "name": name}


def transition(technique: Technique, pacing: Pacing, say: Messages = ENGLISH
               ) -> list[PlanItem]:
    """A bell, the technique's title, what to have ready, and a moment to get ready."""
    items: list[PlanItem] = [Cue("bell"), Speech(f"{technique.title}.")]
    if technique.equipment:
        items.append(Speech(say.you_need(technique.equipment)))
    items.append(Silence(pacing.pause(pacing.settle_ms), "pause"))
    return items


def plan_track(number: int, technique: Technique, pacing: Pacing = Pacing(),
               before: Sequence[PlanItem] = (), after: Sequence[PlanItem] = (),
               words: Mapping[str, str] | None = None, say: Messages = ENGLISH
               ) -> TrackPlan:
    words = words if words is not None else routine_words([technique], messages=say)
    items = [*before,
             *(replace(item, step=n) for n, step in enumerate(technique.steps, 1)
               for item in _expand((step,), words, pacing, say)),
             *after]
    return TrackPlan(number, technique, tuple(_with_gaps(items, pacing)))


def _expand(steps: tuple[Step, ...], sides: Mapping[str, str], pacing: Pacing,
            say: Messages) -> Iterator[PlanItem]:
    for step in steps:
        match step:
            case Say():
                if not leaves_out(step.text, sides):
                    yield Speech(fill(step.text, sides), step.source)
            case Pause():
                yield Silence(pacing.pause(step.ms), "pause", step.source)
            case Chime():
                yield Cue("chime", step.source)
            case Hold():
                yield from _hold(step, sides, pacing, say)
            case Repeat():
                for _ in range(pacing.repeats(step)):
                    yield from _expand(step.steps, sides, pacing, say)
            case Sides():
                first, second = said_sides(step, say)
                yield from _expand(step.steps, {**sides, **first}, pacing, say)
                if not step.first_only:
                    yield Speech(fill(say.script_default(step.switch), {**sides, **second}),
                                 step.source)
                    yield from _expand(step.steps, {**sides, **second}, pacing, say)
            case _:
                assert_never(step)


def said_sides(step: Sides, say: Messages) -> tuple[dict[str, str], dict[str, str]]:
    """What {side} and {other_side} say in each pass, in the routine's language."""
    first, second = side_names(step)
    return ({k: say.side(v) for k, v in first.items()},
            {k: say.side(v) for k, v in second.items()})


def _hold(hold: Hold, sides: Mapping[str, str], pacing: Pacing, say: Messages
          ) -> Iterator[PlanItem]:
    """Instruction, start cue, exactly `hold.ms` of stillness (a countdown said inside
    it, if any), end cue, release."""
    src = hold.source
    yield Speech(fill(hold.say, sides), src)
    yield Cue("hold_start", src)
    countdown = pacing.countdown(hold)
    if countdown:
        yield Silence(hold.ms - countdown, "hold", src)
        yield Speech(say.countdown(countdown // 1000), src)
        yield Silence(countdown, "hold", src, after_speech=True)
    else:
        yield Silence(hold.ms, "hold", src)
    yield Cue("hold_end", src)
    yield Speech(fill(say.script_default(hold.release), sides), src)


_HOLD_CUES = ("hold_start", "hold_end")


def _with_gaps(items: list[PlanItem], pacing: Pacing) -> Iterator[PlanItem]:
    """A breath between two sounds in a row, except around a hold's cues: they belong to
    the words they follow or lead to."""
    yield Silence(pacing.lead_in_ms, "gap")
    previous: PlanItem | None = None
    for item in items:
        sounding = not isinstance(item, Silence)
        joined = (isinstance(item, Cue) and item.name in _HOLD_CUES) or (
            isinstance(previous, Cue) and previous.name in _HOLD_CUES)
        if sounding and previous is not None and not isinstance(previous, Silence) \
                and not joined:
            yield Silence(pacing.gap_ms, "gap")
        yield item
        previous = item
    yield Silence(pacing.tail_ms, "gap")


# --------------------------------------------------------------------------- clients


def personalize(technique: Technique, override: Override) -> Technique:
    """A client's changes: repeat counts, hold lengths, one side only."""
    return replace(technique, steps=tuple(_override(s, override) for s in technique.steps))


def _override(step: Step, override: Override) -> Step:
    match step:
        case Hold() if override.hold_ms:
            countdown = step.countdown_ms
            if countdown and countdown >= override.hold_ms:
                countdown = 0  # the countdown no longer fits inside the shorter hold
            return replace(step, ms=override.hold_ms, countdown_ms=countdown)
        case Repeat():
            steps = tuple(_override(s, override) for s in step.steps)
            if override.repeats:
                return replace(step, times=override.repeats, least=0, most=0, steps=steps)
            return replace(step, steps=steps)
        case Sides():
            steps = tuple(_override(s, override) for s in step.steps)
            if override.side in (step.first, step.second):
                other = step.second if override.side == step.first else step.first
                return replace(step, first=override.side, second=other, steps=steps,
                               first_only=True)
            return replace(step, steps=steps)
        case Say() | Pause() | Chime() | Hold():
            return step
        case _:
            assert_never(step)


# --------------------------------------------------------------------------- estimates


# How long espeak-ng really takes to say a line, trimmed as the build trims it: fitted
# (least squares) on the default routine's 123 lines (1,118 words) with the default voice
# at 140 wpm: 368 ms a word and 209 ms a line, where 140 wpm would be 429 ms a word. So
# the voice speaks about 14% faster than its set rate; the estimate follows the voice.
SPOKEN_SHARE = 368 / 429
LINE_MS = 209


def estimate_item_ms(item: PlanItem, rate_wpm: int) -> int:
    """A guess before rendering (see SPOKEN_SHARE); silences and cues are exact."""
    if isinstance(item, Silence):
        return item.ms
    if isinstance(item, Cue):
        return CUE_MS[item.name]
    words = len(item.text.split())
    return round(words * 60_000 / rate_wpm * SPOKEN_SHARE) + LINE_MS


def estimate_lengths(track: TrackPlan, rate_wpm: int) -> list[int]:
    """Each item's estimated length, in ms."""
    lengths: list[int] = []
    for item in track.items:
        length = estimate_item_ms(item, rate_wpm)
        if isinstance(item, Silence) and item.after_speech and lengths:
            length = max(length - lengths[-1], 0)  # the countdown's words are inside it
        lengths.append(length)
    return lengths


def estimate_ms(track: TrackPlan, rate_wpm: int) -> int:
    return sum(estimate_lengths(track, rate_wpm))

