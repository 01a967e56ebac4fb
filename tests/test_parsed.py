"""The cache of parsed script files (voiceguide.parsed): a file read before gives the
same result and the same messages, line for line, without parsing it again; any change
of the file, a damaged entry or other code reads it again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GOOD_ROUTINE, GOOD_TECHNIQUE, REPO
from PIL import Image
from test_parse import BAD_STEPS

from voiceguide import parse, parsed
from voiceguide.cache import PARSED, ClipCache
from voiceguide.errors import ScriptError
from voiceguide.lexicon import read_lexicon
from voiceguide.library import load_library


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("VOICEGUIDE_CACHE", str(folder))
    return folder


def entries(cache: Path) -> list[Path]:
    return sorted((cache / PARSED).glob("*.pickle"))


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, any parse of a file fails the test."""
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again")

    for name in ("parse_technique", "parse_routine", "parse_client", "read_clinic"):
        monkeypatch.setattr(parse, name, fail)
    monkeypatch.setattr("voiceguide.lexicon.read_lexicon", fail)


def rendered(read: Callable[[], object]) -> str:
    with pytest.raises(ScriptError) as caught:
        read()
    return caught.value.render()


def test_a_file_read_again_is_not_parsed_again(tmp_path: Path, cache: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    first = parsed.technique(path, "scripts/neck.yaml", "en")
    assert first == parse.parse_technique(path, "scripts/neck.yaml", "en")
    assert len(entries(cache)) == 1
    no_parsing(monkeypatch)
    again = parsed.technique(path, "scripts/neck.yaml", "en")
    assert again == first
    assert again.steps[3].source == first.steps[3].source  # line and column kept


BAD_FILES = [
    *[f"id: neck\ntitle: T\nsummary: S\nsteps:\n  - say: First.\n{step}\n"
      for step, _ in BAD_STEPS],
    "id: neck\ntitle: T\nsummary: S\nsteps:\n  - say: 'unclosed\n",  # YAML's own error
    "id: neck\ntitle: T\nsummary: S\nsteps:\n\t- say: Tab.\n",
    "id: neck\nid: twice\n",
    "- a list\n",
    "",
    "id: Neck Stretch\ntitle: ''\nsummary: S\nsteps:\n  - pause: 3 mins\n  - say: ok\n",
]


@pytest.mark.parametrize("text", BAD_FILES)
def test_problems_are_the_same_from_the_cache(tmp_path: Path, text: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(text)
    fresh = rendered(lambda: parse.parse_technique(path, "scripts/neck.yaml", "en"))
    assert rendered(lambda: parsed.technique(path, "scripts/neck.yaml", "en")) == fresh
    no_parsing(monkeypatch)
    assert rendered(lambda: parsed.technique(path, "scripts/neck.yaml", "en")) == fresh
    assert "scripts/neck.yaml" in fresh


def test_every_kind_of_file_is_kept(tmp_path: Path, cache: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"routine.yaml": GOOD_ROUTINE, "clinic.yaml": "name: Healing Hands\n",
             "client.yaml": "id: zoe\nname: Zoe\ntechniques: [neck]\n",
             "lexicon.yaml": "masseter: miseeter\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def read_all() -> list[object]:
        return [parsed.routine(tmp_path / "routine.yaml", "routine.yaml"),
                parsed.clinic(tmp_path / "clinic.yaml", "clinic.yaml"),
                parsed.client(tmp_path / "client.yaml", "client.yaml", "en"),
                parsed.lexicon(tmp_path / "lexicon.yaml", "lexicon.yaml")]

    first = read_all()
    assert first[3] == read_lexicon(tmp_path / "lexicon.yaml") == {"masseter": "miseeter"}
    assert len(entries(cache)) == 4
    no_parsing(monkeypatch)
    assert read_all() == first


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    assert parsed.technique(path, "neck.yaml", "en").title == "Relieve Tension in the Neck"
    path.write_text(GOOD_TECHNIQUE.replace("Relieve Tension", "Ease Tension"))
    assert parsed.technique(path, "neck.yaml", "en").title == "Ease Tension in the Neck"
    path.write_text(GOOD_TECHNIQUE.replace("title: Relieve", "titel: Relieve"))
    assert "neck.yaml:2:1: unknown field 'titel'" in rendered(
        lambda: parsed.technique(path, "neck.yaml", "en"))


def test_the_name_shown_and_the_language_are_part_of_the_key(tmp_path: Path) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text("id: neck\ntitle: Шея\nsummary: S\nsteps:\n  - say: Привет.\n")
    assert parsed.technique(path, "a/neck.yaml", "ru").file == "a/neck.yaml"
    assert parsed.technique(path, "b/neck.yaml", "ru").file == "b/neck.yaml"
    # In English, Cyrillic letters are a problem: not the Russian reading's result.
    assert rendered(lambda: parsed.technique(path, "b/neck.yaml", "en")) == rendered(
        lambda: parse.parse_technique(path, "b/neck.yaml", "en"))


@pytest.mark.parametrize("damage", [
    lambda data: data[:len(data) // 2],  # cut short
    lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
    lambda data: b"",
    lambda data: b"not an entry at all",
])
def test_a_damaged_entry_is_parsed_again(tmp_path: Path, cache: Path,
                                         damage: Callable[[bytes], bytes]) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    first = parsed.technique(path, "neck.yaml", "en")
    (entry,) = entries(cache)
    entry.write_bytes(damage(entry.read_bytes()))
    assert parsed.technique(path, "neck.yaml", "en") == first


def test_an_entry_that_no_longer_unpickles_is_parsed_again(tmp_path: Path, cache: Path
                                                          ) -> None:
    """An entry whose checksum holds but which names a class that is gone (code changed
    without the key noticing): read the file again, never a crash."""
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    first = parsed.technique(path, "neck.yaml", "en")
    (entry,) = entries(cache)
    data = entry.read_bytes()
    head = len(parsed._MAGIC) + 2 * hashlib.sha256().digest_size
    payload = data[head:].replace(b"Technique", b"Techniqux")
    assert payload != data[head:]
    entry.write_bytes(data[:head - 32] + hashlib.sha256(payload).digest() + payload)
    assert parsed._load(entry, data[len(parsed._MAGIC):head - 32]) is None
    assert parsed.technique(path, "neck.yaml", "en") == first


def test_other_code_reads_the_file_again(tmp_path: Path, cache: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    parsed.technique(path, "neck.yaml", "en")
    calls = []
    real = parse.parse_technique
    monkeypatch.setattr(parse, "parse_technique",
                        lambda *args: calls.append(args) or real(*args))
    parsed.technique(path, "neck.yaml", "en")
    assert calls == []
    monkeypatch.setattr(parsed, "_code", lambda: b"voiceguide, edited")
    parsed.technique(path, "neck.yaml", "en")
    assert len(calls) == 1


def test_the_code_digest_follows_the_package_and_the_yaml_reader() -> None:
    from voiceguide.cache import installed

    parts = installed("ruamel.yaml") + installed("pydantic")
    assert any(p.startswith("ruamel") and p.endswith(".dist-info") for p in parts)
    assert any(p.startswith("pydantic-") for p in parts)


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("VOICEGUIDE_CACHE", str(blocked))
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    assert parsed.technique(path, "neck.yaml", "en").id == "neck"
    assert parsed.technique(path, "neck.yaml", "en").id == "neck"


def test_a_cover_is_checked_on_every_read(tmp_path: Path) -> None:
    """The profile is kept; its cover image is another file, checked each time."""
    profile = tmp_path / "clinic.yaml"
    profile.write_text("name: Healing Hands\ncover: cover.png\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "cover.png")
    assert parsed.clinic(profile, "clinic.yaml").cover == str((tmp_path / "cover.png"
                                                                ).resolve())
    (tmp_path / "cover.png").unlink()
    assert rendered(lambda: parsed.clinic(profile, "clinic.yaml")) == (
        "clinic.yaml:2:8: 'cover': the image 'cover.png' was not found (put it beside the "
        "profile or fix the path)\n    cover: cover.png\n           ^")
    assert rendered(lambda: parse.parse_clinic(profile, "clinic.yaml")) == rendered(
        lambda: parsed.clinic(profile, "clinic.yaml"))


def test_library_problems_are_the_same_from_the_cache(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    """The whole library, as a build reads it: every message of every file, with the
    routine's references checked against the techniques (kept and not)."""
    root = tmp_path / "scripts"
    (root / "techniques").mkdir(parents=True)
    (root / "routines").mkdir()
    (root / "techniques" / "neck.yaml").write_text(GOOD_TECHNIQUE)
    (root / "techniques" / "back.yaml").write_text(
        "id: back\ntitle: Back\nsummary: S\nsteps:\n  - pause: 3 mins\n")
    (root / "routines" / "daily.yaml").write_text(GOOD_ROUTINE.replace("[neck]",
                                                                       "[neck, back, nek]"))
    (root / "clinic.yaml").write_text("name: voiceguide\nbundled: false\n")
    monkeypatch.chdir(tmp_path)
    fresh = rendered(lambda: load_library(root))
    assert "scripts/routines/daily.yaml:6:26: no technique has the id 'nek'" in fresh
    no_parsing(monkeypatch)
    assert rendered(lambda: load_library(root)) == fresh


def test_the_bundled_library_is_read_from_the_cache(monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    library = load_library(REPO / "scripts")
    no_parsing(monkeypatch)
    assert load_library(REPO / "scripts") == library


def test_a_file_changed_while_it_is_parsed_is_not_kept(tmp_path: Path, cache: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    real = parse.parse_technique

    def edited_meanwhile(*args: str) -> object:
        result = real(*args)
        path.write_text(GOOD_TECHNIQUE.replace("Relieve", "Ease"))
        return result

    monkeypatch.setattr(parse, "parse_technique", edited_meanwhile)
    parsed.technique(path, "neck.yaml", "en")
    assert entries(cache) == []


def test_clearing_the_cache_removes_the_scripts_as_read(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "neck.yaml"
    path.write_text(GOOD_TECHNIQUE)
    parsed.technique(path, "neck.yaml", "en")
    (cache / "keep.txt").write_text("not ours")
    ClipCache(cache).clear()
    assert sorted(p.name for p in cache.iterdir()) == ["keep.txt"]



def test_a_file_name_that_is_not_utf8_is_kept_too(tmp_path: Path, cache: Path) -> None:
    """A name the file system gives as bytes that are not UTF-8 (an old USB stick)."""
    path = tmp_path / os.fsdecode(b"caf\xe9.yaml")
    path.write_text(GOOD_TECHNIQUE)
    first = parsed.technique(path, str(path), "en")
    assert parsed.technique(path, str(path), "en") == first
    assert len(entries(cache)) == 1
