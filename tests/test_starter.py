"""A clinic's own library: `voiceguide init` copies the bundled one out to edit, and a
scripts folder adds to and overrides the bundled library by id, `list` saying where each
item comes from."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from voiceguide.build import BuildOptions, build, open_library
from voiceguide.cache import ClipCache
from voiceguide.errors import ExitCode, OutputError, ScriptError
from voiceguide.library import bundled_scripts
from voiceguide.manifest import read_manifest
from voiceguide.starter import start_library

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))
BUNDLED = bundled_scripts()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def bundled_ids(kind: str) -> set[str]:
    return {p.stem for p in (BUNDLED / kind).glob("*.yaml")}  # each seed file is its id


# --------------------------------------------------------------------------- init


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`voiceguide init` run in an empty folder: the folder and what it printed."""
    folder = tmp_path_factory.mktemp("clinic")
    result = run("init", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def test_init_copies_the_bundled_library_and_an_example_client(started: tuple[Path, str]
                                                               ) -> None:
    folder, _ = started
    assert files(folder / "scripts") == files(BUNDLED)
    assert files(folder / "clients") == files(REPO / "clients")
    assert sorted(p.name for p in folder.iterdir()) == ["clients", "scripts"]  # no leftovers


def test_init_says_what_it_made_and_what_to_do_next(started: tuple[Path, str]) -> None:
    _, said = started
    assert said.startswith("Made scripts/, a copy of the bundled library for you to edit:\n"
                           "  scripts/clinic.yaml\n")
    techniques = ", ".join(sorted(bundled_ids("techniques")))
    assert f"  scripts/techniques/  {len(bundled_ids('techniques'))} techniques: " \
        f"{techniques}\n" in said
    assert "  clients/maria.yaml  an example client file\n" in said
    assert "Next: put your clinic's name and contact line in scripts/clinic.yaml" in said
    for command in ("voiceguide list", "voiceguide validate", "voiceguide build ",
                    "voiceguide build clients/maria.yaml"):
        assert f"\n  {command}" in said
    assert "cd " not in said  # made here: nowhere to go


def test_the_new_library_is_yours_in_list(started: tuple[Path, str]) -> None:
    folder, _ = started
    result = run("list", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Scripts: scripts, over the bundled library (")
    rows = [line for line in result.stdout.splitlines() if "~" in line]
    assert len(rows) == len(bundled_ids("techniques")) + len(bundled_ids("routines"))
    for row in rows:
        item = row.split()[0]
        kind = "techniques" if item in bundled_ids("techniques") else "routines"
        assert row.endswith(f"  yours (scripts/{kind}/{item}.yaml)"), row


def test_init_never_overwrites_a_scripts_folder(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "mine.yaml").write_text("id: mine\n")
    result = run("init", cwd=tmp_path)
    assert result.returncode == ExitCode.OUTPUT
    assert result.stderr == ("error: scripts is already there; nothing was written (init "
                             "never overwrites a library: give another folder, voiceguide "
                             "init DIR, or move this one away first)\n")
    assert result.stdout == ""
    assert files(tmp_path) == {"scripts/mine.yaml": b"id: mine\n"}
    assert [p.name for p in tmp_path.iterdir()] == ["scripts"]  # no staging folder left


def test_init_never_overwrites_a_client_file(tmp_path: Path) -> None:
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "maria.yaml").write_text("mine")
    with pytest.raises(OutputError, match=r"maria.yaml is already there; nothing was "):
        start_library(tmp_path)
    assert files(tmp_path) == {"clients/maria.yaml": b"mine"}


def test_init_into_another_folder_says_to_go_there(tmp_path: Path) -> None:
    result = run("init", "clinic", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Made clinic/scripts/,")
    assert "\n  cd clinic  " in result.stdout
    assert (tmp_path / "clinic" / "scripts" / "clinic.yaml").is_file()
    assert (tmp_path / "clinic" / "clients" / "maria.yaml").is_file()


# --------------------------------------------------------------------------- overlay

NECK = (BUNDLED / "techniques" / "neck.yaml").read_text()
MY_NECK = NECK.replace(NECK.split("title: ", 1)[1].split("\n", 1)[0], "My Neck Routine", 1)
QUICK = "id: quick\ntitle: Quick\nsummary: Two techniques.\ntechniques: [neck, face]\n"


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    """A clinic folder whose scripts/ changes one technique (in a file of another name)
    and adds a routine of bundled techniques: nothing else, no clinic profile."""
    scripts = tmp_path / "scripts"
    (scripts / "techniques").mkdir(parents=True)
    (scripts / "routines").mkdir()
    (scripts / "techniques" / "my-neck.yaml").write_text(MY_NECK)
    (scripts / "routines" / "quick.yaml").write_text(QUICK)
    return tmp_path


def test_a_scripts_folder_adds_to_and_overrides_the_bundled_library(mine: Path) -> None:
    library = open_library(mine / "scripts")
    assert set(library.techniques) == bundled_ids("techniques")
    assert library.techniques["neck"].title == "My Neck Routine"
    assert library.techniques["neck"].file.endswith("scripts/techniques/my-neck.yaml")
    assert set(library.routines) == bundled_ids("routines") | {"quick"}
    # what the folder lacks comes from the bundled library: the clinic profile, with
    # its intro and outro, and the default routine
    assert library.clinic.name == "Healing Hands"
    assert library.clinic.intro == "intro"
    default = library.default_routine()
    assert default is not None and default.id == "homework"


def test_list_says_where_each_item_comes_from(mine: Path) -> None:
    result = run("list", cwd=mine)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Scripts: scripts, over the bundled library ({BUNDLED})"
    assert lines[3].split() == ["id", "length", "title", "from"]
    row = {line.split()[0]: line for line in lines if "~" in line}
    assert re.search(r"  My Neck Routine +yours \(scripts/techniques/my-neck\.yaml\)$",
                     row["neck"]), row["neck"]  # the title column fits the longest title
    assert row["face"].endswith("  bundled")
    assert " Quick: neck, face " in row["quick"]
    assert row["quick"].endswith("  yours (scripts/routines/quick.yaml)")
    assert row["homework"].endswith("  bundled")
    result = run("validate", cwd=mine)
    assert result.stdout == (f"OK: {len(bundled_ids('techniques'))} techniques and "
                             f"{len(bundled_ids('routines')) + 1} routines in scripts, over "
                             f"the bundled library ({BUNDLED}), no problems.\n")


def test_problems_name_the_clinic_s_own_files(mine: Path) -> None:
    scripts = mine / "scripts"
    (scripts / "routines" / "quick.yaml").write_text(QUICK.replace("neck, face", "nekc, face"))
    (scripts / "techniques" / "my-neck.yaml").write_text(MY_NECK.replace("steps:", "stesp:"))
    result = run("validate", cwd=mine)
    assert result.returncode == ExitCode.INVALID_SCRIPT
    located = [line.split(": ")[0] for line in result.stderr.splitlines() if ".yaml:" in line]
    assert located[0].startswith("scripts/routines/quick.yaml:4:14")
    assert "no technique has the id 'nekc' (did you mean 'neck'?)" in result.stderr
    # the broken override is still a known id: the bundled routine naming it gets no
    # follow-on error, and nothing is blamed on the bundled files
    assert all(p.startswith("scripts/") for p in located), located
    assert result.stderr.rstrip().endswith("2 problems found; nothing was written.")


def test_a_default_routine_of_your_own_replaces_the_bundled_default(mine: Path) -> None:
    (mine / "scripts" / "routines" / "quick.yaml").write_text(QUICK + "default: true\n")
    default = open_library(mine / "scripts").default_routine()
    assert default is not None and default.id == "quick"


def test_bundled_false_makes_the_folder_the_whole_library(mine: Path) -> None:
    (mine / "scripts" / "clinic.yaml").write_text("name: Just Us\nbundled: false\n")
    (mine / "scripts" / "routines" / "quick.yaml").write_text(QUICK.replace("face", "neck"))
    library = open_library(mine / "scripts")
    assert set(library.techniques) == {"neck"}
    assert set(library.routines) == {"quick"}
    (mine / "scripts" / "routines" / "quick.yaml").write_text(QUICK)
    with pytest.raises(ScriptError, match=r"quick\.yaml:4:20: no technique has the id 'face'"):
        open_library(mine / "scripts")


def test_overriding_a_technique_rebuilds_it(mine: Path, tmp_path: Path) -> None:
    """The build's fingerprint follows the script it read: a clinic's own version of a
    bundled technique makes new audio, with its words."""
    outro = (BUNDLED / "techniques" / "outro.yaml").read_text()
    options = BuildOptions(chosen={"engine": "tone"}, cache=ClipCache(tmp_path / "cache"),
                           out=tmp_path / "out", jobs=1)
    (first,) = build(open_library(mine / "scripts"), ["outro"], options)
    assert not first.unchanged
    said = outro.split("say: ", 2)[1].split("\n", 1)[0]
    (mine / "scripts" / "techniques" / "outro.yaml").write_text(
        outro.replace(said, "Well done, and see you next week."))
    (second,) = build(open_library(mine / "scripts"), ["outro"], options)
    assert not second.unchanged
    manifest = read_manifest(second.folder)
    assert manifest is not None
    spoken = [i.text for t in manifest.tracks for i in t.items if i.kind == "speech"]
    assert "Well done, and see you next week." in spoken and said not in spoken
    (third,) = build(open_library(mine / "scripts"), ["outro"], options)
    assert third.unchanged
