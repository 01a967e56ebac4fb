"""Authoring without tripping: mistakes that used to pass are caught, at their line, and
one run reports every problem without misleading follow-on errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Writer

from voiceguide.errors import ExitCode

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


SIDES = """\
id: hands
title: Hands
summary: S.
steps:
  - sides:
      first: {first}
      steps:
        - say: Your {{side}} palm.
"""


def test_a_misspelt_side_is_caught_with_a_suggestion(write: Writer, scripts: Path) -> None:
    write("techniques/hands.yaml", SIDES.format(first="rigth"))
    result = run("validate", "--scripts", str(scripts))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert "hands.yaml:6:14: 'first': 'rigth' is not a side the voice can say (did you " \
        "mean 'right'?)" in result.stderr


def test_a_side_other_than_right_or_left_needs_its_pair(write: Writer,
                                                        scripts: Path) -> None:
    write("techniques/hands.yaml", SIDES.format(first="upper"))
    result = run("validate", "--scripts", str(scripts))
    assert "the other side is known only for right and left" in result.stderr
    write("techniques/hands.yaml", SIDES.format(first="upper\n      second: lower"))
    assert run("validate", "--scripts", str(scripts)).returncode == 0


ZOE = """\
id: zoe
name: Zoe
techniques: [neck, nekc]
overrides:
  hello:
    hold: 10s
"""


def test_a_client_file_is_known_by_its_content_and_checked_fully(
        scripts: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "clients2"
    elsewhere.mkdir()
    zoe = elsewhere / "zoe.yaml"
    zoe.write_text(ZOE)
    result = run("validate", str(zoe), "--scripts", str(scripts))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert "zoe.yaml:3:20: no technique has the id 'nekc' (did you mean 'neck'?)" in \
        result.stderr
    assert "'hello' is not one of this client's techniques" in result.stderr
    assert "missing required field 'summary'" not in result.stderr  # not read as a routine


def test_build_takes_a_client_file_where_a_name_goes(scripts: Path, tmp_path: Path) -> None:
    zoe = tmp_path / "zoe.yaml"
    zoe.write_text("id: zoe\nname: Zoe\ntechniques: [neck]\n")
    result = run("build", str(zoe), "--engine", "tone", "--scripts", str(scripts), "--out",
                 str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "zoe" / "zoe.mp3").is_file()


def test_batch_shows_every_problem_of_a_bad_client(scripts: Path, tmp_path: Path) -> None:
    clients = tmp_path / "clients"
    clients.mkdir()
    (clients / "zoe.yaml").write_text(ZOE)
    result = run("batch", str(clients), "--engine", "tone", "--scripts", str(scripts),
                 "--out", str(tmp_path / "out"))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert "no technique has the id 'nekc'" in result.stdout
    assert "'hello' is not one of this client's techniques" in result.stdout


def test_a_broken_technique_is_still_a_known_id(write: Writer, scripts: Path) -> None:
    write("techniques/neck.yaml", "id: neck\ntitle: Neck\nsummary: S.\nsteps:\n"
          "  - pause: 30 secs\n")
    result = run("validate", "--scripts", str(scripts))
    assert "unknown duration unit 'secs'" in result.stderr
    assert "no technique has the id 'neck'" not in result.stderr
    assert "1 problem found" in result.stderr


def test_framing_text_fits_each_client(scripts: Path, tmp_path: Path) -> None:
    """The shipped intro and outro name only what this client does and needs."""
    from voiceguide.build import client_target, plan_target
    from voiceguide.library import load_client, load_library
    from voiceguide.plan import Pacing

    repo_scripts = Path(__file__).resolve().parent.parent / "scripts"
    library = load_library(repo_scripts)
    zoe = tmp_path / "zoe.yaml"
    zoe.write_text("id: zoe\nname: Zoë Ng\nsay_name: Zoey Ing\ntechniques: [neck, back]\n")
    plan = plan_target(client_target(library, load_client(zoe, library)), library, Pacing())
    said = [i.text for t in plan.tracks for i in t.items if hasattr(i, "text")]
    assert said[0] == "Hi Zoey Ing."
    assert "Have a tennis ball and a wall nearby, and let's begin." in said
    assert any("Repeat these two techniques between your sessions" in s for s in said)
    neck_only = tmp_path / "ann.yaml"
    neck_only.write_text("id: ann\nname: Ann\ntechniques: [neck]\n")
    plan = plan_target(client_target(library, load_client(neck_only, library)), library,
                       Pacing())
    said = [i.text for t in plan.tracks for i in t.items if hasattr(i, "text")]
    assert not any("nearby" in s for s in said)  # nothing to have ready: the line is left out
    assert any("Repeat this technique between" in s for s in said)


def test_show_says_everything_the_audio_says_within_three_percent(quickstart: Path) -> None:
    """`show` plans as `build` does (the overview included) and estimates speech at the
    voice's measured pace: its total is within 3% of the built default routine."""
    import json
    import re

    repo = Path(__file__).resolve().parent.parent
    result = run("show", "homework", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "say    Today: 4 techniques, about 16 minutes." in result.stdout
    minutes, seconds = map(int, re.findall(r"Total: ~(\d+):(\d\d)", result.stdout)[0])
    built = json.loads((quickstart / "manifest.json").read_text())["routine"]["duration_ms"]
    assert abs((minutes * 60 + seconds) * 1000 - built) <= 0.03 * built
