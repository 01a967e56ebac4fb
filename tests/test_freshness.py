"""A rebuild with nothing to do decides without assembling or hashing audio: from the
fingerprint (the layout and the SHA-256 of each sound placed in it) and from what the
file system says of the files (voiceguide.freshness). Each shortcut must still rebuild
whenever the files would come out otherwise, or are not as written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import HELLO, Writer

from voiceguide import messages, said
from voiceguide.build import BuildOptions, build
from voiceguide.cache import ClipCache
from voiceguide.library import load_library
from voiceguide.manifest import FileCheck
from voiceguide.model import Clip
from voiceguide.publishing import Written
from voiceguide.sounds import CUE_NAMES, cue_key


def _build(scripts: Path, tmp_path: Path) -> Written:
    options = BuildOptions(chosen={"engine": "tone"}, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"), jobs=2)
    (written,) = build(load_library(scripts), [], options)
    return written


def _other_sound(cache: ClipCache, key: str) -> None:
    """The entry `key` made another sound of the same length (one sample one step
    louder), with a valid checksum: the layout stays; only what is heard differs."""
    clip = cache.get(key)
    assert clip is not None
    pcm = bytearray(clip.pcm)
    pcm[len(pcm) // 2 & ~1] ^= 1
    cache.put(key, Clip(bytes(pcm), clip.frame_rate))


def test_another_sound_in_the_cache_for_the_same_words_or_cue_is_built_again(
        scripts: Path, tmp_path: Path) -> None:
    first = _build(scripts, tmp_path)
    cache = ClipCache(tmp_path / "cache")
    rate = json.loads(first.manifest.read_text())["routine"]["frame_rate"]
    cues = {cue_key(name, rate, "bowl") for name in CUE_NAMES}
    entries = {p.stem for p in (tmp_path / "cache").glob("??/*.clip")}
    speech = sorted(entries - cues)
    assert speech and cues <= entries
    assert _build(scripts, tmp_path).unchanged
    _other_sound(cache, speech[0])
    assert not _build(scripts, tmp_path).unchanged
    assert _build(scripts, tmp_path).unchanged
    _other_sound(cache, cue_key("chime", rate, "bowl"))  # the technique's one chime
    assert not _build(scripts, tmp_path).unchanged


def test_a_file_replaced_with_the_same_size_and_time_is_built_again(
        scripts: Path, tmp_path: Path) -> None:
    """A program may keep a file's size (ID3 padding) and its time of modification (cp
    -p, touch -d, a tag editor that keeps dates), but never its inode's change time."""
    first = _build(scripts, tmp_path)
    audio = first.files[0]
    status = audio.stat()
    data = audio.read_bytes()
    audio.write_bytes(data[:100] + bytes(len(data) - 100))
    os.utime(audio, ns=(status.st_atime_ns, status.st_mtime_ns))
    now = audio.stat()
    assert (now.st_size, now.st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    again = _build(scripts, tmp_path)
    assert not again.unchanged
    assert audio.read_bytes()[100:] != bytes(len(data) - 100)


def test_unchanged_files_are_not_read_and_touched_ones_are_checked(
        scripts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _build(scripts, tmp_path)
    hashed: list[Path] = []
    real = FileCheck.of

    def counted(path: Path) -> FileCheck:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(FileCheck, "of", staticmethod(counted))
    assert _build(scripts, tmp_path).unchanged
    assert hashed == []  # as noted when written: not read
    os.utime(first.files[0])  # the same bytes, a new time: read, found whole, noted
    assert _build(scripts, tmp_path).unchanged
    assert first.files[0] in hashed
    hashed.clear()
    assert _build(scripts, tmp_path).unchanged
    assert hashed == []


def test_words_said_by_other_versions_of_the_libraries_are_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "_SAID", {})
    assert messages.ENGLISH.number(4) == "four"
    assert messages.ENGLISH.and_list(["a ball", "a wall", "a chair"]) == \
        "a ball, a wall and a chair"
    said.keep(tmp_path)
    kept = json.loads((tmp_path / said.SAID).read_text())
    kept["said"] = {k: f"{v}!" for k, v in kept["said"].items()}
    (tmp_path / said.SAID).write_text(json.dumps(kept))
    monkeypatch.setattr(messages, "_SAID", {})
    said.recall(tmp_path)  # the same versions: trusted
    assert messages.ENGLISH.number(4) == "four!"
    kept["key"] = "babel-0.1.dist-info num2words-0.1.dist-info"
    (tmp_path / said.SAID).write_text(json.dumps(kept))
    monkeypatch.setattr(messages, "_SAID", {})
    said.recall(tmp_path)
    assert messages.ENGLISH.number(4) == "four"


def test_a_damaged_sentence_found_when_its_audio_is_needed_is_spoken_again(
        scripts: Path, write: Writer, tmp_path: Path) -> None:
    """A no-op reads the cached sentences' headers only; the build that needs their
    audio finds one damaged, speaks it again, and repairs the entry."""
    first = _build(scripts, tmp_path)
    cache = ClipCache(tmp_path / "cache")
    rate = json.loads(first.manifest.read_text())["routine"]["frame_rate"]
    cues = {cue_key(name, rate, "bowl") for name in CUE_NAMES}
    entry = next(p for p in sorted((tmp_path / "cache").glob("??/*.clip"))
                 if p.stem not in cues)
    data = entry.read_bytes()
    entry.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # the header still fits
    assert _build(scripts, tmp_path).unchanged  # the files were made from the good one
    write("techniques/hello.yaml", HELLO.replace("Welcome.", "Welcome back."))
    again = _build(scripts, tmp_path)
    assert not again.unchanged
    assert cache.get(entry.stem) is not None
