"""End to end, as a user runs it: `make run` with the real pyttsx3 voice and the real MP3
encoder, then every file is decoded and measured against the manifest."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from audio import Decoded, decode, load_manifest, silence_runs, silences
from conftest import REPO

pytestmark = pytest.mark.e2e

TOLERANCE_MS = 60
EXPECTED_FILES = ["01-intro.mp3", "02-face.mp3", "03-neck.mp3", "04-back.mp3",
                  "05-ankles-legs.mp3", "06-outro.mp3"]


@pytest.fixture(scope="module")
def built(quickstart: Path) -> Path:
    return quickstart


@pytest.fixture(scope="module")
def manifest(built: Path) -> dict[str, Any]:
    return load_manifest(built)


@pytest.fixture(scope="module")
def decoded(built: Path, manifest: dict[str, Any]) -> dict[str, Decoded]:
    rate = manifest["routine"]["frame_rate"]
    files = [t["file"] for t in manifest["tracks"]] + [manifest["routine"]["file"]]
    return {f: decode(built / f, rate) for f in files}


def test_make_run_builds_six_tracks_the_full_routine_and_a_manifest(built: Path,
                                                                     manifest: dict[str, Any]
                                                                     ) -> None:
    captions = [f.replace(".mp3", ".vtt") for f in EXPECTED_FILES]
    assert sorted(p.name for p in built.iterdir()) == sorted(
        [*EXPECTED_FILES, *captions, "homework.mp3", "homework.vtt", "homework.m3u8",
         "manifest.json"])
    assert [t["file"] for t in manifest["tracks"]] == EXPECTED_FILES
    assert manifest["settings"]["engine"] == "pyttsx3"
    assert manifest["settings"]["rate"] == 140
    assert not list(built.parent.glob("**/*.tmp"))


def test_decoded_lengths_match_the_manifest(manifest: dict[str, Any],
                                            decoded: dict[str, Decoded]) -> None:
    """LAME's gapless header lets ffmpeg decode exactly what was encoded. (Players that
    ignore it add up to two MP3 frames: MP3_FRAME samples each.)"""
    for entry in [*manifest["tracks"], manifest["routine"]]:
        assert abs(decoded[entry["file"]].ms - entry["duration_ms"]) <= 1, entry["file"]


def test_tracks_add_up_to_the_full_routine(manifest: dict[str, Any]) -> None:
    position = 0
    for track in manifest["tracks"]:
        assert abs(track["start_ms"] - position) <= 1
        position += track["duration_ms"]
        items = track["items"]
        assert items[0]["start_ms"] == 0
        assert items[-1]["end_ms"] == track["duration_ms"]
        assert all(a["end_ms"] == b["start_ms"] for a, b in itertools.pairwise(items))
    assert abs(position - manifest["routine"]["duration_ms"]) <= len(manifest["tracks"])


def _check_silences(decoded: Decoded, items: list[dict[str, Any]]) -> int:
    found = silences(decoded)
    checked = 0
    for start, end in silence_runs(items):
        match = [(s, e) for s, e in found if abs(s - start) <= TOLERANCE_MS]
        assert match, f"no silence found near {start} ms (expected {end - start} ms)"
        s, e = match[0]
        assert e - s >= end - start - TOLERANCE_MS, f"silence at {start} ms is only {e - s} ms"
        checked += 1
    return checked


def test_every_pause_and_hold_is_silent_where_the_manifest_says(
        manifest: dict[str, Any], decoded: dict[str, Decoded]) -> None:
    holds = 0
    for track in manifest["tracks"]:
        assert _check_silences(decoded[track["file"]], track["items"]) > 0
        holds += sum(1 for i in track["items"] if i.get("reason") == "hold")
    assert holds >= 3  # the back technique's 30-second holds, at least


def test_the_full_routine_keeps_every_silence_at_its_offset(
        manifest: dict[str, Any], decoded: dict[str, Decoded]) -> None:
    full = decoded[manifest["routine"]["file"]]
    items = [{**item, "start_ms": item["start_ms"] + track["start_ms"],
              "end_ms": item["end_ms"] + track["start_ms"]}
             for track in manifest["tracks"] for item in track["items"]]
    assert _check_silences(full, items) > 100


def test_there_is_sound_where_the_manifest_says_speech(manifest: dict[str, Any],
                                                       decoded: dict[str, Decoded]) -> None:
    for track in manifest["tracks"]:
        audio = decoded[track["file"]]
        for item in track["items"]:
            level = audio.span_dbfs(item["start_ms"], item["end_ms"])
            if item["kind"] in ("speech", "cue"):
                assert level > -35, f"{track['file']}: quiet {item}"
            else:
                assert level < -50, f"{track['file']}: noise in {item}"


def test_holds_wait_exactly_as_long_as_the_script_says(manifest: dict[str, Any]) -> None:
    """From the end of the start cue to the start of the end cue: 30 s, countdown
    included."""
    back = next(t for t in manifest["tracks"] if t["id"] == "back")
    starts = [i["end_ms"] for i in back["items"] if i.get("cue") == "hold_start"]
    ends = [i["start_ms"] for i in back["items"] if i.get("cue") == "hold_end"]
    assert [e - s for s, e in zip(starts, ends, strict=True)] == [30_000, 30_000, 30_000]


def test_readme_output_table_matches_the_build(manifest: dict[str, Any]) -> None:
    """The README promises these lengths to the clinic; keep them true (within 2 s)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\d\d-[a-z-]+\.mp3)` \| .*\((\d+):(\d\d)\) \|$", readme,
                      flags=re.M)
    promised = {f: int(m) * 60 + int(s) for f, m, s in rows}
    assert list(promised) == EXPECTED_FILES
    for track in manifest["tracks"]:
        assert abs(promised[track["file"]] - track["duration_ms"] / 1000) <= 2, track["file"]
