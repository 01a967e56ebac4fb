"""Routines in the client's language: the language setting and where it comes from, the
catalogues of voiceguide's own words (complete, with their plural forms, read by espeak-ng
in their language), the Spanish library, builds in German and French (tone engine), and a
Spanish build with the real voice, measured and shared in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audio import decode, ebur128, ffprobe, load_manifest, silence_runs, silences
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from conftest import REPO, VOICEGUIDE, write_library
from mutagen.id3 import ID3

from voiceguide import messages as catalogues
from voiceguide.build import estimated_plans, language_warnings
from voiceguide.errors import ScriptError
from voiceguide.lexicon import phonemes
from voiceguide.library import load_library
from voiceguide.messages import catalogue_path, messages_for, missing_messages, template_path
from voiceguide.model import Clinic, Routine, Speech
from voiceguide.settings import resolve

LANGUAGES = ("es", "de", "fr")
SCRIPTS = REPO / "scripts"


def _messages(path: Path) -> list[Any]:
    with path.open("rb") as po:
        return [m for m in read_po(po) if m.id]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --------------------------------------------------------------------------- catalogues


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_translates_every_message_with_its_plural_forms(language: str
                                                                        ) -> None:
    path = catalogue_path(language)
    assert missing_messages(path) == []
    forms = Locale.parse(language).plural_form
    with path.open("rb") as po:
        catalog = read_po(po)
    assert catalog.num_plurals == len(forms.tags) + 1  # CLDR's forms, 'other' included
    for message in _messages(path):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if isinstance(message.id, tuple):
            assert len(strings) == catalog.num_plurals, message.id
        for text in strings:
            # a translation uses the id's placeholders (a singular may say the number in
            # words: "una técnica"), never one of its own
            assert _fields(text) <= set().union(*map(_fields, ids)), (language, text)


def test_the_template_holds_every_message_the_code_and_the_page_use() -> None:
    """The .pot is what `make messages` extracts: no message in the code is missing
    from the catalogues' template, none is left over."""
    method_map = [("voiceguide/**.py", "python"),
                  ("voiceguide/templates/**.html", "jinja2.ext:babel_extract")]
    keywords = {"gettext": None, "ngettext": (1, 2), "N_": None, "_": None}
    found = {m[2] if isinstance(m[2], str) else m[2][0]
             for m in extract_from_dir(str(REPO), method_map, keywords=keywords)
             if m[2]}
    template = {m.id if isinstance(m.id, str) else m.id[0] for m in _messages(template_path())}
    assert found == template


@pytest.mark.parametrize("language", LANGUAGES)
def test_espeak_reads_every_message_in_its_own_language(language: str) -> None:
    """espeak-ng marks a word it reads in another language ('right' in German comes out
    as '(en)...(de)'): no message may switch to English."""
    for message in _messages(catalogue_path(language)):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            # (names are their own: "Apple Podcasts", "espeak-ng", a licence's id)
            filled = text.format(**dict.fromkeys(_fields(text), "7"))
            for name in ("Apple Podcasts", "espeak-ng", "GPL-3.0-or-later"):
                filled = filled.replace(name, "")
            said = phonemes(filled, voice=language)
            assert "(en)" not in said, (text, said)


def test_a_missing_message_is_said_in_english_and_validate_warns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locale = tmp_path / "locale"
    shutil.copytree(catalogues.locale_dir(), locale)
    po = catalogue_path("es").relative_to(catalogues.locale_dir())
    text = (locale / po).read_text(encoding="utf-8")
    (locale / po).write_text(text.replace('msgstr "Y suelta."', 'msgstr ""'), encoding="utf-8")
    monkeypatch.setattr(catalogues, "locale_dir", lambda: locale)
    messages_for.cache_clear()
    try:
        spanish = messages_for("es")
        assert spanish.script_default("And release.") == "And release."  # English
        assert spanish.countdown(10) == "10 segundos más."  # the rest still Spanish
        (warning,) = catalogues.catalogue_problems("es")
        assert "lacks 1 of voiceguide's messages ('And release.')" in warning
    finally:
        messages_for.cache_clear()


def test_validate_warns_of_a_language_without_a_catalogue(tmp_path: Path) -> None:
    scripts = write_library(tmp_path / "scripts", {"uno": """\
id: uno
language: it
title: Uno
summary: Uno.
steps:
  - say: Respira piano.
"""}, {})
    result = subprocess.run([VOICEGUIDE, "validate", "--scripts", str(scripts)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning: voiceguide has no catalogue for 'it'" in result.stderr
    assert "voiceguide/locale/it/LC_MESSAGES/voiceguide.po" in result.stderr


# --------------------------------------------------------------------------- settings


def test_the_language_comes_from_flag_client_clinic_routine_then_english() -> None:
    from voiceguide.model import Client

    routine = Routine("r", "R", "", ("a",), language="fr")
    clinic = Clinic(language="de")
    client = Client("c", "C", ("a",), language="es")
    assert resolve().language == "en"
    assert resolve(routine=routine).language == "fr"
    assert resolve(clinic=clinic, routine=routine).language == "de"
    assert resolve(client=client, clinic=clinic, routine=routine).language == "es"
    assert resolve({"language": "en-GB"}, client=client, routine=routine).language == "en-GB"
    # the voice follows the language unless one is named; English keeps its default
    assert resolve(routine=routine).voice == "fr+f3"
    assert resolve({"language": "en-GB"}).voice == "en-gb+f3"
    assert resolve().voice == resolve({"language": "en"}).voice == "en-us+f3"
    assert resolve({"voice": "en-us"}, routine=routine).voice == "en-us"
    assert resolve(routine=routine, clinic=Clinic(voice="de")).voice == "de"


def test_a_routine_names_its_technique_in_another_language(tmp_path: Path) -> None:
    scripts = write_library(tmp_path / "scripts", {
        "neck": "id: neck\ntitle: Neck\nsummary: N.\nsteps:\n  - say: Breathe.\n",
        "cuello": "id: cuello\nlanguage: es\ntitle: Cuello\nsummary: C.\nsteps:\n"
                  "  - say: Respira.\n"},
        {"diario": "id: diario\nlanguage: es\ntitle: Diario\nsummary: D.\n"
                   "techniques: [cuello, neck]\n"})
    with pytest.raises(ScriptError) as caught:
        load_library(scripts)
    (problem,) = caught.value.problems
    assert problem.file.endswith("routines/diario.yaml") and (problem.line,
                                                              problem.column) == (5, 22)
    assert problem.message.startswith("'neck' is in 'en' (") and \
        "but this routine is in 'es'" in problem.message


def test_validate_warns_when_the_clinic_language_overrides_a_routines(tmp_path: Path
                                                                      ) -> None:
    scripts = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, scripts)
    profile = scripts / "clinic.yaml"
    profile.write_text("language: en\n" + profile.read_text(encoding="utf-8"),
                       encoding="utf-8")
    (warning,) = language_warnings(load_library(scripts))
    assert warning.endswith("'homework-es' is in 'es', but the clinic profile's 'language: "
                            "en' comes first, so it is built in 'en' (remove 'language' "
                            f"from {profile} to build each routine in its own)")


def test_voices_lists_the_voices_of_a_language() -> None:
    result = subprocess.run([VOICEGUIDE, "voices", "--language", "es"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    voices = result.stdout.split("\n\n", 1)[0].splitlines()[1:]  # before the variants
    assert [line.split()[0] for line in voices] == ["roa/es", "roa/es-419"]
    assert all(line.split()[-1].startswith("es") for line in voices)


# --------------------------------------------------------------------------- the Spanish library

# The English routine's words (three letters or more), less the few Spanish shares.
_SHARED = {"healing", "hands", "base", "facial"}  # the clinic's name; Spanish words too


def _words(texts: list[str]) -> set[str]:
    return {w for text in texts for w in re.findall(r"[a-záéíóúüñ']{3,}", text.lower())}


def _spoken(plans: list[Any]) -> list[str]:
    return [item.text for plan in plans for track in plan.tracks for item in track.items
            if isinstance(item, Speech)]


def test_the_spanish_routine_says_no_english_word() -> None:
    library = load_library(SCRIPTS)
    english = _words(_spoken(estimated_plans(library, ["homework"], 140))) - _SHARED
    said = _spoken(estimated_plans(library, ["homework-es"], 140))
    assert said[0].startswith("Hoy: 4 técnicas, unos ")  # the overview
    assert "Necesitarás una pelota de tenis y una pared." in said
    assert "Ten a mano un poco de crema hidratante facial, una pelota de tenis, una pared " \
        "y una silla, y empecemos." in said
    assert any("estas cuatro técnicas" in text for text in said)
    assert said[-1].startswith("¿Dudas sobre tus ejercicios?")  # the clinic's, in Spanish
    assert _words(said) & english == set()
    assert language_warnings(library) == []


# --------------------------------------------------------------------------- German, French


GERMAN_FRENCH = """\
id: arms
title: Arms
summary: Arms.
equipment: [a towel]
steps:
  - sides:
      steps:
        - hold:
            say: Hold your {side} arm.
            for: 8s
            countdown: 3s
"""
EXPECTED = {
    "de": ["Heute: eine Technik, etwa eine Minute.", "Du brauchst a towel.", "Noch 3 Sekunden.",
           "Und loslassen.", "Wechsle jetzt nach links.", "Hold your rechts arm.",
           "Halten - 8 s", "Daily (ganze Sitzung)", "deu"],
    "fr": ["Aujourd'hui : une technique, environ une minute.", "Il vous faudra a towel.",
           "Encore 3 secondes.", "Et relâchez.", "Passez maintenant au côté gauche.",
           "Hold your droit arm.", "Tenir - 8 s", "Daily (séance complète)", "fra"],
}


@pytest.fixture(scope="module")
def german_french(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("languages")
    write_library(root / "scripts", {"arms": GERMAN_FRENCH},
                  {"daily": "id: daily\ntitle: Daily\nsummary: D.\ntechniques: [arms]\n"})
    for language in EXPECTED:
        result = subprocess.run([VOICEGUIDE, "build", "daily", "--scripts", str(root / "scripts"),
                                 "--engine", "tone", "--language", language, "--out",
                                 str(root / language), "--quiet"], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    return root


@pytest.mark.parametrize("language", EXPECTED)
def test_a_build_in_german_or_french_says_and_shows_every_word_in_it(
        german_french: Path, language: str) -> None:
    folder = german_french / language / "daily"
    manifest = load_manifest(folder)
    said = [i["text"] for t in manifest["tracks"] for i in t["items"] if i["kind"] == "speech"]
    overview, need, countdown, release, switch, hold, caption, album, tlan = EXPECTED[language]
    assert said[0] == overview and need in said and said.count(countdown) == 2
    assert said.count(release) == 2 and switch in said and hold in said
    assert manifest["settings"]["language"] == language
    vtt = (folder / "daily.vtt").read_text(encoding="utf-8")
    assert vtt.startswith(f"WEBVTT\nLanguage: {language}\n") and caption in vtt
    tags = ID3(folder / "daily.mp3")
    assert tags["TLAN"].text == [tlan] and tags["TALB"].text == [album]


# --------------------------------------------------------------------------- real voice


@pytest.fixture(scope="module")
def spanish(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """back-es with the real voice (overview, safety note, title, equipment, holds with
    their countdowns, the contact line), then shared."""
    out = tmp_path_factory.mktemp("spanish")
    for command in ("build", "share"):
        result = subprocess.run([VOICEGUIDE, command, "back-es", "--out", str(out),
                                 "--quiet"], cwd=REPO, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
    yield out / "back-es"


@pytest.mark.e2e
def test_the_spanish_build_keeps_its_timing_and_loudness(spanish: Path) -> None:
    manifest = load_manifest(spanish)
    assert manifest["settings"]["voice"] == "es+f3"
    (track,) = manifest["tracks"]
    decoded = decode(spanish / "back-es.mp3", manifest["routine"]["frame_rate"])
    assert abs(decoded.ms - manifest["routine"]["duration_ms"]) <= 1
    found = silences(decoded)
    runs = silence_runs(track["items"])
    for start, end in runs:
        match = [(s, e) for s, e in found if abs(s - start) <= 60]
        assert match and match[0][1] - match[0][0] >= end - start - 60, (start, end)
    starts = [i["end_ms"] for i in track["items"] if i.get("cue") == "hold_start"]
    ends = [i["start_ms"] for i in track["items"] if i.get("cue") == "hold_end"]
    assert [e - s for s, e in zip(starts, ends, strict=True)] == [30_000] * 3
    loudness = manifest["routine"]["loudness"]
    assert abs(loudness["integrated_lufs"] + 16) <= 0.5 and loudness["true_peak_dbtp"] <= -1
    if ffprobe():
        lufs, _ = ebur128(spanish / "back-es.mp3")
        assert abs(lufs + 16) <= 0.5


@pytest.mark.e2e
def test_the_spanish_build_has_no_english_word(spanish: Path) -> None:
    library = load_library(SCRIPTS)
    english = _words(_spoken(estimated_plans(library, ["homework"], 140))) - _SHARED
    manifest = load_manifest(spanish)
    texts = [i["text"] for t in manifest["tracks"] for i in t["items"] if i["kind"] == "speech"]
    assert "10 segundos más." in texts and texts[0].startswith("Hoy: una técnica")
    assert _words(texts) & english == set()
    vtt = (spanish / "back-es.vtt").read_text(encoding="utf-8")
    assert "Mantén - 30 s" in vtt and "Hold" not in vtt
    assert ID3(spanish / "back-es.mp3")["TLAN"].text == ["spa"]
    feed = (spanish / "share" / "feed.xml").read_text(encoding="utf-8")
    assert "<language>es</language>" in feed


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed "
                    "(.ci/run installs it: apt-get install chromium)")
def test_the_spanish_share_page_is_in_spanish_in_a_browser(spanish: Path) -> None:
    from playwright.sync_api import sync_playwright
    from test_share_browser import ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto((spanish / "share" / "index.html").as_uri())
            assert page.locator("html").get_attribute("lang") == "es"
            text = page.locator("body").inner_text()
            track = page.locator("track").first
            label = track.get_attribute("label")
            srclang = track.get_attribute("srclang")
        finally:
            browser.close()
    for words in ("Antes de empezar", "Necesitarás", "Seguridad:", "Paso a paso",
                  "Mantén 30 s", "Llévalo en tu teléfono", "Voz: es+f3"):
        assert words in text, words
    assert (label, srclang) == ("Subtítulos", "es")
    english = _words([json.dumps(m.id) for m in _messages(template_path())]) - _SHARED - {
        "min", "podcast", "url", "apple", "podcasts"}
    # the clinic's and the voice's names, its licence's id; "sitio web" is Spanish
    shown = _words([text.replace("GPL-3.0-or-later", "")]) - {"healing", "hands", "web",
                                                              "espeak"}
    assert shown & english == set(), shown & english


def test_the_spanish_lexicon_fixes_what_the_spanish_voice_misreads() -> None:
    from voiceguide.build import lexicon_for

    lexicon = lexicon_for(load_library(SCRIPTS), "es")
    assert lexicon.files == ("voiceguide/lexicons/es.yaml",)
    assert phonemes("aprieta", voice="es") == "ˌapɾiˈeta"  # noqa: RUF001 (IPA) a-pri-E-ta
    said = lexicon.apply("Aprieta despacio.")
    assert phonemes(said, voice="es").startswith("apɾʝˈeta")  # noqa: RUF001 (IPA)


def test_a_client_in_spanish_gets_the_spanish_framing_and_a_wrong_technique_is_named(
        tmp_path: Path) -> None:
    from voiceguide.build import client_target
    from voiceguide.library import load_client

    library = load_library(SCRIPTS)
    ana = tmp_path / "ana.yaml"
    ana.write_text("id: ana\nname: Ana\nlanguage: es\ntechniques: [neck-es, back-es]\n")
    target = client_target(library, load_client(ana, library))
    assert target.greeting == ("Hola, Ana.",)
    assert (target.routine.intro, target.routine.outro) == ("intro-es", "outro-es")
    assert target.routine.title == "La rutina de Ana"
    assert target.routine.summary == "Para Ana: Alivia la tensión del cuello, Alivia la " \
        "tensión de la espalda."
    assert target.clinic is not None and target.clinic.safety.startswith("Ve con suavidad.")
    ana.write_text("id: ana\nname: Ana\nlanguage: es\ntechniques: [neck-es, back]\n")
    with pytest.raises(ScriptError) as caught:
        load_client(ana, library)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (4, 23)
    assert "'back' is in 'en'" in problem.message and "client's routine is in 'es'" in \
        problem.message


def test_piper_without_a_voice_for_the_language_says_how_to_get_one() -> None:
    pytest.importorskip("piper")
    from voiceguide.engines.base import VoiceSettings
    from voiceguide.errors import EngineError
    from voiceguide.voices import resolve_settings

    with pytest.raises(EngineError) as caught:
        resolve_settings(VoiceSettings(engine="piper"), None, "es")
    assert "no Piper voice for the language 'es' is installed" in caught.value.message
    english = resolve_settings(VoiceSettings(engine="piper"), None, "en")
    assert english.voice == "en_US-joe-medium"  # the demo voice, as before


def test_a_changed_catalogue_makes_the_files_again(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A caption's words (not said, so not in the audio) are part of what a rebuild
    compares: the "Mantén - 8 s" caption follows the catalogue."""
    from voiceguide.build import BuildOptions, build

    scripts = write_library(tmp_path / "scripts", {"arms": GERMAN_FRENCH}, {})
    options = BuildOptions(chosen={"engine": "tone", "language": "es"}, out=tmp_path / "out",
                           cache=None, jobs=1)
    (first,) = build(load_library(scripts), ["arms"], options)
    locale = tmp_path / "locale"
    shutil.copytree(catalogues.locale_dir(), locale)
    po = locale / catalogue_path("es").relative_to(catalogues.locale_dir())
    po.write_text(po.read_text(encoding="utf-8").replace('"Mantén - {seconds} s"',
                                                         '"Quieto - {seconds} s"'),
                  encoding="utf-8")
    monkeypatch.setattr(catalogues, "locale_dir", lambda: locale)
    messages_for.cache_clear()
    try:
        (again,) = build(load_library(scripts), ["arms"], options)
    finally:
        messages_for.cache_clear()
    assert not first.unchanged and not again.unchanged
    assert "Quieto - 8 s" in (again.folder / "arms.vtt").read_text(encoding="utf-8")


def test_validate_warns_of_clinic_lines_without_a_translation(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, scripts)
    profile = scripts / "clinic.yaml"
    profile.write_text(profile.read_text(encoding="utf-8").split("translations:")[0],
                       encoding="utf-8")
    (warning,) = language_warnings(load_library(scripts))
    assert warning == f"{profile}: its contact and safety are said in its own words in " \
        "routines in 'es' (add them under 'translations: es:', see the README)"
