"""The pronunciation lexicon: matching, merging, messages, and (through espeak-ng's own
text-to-phonemes, no audio) that every shipped respelling still makes the voice say the
word as intended."""

# ruff: noqa: RUF001 - the expected pronunciations are IPA, whose letters look like ASCII ones

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from voiceguide.build import plans_for
from voiceguide.encode import decode
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import OutputError, ScriptError, SettingsError
from voiceguide.lexicon import (
    LEXICONS,
    Lexicon,
    load_lexicon,
    phonemes,
    read_lexicon,
    shipped_path,
)
from voiceguide.library import load_library
from voiceguide.render import utterances
from voiceguide.say import say_to_file

REPO = Path(__file__).resolve().parent.parent

# word: (respelling, espeak-ng en-us IPA of the respelling = the intended pronunciation).
# Measured with espeak-ng 1.52 (espeakng-loader); the plain words' readings are in en.yaml.
SHIPPED: dict[str, tuple[str, str]] = {
    "masseter": ("miseeter", "mɪsˈiːɾɚ"),
    "counterclockwise": ("counter clockwise", "kˈaʊntɚ klˈɑːkwaɪz"),
    "use": ("yooz", "jˈuːz"),
    "acupressure": ("akyupressure", "ˈækjuːpɹˌɛʃɚ"),
    "coccyx": ("coxix", "kˈɑːksɪks"),
    "dorsi": ("dorsye", "dˈɔːɹsaɪ"),
    "edema": ("ideema", "ɪdˈiːmə"),
    "oedema": ("ideema", "ɪdˈiːmə"),
    "effleurage": ("efflu-rahzh", "ˈɛfluːɹˈɑːʒ"),
    "fascia": ("fasha", "fˈæʃə"),
    "fibromyalgia": ("fibero myalgia", "fˈaɪbɹoʊ maɪˈældʒə"),
    "latissimus": ("la tissimus", "lˌæ tˈɪsɪməs"),
    "myofascial": ("myofashial", "mˌaɪəfˈæʃɪəl"),
    "occipital": ("ock sipital", "ˈɑːk sˈɪpɪɾəl"),
    "petrissage": ("petri-sahzh", "pˈɛtɹisˈɑːʒ"),
    "piriformis": ("pirri formiss", "pˈɪɹi fˈɔːɹmɪs"),
    "psoas": ("soeus", "sˈoʊəs"),
    "quadriceps": ("quadrisseps", "kwˈɑːdɹɪsˌɛps"),
    "sciatic": ("sighattic", "saɪˈæɾɪk"),
    "spinae": ("spynee", "spˈaɪniː"),
    "sternocleidomastoid": ("sterno-clido-mastoid", "stˈɜːnoʊklˈaɪdoʊmˈæstɔɪd"),
    # names a greeting may say (NAMES)
    "ng": ("ing", "ˈɪŋ"),
    "hsu": ("shoo", "ʃˈuː"),
    "xu": ("shoo", "ʃˈuː"),
    "hsieh": ("shay", "ʃˈeɪ"),
    "xiao": ("shyow", "ʃˈaɪaʊ"),
    "wojciech": ("voytchek", "vˈɔɪtʃɛk"),
    "eoin": ("owen", "ˈoʊɪn"),
    "joaquin": ("wa keen", "wˈɑː kˈiːn"),
    "ximena": ("hee menna", "hˈiː mˈɛnə"),
    "padraig": ("pawdrig", "pˈɔːdɹɪɡ"),
    "deirdre": ("deerdra", "dˈɪɹdɹə"),
    "nkechi": ("en kechee", "ˈɛn kˈɛtʃiː"),
    "dafydd": ("davith", "dˈævɪθ"),
    "siân": ("shahn", "ʃˈɑːn"),
}

NAMES = ("ng", "hsu", "xu", "hsieh", "xiao", "wojciech", "eoin", "joaquin", "ximena",
         "padraig", "deirdre", "nkechi", "dafydd", "siân")

# Hard words of the seed scripts (and the anatomy around them) that espeak-ng already
# says right, so they need no entry: if one of these changes, look again.
ALREADY_RIGHT: dict[str, str] = {
    "trapezius": "tɹəpˈiːzɪəs",
    "clavicle": "klˈævɪkəl",
    "collarbones": "kˈɑːlɚbˌoʊnz",
    "orbital": "ˈɔːɹbɪɾəl",
    "lymphatic": "lɪmfˈæɾɪk",
    "cartilage": "kˈɑːɹɾɪlɪdʒ",
    "temples": "tˈɛmpəlz",
    "herniated": "hˈɜːnɪˌeɪɾᵻd",
    "contractures": "kəntɹˈæktʃɚz",
    "endorphin": "ɛndˈɔːɹfɪn",
    "moisturizer": "mˈɔɪstʃɚɹˌaɪzɚ",
    "circulation": "sˌɜːkjʊlˈeɪʃən",
    "clockwise": "klˈɑːkwaɪz",
    "sciatica": "saɪˈæɾɪkə",
    # names
    "Zoë": "zˈoʊi",
    "Siobhan": "ʃɪvˈɔːn",
    "Niamh": "nˈaɪəm",
    "Aoife": "ˈiːfə",
    "Saoirse": "sˈɜːʃə",
    "José": "hoʊsˈeɪ",
}


def lexicon(**entries: str) -> Lexicon:
    return Lexicon(tuple(sorted(entries.items())))


def write(tmp_path: Path, text: str, name: str = "lexicon.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> str:
    with pytest.raises(ScriptError) as caught:
        read_lexicon(path, "scripts/lexicon.yaml")
    return caught.value.render()


# --------------------------------------------------------------------------- matching


def test_whole_words_only_in_any_case_keeping_a_leading_capital() -> None:
    lex = lexicon(masseter="miseeter", temple="tempel")
    assert lex.apply("the masseter, Masseter. MASSETER!") == "the miseeter, Miseeter. Miseeter!"
    assert lex.apply("massetering xmasseter masseter2 contemplate") == (
        "massetering xmasseter masseter2 contemplate")
    assert lex.apply("self-masseter (masseter) 'masseter'") == (
        "self-miseeter (miseeter) 'miseeter'")


def test_plurals_and_possessives() -> None:
    lex = lexicon(masseter="miseeter", use="yooz", psoas="soeus", coccyx="coxix")
    assert lex.apply("both masseters; the masseter's; the masseter’s") == (
        "both miseeters; the miseeter's; the miseeter’s")
    # A word ending in a sibilant has no plain-s plural: "uses" is left alone.
    assert lex.apply("Use it; it uses; psoass; coccyxs") == "Yooz it; it uses; psoass; coccyxs"


def test_an_entry_for_the_plural_beats_word_plus_s() -> None:
    lex = lexicon(temple="tempel", temples="tempels plural")
    assert lex.apply("temple temples") == "tempel tempels plural"


def test_apostrophes_in_words_match_either_kind() -> None:
    lex = lexicon(**{"let's": "lets go"})
    assert lex.apply("Let's and let’s") == "Lets go and lets go"


def test_a_hyphenated_entry_matches_the_whole_compound() -> None:
    lex = lexicon(**{"self-massage": "self massage", "massage": "massahzh"})
    assert lex.apply("Self-massage is a massage.") == "Self massage is a massahzh."


def test_replacements_are_not_replaced_again() -> None:
    lex = lexicon(a="b c", b="x")
    assert lex.apply("a b") == "b c x"


def test_an_empty_lexicon_changes_nothing() -> None:
    assert Lexicon().apply("the masseter") == "the masseter"


# --------------------------------------------------------------------------- loading


def test_the_shipped_lexicon_is_found_for_english_variants() -> None:
    assert shipped_path("en") == LEXICONS / "en.yaml"
    assert shipped_path("en-US") == LEXICONS / "en.yaml"
    assert shipped_path("en-gb") == LEXICONS / "en.yaml"
    assert shipped_path("fr") is None
    assert load_lexicon("fr") == Lexicon()
    english = load_lexicon("en-US")
    assert english.files == ("voiceguide/lexicons/en.yaml",)
    assert english.apply("the masseter") == "the miseeter"


def test_a_bad_language_code_is_refused() -> None:
    with pytest.raises(SettingsError, match="not a language code"):
        load_lexicon("../en")


def test_a_clinic_file_overrides_and_extends_the_shipped_one(tmp_path: Path) -> None:
    clinic = write(tmp_path, """\
        # our own words
        Masseter: massy-ter     # case does not matter: replaces the shipped entry
        use: use                # switch a shipped entry off
        gua: gwah
        """)
    lex = load_lexicon("en", clinic, "scripts/lexicon.yaml")
    assert lex.files == ("voiceguide/lexicons/en.yaml", "scripts/lexicon.yaml")
    assert lex.apply("Masseter, use gua sha, counterclockwise.") == (
        "Massy-ter, use gwah sha, counter clockwise.")
    shipped = dict(load_lexicon("en").entries)
    assert dict(lex.entries) == {**shipped, "masseter": "massy-ter", "use": "use",
                                 "gua": "gwah"}


def test_empty_and_comment_only_files_are_empty_lexicons(tmp_path: Path) -> None:
    assert read_lexicon(write(tmp_path, "")) == {}
    assert read_lexicon(write(tmp_path, "# nothing yet\n")) == {}


def test_respellings_are_tidied(tmp_path: Path) -> None:
    path = write(tmp_path, 'psoas: "  soe   us "\n')
    assert read_lexicon(path) == {"psoas": "soe us"}


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("masseter:\n",
         "scripts/lexicon.yaml:1:1: 'masseter' has no respelling: write how it sounds after "
         "the ':', e.g. 'masseter: miseeter', or remove the line"),
        ("masseter: '  '\n",
         "scripts/lexicon.yaml:1:11: 'masseter' has no respelling: write how it sounds after "
         "the ':', e.g. 'masseter: miseeter', or remove the line"),
        ('"": miseeter\n',
         "scripts/lexicon.yaml:1:1: an entry has no word before its ':' (write it as "
         "'word: respelling')"),
        ("neck muscle: nek mussel\n",
         "scripts/lexicon.yaml:1:1: the word 'neck muscle' has a space: an entry is one word "
         "(give each word its own line; the respelling may have spaces)"),
        ("<b>masseter</b>: miseeter\n",
         "scripts/lexicon.yaml:1:1: the word '<b>masseter</b>' contains '<' or '>': write the "
         "word as the script spells it, without markup"),
        ("masseter!: miseeter\n",
         "scripts/lexicon.yaml:1:1: the word 'masseter!' can only have letters and digits, "
         "with ' or - inside it"),
        ("masseter: <phoneme>m@si:t3</phoneme>\n",
         "scripts/lexicon.yaml:1:11: the respelling of 'masseter' contains '<' or '>': the "
         "voice would read markup aloud (spell the sound with letters)"),
        ("masseter: mass-SEE-ter\n",
         "scripts/lexicon.yaml:1:11: the respelling of 'masseter' has capitals ('SEE'): the "
         "voice reads a capital inside a word as a letter name; write it in lower case"),
        ("masseter: [mi, seeter]\n",
         "scripts/lexicon.yaml:1:11: the respelling of 'masseter' must be text on the same "
         "line (put it in quotes if it is a number)"),
        ("true: troo\n",
         "scripts/lexicon.yaml:1:1: 'true' is not read as a word: put it in quotes "
         "(e.g. '\"true\": respelling')"),
        ("12: twelve\n",
         "scripts/lexicon.yaml:1:1: '12' is not read as a word: put it in quotes "
         "(e.g. '\"12\": respelling')"),
    ],
)
def test_bad_entries_are_reported_where_they_are(tmp_path: Path, text: str,
                                                 expected: str) -> None:
    assert problems(write(tmp_path, text)).splitlines()[0] == expected


def test_every_problem_of_a_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        masseter: miseeter
        psoas:
        Masseter: massy-ter
        fascia: fasha
        """)
    with pytest.raises(ScriptError) as caught:
        read_lexicon(path, "scripts/lexicon.yaml")
    assert [p.location() + ": " + p.message for p in caught.value.problems] == [
        "scripts/lexicon.yaml:2:1: 'psoas' has no respelling: write how it sounds after the "
        "':', e.g. 'masseter: miseeter', or remove the line",
        "scripts/lexicon.yaml:3:1: 'Masseter' is already listed on line 1 as 'masseter' "
        "(case does not matter: keep one)",
    ]
    assert caught.value.render().splitlines()[1:3] == ["    psoas:", "    ^"]


def test_an_exact_duplicate_is_reported_by_the_yaml_reader(tmp_path: Path) -> None:
    path = write(tmp_path, "masseter: miseeter\nfascia: fasha\nmasseter: massy-ter\n")
    assert problems(path).splitlines()[0] == (
        "scripts/lexicon.yaml:3:1: 'masseter' appears twice here (keep one)")


@pytest.mark.parametrize("text", ["- masseter: miseeter\n", "masseter miseeter\n"])
def test_a_file_that_is_not_a_list_of_words_is_refused(tmp_path: Path, text: str) -> None:
    assert problems(write(tmp_path, text)) == (
        "scripts/lexicon.yaml:1:1: should be a list of 'word: respelling' lines, e.g. "
        "'masseter: miseeter' (see the README)")


def test_tabs_and_broken_yaml_get_the_script_messages(tmp_path: Path) -> None:
    assert "a tab is used for indentation" in problems(write(tmp_path, "a: b\n\tc: d\n"))
    assert problems(write(tmp_path, "a: 'b\n")).startswith("scripts/lexicon.yaml:2:1: ")


def test_the_clinic_file_is_named_in_messages(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"^clinic\.yaml:1:1: 'psoas' has no respelling"):
        load_lexicon("en", write(tmp_path, "psoas:\n"), "clinic.yaml")


# --------------------------------------------------------------------------- digest


def test_the_digest_is_stable_and_follows_the_entries() -> None:
    base = lexicon(masseter="miseeter", psoas="soeus")
    assert base.digest() == lexicon(psoas="soeus", masseter="miseeter").digest()
    assert len(base.digest()) == 64
    assert Lexicon(base.entries, ("elsewhere.yaml",)).digest() == base.digest()
    assert lexicon(masseter="miseetr", psoas="soeus").digest() != base.digest()
    assert lexicon(masseter="miseeter").digest() != base.digest()
    assert lexicon(masseter="miseeter", psoaz="soeus").digest() != base.digest()
    assert Lexicon().digest() != base.digest()
    # Pinned: a change to how the digest is computed must be deliberate (it keys caches).
    assert lexicon(masseter="miseeter").digest() == (
        "39c718b28b690dfe304dc1352ad66dbb40d1db99f111addadab1caa6e8387bad")


# --------------------------------------------------------------------------- phonemes


def test_the_shipped_lexicon_is_exactly_the_measured_table() -> None:
    assert dict(load_lexicon("en").entries) == {w: r for w, (r, _) in SHIPPED.items()}


@pytest.mark.parametrize("word", sorted(SHIPPED))
def test_each_shipped_respelling_gives_the_intended_phonemes(word: str) -> None:
    respelling, intended = SHIPPED[word]
    assert phonemes(respelling) == intended
    assert phonemes(load_lexicon("en").apply(word)) == intended
    # ... and the entry is still needed: the plain word is read otherwise.
    assert phonemes(word) != intended


@pytest.mark.parametrize("word", sorted(ALREADY_RIGHT))
def test_hard_words_espeak_already_says_right(word: str) -> None:
    assert phonemes(word) == ALREADY_RIGHT[word]


def test_respellings_work_inside_the_seed_sentences() -> None:
    english = load_lexicon("en")
    line = "If you grind your teeth at night, you may feel the Masseter muscle here."
    assert "mɪsˈiːɾɚ mˈʌsəl" in phonemes(english.apply(line))
    assert "mˈæsɛɾɚ" in phonemes(line)
    assert "ˈɔːlweɪz jˈuːz sˈɔft" in phonemes(english.apply("Always use soft strokes."))
    assert "mɪsˈiːɾɚz" in phonemes(english.apply("Both masseters."))


def test_the_name_entries_change_no_word_of_the_seed_scripts() -> None:
    """An entry also matches itself + s: a name must not turn an English word into
    another (an entry "thi" made "this" say "tees")."""
    names = lexicon(**{w: SHIPPED[w][0] for w in NAMES})
    said = utterances(plans_for(load_library(REPO / "scripts"), []))
    assert [names.apply(t) for t in said] == said
    assert names.apply("Hi Xu, this is for Ng.") == "Hi Shoo, this is for Ing."


def test_a_greeting_says_a_name_not_its_letters() -> None:
    """"Hi Zoë Ng." was read "Hi Zoey N G": a name without a vowel is spelled out."""
    line = "Hi Zoë Ng."
    assert phonemes(line) == "hˈaɪ zˈoʊi ˌɛndʒˈiː"
    assert load_lexicon("en").apply(line) == "Hi Zoë Ing."
    assert phonemes(load_lexicon("en").apply(line)) == "hˈaɪ zˈoʊi ˈɪŋ"


def test_phonemes_of_a_variant_voice_and_in_ascii() -> None:
    assert phonemes("miseeter", "en-us+f3") == phonemes("miseeter")
    assert phonemes("miseeter", ipa=False) == "mI2s'i:t#3"
    assert phonemes("miseeter", "en") == "mɪsˈiːtə"


# --------------------------------------------------------------------------- say


def test_say_applies_the_lexicon_before_the_voice(tmp_path: Path) -> None:
    # The tone engine's length follows the word count: "counter clockwise" is two words.
    settings = VoiceSettings(engine="tone", rate=120)
    english = load_lexicon("en")
    said = say_to_file("And counterclockwise.", settings, english, tmp_path / "a.wav")
    plain = say_to_file("And counterclockwise.", settings, Lexicon(), tmp_path / "b.wav")
    assert said.spoken == "And counter clockwise."
    assert plain.spoken == "And counterclockwise."
    assert (said.ms, plain.ms) == (1500, 1000)
    assert decode(said.path, 22050).ms == 1500
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]


@pytest.mark.parametrize(
    ("text", "name", "error"),
    [("  ", "a.wav", "the text is empty"), ("<b>hi</b>", "a.wav", "'<' or '>'"),
     ("hi", "a.txt", "can't tell the audio format of 'a.txt'")],
)
def test_say_refuses_bad_input_before_starting_the_voice(tmp_path: Path, text: str, name: str,
                                                         error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        say_to_file(text, VoiceSettings(engine="tone"), Lexicon(), tmp_path / name)


def test_say_reports_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="can't write"):
        say_to_file("hi", VoiceSettings(engine="tone"), Lexicon(), blocker / "a.wav")


@pytest.mark.e2e
def test_say_with_the_real_voice_writes_an_mp3(tmp_path: Path) -> None:
    english = load_lexicon("en")
    said = say_to_file("Feel the masseter.", VoiceSettings(), english, tmp_path / "say.mp3")
    plain = say_to_file("Feel the masseter.", VoiceSettings(), Lexicon(), tmp_path / "p.mp3")
    assert said.spoken == "Feel the miseeter."
    clip = decode(said.path, 22050)
    assert 600 < clip.ms < 3000
    assert abs(clip.ms - said.ms) < 60  # the encoder keeps the length (gapless MP3)
    assert said.ms != plain.ms  # the respelling reached the voice
