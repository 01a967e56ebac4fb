"""Personal routines: client files, their checks, and what the plan makes of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Writer

from voiceguide.build import BuildOptions, batch, client_target, framing, plan_target
from voiceguide.cache import ClipCache
from voiceguide.errors import ScriptError
from voiceguide.library import load_client, load_library
from voiceguide.model import Cue, Silence, Speech
from voiceguide.plan import Pacing
from voiceguide.settings import Choices

TONE: Choices = {"engine": "tone"}
CLIENT = """\
id: maria
name: Maria
techniques: [neck]
note: Go gently on the left.
overrides:
  neck:
    repeats: 3
    hold: 5s
    sides: left
"""


def said(plan_items: object) -> list[str]:
    return [i.text for i in plan_items if isinstance(i, Speech)]  # type: ignore[attr-defined]


def test_client_routine_greets_and_follows_the_chosen_techniques(write: Writer,
                                                                 scripts: Path) -> None:
    write("clinic.yaml", "name: Healing Hands\nsafety: Stop if anything hurts.\n"
          "contact: Call us.\nintro: hello\n")
    path = write("maria.yaml", CLIENT)
    library = load_library(scripts)
    target = client_target(library, load_client(path, library))
    plan = plan_target(target, library, Pacing(), overview="Today: 1 technique, about 1 minute.")
    assert [t.id for t in plan.tracks] == ["hello", "neck"]  # the clinic's intro first
    first = said(plan.tracks[0].items)
    assert first[:4] == ["Hi Maria.", "Go gently on the left.",
                         "Today: 1 technique, about 1 minute.", "Stop if anything hurts."]
    neck = plan.tracks[1].items
    spoken = said(neck)
    assert spoken.count("Slide your fingers.") == 3  # repeats overridden
    # One side only: the left, and no switch cue.
    assert "Put your left arm across, toward your right shoulder." in spoken
    assert not any("right arm" in s or "Now the same" in s for s in spoken)
    holds = [i.ms for i in neck if isinstance(i, Silence) and i.reason == "hold"]
    assert holds == [5000]
    assert spoken[-1] == "Call us."  # the contact line, then the closing bell
    assert isinstance(neck[-2], Cue) and neck[-2].name == "closing"
    assert framing(target, library).framing_ids == frozenset({"hello"})


@pytest.mark.parametrize(("text", "expected"), [
    (CLIENT.replace("techniques: [neck]", "techniques: [nekc]").split("overrides")[0],
     "maria.yaml:3:14: no technique has the id 'nekc' (did you mean 'neck'?)"),
    (CLIENT.replace("hold: 5s", "hold: -5s"),
     "maria.yaml:8:11: 'hold': a duration can't be negative ('-5s'); write e.g. 5s"),
    (CLIENT.replace("hold: 5s", "hold: 11m"),
     "maria.yaml:8:11: 'hold': '11m' is too long: at most 10m (check for a typo, or split "
     "it)"),
    (CLIENT.replace("sides: left", "sides: up"),
     "maria.yaml:9:12: 'sides' must be right, left or both"),
    (CLIENT.replace("  neck:\n", "  back:\n"),
     "maria.yaml:6:3: 'back' is not one of this client's techniques (neck): add it to "
     "'techniques' or remove its override"),
    (CLIENT.replace("techniques: [neck]", "techniques: [neck, hello]") +
     "  hello:\n    hold: 5s\n",
     "maria.yaml:10:3: 'hold' would change nothing: 'hello' has no hold step (remove the "
     "line)"),
    (CLIENT + "pace: 3\n", "maria.yaml:10:7: 'pace' must be a factor, from 0.5 to 2 (1 keeps "
     "the script's pauses)"),
    (CLIENT.replace("name: Maria\n", ""),
     "maria.yaml:1:1: missing required field 'name' (add a line 'name: Maria')"),
])
def test_bad_client_files(write: Writer, scripts: Path, text: str, expected: str) -> None:
    path = write("maria.yaml", text)
    with pytest.raises(ScriptError) as caught:
        load_client(path, load_library(scripts))
    assert [p.location().split("/")[-1] + ": " + p.message for p in caught.value.problems
            ] == [expected]


@pytest.mark.parametrize(("step", "expected"), [
    ("  - hold: {say: Hold., for: 30s, countdown: 2.5s}\n",
     "'countdown': a countdown is said in whole seconds, at least 3 (e.g. 10s), or off"),
    ("  - say: '...'\n",
     "'say' has no words for the voice to say (write a sentence, or remove the line)"),
    ("  - hold: {say: Hold., for: 10s, countdown: 10s}\n",
     "'hold': 'countdown' must be shorter than the hold (e.g. 10s for a 30s hold), or off"),
    ("  - repeat: {times: 5, min: 1, max: 3, steps: [say: Hi]}\n",
     "'repeat': 'times' must lie between 'min' and 'max' (e.g. min: 2, times: 3, max: 5)"),
])
def test_hold_countdowns_and_repeat_bounds_are_checked(write: Writer, step: str,
                                                       expected: str) -> None:
    path = write("techniques/neck.yaml", "id: neck\ntitle: T\nsummary: S\nsteps:\n" + step)
    with pytest.raises(ScriptError) as caught:
        load_library(path.parent.parent)
    assert [p.message for p in caught.value.problems if "neck.yaml" in p.file] == [expected]


def test_shipped_example_client_loads() -> None:
    from conftest import REPO

    library = load_library(REPO / "scripts")
    client = load_client(REPO / "clients" / "maria.yaml", library)
    assert (client.name, client.techniques, client.minutes) == ("Maria", ("neck", "back"),
                                                                10.0)


def test_validate_knows_client_clinic_and_lexicon_files(tmp_path: Path) -> None:
    from conftest import REPO

    from voiceguide.library import validate_files

    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text("masseter: miseeter\n")
    checked = validate_files([REPO / "clients" / "maria.yaml",
                              REPO / "scripts" / "clinic.yaml", lexicon])
    assert [type(c).__name__ for c in checked] == ["Client", "Clinic", "dict"]


def test_batch_builds_every_client_and_reports_the_bad_one(write: Writer, scripts: Path,
                                                           tmp_path: Path) -> None:
    import subprocess
    import sys

    clients = scripts.parent / "clients"
    clients.mkdir()
    (clients / "maria.yaml").write_text(CLIENT)
    (clients / "ann.yaml").write_text(CLIENT.replace("maria", "ann").replace("Maria", "Ann"))
    (clients / "bad.yaml").write_text("id: bad\nname: Bad\ntechniques: [nope]\n")
    voiceguide = str(Path(sys.executable).with_name("voiceguide"))
    args = [voiceguide, "batch", str(clients), "--engine", "tone", "--scripts", str(scripts),
            "--out", str(tmp_path / "out")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 built, 0 unchanged, 1 failed"
    assert any(line.startswith("failed") and "bad.yaml" in line for line in lines)
    assert "bad.yaml:3:14: no technique has the id 'nope'" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()
                  if not p.name.startswith(".")) == ["ann", "maria"]  # not the locks
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.stdout.splitlines()[-1] == "0 built, 2 unchanged, 1 failed"


def test_a_batch_side_by_side_makes_the_same_files_as_one_at_a_time(
        scripts: Path, tmp_path: Path) -> None:
    clients = scripts.parent / "clients"
    clients.mkdir()
    for name in ("maria", "ann", "joe"):
        (clients / f"{name}.yaml").write_text(
            CLIENT.replace("maria", name).replace("Maria", name.title()))
    library = load_library(scripts)
    files = sorted(clients.iterdir())
    outs = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        results = batch(library, files, BuildOptions(chosen=TONE, out=out, jobs=jobs,
                                                     cache=ClipCache(tmp_path / f"c{jobs}")))
        assert [r.status for r in results] == ["built"] * 3
        assert [r.file for r in results] == files  # reported in the folder's order
        outs[jobs] = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if
                      p.is_file()}
    assert outs[1] == outs[2]
