"""Phone-ready output, measured on the real files with readers other than the code that
wrote them: ffmpeg's ebur128 meter, mutagen, ffprobe, webvtt-py, Pillow."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import webvtt
from audio import decode, ebur128, ffprobe, load_manifest
from conftest import Writer
from mutagen.id3 import ID3, CTOCFlags
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE
from PIL import Image

from voiceguide.build import BuildOptions, build
from voiceguide.errors import ExitCode
from voiceguide.library import load_library
from voiceguide.settings import Choices

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))
TONE: Choices = {"engine": "tone"}


needs_ffprobe = pytest.mark.skipif(ffprobe() is None, reason="no ffprobe on this machine")


def ffprobe_chapters(path: Path) -> list[tuple[str, int, int]]:
    probe = ffprobe()
    assert probe is not None
    out = subprocess.run([probe, "-v", "error", "-show_chapters", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return [(c["tags"]["title"], round(float(c["start_time"]) * 1000),
             round(float(c["end_time"]) * 1000)) for c in json.loads(out)["chapters"]]


def ms(timestamp: str) -> int:
    """'00:01:02.345' -> 62345."""
    hours, minutes, seconds = timestamp.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


# --------------------------------------------------------------------------- default routine


pytestmark = pytest.mark.e2e


def test_every_file_is_at_the_loudness_target(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    entries = [*manifest["tracks"], manifest["routine"]]
    for entry in entries:
        lufs, peak = ebur128(quickstart / entry["file"])
        assert abs(lufs + 16) <= 0.15, (entry["file"], lufs)  # the README's promise
        assert peak <= -1.0, (entry["file"], peak)
        # The manifest records what the file measures (ffmpeg reads to 0.1 LU).
        assert abs(entry["loudness"]["integrated_lufs"] - lufs) <= 0.15
        assert entry["loudness"]["true_peak_dbtp"] <= -1.0


def test_chimes_are_audible_but_quieter_than_the_voice(quickstart: Path) -> None:
    import numpy as np
    import pyloudnorm

    manifest = load_manifest(quickstart)
    track = next(t for t in manifest["tracks"] if t["id"] == "neck")
    audio = decode(quickstart / track["file"], manifest["routine"]["frame_rate"])
    meter = pyloudnorm.Meter(audio.frame_rate)
    samples = audio.samples.astype(np.float64) / 32768

    def lufs(item: dict[str, Any]) -> float:
        span = samples[item["start_ms"] * audio.frame_rate // 1000:
                       item["end_ms"] * audio.frame_rate // 1000]
        return float(meter.integrated_loudness(span))

    voice = float(np.median([lufs(i) for i in track["items"] if i["kind"] == "speech"
                             and i["end_ms"] - i["start_ms"] > 1000]))
    chimes = [lufs(i) for i in track["items"] if i["kind"] == "cue"
              and i["end_ms"] - i["start_ms"] >= 500]  # BS.1770 gates in 400 ms blocks
    assert chimes
    assert all(voice - 12 <= c <= voice - 2 for c in chimes), (voice, chimes)


def test_tags_and_front_cover(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    tracks = manifest["tracks"]
    for n, track in enumerate(tracks, 1):
        tags = ID3(quickstart / track["file"])
        assert tags.version[:2] == (2, 3)
        assert str(tags["TIT2"]) == track["title"]
        assert str(tags["TPE1"]) == "Healing Hands"
        assert str(tags["TALB"]) == manifest["routine"]["title"]
        assert str(tags["TRCK"]) == f"{n}/{len(tracks)}"
        assert str(tags["TCON"]) == "Health & Fitness"
        assert str(tags["TDRC"]) == str(date.today().year)  # TYER in the v2.3 file
        # The summary, then the voice on a line of its own; the voice alone for tools.
        voice = f"Voice: {manifest['build']['voice']} - {manifest['build']['voice_licence']}"
        assert tags["COMM::eng"].text == [f"{track['summary']}\n{voice}"]
        assert tags["COMM:voice:eng"].text == [voice]
        assert str(tags["TLAN"]) == "eng"
        (cover,) = tags.getall("APIC")
        assert cover.type == 3  # front cover
        image = Image.open(io.BytesIO(cover.data))
        assert image.size == (1400, 1400)
    full = ID3(quickstart / manifest["routine"]["file"])
    assert str(full["TALB"]) == f"{manifest['routine']['title']} (full session)"
    assert str(full["TRCK"]) == "1/1"


def test_full_routine_chapters_match_the_manifest(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    expected = [(t["title"], t["start_ms"], t["start_ms"] + t["duration_ms"])
                for t in manifest["tracks"]]
    chapters = manifest["routine"]["chapters"]
    assert [c["title"] for c in chapters] == [t for t, _, _ in expected]
    for chapter, (_, start, end) in zip(chapters, expected, strict=True):
        # Both are rounded from exact sample positions: they may differ by 1 ms.
        assert abs(chapter["start_ms"] - start) <= 1 and abs(chapter["end_ms"] - end) <= 1
    tags = ID3(quickstart / manifest["routine"]["file"])
    (toc,) = tags.getall("CTOC")
    assert toc.flags & CTOCFlags.TOP_LEVEL and toc.flags & CTOCFlags.ORDERED
    chapters = [tags[f"CHAP:{element}"] for element in toc.child_element_ids]
    read = [(str(c.sub_frames["TIT2"]), c.start_time, c.end_time) for c in chapters]
    for (title, start, end), (want_title, want_start, want_end) in zip(read, expected,
                                                                       strict=True):
        assert title == want_title
        assert abs(start - want_start) <= 1 and abs(end - want_end) <= 1


@needs_ffprobe
def test_ffprobe_lists_the_chapters_in_order(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    found = ffprobe_chapters(quickstart / manifest["routine"]["file"])
    assert [title for title, _, _ in found] == [t["title"] for t in manifest["tracks"]]
    for (_, start, end), track in zip(found, manifest["tracks"], strict=True):
        assert abs(start - track["start_ms"]) <= 1
        assert abs(end - (track["start_ms"] + track["duration_ms"])) <= 1


def test_playlist_lists_every_track(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    lines = (quickstart / manifest["routine"]["playlist"]).read_text(encoding="utf-8"
                                                                      ).splitlines()
    assert lines[0] == "#EXTM3U"
    entries = list(zip(lines[1::2], lines[2::2], strict=True))
    assert len(entries) == len(manifest["tracks"])
    for (info, file), track in zip(entries, manifest["tracks"], strict=True):
        seconds, title = re.fullmatch(r"#EXTINF:(\d+),(.*)", info).groups()  # type: ignore[union-attr]
        assert (quickstart / file).is_file() and file == track["file"]
        assert title == track["title"]
        assert abs(int(seconds) - track["duration_ms"] / 1000) <= 1


def test_captions_follow_the_manifest(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    for track in manifest["tracks"]:
        vtt = webvtt.read(str(quickstart / track["captions"]))
        items = track["items"]
        expected = [(i["start_ms"], i["end_ms"], i["text"]) for i in items
                    if i["kind"] == "speech"]
        starts = [i["end_ms"] for i in items if i.get("cue") == "hold_start"]
        ends = [i["start_ms"] for i in items if i.get("cue") == "hold_end"]
        expected += [(s, e, f"Hold - {(e - s) / 1000:g} s")
                     for s, e in zip(starts, ends, strict=True)]
        got = [(ms(c.start), ms(c.end), c.text) for c in vtt.captions]
        assert got == sorted(expected, key=lambda x: (x[0], x[1]))
        assert all(0 <= s < e <= track["duration_ms"] for s, e, _ in got)
    full = webvtt.read(str(quickstart / manifest["routine"]["captions"]))
    assert ms(full.captions[-1].end) <= manifest["routine"]["duration_ms"]
    back = next(t for t in manifest["tracks"] if t["id"] == "back")
    hold_start = next(i for i in back["items"] if i.get("cue") == "hold_start")
    texts = {(ms(c.start), c.text) for c in full.captions}
    assert (back["start_ms"] + hold_start["end_ms"], "Hold - 30 s") in texts


# --------------------------------------------------------------------------- other formats


@pytest.mark.parametrize("audio_format", ["m4a", "opus", "ogg", "wav"])
def test_other_formats_carry_tags_chapters_and_length(scripts: Path, tmp_path: Path,
                                                      audio_format: str) -> None:
    (written,) = build(load_library(scripts), [], BuildOptions(
        chosen={**TONE, "format": audio_format}, out=tmp_path, jobs=2))
    manifest = json.loads(written.manifest.read_text())
    full = written.folder / manifest["routine"]["file"]
    assert full.suffix == f".{audio_format}"
    decoded = decode(full, manifest["routine"]["frame_rate"])
    # Lossy codecs pad a little (AAC priming, Opus pre-skip), less than 50 ms here.
    assert abs(decoded.ms - manifest["routine"]["duration_ms"]) <= 50
    chapters = [(c["title"], c["start_ms"]) for c in manifest["routine"]["chapters"]]
    assert [t for t, _ in chapters] == ["Hello", "Relieve Tension in the Neck"]
    voice = "Voice: en-us+f3 (tone) - test tone"
    comment = f"{manifest['routine']['summary']}\n{voice}"
    if audio_format == "m4a":
        mp4 = MP4(full)
        assert mp4.tags is not None and mp4.tags["\xa9ART"] == ["voiceguide"]
        assert mp4.tags["covr"]
        assert mp4.tags["\xa9cmt"] == [comment]  # what players show as the comment
        assert mp4.tags["desc"] == [manifest["routine"]["summary"]]
        assert [(c.title, round(c.start * 1000)) for c in mp4.chapters] == chapters
    elif audio_format in ("opus", "ogg"):
        ogg = OggOpus(full) if audio_format == "opus" else OggVorbis(full)
        assert ogg.tags["title"] == ["Daily"]
        assert ogg.tags["metadata_block_picture"]
        assert ogg.tags["chapter001name"] == ["Relieve Tension in the Neck"]
        assert ogg.tags["comment"] == [comment]
        assert ogg.tags["voice"] == [voice]
    else:
        wav = WAVE(full)
        assert wav.tags is not None and str(wav.tags["TIT2"]) == "Daily"
        assert len(wav.tags.getall("CHAP")) == 2
        assert wav.tags["COMM::eng"].text == [comment]
        assert wav.tags["COMM:voice:eng"].text == [voice]
    if audio_format != "wav":
        if ffprobe() is None:  # everything else is checked by now; in CI this fails
            pytest.skip("no ffprobe on this machine to read the chapters")
        assert [t for t, _, _ in ffprobe_chapters(full)] == [t for t, _ in chapters]


def test_every_mp3_names_its_voice_below_the_summary(scripts: Path, tmp_path: Path
                                                     ) -> None:
    (written,) = build(load_library(scripts), [], BuildOptions(chosen=TONE, out=tmp_path,
                                                               jobs=2))
    manifest = json.loads(written.manifest.read_text())
    assert (manifest["build"]["voice"], manifest["build"]["voice_licence"]) == \
        ("en-us+f3 (tone)", "test tone")
    voice = "Voice: en-us+f3 (tone) - test tone"
    for entry in [*manifest["tracks"], manifest["routine"]]:
        tags = ID3(written.folder / entry["file"])
        comments = {c.desc: c.text for c in tags.getall("COMM")}
        assert comments == {"": [f"{entry['summary']}\n{voice}"], "voice": [voice]}


def test_step_chapters_mark_every_script_step(scripts: Path, tmp_path: Path) -> None:
    (written,) = build(load_library(scripts), [], BuildOptions(
        chosen={**TONE, "step_chapters": True}, out=tmp_path, jobs=2))
    manifest = json.loads(written.manifest.read_text())
    titles = [c["title"] for c in manifest["routine"]["chapters"]]
    # hello has one step; neck six: say, pause, chime, hold, repeat, sides.
    assert titles == ["Hello: Welcome.", "Relieve Tension in the Neck: Sit tall.",
                      "Relieve Tension in the Neck: pause",
                      "Relieve Tension in the Neck: pause",
                      "Relieve Tension in the Neck: Press and hold.",
                      "Relieve Tension in the Neck: Slide your fingers.",
                      "Relieve Tension in the Neck: Put your right arm across, toward your "
                      "left shoulder."]
    tags = ID3(written.folder / manifest["routine"]["file"])
    assert len(tags.getall("CHAP")) == len(titles)


# --------------------------------------------------------------------------- bad input


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("option", [["--loudness", "-40"], ["--true-peak", "3"],
                                    ["--rate", "70"], ["--rate", "301"], ["--pace", "3"],
                                    ["--volume", "0"], ["--countdown", "61"]])
def test_settings_out_of_their_limits_are_usage_errors(scripts: Path, tmp_path: Path,
                                                       option: list[str]) -> None:
    """Every numeric flag takes its range from voiceguide.settings.LIMITS: out of range
    is a wrong command-line option (exit 2), refused before anything is read."""
    out = tmp_path / "out"
    result = run("build", "--engine", "tone", "--scripts", str(scripts), "--out", str(out),
                 *option)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"Invalid value for '{option[0]}'" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(("clinic", "options", "expected"), [
    ("name: Healing Hands\ncover: missing.png\n", [],
     "clinic.yaml:2:8: 'cover': the image 'missing.png' was not found (put it beside the "
     "profile or fix the path)"),
    ("name: Healing Hands\ncover: clinic.yaml\n", [],
     "clinic.yaml:2:8: 'cover': 'clinic.yaml' is not an image that can be read (use a PNG "
     "or JPEG file)"),
    ("name: Healing Hands\nwebsit: https://example.org\n", [],
     "clinic.yaml:2:1: unknown field 'websit' (did you mean 'website'? allowed: name, "
     "website, contact, cover, language, safety, intro, outro, engine, voice, rate, share_url, "
     "bundled, translations)"),
    ("name: Healing Hands\nrate: 70\n", [],
     "clinic.yaml:2:7: 'rate' must be words per minute, from 80 to 300 (140 is calm)"),
])
def test_bad_publishing_input_fails_before_writing(
        write: Writer, scripts: Path, tmp_path: Path, clinic: str, options: list[str],
        expected: str) -> None:
    write("clinic.yaml", clinic)
    out = tmp_path / "out"
    result = run("build", "--engine", "tone", "--scripts", str(scripts), "--out", str(out),
                 *options)
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
