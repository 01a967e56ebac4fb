"""Rules about text, in one place: what counts as a word, what the voice can't be given,
what a language code looks like, and "did you mean" for a misspelt name.

Pure: no I/O. Scripts (parse), lexicons, engines and the CLI all ask here, so a rule
can't drift between them.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence

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


def spoken_problem(text: str) -> str | None:
    """Why `text` (whitespace already collapsed) can't be given to a voice, as the end of
    a sentence that starts with the text's name, or None when it can."""
    if not text:
        return "is empty: write the text, or remove the line"
    if has_markup(text):
        return f"{MARKUP_PROBLEM} (remove it; use a pause step for silence)"
    if has_control(text):
        return "contains a control character (retype the line)"
    if count_words(text) == 0:
        return "has no words for the voice to say (write a sentence, or remove the line)"
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


def and_list(things: Sequence[str]) -> str:
    """'a chair', 'a chair and a wall', 'a ball, a wall and a chair'."""
    if len(things) <= 1:
        return "".join(things)
    return ", ".join(things[:-1]) + " and " + things[-1]


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 track', '2 tracks', '1 routine', '3 routines'."""
    return f"{count} {one if count == 1 else many or one + 's'}"
