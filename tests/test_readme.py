"""The README is part of the product: its quick start, its script examples, its command
and exit-code tables must stay true."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from mutagen.id3 import ID3
from PIL import Image
from ruamel.yaml import YAML

from voiceguide.cli import app
from voiceguide.errors import ExitCode
from voiceguide.text import plural

README = (REPO / "README.md").read_text(encoding="utf-8")
VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_quick_start_is_exactly_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1]
    assert code_blocks("sh")[0] == "make run\nmake test\n"
    assert quick_start.index("make run") < quick_start.index("## ")


@pytest.fixture
def example_library(tmp_path: Path) -> Path:
    """The README's technique and routine examples as files of a scripts folder."""
    technique, routine, clinic, _client, _lexicon = code_blocks("yaml")
    scripts = tmp_path / "scripts"
    (scripts / "techniques").mkdir(parents=True)
    (scripts / "routines").mkdir()
    (scripts / "techniques" / "shoulder-release.yaml").write_text(technique)
    # The routine example names the seed library's techniques: the bundled library under
    # this folder has them.
    (scripts / "routines" / "homework.yaml").write_text(routine)
    (scripts / "clinic.yaml").write_text(clinic)
    Image.new("RGB", (1400, 1400), "teal").save(scripts / "cover.png")  # the one it names
    return scripts


def ids(folder: Path) -> set[str]:
    """The ids the YAML files of a folder give themselves."""
    return {YAML(typ="safe").load(p.read_text())["id"] for p in folder.glob("*.yaml")}


def test_readme_examples_validate(example_library: Path) -> None:
    """The examples are checked over the bundled library, as a clinic's folder is: the
    counts follow the seed scripts (a technique added to them does not break this)."""
    result = subprocess.run([VOICEGUIDE, "validate", "--scripts", str(example_library)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    techniques = ids(REPO / "scripts" / "techniques") | ids(example_library / "techniques")
    routines = ids(REPO / "scripts" / "routines") | ids(example_library / "routines")
    assert "shoulder-release" in techniques and len(routines) >= 1
    assert result.stdout.startswith(f"OK: {plural(len(techniques), 'technique')} and "
                                    f"{plural(len(routines), 'routine')} in "
                                    f"{example_library}, over the bundled library")


@pytest.mark.e2e
def test_readme_technique_example_builds_with_the_real_voice(example_library: Path,
                                                             tmp_path: Path) -> None:
    result = subprocess.run([VOICEGUIDE, "build", "shoulder-release", "--scripts",
                             str(example_library), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "shoulder-release" / "manifest.json")
                          .read_text())
    items = manifest["tracks"][0]["items"]
    said = [i["text"] for i in items if i["kind"] == "speech"]
    assert said.count("Roll your shoulders slowly back and down.") == 3
    assert said.count("Squeeze gently, and hold.") == 2
    assert "Reach your right hand to your left shoulder." in said
    assert "Now the same on your left side." in said
    assert said.index("Now the same on your left side.") < said.index(
        "Reach your left hand to your right shoulder.")
    starts = [i["end_ms"] for i in items if i.get("cue") == "hold_start"]
    ends = [i["start_ms"] for i in items if i.get("cue") == "hold_end"]
    assert [e - s for s, e in zip(starts, ends, strict=True)] == [20_000, 20_000]
    assert said.count("10 more seconds.") == 2
    audio = tmp_path / "out" / "shoulder-release" / "shoulder-release.mp3"
    tags = ID3(audio)
    assert str(tags["TPE1"]) == "Healing Hands"  # the README's clinic profile
    assert Image.open(io.BytesIO(tags.getall("APIC")[0].data)).getpixel((5, 5)) == (0, 128, 128)


OPTION_NAMES = {"out": "--out", "engine": "--engine", "voice": "--voice", "rate": "--rate",
                "volume": "--volume", "jobs": "--jobs", "audio_format": "--format",
                "bitrate": "--bitrate", "loudness": "--loudness", "true_peak": "--true-peak",
                "step_chapters": "--step-chapters", "clinic": "--clinic",
                "scripts": "--scripts", "client": "--client", "pace": "--pace",
                "slow": "--slow", "minutes": "--minutes", "countdown": "--countdown",
                "cues": "--cues", "background": "--background", "cache": "--cache",
                "no_cache": "--no-cache", "no_wait": "--no-wait", "quiet": "--quiet",
                "language": "--language"}


def test_every_command_and_build_option_is_documented() -> None:
    commands = [c.name for c in app.registered_commands]
    assert sorted(commands) == ["batch", "build", "check", "init", "list", "say", "share",
                                "show", "studio", "validate"]
    assert sorted(str(g.name) for g in app.registered_groups) == ["cache", "voices"]
    assert "`voiceguide voices`" in README
    for name in commands:
        assert f"`voiceguide {name}" in README, name
    for group in app.registered_groups:
        assert group.typer_instance is not None
        for sub in group.typer_instance.registered_commands:
            assert f"`voiceguide {group.name} {sub.name}`" in README
    build = next(c for c in app.registered_commands if c.name == "build")
    assert build.callback is not None
    for param in build.callback.__annotations__:
        assert param in {"names", "return"} or param in OPTION_NAMES, param
    for option in OPTION_NAMES.values():
        assert f"`{option}" in README, option
    share = next(c for c in app.registered_commands if c.name == "share")
    assert share.callback is not None
    section = README.split("## Sharing with clients", 1)[1].split("\n## ", 1)[0]
    for param in share.callback.__annotations__:
        if param not in {"name", "return"}:
            assert f"`{OPTION_NAMES.get(param, '--' + param.replace('_', '-'))}" in section, \
                param
    check = next(c for c in app.registered_commands if c.name == "check")
    assert check.callback is not None
    section = README.split("## Checking before sending", 1)[1].split("\n## ", 1)[0]
    for param in check.callback.__annotations__:
        if param not in {"name", "return"}:
            option = {"files": "--file"}.get(param, OPTION_NAMES.get(param, ""))
            assert f"`{option or '--' + param.replace('_', '-')}" in section, param
    studio = next(c for c in app.registered_commands if c.name == "studio")
    assert studio.callback is not None
    section = README.split("## The studio", 1)[1].split("\n## ", 1)[0]
    for param in studio.callback.__annotations__:
        if param != "return":
            option = OPTION_NAMES.get(param, "--" + param.replace("_", "-"))
            assert f"`{option}" in section, param


def test_exit_codes_table_matches_the_code() -> None:
    table = README.split("Exit codes:", 1)[1]
    rows = re.findall(r"^\| (\d) \| ", table, flags=re.M)
    assert [int(r) for r in rows] == [int(c) for c in ExitCode]


def test_readme_client_example_is_the_shipped_one() -> None:
    assert code_blocks("yaml")[3] == (REPO / "clients" / "maria.yaml").read_text()


def test_readme_lexicon_example_loads(tmp_path: Path) -> None:
    from voiceguide.lexicon import load_lexicon

    path = tmp_path / "lexicon.yaml"
    path.write_text(code_blocks("yaml")[4])
    lexicon = load_lexicon("en", path)
    assert lexicon.apply("Close the door, find the masseter.") == (
        "Cloze the door, find the miseeter.")


# --------------------------------------------------------------------------- licences


def licence_rows() -> dict[str, str]:
    """The README's licence table: each package named in backticks in the first column
    (normalized as pip does), with its licence cell."""
    from packaging.utils import canonicalize_name

    section = README.split("## Licences", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("part", "---"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[canonicalize_name(name)] = cells[1]
    return rows


def test_every_runtime_dependency_has_a_row_in_the_licence_table() -> None:
    """A new dependency must say its licence in the README; the licence is the one its
    installed metadata states (License-Expression, or a short License field)."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    rows = licence_rows()
    for dependency in pyproject["project"]["dependencies"]:
        name = canonicalize_name(Requirement(dependency).name)
        assert name in rows, f"{name} has no row under the README's 'Licences'"
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue  # a dependency of other Pythons only (audioop-lts)
        stated = meta.get("License-Expression") or meta.get("License") or ""
        if stated and len(stated) <= 60 and "\n" not in stated:
            assert stated in rows[name], (name, stated, rows[name])
    assert pyproject["project"]["license"] == "MIT"


def test_the_licence_file_is_mit() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the voiceguide authors\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
