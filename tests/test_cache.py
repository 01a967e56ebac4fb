"""The render cache: what it keys on, that it is used, and that damage is never used."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Writer

from voiceguide.build import BuildOptions, build
from voiceguide.cache import ClipCache
from voiceguide.encode import decode
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.lexicon import Lexicon
from voiceguide.library import load_library
from voiceguide.model import Clip
from voiceguide.render import render
from voiceguide.settings import Choices

TONE: Choices = {"engine": "tone"}
TONE_VOICE = VoiceSettings(engine="tone")


class Counting:
    """Wraps an engine and counts what it is asked to say."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.inner = make_engine(settings)
        self.settings = settings
        self.said: list[str] = []

    def synthesize(self, text: str) -> Clip:
        self.said.append(text)
        return self.inner.synthesize(text)

    def identity(self) -> str:
        return self.inner.identity()

    def close(self) -> None:
        self.inner.close()

    def reset(self) -> None:
        self.inner.reset()


def speak(cache: ClipCache, texts: list[str], settings: VoiceSettings = TONE_VOICE,
          lexicon: Lexicon | None = None) -> tuple[dict[str, Clip], list[str]]:
    engine = Counting(settings)
    clips = render(texts, [engine], lexicon=lexicon, cache=cache)  # type: ignore[list-item]
    return clips, engine.said


def test_a_second_render_comes_from_the_cache(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    first, said = speak(cache, ["Breathe in.", "Breathe out."])
    again, said_again = speak(cache, ["Breathe in.", "Breathe out."])
    assert said == ["Breathe in.", "Breathe out."] and said_again == []
    assert again == first
    assert cache.info().entries == 2


@pytest.mark.parametrize("change", [
    lambda s: replace(s, rate=120), lambda s: replace(s, volume=0.5),
    lambda s: replace(s, voice="en-us"),
])
def test_voice_settings_are_part_of_the_key(tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    cache = ClipCache(tmp_path)
    base = VoiceSettings(engine="tone", voice="en-us+f3")
    speak(cache, ["Breathe in."], base)
    assert cache.key("x", base, "a") != cache.key("x", change(base), "a")
    assert cache.key("x", base, "a") != cache.key("y", base, "a")  # engine and versions
    assert cache.key("x", base, "a") != cache.key("x", base, "b")  # text


def test_a_lexicon_change_misses_the_cache(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    speak(cache, ["Feel the masseter."], lexicon=Lexicon((("masseter", "miseeter"),)))
    _, said = speak(cache, ["Feel the masseter."], lexicon=Lexicon((("masseter", "mas"),)))
    assert said == ["Feel the mas."]


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_damaged_entry_is_rendered_again(tmp_path: Path, damage: str) -> None:
    cache = ClipCache(tmp_path)
    first, _ = speak(cache, ["Breathe in slowly."])
    (entry,) = tmp_path.glob("*/*.clip")
    data = entry.read_bytes()
    entry.write_bytes({"truncate": data[: len(data) // 2],
                       "flip": data[:-1] + bytes([data[-1] ^ 0xFF]),
                       "empty": b""}[damage])
    again, said = speak(cache, ["Breathe in slowly."])
    assert said == ["Breathe in slowly."]  # not used: spoken again
    assert again == first
    assert entry.read_bytes() == data  # and repaired


def test_cached_build_is_identical_to_an_uncached_one(scripts: Path, tmp_path: Path) -> None:
    library = load_library(scripts)
    cache = ClipCache(tmp_path / "cache")
    outputs = []
    for name, use in (("cold", cache), ("warm", cache), ("none", None)):
        (written,) = build(library, [], BuildOptions(chosen=TONE, out=tmp_path / name,
                                                     cache=use, jobs=2))
        outputs.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in written.files})
    assert outputs[0] == outputs[1] == outputs[2]


def test_a_changed_sentence_is_the_only_one_spoken_again(scripts: Path, write: Writer,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    import voiceguide.engines.tone as tone

    said: list[str] = []
    real = tone.ToneEngine.synthesize

    def counting(self, text):  # type: ignore[no-untyped-def]
        said.append(text)
        return real(self, text)

    monkeypatch.setattr(tone.ToneEngine, "synthesize", counting)
    options = BuildOptions(chosen=TONE, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"), jobs=2)
    build(load_library(scripts), [], options)
    said.clear()
    write("techniques/hello.yaml", "id: hello\ntitle: Hello\nsummary: S\nsteps:\n"
          "  - say: Welcome back.\n")
    build(load_library(scripts), [], options)
    assert said == ["Welcome back."]


def test_clear_removes_entries_and_nothing_else(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    speak(cache, ["Breathe in.", "Breathe out."])
    keep = tmp_path / "ab" / "important.txt"
    keep.parent.mkdir(exist_ok=True)
    keep.write_text("not the cache's")
    assert cache.clear().entries == 2
    assert cache.info().entries == 0
    assert keep.read_text() == "not the cache's"


def test_a_build_keeps_meter_readings_and_the_cover_and_clear_removes_them(
        scripts: Path, tmp_path: Path) -> None:
    from voiceguide.cache import COVERS, METERS, BlobStore

    cache = ClipCache(tmp_path / "cache")
    build(load_library(scripts), [], BuildOptions(chosen=TONE, out=tmp_path / "out",
                                                  cache=cache))
    kept = {kind: sorted((cache.root / kind).iterdir()) for kind in (METERS, COVERS)}
    assert len(kept[METERS]) == 2 and len(kept[COVERS]) == 1  # two tracks, one cover
    store = BlobStore(cache.root, COVERS)
    key = kept[COVERS][0].stem
    assert (store.get(key) or b"").startswith(b"\x89PNG")
    damaged = bytearray(kept[COVERS][0].read_bytes())
    damaged[-1] ^= 1
    kept[COVERS][0].write_bytes(damaged)
    assert store.get(key) is None  # a damaged entry is never used
    cache.clear()
    assert not (cache.root / METERS).exists() and not (cache.root / COVERS).exists()


def test_a_rebuild_with_nothing_changed_writes_nothing(scripts: Path, write: Writer,
                                                       tmp_path: Path) -> None:
    options = BuildOptions(chosen=TONE, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"), jobs=2)
    (first,) = build(load_library(scripts), [], options)
    stamps = {p: p.stat().st_mtime_ns for p in first.folder.iterdir()}
    (again,) = build(load_library(scripts), [], options)
    assert again.unchanged
    assert {p: p.stat().st_mtime_ns for p in first.folder.iterdir()} == stamps
    # A removed file, or any change to the scripts, means a real build again.
    (first.folder / "01-hello.vtt").unlink()
    assert not build(load_library(scripts), [], options)[0].unchanged
    write("techniques/hello.yaml", "id: hello\ntitle: Hello\nsummary: S\nsteps:\n"
          "  - say: Welcome back.\n")
    (changed,) = build(load_library(scripts), [], options)
    assert not changed.unchanged
    assert "Welcome back." in (changed.folder / "01-hello.vtt").read_text()


def test_a_change_of_tags_alone_tags_the_audio_again_without_encoding(
        scripts: Path, write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new summary (a track's comment) or routine title (every file's album, and the
    cover's words): the files are tagged again, their audio frames as they were."""
    from mutagen.id3 import ID3

    from voiceguide import export
    from voiceguide.mp3join import read_stream

    options = BuildOptions(chosen=TONE, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"), jobs=2)
    (first,) = build(load_library(scripts), [], options)
    frames = {p.name: read_stream(p.read_bytes()).frames for p in first.files}

    def refuse(*args: object) -> None:
        raise AssertionError("encoded again")

    monkeypatch.setattr(export, "encode", refuse)
    write("techniques/neck.yaml", (scripts / "techniques" / "neck.yaml").read_text()
          .replace("summary: Ease a stiff neck.", "summary: Ease a sore neck."))
    routine = scripts / "routines" / "daily.yaml"
    write("routines/daily.yaml", routine.read_text().replace("title: Daily",
                                                              "title: Every Day"))
    (second,) = build(load_library(scripts), [], options)
    assert not second.unchanged
    for path in second.files:
        assert read_stream(path.read_bytes()).frames == frames[path.name], path.name
        assert str(ID3(path)["TALB"]).startswith("Every Day")
    assert any("sore neck" in str(c) for c in ID3(second.folder / "02-neck.mp3").getall("COMM"))
    manifest = json.loads(second.manifest.read_text())
    assert manifest["routine"]["title"] == "Every Day"
    assert all(t["audio_fingerprint"] for t in manifest["tracks"])


def test_an_edit_encodes_only_the_changed_track(
        scripts: Path, write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide import export

    options = BuildOptions(chosen=TONE, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"), jobs=2)
    (first,) = build(load_library(scripts), [], options)
    before = {p.name: p.read_bytes() for p in first.folder.glob("*.mp3")}
    encoded: list[str] = []
    real = export.encode

    def counting(clip, path, *args):  # type: ignore[no-untyped-def]
        encoded.append(path.name)
        real(clip, path, *args)

    monkeypatch.setattr(export, "encode", counting)
    write("techniques/neck.yaml", (scripts / "techniques" / "neck.yaml").read_text()
          .replace("Sit tall.", "Sit tall, please."))
    (second,) = build(load_library(scripts), [], options)
    # the full routine is joined from the tracks' frames, not encoded again
    assert [Path(name).stem for name in encoded] == ["02-neck"]
    after = {p.name: p.read_bytes() for p in second.folder.glob("*.mp3")}
    assert after["01-hello.mp3"] == before["01-hello.mp3"]
    assert after["02-neck.mp3"] != before["02-neck.mp3"]
    assert after["daily.mp3"] != before["daily.mp3"]
    full = decode(second.folder / "daily.mp3", 22050).pcm
    assert full == b"".join(decode(second.folder / f"{t}.mp3", 22050).pcm
                            for t in ("01-hello", "02-neck"))
    manifest = json.loads(second.manifest.read_text())
    kept = manifest["tracks"][0]
    assert kept["loudness"]["integrated_lufs"] == pytest.approx(-16, abs=0.5)
    assert kept["fingerprint"]


def test_two_builds_at_once_into_one_folder_leave_it_whole(scripts: Path,
                                                           tmp_path: Path) -> None:
    """Each build writes its own temporary files and renames them into place: whichever
    finishes last, the folder holds one whole, consistent build."""
    import subprocess
    import sys

    voiceguide = str(Path(sys.executable).with_name("voiceguide"))
    out = tmp_path / "out"
    args = [voiceguide, "build", "--engine", "tone", "--no-cache", "--scripts", str(scripts),
            "--out", str(out)]
    runs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    errors = [r.communicate(timeout=300)[1] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], errors
    folder = out / "daily"
    assert not list(folder.glob(".*"))  # no temporary file left behind
    manifest = json.loads((folder / "manifest.json").read_text())
    from audio import decode

    for entry in [*manifest["tracks"], manifest["routine"]]:
        assert abs(decode(folder / entry["file"], 22050).ms - entry["duration_ms"]) <= 1
