"""The planner: repeats and sides expanded into a flat timeline, gaps placed."""

from __future__ import annotations

from pathlib import Path

from voiceguide.library import load_library
from voiceguide.model import Cue, Silence, Speech
from voiceguide.plan import LINE_MS, SPOKEN_SHARE, Pacing, estimate_ms, plan_routine

PACING = Pacing(gap_ms=700, lead_in_ms=500, tail_ms=2000)


def timeline(scripts: Path, routine: str = "daily") -> list[list[str]]:
    library = load_library(scripts)
    plan = plan_routine(library.routines[routine], library.techniques, PACING)
    out = []
    for track in plan.tracks:
        rows = []
        for item in track.items:
            if isinstance(item, Speech):
                rows.append(f"say {item.text}")
            elif isinstance(item, Silence):
                rows.append(f"{item.reason} {item.ms}")
            elif isinstance(item, Cue):
                rows.append(item.name)
        out.append(rows)
    return out


def test_routine_tracks_follow_intro_techniques_outro(scripts: Path) -> None:
    library = load_library(scripts)
    plan = plan_routine(library.routines["daily"], library.techniques)
    assert [(t.number, t.file_name) for t in plan.tracks] == [(1, "01-hello"), (2, "02-neck")]


def test_repeats_sides_holds_and_gaps_expand_in_order(scripts: Path) -> None:
    _, neck = timeline(scripts)
    assert neck == [
        "gap 500",
        "bell",  # the transition: bell, title, equipment, a moment to get ready
        "gap 700",
        "say Relieve Tension in the Neck.",
        "gap 700",
        "say You'll need a chair.",
        "pause 3000",
        "say Sit tall.",
        "pause 2000",
        "chime",
        "gap 700",
        "say Press and hold.",  # the hold: instruction, start cue, stillness, end cue
        "hold_start",
        "hold 3000",
        "hold_end",
        "say And release.",
        "gap 700",
        "say Slide your fingers.",
        "pause 1000",
        "say Slide your fingers.",
        "pause 1000",
        "say Put your right arm across, toward your left shoulder.",
        "gap 700",
        "say Now the same with your left arm.",
        "gap 700",
        "say Put your left arm across, toward your right shoulder.",
        "gap 700",
        "closing",  # the routine's last track ends with the closing bell
        "gap 2000",
    ]


def test_the_intro_has_no_transition(scripts: Path) -> None:
    hello, _ = timeline(scripts)
    assert hello == ["gap 500", "say Welcome.", "gap 2000"]


def test_pace_scales_pauses_not_holds(scripts: Path) -> None:
    library = load_library(scripts)
    plan = plan_routine(library.routines["daily"], library.techniques,
                        Pacing(pace=1.5))
    silences = [(i.reason, i.ms) for i in plan.tracks[1].items if isinstance(i, Silence)]
    assert ("pause", 3000) in silences and ("hold", 3000) in silences
    assert ("pause", 1500) in silences and ("pause", 4500) in silences  # 1s, 3s settle


def test_countdown_is_said_inside_the_hold(write, scripts: Path) -> None:  # type: ignore[no-untyped-def]
    write("techniques/neck.yaml", """\
        id: neck
        title: Neck
        summary: S
        steps:
          - hold: {say: Hold., for: 30s, countdown: 10s}
          - hold: {say: Hold again., for: 30s}
        """)
    library = load_library(scripts)
    plan = plan_routine(library.routines["daily"], library.techniques,
                        Pacing(countdown_ms=15_000))
    rows = [(type(i).__name__, getattr(i, "text", getattr(i, "ms", getattr(i, "name", ""))))
            for i in plan.tracks[1].items if not (isinstance(i, Silence) and i.reason == "gap")]
    holds = rows[rows.index(("Speech", "Hold.")):]
    assert holds[:6] == [("Speech", "Hold."), ("Cue", "hold_start"), ("Silence", 20_000),
                         ("Speech", "10 more seconds."), ("Silence", 10_000),
                         ("Cue", "hold_end")]
    # The second hold takes the build's default: 15 s before the end of a 30 s hold.
    again = holds[holds.index(("Speech", "Hold again.")):]
    assert again[2:5] == [("Silence", 15_000), ("Speech", "15 more seconds."),
                          ("Silence", 15_000)]


def test_sides_can_start_on_the_left(write, scripts: Path) -> None:  # type: ignore[no-untyped-def]
    write("techniques/neck.yaml", """\
        id: neck
        title: Neck
        summary: S
        steps:
          - sides:
              first: left
              steps:
                - say: Lift your {side} leg, {other_side} foot down.
        """)
    _, neck = timeline(scripts)
    spoken = [row for row in neck if row.startswith("say")][1:]  # after the title
    assert spoken == [
        "say Lift your left leg, right foot down.",
        "say Now switch to your right side.",
        "say Lift your right leg, left foot down.",
    ]


def test_estimate_counts_silences_exactly_and_words_at_the_rate(scripts: Path) -> None:
    library = load_library(scripts)
    plan = plan_routine(library.routines["daily"], library.techniques, PACING)
    hello = plan.tracks[0]  # gap 500, "Welcome." (1 word), gap 2000
    # one word at 120 wpm is 500 ms, said at the voice's measured share, plus a line's
    spoken = round(500 * SPOKEN_SHARE) + LINE_MS
    assert estimate_ms(hello, rate_wpm=120) == 500 + spoken + 2000
