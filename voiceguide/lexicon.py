"""Pronunciation lexicon: words the voice says wrong, respelled so it says them right.

A lexicon is a YAML file of `word: respelling` lines:

```yaml
# scripts/lexicon.yaml
masseter: miseeter            # espeak-ng says MASS-eh-ter; this reads mi-SEE-ter
counterclockwise: counter clockwise
use: yooz                     # the verb; espeak-ng reads "use" as the noun
```

- The **word** is one word as the script writes it: letters and digits, with `'` or `-`
  inside it (`let's`); no spaces. Matching ignores case (`Masseter`, `MASSETER`) and is
  whole-word only: `temple` leaves `contemplate` alone. `-` and `'` in the script end a
  word, so `self-masseter` and `masseter's` match `masseter`.
- **Plurals**: an entry also matches the word with an `s` added (`masseters` becomes
  `miseeters`), except for words ending in s, x, z, ch, sh, ce, ge, se or ze, whose
  plural is not a plain `s` (`use` does not match `uses`): give such plurals an entry of
  their own; an entry for the plural itself wins over word + s.
- The **respelling** is what the voice reads instead: ordinary lower-case letters spelled
  the way they sound, one word or several. espeak-ng reads a capital letter inside a word
  as a letter name, so stress marks like `mass-SEE-ter` come out as "mass S E E ter":
  capitals are refused. To move the stress, try spellings and listen (`voiceguide say`),
  or check them with `phonemes()` below; splitting a word in two (`counter clockwise`)
  gives both halves a stress. When the script's word starts with a capital, so does the
  respelling.
- Only the voice hears respellings: captions, chapters and the manifest keep the
  script's spelling.

voiceguide ships a lexicon per language (`voiceguide/lexicons/en.yaml`; a language such
as `en-US` without a file of its own uses `en`'s). A clinic's own file is read after it:
its entries are added, and a word it lists replaces the shipped entry. To switch a
shipped entry off, map the word to itself (`use: use`).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceguide import parsed
from voiceguide.errors import Problem, ScriptError, SettingsError
from voiceguide.text import (
    MARKUP_PROBLEM,
    has_control,
    has_markup,
    language_problem,
    normal_language,
)

if TYPE_CHECKING:
    from voiceguide.parse import _Document

LEXICONS = Path(__file__).resolve().parent / "lexicons"
DEFAULT_LANGUAGE = "en"

_CURLY = "\u2019"  # the typographic apostrophe: matched like '
_WORD = re.compile(rf"^[^\W_]+(?:['{_CURLY}-][^\W_]+)*$")
_NO_PLAIN_PLURAL = ("s", "x", "z", "ch", "sh", "ce", "ge", "se", "ze")


@dataclass(frozen=True)
class Lexicon:
    """Respellings by word. `entries` are (word in lower case, respelling), sorted by
    word; `files` are the files they came from, for the manifest."""

    entries: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()

    @cached_property
    def _respellings(self) -> dict[str, str]:
        return {_key(word): respelling for word, respelling in self.entries}

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.entries:
            return None
        # Longest first: the first alternative that matches wins, so an entry for
        # "masseters" is preferred to "masseter" plus a plural s.
        words = sorted(self._respellings, key=lambda w: (-len(w), w))
        alternatives = "|".join(re.escape(w).replace("'", f"['{_CURLY}]") for w in words)
        return re.compile(rf"(?<!\w)({alternatives})(s?)(?!\w)", re.IGNORECASE)

    def apply(self, text: str) -> str:
        """`text` with every listed word replaced by its respelling."""
        pattern = self._pattern
        return pattern.sub(self._replace, text) if pattern else text

    def _replace(self, match: re.Match[str]) -> str:
        found, plural = match.group(1), match.group(2)
        word = _key(found)
        if plural and word.endswith(_NO_PLAIN_PLURAL):
            return match.group(0)  # "uses" is not "use" + s
        respelling = self._respellings[word] + plural.lower()
        if found[:1].isupper():
            respelling = respelling[:1].upper() + respelling[1:]
        return respelling

    def digest(self) -> str:
        """sha256 of the entries (not of where they came from): changes exactly when what
        the voice is given would change, so it can key a cache of rendered speech."""
        canonical = json.dumps([list(e) for e in self.entries], ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _key(word: str) -> str:
    return word.replace(_CURLY, "'").lower()


def shipped_path(language: str) -> Path | None:
    """The shipped lexicon for a language code (en-US falls back to en), or None."""
    if language_problem(language):
        raise SettingsError(f"{language!r} is not a language code",
                            "use a code such as en or en-US")
    code = normal_language(language)
    while code:
        path = LEXICONS / f"{code}.yaml"
        if path.is_file():
            return path
        code = code.rpartition("-")[0]
    return None


def load_lexicon(language: str = DEFAULT_LANGUAGE, extra: Path | None = None,
                 shown: str | None = None) -> Lexicon:
    """The shipped lexicon for `language` (empty when there is none) with the clinic's
    file `extra` over it. `shown` is how `extra` is named in messages. ScriptError,
    with every problem of the file at once, when a file is wrong."""
    merged: dict[str, str] = {}
    files: list[str] = []
    base = shipped_path(language)
    if base is not None:
        merged.update(parsed.lexicon(base, f"voiceguide/lexicons/{base.name}"))
        files.append(f"voiceguide/lexicons/{base.name}")
    if extra is not None:
        name = shown or str(extra)
        merged.update(parsed.lexicon(extra, name))
        files.append(name)
    return Lexicon(tuple(sorted(merged.items())), tuple(files))


def read_lexicon(path: Path, shown: str | None = None) -> dict[str, str]:
    """One lexicon file -> {word in lower case: respelling}. An empty file (or one with
    only comments) is an empty lexicon."""
    from voiceguide.parse import _Positions  # ruamel: parsed.lexicon keeps what it gives

    shown = shown or str(path)
    doc = _read_mapping(path, shown)
    if doc is None:
        return {}
    positions = _Positions(doc)
    problems: list[Problem] = []
    entries: dict[str, str] = {}
    first_seen: dict[str, Any] = {}
    for word, value in doc.data.items():
        problem = _word_problem(word)
        if problem:
            problems.append(positions.problem((word,), problem))
            continue
        key = _key(word.strip())
        if key in first_seen:
            line = doc.data.lc.key(first_seen[key])[0] + 1
            problems.append(positions.problem((word,), (
                f"'{word}' is already listed on line {line} as '{first_seen[key]}' "
                "(case does not matter: keep one)")))
            continue
        first_seen[key] = word
        problem = _respelling_problem(word, value)
        if problem:
            problems.append(positions.problem((word,), problem, at_value=True))
            continue
        entries[key] = " ".join(value.split())
    if problems:
        raise ScriptError(problems)
    return entries


def _read_mapping(path: Path, shown: str) -> _Document | None:
    """parse._read, with its message for a file that is not a mapping made about
    lexicons, and None for a file with nothing in it."""
    from ruamel.yaml import YAML  # the YAML reader: only when a file is read, not kept

    from voiceguide.parse import _read

    try:
        doc = _read(path, shown)
    except ScriptError as exc:
        if not any(p.message.startswith("should be a list of fields") for p in exc.problems):
            raise
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8-sig"))
        if data is None:
            return None
        raise ScriptError([Problem(shown, 1, 1, "should be a list of 'word: respelling' "
                                   "lines, e.g. 'masseter: miseeter' (see the README)")]
                          ) from None
    return doc


def _word_problem(word: object) -> str | None:
    if word is None or (isinstance(word, str) and not word.strip()):
        return "an entry has no word before its ':' (write it as 'word: respelling')"
    if not isinstance(word, str):
        shown = str(word).lower() if isinstance(word, bool) else str(word)
        return (f"'{shown}' is not read as a word: put it in quotes "
                f"(e.g. '\"{shown}\": respelling')")
    if has_markup(word):
        return (f"the word '{word}' contains '<' or '>': write the word as the script "
                "spells it, without markup")
    if len(word.split()) > 1:
        return (f"the word '{word}' has a space: an entry is one word (give each word "
                "its own line; the respelling may have spaces)")
    if not _WORD.match(word.strip()):
        return (f"the word '{word}' can only have letters and digits, with ' or - "
                "inside it")
    return None


def _respelling_problem(word: str, value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return (f"'{word}' has no respelling: write how it sounds after the ':', e.g. "
                "'masseter: miseeter', or remove the line")
    if not isinstance(value, str):
        return (f"the respelling of '{word}' must be text on the same line (put it in "
                "quotes if it is a number)")
    if has_markup(value):
        return (f"the respelling of '{word}' {MARKUP_PROBLEM} (spell the sound with "
                "letters)")
    if has_control(value):
        return f"the respelling of '{word}' contains a control character (retype it)"
    capitals = [w for w in re.findall(r"[^\W\d_]+", value) if w != w.lower()]
    if capitals:
        return (f"the respelling of '{word}' has capitals ('{capitals[0]}'): the "
                "voice reads a capital inside a word as a letter name; write it in lower "
                "case")
    return None


# --------------------------------------------------------------------------- phonemes


class _Phonemizer:
    """espeak-ng's own text-to-phonemes, on the library the engines use: shows how the
    voice will pronounce a text without synthesizing it. Once per process, one call at
    a time (the library keeps state)."""

    def __init__(self) -> None:
        from voiceguide.engines.espeak_engine import EspeakLib
        from voiceguide.native import load_espeak

        cdll = load_espeak()
        self._lib = EspeakLib(cdll)
        self._lib.initialize()
        self._voice: str | None = None
        self._function = cdll.espeak_TextToPhonemes
        self._function.restype = ctypes.c_char_p
        self._function.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                   ctypes.c_int]

    def phonemes(self, text: str, voice: str, ipa: bool) -> str:
        if voice != self._voice:
            self._lib.set_voice(self._lib.resolve_voice(voice))
            self._voice = voice
        buffer = ctypes.create_string_buffer(text.encode())
        pointer = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses: list[str] = []
        while pointer.value:  # the library moves it on by one clause per call
            # textmode 1: UTF-8; phonememode 2: IPA (0: espeak's ASCII names)
            out = self._function(ctypes.byref(pointer), 1, 2 if ipa else 0)
            clauses.append((out or b"").decode("utf-8", "replace").strip())
        return " ".join(c for c in clauses if c)


_phonemizer: _Phonemizer | None = None
_phonemizer_lock = threading.Lock()


def phonemes(text: str, voice: str = "en-us", ipa: bool = True) -> str:
    """How espeak-ng pronounces `text` with `voice`: IPA with a stress mark before each
    stressed syllable, as dictionaries write it, or with `ipa=False` espeak's ASCII
    phoneme names ("masseter": "m'asEt#3"). A voice variant (`+f3`) changes the sound,
    not the phonemes. Fast (no audio is made); loads libespeak-ng in this process."""
    global _phonemizer
    with _phonemizer_lock:
        if _phonemizer is None:
            _phonemizer = _Phonemizer()
        return _phonemizer.phonemes(text, voice, ipa)
