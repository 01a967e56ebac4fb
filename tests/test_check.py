"""`voiceguide check` on the quick start's real build: it passes as built, and fails
(exit 6, naming the script's file:line) when a sentence is not what the manifest says,
when a track is cut short, and when a pause has sound in it.

Recognising the whole 16-minute routine takes minutes (see the README), so each test
checks only the files it needs (`--file`): the outro track (51 s, five sentences of the
outro script) and, once, the full routine file with its chapters."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, VOICEGUIDE

from voiceguide.check import normalise, number_words
from voiceguide.encode import Encoding, decode, encode
from voiceguide.errors import ExitCode
from voiceguide.model import Clip

TRACK = "06-outro.mp3"


def check(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, "check", "--out", str(folder.parent), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture
def copy(quickstart: Path, tmp_path: Path) -> Path:
    """The quick start's routine folder, copied to be spoiled."""
    return Path(shutil.copytree(quickstart, tmp_path / quickstart.name))


def outro(folder: Path) -> tuple[dict[str, Any], int]:
    """The outro track's manifest entry, and the files' frame rate."""
    manifest = json.loads((folder / "manifest.json").read_text())
    track = next(t for t in manifest["tracks"] if t["file"] == TRACK)
    return track, manifest["routine"]["frame_rate"]


def test_normalise_says_numbers_as_words() -> None:
    assert normalise("Hold 10 more seconds.") == "hold ten more seconds"
    assert normalise("You'll need a well-warmed towel; 45 or 300!") == \
        "you'll need a well warmed towel forty five or three hundred"
    assert number_words(1234) == "one thousand two hundred thirty four"


@pytest.mark.e2e
def test_the_quick_start_build_passes(quickstart: Path) -> None:
    result = check(quickstart, "--file", TRACK, "--file", "homework.mp3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Word error rate of open recognition:" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()
            if line.endswith((" ok", " -"))}
    assert rows[TRACK][1] == "6/6", result.stdout  # every sentence recognised
    assert rows["homework.mp3"][-1] == "ok", result.stdout  # chapters
    assert "OK: 2 files checked, no problems." in result.stdout


@pytest.mark.e2e
def test_a_sentence_that_is_not_said_is_named_by_its_line(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    track = next(t for t in manifest["tracks"] if t["file"] == TRACK)
    item = next(i for i in track["items"] if i.get("source") == "techniques/outro.yaml:10")
    item["text"] = "Now press firmly on your forehead."  # "And let it go." is said
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = check(copy, "--file", TRACK, "--no-wer")
    assert result.returncode == ExitCode.CHECK_FAILED, result.stdout + result.stderr
    # "and let it go" is no longer in the grammar: nothing of it may be heard at all
    assert "scripts/techniques/outro.yaml:10: the voice at 0:15.3-0:16.4 does not say " \
        "'Now press firmly on your forehead.' (heard" in result.stdout, result.stdout
    assert "1 problem found" in result.stdout


@pytest.mark.e2e
def test_a_truncated_track_fails(copy: Path) -> None:
    clip = decode(copy / TRACK, outro(copy)[1])
    half = clip.pcm[:len(clip.pcm) // 4 * 2]
    encode(Clip(half, clip.frame_rate), copy / TRACK, Encoding())
    result = check(copy, "--file", TRACK, "--no-wer")
    assert result.returncode == ExitCode.CHECK_FAILED, result.stdout + result.stderr
    said = re.search(rf"{re.escape(TRACK)}: the file is (\d+):(\d+\.\d) long, the manifest "
                     r"says (\d+):(\d+\.\d)", result.stdout)
    assert said, result.stdout
    minutes, seconds, whole_minutes, whole_seconds = map(float, said.groups())
    assert abs((minutes * 60 + seconds) * 2 - (whole_minutes * 60 + whole_seconds)) < 0.3
    assert re.search(r"outro\.yaml:14: the voice at [\d:.-]+ does not say", result.stdout)


@pytest.mark.e2e
def test_a_pause_with_sound_in_it_fails(copy: Path) -> None:
    track, rate = outro(copy)
    pause = next(i for i in track["items"]
                 if i.get("source") == "techniques/outro.yaml:9")  # 11.3-15.3 s
    clip = decode(copy / TRACK, rate)
    samples = np.frombuffer(clip.pcm, dtype="<i2").copy()
    start, end = ((pause["start_ms"] + 1000) * rate // 1000,
                  (pause["end_ms"] - 1000) * rate // 1000)
    tone = np.sin(2 * np.pi * 440 * np.arange(end - start) / rate) * 0.03 * 32767  # -30 dB
    samples[start:end] += tone.astype("<i2")
    encode(Clip(samples.tobytes(), rate), copy / TRACK, Encoding())
    result = check(copy, "--file", TRACK, "--no-wer")
    assert result.returncode == ExitCode.CHECK_FAILED, result.stdout + result.stderr
    assert "outro.yaml:9: the pause at 0:11.3-0:15.3 is not silent (up to -3" \
        in result.stdout, result.stdout
    assert decode(copy / TRACK, rate).ms == clip.ms  # the same length: only the pause


def test_a_routine_never_built_is_exit_3(tmp_path: Path) -> None:
    result = subprocess.run([VOICEGUIDE, "check", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == ExitCode.INVALID_SCRIPT, result.stdout + result.stderr
    assert "build it first: voiceguide build --out" in result.stderr


@pytest.mark.e2e
def test_speech_is_not_checked_in_another_language(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["settings"]["language"] = "de"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = check(copy, "--file", TRACK)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "speech not checked: recognition is English only" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith(TRACK))
    assert row.split()[1:4] == ["-", "-", "5/5"], row
