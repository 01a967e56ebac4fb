"""Hands-free guidance, measured in the decoded audio: holds bracketed by their cues and
exactly as long as stated, the switch between side passes, a personal routine fitted to
its length, and a background bed that ducks under the voice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio import Decoded, decode, load_manifest, silences
from conftest import REPO, Writer

from voiceguide.errors import ExitCode

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))
TOLERANCE_MS = 60


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def maria(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped example client, built as the README says, with the real voice."""
    out = tmp_path_factory.mktemp("clients")
    result = run("build", "--client", "clients/maria.yaml", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out / "maria"


def track(manifest: dict[str, Any], tid: str) -> dict[str, Any]:
    return next(t for t in manifest["tracks"] if t["id"] == tid)


def audio(folder: Path, manifest: dict[str, Any], entry: dict[str, Any]) -> Decoded:
    return decode(folder / entry["file"], manifest["routine"]["frame_rate"])


def holds(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each hold's items, from its start cue to its end cue."""
    found, current = [], None
    for item in items:
        if item.get("cue") == "hold_start":
            current = [item]
        elif current is not None:
            current.append(item)
            if item.get("cue") == "hold_end":
                found.append(current)
                current = None
    return found


pytestmark = pytest.mark.e2e


def test_client_routine_has_the_greeting_and_the_chosen_techniques(maria: Path) -> None:
    manifest = load_manifest(maria)
    assert [t["id"] for t in manifest["tracks"]] == ["intro", "neck", "back", "outro"]
    first = manifest["tracks"][0]
    said = [i for i in first["items"] if i["kind"] == "speech"]
    assert said[0]["text"] == "Hi Maria."
    assert said[1]["text"].startswith("Take it slowly on the left side")
    assert said[2]["text"] == "Today: 2 techniques, about 10 minutes."
    decoded = audio(maria, manifest, first)
    assert decoded.span_dbfs(said[0]["start_ms"], said[0]["end_ms"]) > -35
    assert manifest["settings"]["rate"] == 125  # the client's own rate


def test_minutes_lands_within_five_percent(maria: Path) -> None:
    manifest = load_manifest(maria)
    full = audio(maria, manifest, manifest["routine"])
    assert abs(full.ms - 10 * 60_000) <= 0.05 * 10 * 60_000, full.ms


def _check_holds(folder: Path, manifest: dict[str, Any], tid: str) -> int:
    entry = track(manifest, tid)
    decoded = audio(folder, manifest, entry)
    found = silences(decoded, min_ms=300)
    checked = 0
    for hold in holds(entry["items"]):
        start_cue, end_cue = hold[0], hold[-1]
        stated = sum(i["end_ms"] - i["start_ms"] for i in hold[1:-1])
        # The stillness is exactly the stated time, between the two cues.
        assert end_cue["start_ms"] - start_cue["end_ms"] == stated
        # ...and the decoded audio is silent from the start cue's end (the countdown, if
        # any, the only sound) up to the end cue, which sounds.
        first = next(s for s in found if abs(s[0] - start_cue["end_ms"]) <= TOLERANCE_MS)
        last = next(s for s in found if abs(s[1] - end_cue["start_ms"]) <= TOLERANCE_MS)
        spoken = [i for i in hold[1:-1] if i["kind"] == "speech"]
        if not spoken:
            assert first == last
            assert abs((first[1] - first[0]) - stated) <= TOLERANCE_MS
        for cue in (start_cue, end_cue):
            assert decoded.span_dbfs(cue["start_ms"], cue["end_ms"]) > -45, cue
        checked += 1
    return checked


def test_holds_are_bracketed_by_cues_and_exactly_as_long_as_stated(quickstart: Path,
                                                                    maria: Path) -> None:
    homework = load_manifest(quickstart)
    assert _check_holds(quickstart, homework, "face") == 1  # 8 s, no countdown
    assert _check_holds(quickstart, homework, "back") == 3  # 30 s, "10 more seconds"
    client = load_manifest(maria)
    back = track(client, "back")
    assert [sum(i["end_ms"] - i["start_ms"] for i in h[1:-1]) for h in holds(back["items"])
            ] == [20_000] * len(holds(back["items"]))  # Maria's override: 20 s
    assert _check_holds(maria, client, "back") >= 2


def test_the_switch_cue_sits_between_the_two_side_passes(maria: Path) -> None:
    manifest = load_manifest(maria)
    neck = track(manifest, "neck")
    said = [i for i in neck["items"] if i["kind"] == "speech"]
    texts = [i["text"] for i in said]
    right = texts.index(next(t for t in texts if t.startswith("Put your right arm")))
    switch = texts.index("Now the same with your left arm.")
    left = texts.index(next(t for t in texts if t.startswith("Put your left arm")))
    assert right < switch < left
    assert "Tilt your head toward your left shoulder" in " ".join(texts[right:switch])
    assert "Tilt your head toward your right shoulder" in " ".join(texts[left:])
    decoded = audio(maria, manifest, neck)
    assert decoded.span_dbfs(said[switch]["start_ms"], said[switch]["end_ms"]) > -35


# --------------------------------------------------------------------------- background


CALM = """\
id: calm
title: Calm
summary: Long sentences and long pauses.
steps:
  - repeat:
      times: 4
      steps:
        - say: Breathe in slowly, and feel your shoulders soften as the air fills you up.
        - pause: 6s
"""


@pytest.mark.parametrize("bed", ["rain", "drone"])
def test_background_bed_ducks_at_least_10_db_under_the_voice(
        write: Writer, scripts: Path, tmp_path: Path, bed: str) -> None:
    """Built twice, with and without the bed, lossless: the bed is what the difference
    leaves once the voice is matched (the loudness normalization scales each build)."""
    write("techniques/calm.yaml", CALM)
    builds = {}
    for name, extra in (("plain", []), ("bed", ["--background", bed])):
        out = tmp_path / name
        result = run("build", "calm", "--engine", "tone", "--format", "wav", "--scripts",
                     str(scripts), "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
        manifest = load_manifest(out / "calm")
        builds[name] = (manifest, audio(out / "calm", manifest, manifest["routine"]))
    manifest, bed_mix = builds["bed"]
    _, plain = builds["plain"]
    rate = bed_mix.frame_rate
    items = manifest["tracks"][0]["items"]
    mix = bed_mix.samples.astype(np.float64)
    voice = plain.samples.astype(np.float64)

    def spans(kind: str, margin_ms: int) -> np.ndarray:
        mask = np.zeros(mix.size, dtype=bool)
        for item in items:
            if item["kind"] == kind and item["end_ms"] - item["start_ms"] > 2 * margin_ms:
                mask[(item["start_ms"] + margin_ms) * rate // 1000:
                     (item["end_ms"] - margin_ms) * rate // 1000] = True
        return mask

    speech, pauses = spans("speech", 500), spans("silence", 1000)
    gain = float(np.dot(mix[speech], voice[speech]) / np.dot(voice[speech], voice[speech]))
    bed = mix - gain * voice

    def db(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x**2) + 1e-12))

    under_speech, in_pauses = db(bed[speech]), db(mix[pauses])
    assert under_speech <= in_pauses - 10, (under_speech, in_pauses)
    assert in_pauses > 20 * np.log10(32768) - 70  # the pauses carry the bed, audibly
    assert np.all(voice[pauses] == 0)  # and no speech


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "expected"), [
    (["--minutes", "1"], "error: 'daily' can't be made 1 minutes long: with these techniques "
                         "it runs from"),
    (["--background", "missing.mp3"], "missing.mp3"),
    (["--background", "rian"], "rain"),
])
def test_bad_guidance_options_fail_before_writing(scripts: Path, tmp_path: Path,
                                                  args: list[str], expected: str) -> None:
    out = tmp_path / "out"
    result = run("build", "--engine", "tone", "--scripts", str(scripts), "--out", str(out),
                 *args)
    assert result.returncode == ExitCode.INVALID_SCRIPT, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_slow_preset_slows_speech_and_stretches_pauses_not_holds(scripts: Path,
                                                                 tmp_path: Path) -> None:
    result = run("build", "neck", "--slow", "--engine", "tone", "--format", "wav",
                 "--scripts", str(scripts), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = load_manifest(tmp_path / "neck")
    assert (manifest["settings"]["rate"], manifest["settings"]["pace"]) == (120, 1.4)
    assert manifest["build"]["pacing"]["pace"] == 1.4
    items = manifest["tracks"][0]["items"]
    lengths = {(i["reason"], i["end_ms"] - i["start_ms"]) for i in items
               if i["kind"] == "silence"}
    assert ("hold", 3000) in lengths and ("pause", 2800) in lengths  # 2 s * 1.4


def test_bad_lexicon_entry_fails_before_writing(write: Writer, scripts: Path,
                                                tmp_path: Path) -> None:
    write("lexicon.yaml", "masseter: ''\n")
    result = run("build", "--engine", "tone", "--scripts", str(scripts),
                 "--out", str(tmp_path / "out"))
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert "lexicon.yaml:1:" in result.stderr
    assert not (tmp_path / "out").exists()
