"""Any text: what the voice can't say is refused at its line; everything else reaches
speech, tags, captions, playlist, feed and page exactly as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import feedparser
import pytest
from conftest import Writer
from mutagen.id3 import ID3

from voiceguide.build import BuildOptions, build
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import ExitCode
from voiceguide.library import load_library
from voiceguide.render import MAX_UTTERANCE_CHARS, clauses, say_line
from voiceguide.share import share
from voiceguide.text import script_problem

VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))


@pytest.mark.parametrize(("text", "language", "problem"), [
    ("Relax your jaw.", "en", None),
    ("Détendez la mâchoire, s'il vous plaît.", "fr", None),
    ("Señora Muñoz, respire hondo.", "es", None),
    ("Grüß Gott, atmen Sie ruhig.", "de-AT", None),
    ("مرحبا بكم", "en", "has Arabic letters ('مرحبا') that the en voice can't say"),
    ("Breathe 深く", "en", "has Chinese characters ('深く') that the en voice can't say"),
    ("שלום and relax", "en", "has Hebrew letters ('שלום')"),
    ("Relax 😊", "en", "has an emoji ('😊')"),
    ("Relax 😊", None, "has an emoji ('😊')"),
    ("深呼吸してください", "ja", None),
    ("Unknown script language", "tlh", None),  # not a language it knows: not checked
])
def test_which_letters_a_voice_can_read(text: str, language: str | None,
                                        problem: str | None) -> None:
    found = script_problem(text, language)
    assert (found is None) if problem is None else (found or "").startswith(problem)


def test_validate_refuses_what_the_voice_cannot_say_at_its_line(
        write: Writer, scripts: Path) -> None:
    write("techniques/bad.yaml", """\
        id: bad
        title: Relax
        summary: S.
        steps:
          - say: Breathe in.
          - say: مرحبا بكم
          - hold:
              say: Hold 😊
              for: 5s
        """)
    result = subprocess.run([VOICEGUIDE, "validate", "--scripts", str(scripts)],
                            capture_output=True, text=True)
    assert result.returncode == ExitCode.INVALID_SCRIPT
    assert "bad.yaml:6:10: 'say' has Arabic letters ('مرحبا') that the en voice can't " \
        "say" in result.stderr
    assert "bad.yaml:8:12: 'say' has an emoji ('😊')" in result.stderr
    assert "2 problems found" in result.stderr


def test_a_clinic_in_another_language_accepts_its_letters(write: Writer,
                                                          scripts: Path) -> None:
    write("clinic.yaml", "name: Klinik\nlanguage: ru\n")
    write("techniques/hello.yaml", "id: hello\ntitle: Привет\nsummary: S.\nsteps:\n"
          "  - say: Дышите спокойно.\n")
    result = subprocess.run([VOICEGUIDE, "validate", "--scripts", str(scripts)],
                            capture_output=True, text=True)
    # the neck technique is English: its Latin letters are what the Russian voice can't say
    assert "neck.yaml" in result.stderr and "hello.yaml" not in result.stderr


ACCENTED = (
    "\ufeffid: creme\r\n"
    "title: Crème & \"Grüße\" für Señora Muñoz\r\n"
    "summary: Été, naïve façade; 'quotes' & ampersands in a summary.\r\n"
    "equipment: [a café chair]\r\n"
    "steps:\r\n"
    "  - say: Relax, Señora Muñoz; breathe in \"slowly\" & gently.\r\n"
    "  - pause: 1s\r\n"
)


def test_accents_bom_crlf_and_specials_reach_every_file_exactly(
        scripts: Path, tmp_path: Path) -> None:
    (scripts / "techniques" / "creme.yaml").write_bytes(ACCENTED.encode("utf-8"))
    library = load_library(scripts)
    technique = library.techniques["creme"]
    title = "Crème & \"Grüße\" für Señora Muñoz"
    said = "Relax, Señora Muñoz; breathe in \"slowly\" & gently."
    assert technique.title == title
    shared = share(library, "creme", "https://clinic.example/é/",
                   BuildOptions(chosen={"engine": "tone"}, out=tmp_path, jobs=2))
    folder = shared.built.folder
    tags = ID3(folder / "creme.mp3")
    assert str(tags["TIT2"]) == title
    assert said in (folder / "creme.vtt").read_text(encoding="utf-8").replace(
        "&amp;", "&")
    assert title in (folder / "creme.m3u8").read_text(encoding="utf-8")
    feed = feedparser.parse((shared.folder / "feed.xml").read_bytes())
    assert feed.entries[0].title == title
    page = (shared.folder / "index.html").read_text(encoding="utf-8")
    assert "Crème &amp; &#34;Grüße&#34; für Señora Muñoz" in page or \
        "Crème &amp; &quot;Grüße&quot; für Señora Muñoz" in page


def test_a_long_line_is_said_clause_by_clause() -> None:
    sentence = ("Let your shoulders soften, your jaw loosen and your breath slow down, "
                "as if the whole day were melting away; ") * 20
    sentence = sentence.strip()
    assert len(sentence) > 2000
    pieces = clauses(sentence)
    assert " ".join(pieces) == sentence  # nothing lost, nothing truncated
    assert all(len(p) <= MAX_UTTERANCE_CHARS for p in pieces)
    assert all(p.endswith((";", ",", ".")) for p in pieces[:-1])  # at clause ends


@pytest.mark.e2e
def test_a_two_thousand_character_line_is_spoken_whole_by_the_real_voice() -> None:
    sentence = ("Let your shoulders soften, your jaw loosen and your breath slow down, "
                "as if the whole day were melting away; ") * 18
    sentence = sentence.strip()
    with make_engine(VoiceSettings()) as engine:
        clip = say_line(engine, sentence)
    words = len(sentence.split())
    seconds = clip.samples / clip.frame_rate
    assert 0.7 * words * 60 / 140 < seconds < 1.6 * words * 60 / 140


def test_a_long_line_builds_with_the_tone_voice(write: Writer, scripts: Path,
                                                tmp_path: Path) -> None:
    long = "Breathe in slowly, and let it go; " * 70
    write("techniques/long.yaml", f"id: long\ntitle: Long\nsummary: S.\nsteps:\n"
          f"  - say: {long.strip()}\n")
    (written,) = build(load_library(scripts), ["long"], BuildOptions(
        chosen={"engine": "tone"}, out=tmp_path, jobs=1))
    assert written.files[0].is_file()
