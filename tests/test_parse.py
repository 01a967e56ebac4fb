"""The script format: what parses, and the exact message for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Writer

from voiceguide.errors import ScriptError
from voiceguide.library import load_library, validate_files
from voiceguide.model import Chime, Hold, Pause, Repeat, Say, Sides
from voiceguide.parse import parse_duration, parse_technique


def problems(path: Path) -> list[str]:
    """Every problem line for one file, with the path cut to its name."""
    with pytest.raises(ScriptError) as caught:
        validate_files([path])
    return [str(p.location()).split("/")[-1] + ": " + p.message for p in caught.value.problems]


def library_problems(root: Path) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        load_library(root)
    return [p.location().split("/")[-1] + ": " + p.message for p in caught.value.problems]


def test_good_technique_parses_every_step_kind(scripts: Path) -> None:
    t = parse_technique(scripts / "techniques" / "neck.yaml", "neck.yaml")
    assert (t.id, t.title, t.equipment) == ("neck", "Relieve Tension in the Neck", ("a chair",))
    kinds = [type(s) for s in t.steps]
    assert kinds == [Say, Pause, Chime, Hold, Repeat, Sides]
    hold = t.steps[3]
    assert isinstance(hold, Hold)
    assert (hold.say, hold.ms, hold.release) == ("Press and hold.", 3000, "And release.")
    assert (hold.source.line, hold.source.column) == (9, 5)
    sides = t.steps[5]
    assert isinstance(sides, Sides)
    assert (sides.first, sides.second) == ("right", "left")


@pytest.mark.parametrize(("text", "ms"), [
    ("5s", 5000), ("1m", 60_000), ("1m30s", 90_000), ("1m 30s", 90_000), ("2.5s", 2500),
    ("10m", 600_000),
])
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


BAD_STEPS = [
    ("  - pause: 30 secs", "neck.yaml:6:12: 'pause': unknown duration unit 'secs' "
     "(use s, m, or 1m30s)"),
    ("  - pause: 0s", "neck.yaml:6:12: 'pause': a duration must be longer than zero (e.g. 5s); "
     "to skip it, remove the step"),
    ("  - pause: -5s", "neck.yaml:6:12: 'pause': a duration can't be negative ('-5s'); "
     "write e.g. 5s"),
    ("  - pause: 5", "neck.yaml:6:12: 'pause': add a unit: write 5s for 5 seconds "
     "(or 5m for minutes)"),
    ("  - hold:\n      say: Hold.\n      for: 11m",
     "neck.yaml:8:12: 'for': '11m' is too long: at most 10m (check for a typo, or split it)"),
    ("  - say:", "neck.yaml:6:5: 'say' is empty: write the text, or remove the line"),
    ("  - say: '   '", "neck.yaml:6:10: 'say' is empty: write the text, or remove the line"),
    ("  - sya: Hello", "neck.yaml:6:5: unknown step 'sya' (did you mean 'say'? allowed: say, "
     "pause, hold, repeat, sides, chime)"),
    ("  - say: Hi\n    pause: 5s", "neck.yaml:6:5: one step holds both 'say' and 'pause': "
     "start each step on its own line with '- '"),
    ("  - say: Hi <break time='3s'/>", "neck.yaml:6:10: 'say' contains '<' or '>': the voice "
     "would read markup aloud (remove it; use a pause step for silence)"),
    ("  - say: Curly {{braces}}", "neck.yaml:6:10: 'say' has doubled braces: the voice would "
     "read them (placeholders are written like {side} or {equipment})"),
    ("  - say: Turn to your {side}", "neck.yaml:6:10: 'say' uses {side} outside a 'sides' "
     "block (only steps inside 'sides:' know which side is meant)"),
    ("  - hold:\n      say: Hold.\n      fro: 30s", "neck.yaml:8:7: unknown field 'fro' (did you "
     "mean 'for'? allowed: say, for, release, countdown)"),
    ("  - repeat:\n      times: 0\n      steps: [say: Hi]",
     "neck.yaml:7:14: 'times' must be a whole number from 1 to 20"),
]


@pytest.mark.parametrize(("step", "expected"), BAD_STEPS)
def test_bad_step_message(write: Writer, step: str, expected: str) -> None:
    path = write("techniques/neck.yaml", "id: neck\ntitle: T\nsummary: S\nsteps:\n"
                 "  - say: First.\n" + step + "\n")
    assert problems(path) == [expected]


def test_unknown_key_suggests_the_closest(write: Writer) -> None:
    path = write("techniques/neck.yaml", """\
        id: neck
        titel: Neck
        summary: S
        steps: [say: Hi]
        """)
    assert problems(path) == ["neck.yaml:2:1: unknown field 'titel' (did you mean 'title'? "
                              "allowed: id, title, summary, language, equipment, steps)"]


def test_missing_required_field(write: Writer) -> None:
    path = write("techniques/neck.yaml", "id: neck\ntitle: Neck\nsteps: [say: Hi]\n")
    assert problems(path) == ["neck.yaml:1:1: missing required field 'summary' (add a line "
                              "'summary: One sentence about what this does.')"]


def test_all_problems_of_a_file_at_once(write: Writer) -> None:
    path = write("techniques/neck.yaml", """\
        id: Neck Stretch
        title: ''
        summary: S
        steps:
          - pause: 3 mins
          - say: ok
          - hold: {say: Hold., for: 0s}
        """)
    assert problems(path) == [
        "neck.yaml:1:5: 'id' can only use lowercase letters, digits and single dashes, e.g. "
        "neck-stretch ('Neck Stretch' would not be a safe file name)",
        "neck.yaml:2:8: 'title' is empty: write the text, or remove the line",
        "neck.yaml:5:12: 'pause': unknown duration unit 'mins' (use s, m, or 1m30s)",
        "neck.yaml:7:29: 'for': a duration must be longer than zero (e.g. 5s); to skip it, "
        "remove the step",
    ]


def test_id_that_would_escape_the_output_folder(write: Writer) -> None:
    path = write("techniques/neck.yaml", "id: ../x\ntitle: T\nsummary: S\nsteps: [say: Hi]\n")
    assert problems(path) == ["neck.yaml:1:5: 'id' can only use lowercase letters, digits and "
                              "single dashes, e.g. neck-stretch ('../x' would not be a safe "
                              "file name)"]


def test_malformed_yaml(write: Writer) -> None:
    path = write("techniques/neck.yaml", "id: neck\ntitle: Neck: the basics\n")
    assert problems(path) == ["neck.yaml:2:12: malformed YAML: a ':' where a new field can't "
                              "start (put the text in quotes if it contains ': ', or check the "
                              "indentation)"]


def test_tab_indented_file_reports_every_tab(write: Writer) -> None:
    path = write("techniques/neck.yaml", "id: neck\nsteps:\n\t- say: Hi\n\t- pause: 5s\n")
    message = ("a tab is used for indentation; YAML needs spaces (replace each tab with two "
               "spaces)")
    assert problems(path) == [f"neck.yaml:3:1: {message}", f"neck.yaml:4:1: {message}"]


def test_duplicate_key(write: Writer) -> None:
    path = write("techniques/neck.yaml", "id: neck\nid: back\n")
    assert problems(path) == ["neck.yaml:2:1: 'id' appears twice here (keep one)"]


def test_file_that_is_not_text(scripts: Path) -> None:
    path = scripts / "techniques" / "neck.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    assert problems(path) == ["neck.yaml: is not a text file (save it as plain UTF-8 text, "
                              "e.g. from a text editor)"]


def test_not_a_mapping(write: Writer) -> None:
    path = write("techniques/neck.yaml", "- say: hi\n")
    assert problems(path) == ["neck.yaml:1:1: should be a list of fields such as 'id: neck' "
                              "and 'title: ...' (see the README)"]


def test_routine_naming_a_missing_technique(write: Writer, scripts: Path) -> None:
    write("routines/daily.yaml", """\
        id: daily
        title: Daily
        summary: S
        techniques: [nekc, back]
        """)
    assert library_problems(scripts) == [
        "daily.yaml:4:14: no technique has the id 'nekc' (did you mean 'neck'?)",
        "daily.yaml:4:20: no technique has the id 'back' (check the spelling)",
    ]


def test_two_techniques_with_the_same_id(write: Writer, scripts: Path) -> None:
    write("techniques/neck-copy.yaml", "id: neck\ntitle: T\nsummary: S\nsteps: [say: Hi]\n")
    message = library_problems(scripts)
    assert len(message) == 1
    assert message[0].startswith("neck.yaml:1:5: id 'neck' is already used by ")
    assert message[0].endswith("neck-copy.yaml (give each file its own id)")


def test_problems_of_several_files_are_reported_together(write: Writer, scripts: Path) -> None:
    write("techniques/hello.yaml", "id: hello\ntitle: Hello\nsummary: S\nsteps: []\n")
    write("routines/daily.yaml", "id: daily\ntitle: D\nsummary: S\ntechniques: neck\n")
    assert library_problems(scripts) == [
        "daily.yaml:4:13: 'techniques' must be a list: one '- ' line per entry, or [a, b]",
        "hello.yaml:4:8: 'steps' is empty: add at least one step, e.g. '- say: ...'",
    ]
