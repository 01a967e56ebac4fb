"""Nothing lost, nothing mixed: a routine folder is always a whole build, whatever stops
the process, and faults get the exit code that says whose they are.

Kills are real: the CLI runs as a subprocess and is stopped with SIGKILL at each named
step of writing (voiceguide.atomic.checkpoint); then the folder must be, byte for byte,
the old build or the new one, and the next build must leave no leftovers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiceguide.atomic import folder_lock
from voiceguide.errors import ExitCode
from voiceguide.manifest import read_manifest

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))
STEPS = ("staged", "encoded", "written", "synced", "published")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its path inside it."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def leftovers(out: Path) -> list[str]:
    """Hidden staging folders and temporary files anywhere under `out` (lock files are
    meant to stay)."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*")
                  if not p.name.endswith(".lock"))


def build(scripts: Path, out: Path, *extra: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return run("build", "--engine", "tone", "--scripts", str(scripts), "--out", str(out),
               "--jobs", "2", *extra, env=env)


@pytest.fixture
def versions(scripts: Path, tmp_path: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The default routine built as it is (old) and after an edit (new), each in a
    reference folder of its own; the scripts are left edited."""
    assert build(scripts, tmp_path / "ref-old").returncode == 0
    hello = scripts / "techniques" / "hello.yaml"
    hello.write_text(hello.read_text().replace("Welcome.", "Welcome, this is new."))
    assert build(scripts, tmp_path / "ref-new").returncode == 0
    old, new = (snapshot(tmp_path / f"ref-{v}" / "daily") for v in ("old", "new"))
    assert old != new
    hello.write_text(hello.read_text().replace("Welcome, this is new.", "Welcome."))
    return old, new


@pytest.mark.parametrize("step", STEPS)
def test_a_build_killed_at_any_step_leaves_the_old_folder_or_the_new(
        scripts: Path, tmp_path: Path, versions: tuple[dict[str, bytes], dict[str, bytes]],
        step: str) -> None:
    old, new = versions
    out = tmp_path / "out"
    assert build(scripts, out).returncode == 0
    assert snapshot(out / "daily") == old
    hello = scripts / "techniques" / "hello.yaml"
    hello.write_text(hello.read_text().replace("Welcome.", "Welcome, this is new."))
    killed = build(scripts, out, env={"VOICEGUIDE_STOP_AT": step})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = snapshot(out / "daily")
    assert after in (old, new), f"killed at {step}: a mixed folder"
    assert after == (new if step == "published" else old)
    again = build(scripts, out)
    assert again.returncode == 0, again.stderr
    assert snapshot(out / "daily") == new
    assert leftovers(out) == []


@pytest.mark.parametrize("step", ["staged", "written", "published"])
def test_a_share_killed_at_any_step_leaves_the_old_share_or_the_new(
        scripts: Path, tmp_path: Path, step: str) -> None:
    out = tmp_path / "out"
    first = run("share", "--scripts", str(scripts), "--out", str(out), "--base-url",
                "https://clinic.example/a/")
    assert first.returncode == 0, first.stderr
    old = snapshot(out / "daily")
    killed = run("share", "--scripts", str(scripts), "--out", str(out), "--base-url",
                 "https://clinic.example/b/", env={"VOICEGUIDE_STOP_AT": step})
    assert killed.returncode == -signal.SIGKILL
    after = snapshot(out / "daily")
    if step == "published":
        assert after != old and b"clinic.example/b/" in after["share/feed.xml"]
    else:
        assert after == old
    assert run("share", "--scripts", str(scripts), "--out", str(out), "--base-url",
               "https://clinic.example/b/").returncode == 0
    assert leftovers(out) == []


def test_leftovers_of_older_versions_are_removed_and_an_aside_folder_put_back(
        scripts: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert build(scripts, out).returncode == 0
    whole = snapshot(out / "daily")
    (out / "daily" / ".01-hello.mp3.4242.140245.tmp").write_bytes(b"half an mp3")
    (out / "daily" / ".share.4242.abcd1234.tmp").mkdir()
    (out / ".daily.stage.4242.abcdef012345.tmp").mkdir()
    # a build killed between renaming the old folder aside and the new one in
    (out / "daily").rename(out / ".daily.old.4242.abcdef012345.tmp")
    result = build(scripts, out)
    assert result.returncode == 0 and result.stdout.startswith("Unchanged"), result.stdout
    assert snapshot(out / "daily") == whole
    assert leftovers(out) == []


def test_a_damaged_or_foreign_file_is_rebuilt_never_unchanged(scripts: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert build(scripts, out).returncode == 0
    whole = snapshot(out / "daily")
    track = out / "daily" / "02-neck.mp3"
    track.write_bytes(track.read_bytes()[: track.stat().st_size // 2])  # truncated
    result = build(scripts, out)
    assert result.returncode == 0 and result.stdout.startswith("Built"), result.stdout
    assert snapshot(out / "daily") == whole
    (out / "daily" / "daily.vtt").write_text("WEBVTT\n")  # the same size? no: foreign
    assert build(scripts, out).stdout.startswith("Built")
    assert snapshot(out / "daily") == whole


def test_the_users_own_files_and_the_share_folder_survive_a_rebuild(
        scripts: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("share", "--scripts", str(scripts), "--out", str(out)).returncode == 0
    (out / "daily" / "notes.txt").write_text("mine")
    shared = snapshot(out / "daily" / "share")
    hello = scripts / "techniques" / "hello.yaml"
    hello.write_text(hello.read_text().replace("Welcome.", "Welcome, this is new."))
    assert build(scripts, out).stdout.startswith("Built")
    assert (out / "daily" / "notes.txt").read_text() == "mine"
    assert snapshot(out / "daily" / "share") == shared  # the share as it was sent
    assert (out / "daily" / "daily-share.zip").is_file()


# --------------------------------------------------------------------------- two at once


def test_a_second_build_waits_for_the_first_or_stops_with_no_wait(scripts: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    folder = out / "daily"
    with folder_lock(folder):
        refused = build(scripts, out, "--no-wait")
        assert refused.returncode == ExitCode.OUTPUT
        assert "is being written by another voiceguide" in refused.stderr
        assert not folder.exists()
        waiting = subprocess.Popen([VOICEGUIDE, "build", "--engine", "tone", "--scripts",
                                    str(scripts), "--out", str(out)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert waiting.poll() is None  # it waits
        assert not folder.exists()
    stdout, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and stdout.startswith("Built")


def test_two_builds_with_different_inputs_end_consistent(scripts: Path, tmp_path: Path
                                                        ) -> None:
    out = tmp_path / "out"
    assert build(scripts, out).returncode == 0
    for _ in range(3):
        runs = [subprocess.Popen([VOICEGUIDE, "build", "--engine", "tone", "--scripts",
                                  str(scripts), "--out", str(out), *extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for extra in ([], ["--pace", "1.5"])]
        for proc in runs:
            assert proc.wait(timeout=300) == 0
        manifest = read_manifest(out / "daily")
        assert manifest is not None and manifest.intact(out / "daily")
        again = build(scripts, out, *(["--pace", "1.5"] if manifest.settings.pace == 1.5
                                      else []))
        assert again.stdout.startswith("Unchanged"), again.stdout
    assert leftovers(out) == []


# --------------------------------------------------------------------------- faults


def _fake_encoder(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-ffmpeg"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(("body", "message"), [
    ("exit 0", "s long, but"),  # writes nothing at all, says it went well
    # the real encoder, then the file cut in half
    ('"$REAL_FFMPEG" "$@" || exit $?\nfor last; do :; done\n'
     'case "$last" in *.mp3) truncate -s $(($(stat -c %s "$last") / 2)) "$last";; esac',
     "s long, but"),
])
def test_an_encoder_that_writes_no_real_audio_fails_the_build(
        scripts: Path, tmp_path: Path, body: str, message: str) -> None:
    from voiceguide.native import ffmpeg_exe

    out = tmp_path / "out"
    env = {"IMAGEIO_FFMPEG_EXE": _fake_encoder(tmp_path, body), "REAL_FFMPEG": ffmpeg_exe(),
           "VOICEGUIDE_CACHE": str(tmp_path / "cache")}
    result = build(scripts, out, env=env)
    assert result.returncode == ExitCode.ENGINE, result.stderr
    assert message in result.stderr or "could not read back" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "daily").exists()
    assert leftovers(out) == []


def test_a_missing_encoder_is_an_engine_error(scripts: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = build(scripts, out, env={"IMAGEIO_FFMPEG_EXE": str(tmp_path / "no-ffmpeg")})
    assert result.returncode == ExitCode.ENGINE, result.stderr
    assert "ffmpeg" in result.stderr and "imageio-ffmpeg" in result.stderr
    assert not (out / "daily").exists()


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A real file system of `size` (tmpfs), mounted at `path`: root only."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_keeps_the_old_folder_and_exits_5(scripts: Path, tmp_path: Path
                                                      ) -> None:
    with small_disk(tmp_path / "disk", "2m") as disk:
        out = disk / "out"
        assert build(scripts, out).returncode == 0
        whole = snapshot(out / "daily")
        used = sum(len(b) for b in whole.values())
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(bytes(max(free - used // 3, 0)))  # room for a third of it
        hello = scripts / "techniques" / "hello.yaml"
        hello.write_text(hello.read_text().replace("Welcome.", "Welcome, this is new."))
        result = build(scripts, out)
        assert result.returncode == ExitCode.OUTPUT, result.stderr
        assert "No space left on device" in result.stderr
        assert "Traceback" not in result.stderr
        assert snapshot(out / "daily") == whole
        assert leftovers(out) == []


def test_an_output_path_that_is_a_file_exits_5(scripts: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("not a folder")
    result = build(scripts, out)
    assert result.returncode == ExitCode.OUTPUT, result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_text() == "not a folder"


def test_locks_are_per_folder_and_reentrant(tmp_path: Path) -> None:
    entered = threading.Event()
    with folder_lock(tmp_path / "a"), folder_lock(tmp_path / "a"), folder_lock(tmp_path / "b"):
        entered.set()
    assert entered.is_set()
