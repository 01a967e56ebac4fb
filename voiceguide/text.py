"""Rules about text, in one place: what counts as a word, what the voice can't be given,
what a language code looks like, and "did you mean" for a misspelt name.

Pure: no I/O. Scripts (parse), lexicons, engines and the CLI all ask here, so a rule
can't drift between them.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

# --------------------------------------------------------------------------- words


def _tokens(text: str) -> list[str]:
    return [token for token in text.split() if any(c.isalnum() for c in token)]


def count_words(text: str) -> int:
    """Words as written: whitespace-separated tokens with a letter or digit."""
    return len(_tokens(text))


def most_words(text: str) -> int:
    """An upper bound on the words spoken: numbers are read out in words ("1990" is
    "nineteen ninety", "555-1234" many more), and Chinese or Japanese writes no spaces,
    so count a word per digit and per wide character too."""
    return sum(1 + sum(_is_word_like(c) for c in token) for token in _tokens(text))


def _is_word_like(char: str) -> bool:
    return char.isdigit() or unicodedata.east_asian_width(char) == "W"


def preview(text: str, limit: int = 60) -> str:
    """A short quote of an utterance for messages."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


# --------------------------------------------------------------------------- spoken text

_MARKUP = re.compile(r"[<>]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# pyttsx3 does not pass espeak-ng's SSML flag, so markup would be read aloud ("less than
# break time ..."): pauses are real silence, and '<' or '>' never reach a voice.
MARKUP_PROBLEM = "contains '<' or '>': the voice would read markup aloud"


def has_markup(text: str) -> bool:
    return bool(_MARKUP.search(text))


def has_control(text: str) -> bool:
    return bool(_CONTROL.search(text))


def spoken_problem(text: str, language: str | None = None) -> str | None:
    """Why `text` (whitespace already collapsed) can't be given to a voice, as the end of
    a sentence that starts with the text's name, or None when it can. With a language,
    also letters its voice can't read (script_problem)."""
    if not text:
        return "is empty: write the text, or remove the line"
    if has_markup(text):
        return f"{MARKUP_PROBLEM} (remove it; use a pause step for silence)"
    if has_control(text):
        return "contains a control character (retype the line)"
    if count_words(text) == 0:
        return "has no words for the voice to say (write a sentence, or remove the line)"
    return script_problem(text, language)


# --------------------------------------------------------------------------- scripts

# The writing system each language's voice reads. A letter of another script (Arabic in
# an English script, Chinese in a German one) would be spelled out, skipped or read as
# something else: measured with espeak-ng's English voice, an Arabic sentence expected
# at 2.6 s came out 19.9 s long. Languages not listed here are not checked.
_LATIN_LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl", "sv", "da", "no", "nb",
                    "nn", "fi", "pl", "cs", "sk", "sl", "hr", "hu", "ro", "tr", "ca",
                    "eu", "gl", "et", "lv", "lt", "is", "ga", "cy", "af", "id", "ms",
                    "sw", "vi", "sq", "mt")
SCRIPTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_LATIN_LANGUAGES, ("LATIN",)),
    "el": ("GREEK",), "ru": ("CYRILLIC",), "uk": ("CYRILLIC",), "bg": ("CYRILLIC",),
    "sr": ("CYRILLIC", "LATIN"), "ar": ("ARABIC",), "fa": ("ARABIC",), "he": ("HEBREW",),
    "hi": ("DEVANAGARI",), "zh": ("CJK",), "ja": ("CJK", "HIRAGANA", "KATAKANA"),
    "ko": ("HANGUL",), "th": ("THAI",),
}
_SCRIPT_NAMES = {"CJK": "Chinese characters", "HIRAGANA": "Japanese kana",
                 "KATAKANA": "Japanese kana", "HANGUL": "Korean letters"}


def _script(char: str) -> str | None:
    """The writing system of a letter ('LATIN', 'ARABIC', 'CJK', ...), None for anything
    that is not a letter (digits, punctuation, spaces)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    return unicodedata.name(char, "UNKNOWN").split(" ")[0]


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) == "So" and (
        code >= 0x1F000 or 0x2600 <= code <= 0x27BF)


def script_problem(text: str, language: str | None) -> str | None:
    """Why the voice of `language` can't say `text` as written (letters of another
    writing system, an emoji), or None. For languages SCRIPTS doesn't know, None."""
    emoji = next((c for c in text if _is_emoji(c)), None)
    if emoji is not None:
        return (f"has an emoji ('{emoji}'): the voice would read out its name (remove it, "
                "or say it in words)")
    if not language:
        return None
    wanted = SCRIPTS.get(normal_language(language).split("-")[0])
    if wanted is None:
        return None
    for char in text:
        script = _script(char)
        if script is not None and script not in wanted:
            word = next((w for w in text.split() if char in w), char)
            shown = _SCRIPT_NAMES.get(script, f"{script.capitalize()} letters")
            return (f"has {shown} ('{word}') that the {language} voice can't say (write it "
                    f"in the narration's language, or set the language to match)")
    return None


# --------------------------------------------------------------------------- languages

# BCP 47 as clinics write it: a 2-3 letter language, then optional subtags ("en",
# "en-US", "es-419", "zh-Hant-TW"). Case is free: "en-us" is "en-US".
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$", re.IGNORECASE)


def language_problem(code: str) -> str | None:
    if _LANGUAGE.match(code.strip()):
        return None
    return "must be a language code such as en, es or en-US"


def normal_language(code: str) -> str:
    """'EN_us ' -> 'en-us': the form the shipped lexicons and catalogues are named by."""
    return code.strip().lower().replace("_", "-")


# --------------------------------------------------------------------------- names


def closest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The choices that look like a misspelling of `word`, best first."""
    return difflib.get_close_matches(word, sorted(set(choices)), n=n, cutoff=0.6)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"did you mean 'neck'?" or '' when nothing is close."""
    near = closest(word, choices) or closest(word.lower(), choices)
    return f"did you mean '{near[0]}'?" if near else ""


def unknown(name: str, allowed: Iterable[str], what: str) -> str:
    """"unknown step 'sya' (did you mean 'say'? allowed: say, pause, ...)"."""
    listed = list(allowed)
    guess = did_you_mean(name, listed)
    return f"unknown {what} '{name}' ({guess + ' ' if guess else ''}allowed: " \
        f"{', '.join(listed)})"


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 track', '2 tracks', '1 routine', '3 routines'."""
    return f"{count} {one if count == 1 else many or one + 's'}"
