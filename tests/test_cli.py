"""The command line as a user meets it: exit codes, messages without tracebacks, and
nothing written under the output folder when the input is bad."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Writer

from voiceguide.errors import ExitCode

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def previous_build(tmp_path: Path, scripts: Path) -> Path:
    """An output folder holding an earlier build, which bad input must leave alone."""
    out = tmp_path / "output"
    result = run("build", "--engine", "tone", "--scripts", str(scripts), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "daily" / "daily.mp3").is_file()
    return out


BAD_LIBRARY_CASES = [
    ("techniques/neck.yaml", "id: neck\ntitle: T\nsummary: S\nsteps:\n  - pause: 30 secs\n",
     "neck.yaml:5:12: 'pause': unknown duration unit 'secs' (use s, m, or 1m30s)"),
    ("techniques/neck.yaml", "id: neck\ntitle: T\n\tsummary: S\n",
     "neck.yaml:3:1: a tab is used for indentation"),
    ("routines/daily.yaml", "id: daily\ntitle: D\nsummary: S\ntechniques: [nekc]\n",
     "daily.yaml:4:14: no technique has the id 'nekc' (did you mean 'neck'?)"),
    ("techniques/other.yaml", "id: neck\ntitle: T\nsummary: S\nsteps: [say: Hi]\n",
     "id 'neck' is already used by"),
    ("techniques/neck.yaml", "id: ../x\ntitle: T\nsummary: S\nsteps: [say: Hi]\n",
     "neck.yaml:1:5: 'id' can only use lowercase letters"),
]


@pytest.mark.parametrize(("relative", "text", "expected"), BAD_LIBRARY_CASES)
def test_bad_script_fails_cleanly_and_writes_nothing(
        write: Writer, scripts: Path, previous_build: Path,
        relative: str, text: str, expected: str) -> None:
    before = snapshot(previous_build)
    write(relative, text)
    result = run("build", "--engine", "tone", "--scripts", str(scripts),
                 "--out", str(previous_build))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert expected in result.stderr
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(previous_build) == before


@pytest.mark.parametrize(("option", "expected"), [
    (["--voice", "elvish"], "error: unknown voice 'elvish' (run `voiceguide voices`"),
])
def test_unknown_voice_or_engine_fails_before_writing(
        scripts: Path, previous_build: Path, option: list[str], expected: str) -> None:
    before = snapshot(previous_build)
    result = run("build", *option, "--scripts", str(scripts), "--out", str(previous_build))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert result.stderr.startswith(expected)
    assert "Traceback" not in result.stderr
    assert snapshot(previous_build) == before


@pytest.mark.parametrize(("option", "choices"), [
    (["--engine", "pyttx"], "'pyttx' is not one of 'pyttsx3', 'espeak', 'tone', 'piper'"),
    (["--format", "flac"], "'flac' is not one of 'mp3', 'm4a', 'opus', 'ogg', 'wav'"),
    (["--cues", "gong"], "'gong' is not one of 'bowl', 'chime', 'wood'"),
])
def test_a_wrong_choice_is_a_usage_error_that_lists_the_choices(
        scripts: Path, tmp_path: Path, option: list[str], choices: str) -> None:
    result = run("build", *option, "--scripts", str(scripts), "--out", str(tmp_path / "o"))
    assert result.returncode == ExitCode.USAGE
    assert choices in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "o").exists()


def test_unknown_routine_name_suggests_the_closest(scripts: Path, tmp_path: Path) -> None:
    result = run("build", "dialy", "--scripts", str(scripts), "--out", str(tmp_path / "o"))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert result.stderr.strip() == ("error: no routine or technique is called 'dialy' (did "
                                     "you mean 'daily'?) (run `voiceguide list` to see them)")
    assert not (tmp_path / "o").exists()


def test_output_folder_that_cannot_be_written(scripts: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("build", "--engine", "tone", "--scripts", str(scripts),
                 "--out", str(blocker / "out"))
    assert result.returncode == ExitCode.OUTPUT
    assert result.stderr.startswith("error: can't write to ")


def test_build_a_single_technique_into_one_file(scripts: Path, tmp_path: Path) -> None:
    result = run("build", "neck", "--engine", "tone", "--scripts", str(scripts),
                 "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "neck").iterdir()) == [
        "manifest.json", "neck.m3u8", "neck.mp3", "neck.vtt"]


def test_validate_reports_every_problem_of_every_file(write: Writer, scripts: Path) -> None:
    bad = write("techniques/neck.yaml", "id: neck\ntitel: T\nsummary: S\nsteps:\n"
                "  - pause: 0s\n")
    other = write("techniques/hello.yaml", "id: hello\ntitle: T\nsummary: S\nsteps: []\n")
    result = run("validate", str(bad), str(other))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    lines = [line for line in result.stderr.splitlines() if ".yaml:" in line]
    assert [line.split("/")[-1].split(": ")[0] for line in lines] == [
        "hello.yaml:4:8", "neck.yaml:2:1", "neck.yaml:5:12"]
    assert result.stderr.rstrip().endswith("3 problems found; nothing was written.")


def test_validate_the_whole_library(scripts: Path) -> None:
    result = run("validate", "--scripts", str(scripts))
    assert result.returncode == 0
    assert result.stdout == f"OK: 2 techniques and 1 routine in {scripts}, no problems.\n"


def test_list_shows_techniques_and_routines_with_lengths(scripts: Path) -> None:
    result = run("list", "--scripts", str(scripts))
    assert result.returncode == 0, result.stderr
    assert "  neck             ~  0:" in result.stdout
    assert "  daily            ~  0:" in result.stdout
    assert "Daily (default): hello, neck" in result.stdout


def test_show_prints_the_timeline_and_total(scripts: Path) -> None:
    result = run("show", "neck", "--scripts", str(scripts))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith("say    Sit tall.") for line in lines)
    assert any(line.endswith("hold   3 s") for line in lines)
    assert lines[-1].startswith("Total: ~0:")


def test_voices_lists_english_espeak_voices_with_the_variants_and_the_default() -> None:
    result = run("voices", "--language", "en-us")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Voices (give the id to --voice):"
    (default,) = [line for line in lines if "default" in line and "gmw/" in line]
    assert default.split()[0] == "gmw/en-us" and default.endswith("default, as en-us+f3")
    assert not any("gmw/de " in line for line in lines)  # another language
    # the variants change any voice: listed whatever the language, the default marked
    assert "Variants (add one to a voice id, e.g. en-us+f3):" in lines
    (variant,) = [line for line in lines if line.endswith(" default")]
    assert variant.split() == ["+f3", "female3", "default"]
    assert any(line.split()[:1] == ["+m1"] for line in lines)


def test_scripts_folder_in_the_current_directory_is_used(scripts: Path) -> None:
    result = run("list", cwd=scripts.parent)
    assert result.stdout.startswith("Scripts: scripts\n")  # a library of its own


def test_bundled_library_is_used_elsewhere(tmp_path: Path) -> None:
    result = run("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "homework" in result.stdout and "ankles-legs" in result.stdout
