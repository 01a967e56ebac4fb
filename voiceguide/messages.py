"""voiceguide's own words (the overview, "You'll need ...", side names, the countdown,
captions, chapter and page text) in the narration's language.

The words live in gettext catalogues, `voiceguide/locale/<lang>/LC_MESSAGES/voiceguide.po`,
read with Babel when first needed (no compile step: a fresh clone works as it is). The
English text is the message id, so English needs no catalogue, and a message a catalogue
lacks falls back to English (`validate` warns about it: `catalogue_problems`). Placeholders
are written `{name}`. Numbers a voice says inside a phrase are words (num2words: "these
four techniques"), lists follow the language's own pattern (Babel: "a, b y c").

`Messages` is a value: plan, share and export are handed one, and the English one
(`ENGLISH`) needs no file at all.
"""

from __future__ import annotations

import gettext
import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from voiceguide.text import normal_language

DOMAIN = "voiceguide"


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined, not translated (the
    defaults a script's step takes; translated when planned)."""
    return message


# The defaults of a hold's release and a sides block's switch: kept in the technique as
# these English ids, so the build's language says them in its own words.
DEFAULT_RELEASE = N_("And release.")
DEFAULT_SWITCH = N_("Now switch to your {side} side.")
_SCRIPT_DEFAULTS = (DEFAULT_RELEASE, DEFAULT_SWITCH)
_SIDES = {"right": N_("right"), "left": N_("left")}


def locale_dir() -> Path:
    return Path(str(resources.files("voiceguide"))) / "locale"


def template_path() -> Path:
    """The catalogue template (.pot): every message id, as extracted from the code."""
    return locale_dir() / f"{DOMAIN}.pot"


def catalogue_path(language: str) -> Path:
    return locale_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def shipped_languages() -> tuple[str, ...]:
    """The languages with a catalogue ('es', 'de', 'fr'), English (the ids) first."""
    found = sorted(p.parent.parent.name for p in locale_dir().glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return ("en", *found)


def _catalogue_for(language: str) -> tuple[str, Path] | None:
    """The catalogue that serves `language` ('es-MX' -> es_MX, else es), or None."""
    normal = normal_language(language)
    base, _, region = normal.partition("-")
    for name in (f"{base}_{region.upper()}" if region else None, base):
        if name and catalogue_path(name).is_file():
            return name, catalogue_path(name)
    return None


def english(language: str) -> bool:
    return normal_language(language).split("-")[0] == "en"


@dataclass(frozen=True)
class Messages:
    """voiceguide's words in one language: gettext lookups with English as the fallback."""

    language: str  # BCP 47, as the settings give it
    translations: gettext.NullTranslations

    @property
    def locale(self) -> str:
        """The Babel locale of lists and numbers. Plain English keeps the clinic's house
        style, without a serial comma ("a ball, a wall and a chair": CLDR's en-GB)."""
        normal = normal_language(self.language)
        base, _, region = normal.partition("-")
        if normal == "en":
            return "en_GB"
        return f"{base}_{region.upper()}" if region else base

    def gettext(self, message: str, **values: object) -> str:
        text = self.translations.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, one: str, many: str, count: int, **values: object) -> str:
        return self.translations.ngettext(one, many, count).format(count=count, **values)

    def number(self, count: int) -> str:
        """A count as the voice says it best inside a phrase: in words."""

        def said() -> str:
            from num2words import num2words

            try:
                return str(num2words(count, lang=self.locale))
            except NotImplementedError:
                try:
                    return str(num2words(count, lang=self.locale.split("_")[0]))
                except NotImplementedError:
                    return str(count)

        return _once(("number", self.locale, count), said)

    def and_list(self, things: Sequence[str]) -> str:
        """'a chair', 'a chair and a wall', 'una pelota, una pared y una silla'."""

        def said() -> str:
            from babel.lists import format_list

            return format_list(list(things), locale=self.locale)

        return _once(("list", self.locale, *things), said) if things else ""

    def decimal(self, value: float, digits: int = 1) -> str:
        from babel.numbers import format_decimal

        return format_decimal(round(value, digits), format=f"#,##0.{'0' * digits}",
                              locale=self.locale)

    # ----------------------------------------------------------------- what is said

    def side(self, name: str) -> str:
        """'right' -> 'derecho'; a script's own side names stay as written."""
        return self.gettext(_SIDES[name]) if name in _SIDES else name

    def script_default(self, text: str) -> str:
        """A hold's release or a switch as the script gave it; voiceguide's own default
        ('And release.') in this language."""
        return self.gettext(text) if text in _SCRIPT_DEFAULTS else text

    def these_techniques(self, count: int) -> str:
        return self.ngettext("this technique", "these {number} techniques", count,
                             number=self.number(count))

    def overview(self, count: int, total_ms: int) -> str:
        """'Today: 4 techniques, about 16 minutes.'"""
        return self.gettext("Today: {techniques}, {length}.",
                            techniques=self.ngettext("{count} technique",
                                                     "{count} techniques", count),
                            length=self.about_minutes(total_ms))

    def about_minutes(self, ms: int) -> str:
        """'about 16 minutes'; never less than one minute."""
        minutes = max(round(ms / 60_000), 1)
        return self.ngettext("about {count} minute", "about {count} minutes", minutes)

    def you_need(self, equipment: Sequence[str]) -> str:
        return self.gettext("You'll need {equipment}.", equipment=self.and_list(equipment))

    def countdown(self, seconds: int) -> str:
        return self.ngettext("{count} more second.", "{count} more seconds.", seconds)

    def greeting(self, name: str) -> str:
        return self.gettext("Hi {name}.", name=name)

    def client_title(self, name: str) -> str:
        return self.gettext("{name}'s routine", name=name)

    def client_summary(self, name: str, titles: Sequence[str]) -> str:
        return self.gettext("For {name}: {techniques}.", name=name,
                            techniques=", ".join(titles))

    # ----------------------------------------------------------------- what is shown

    def hold_caption(self, seconds: float) -> str:
        """The caption shown during a hold: 'Hold - 30 s'."""
        return self.gettext("Hold - {seconds} s", seconds=self._seconds(seconds))

    def _seconds(self, seconds: float) -> str:
        whole = seconds == int(seconds)
        return str(int(seconds)) if whole else self.decimal(seconds)

    def full_session(self, title: str) -> str:
        return self.gettext("{title} (full session)", title=title)

    def pause_chapter(self) -> str:
        """A step chapter's title when nothing is said in it."""
        return self.gettext("pause")

    def cover_subtitle(self, tracks: int, ms: int) -> str:
        about = self.about_minutes(ms)
        if tracks <= 1:
            return about
        return self.ngettext("{count} track, {length}", "{count} tracks, {length}", tracks,
                             length=about)

    def voice_line(self, name: str, licence: str, separator: str = " - ") -> str:
        """'Voice: en-us+f3 (pyttsx3) - espeak-ng voice data, ...'"""
        line = self.gettext("Voice: {name}", name=name)
        # espeak-ng's licence line is voiceguide's own words; a Piper voice's comes from
        # its model card, as written (gettext returns it unchanged)
        return f"{line}{separator}{self.gettext(licence)}" if licence else line

    def length(self, ms: int) -> str:
        """'30 s', '1 min 30 s', '2 min' (written steps)."""
        seconds = round(ms / 1000)
        if seconds < 60:
            return self.gettext("{seconds} s", seconds=seconds)
        minutes, rest = divmod(seconds, 60)
        if rest:
            return self.gettext("{minutes} min {seconds} s", minutes=minutes, seconds=rest)
        return self.gettext("{minutes} min", minutes=minutes)

    def size(self, size: int) -> str:
        if size >= 100_000:
            return self.gettext("{size} MB", size=self.decimal(size / 1_000_000))
        return self.gettext("{size} kB", size=round(size / 1000))


ENGLISH = Messages("en", gettext.NullTranslations())

# What num2words and Babel said, by what they were asked: each answer is quick once
# their data is loaded, but loading it (num2words imports every language it knows, Babel
# reads its locale data) took 60 ms of a rebuild with nothing to do. A build keeps the
# answers in the cache folder (voiceguide.said) and hands them back before planning.
_SAID: dict[str, str] = {}


def _once(question: tuple[str | int, ...], answer: Callable[[], str]) -> str:
    key = json.dumps(question, ensure_ascii=False)
    found = _SAID.get(key)
    if found is None:
        found = _SAID[key] = answer()
    return found


def said() -> dict[str, str]:
    """What num2words and Babel have said so far (with what `learn` was given)."""
    return dict(_SAID)


def learn(answers: Mapping[str, str]) -> None:
    """Take answers num2words and Babel gave before (by the versions installed now)."""
    _SAID.update(answers)


@cache
def messages_for(language: str) -> Messages:
    """The words of `language`: its catalogue (read from the .po with Babel), English
    for what it lacks; English alone for a language without one."""
    found = _catalogue_for(language)
    if found is None:  # lists and numbers in English too, as the words around them
        return ENGLISH
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    name, path = found
    with path.open("rb") as po:
        catalog = read_po(po, locale=name, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy and empty messages are left out: English
    compiled.seek(0)
    return Messages(language, gettext.GNUTranslations(compiled))


def catalogue_digest(language: str) -> str:
    """The SHA-256 of the catalogue `language` uses ('' for English): a routine's files
    are made again when the words they show change."""
    found = _catalogue_for(language)
    return hashlib.sha256(found[1].read_bytes()).hexdigest() if found else ""


def catalogue_problems(language: str) -> list[str]:
    """Why some of voiceguide's words would be English in `language`: no catalogue, or
    messages its catalogue lacks (missing, empty or marked fuzzy). [] when complete."""
    if english(language):
        return []
    found = _catalogue_for(language)
    if found is None:
        base = normal_language(language).split("-")[0]
        return [f"voiceguide has no catalogue for '{language}': its own words (the "
                "overview, side names, countdowns, captions, the share page) will be "
                f"English (add {_shown(catalogue_path(base))}; see the README)"]
    missing = missing_messages(found[1])
    if not missing:
        return []
    shown = ", ".join(repr(m) for m in missing[:3]) + (", ..." if len(missing) > 3 else "")
    return [f"the '{found[0]}' catalogue lacks {len(missing)} of voiceguide's messages "
            f"({shown}): they will be said and shown in English (translate them in "
            f"{_shown(found[1])})"]


def _shown(path: Path) -> str:
    """A catalogue's path as the README names it: voiceguide/locale/..."""
    return str(path.relative_to(locale_dir().parent.parent))


def missing_messages(path: Path) -> list[str]:
    """The template's message ids that the catalogue at `path` does not translate in
    full (every plural form), or marks fuzzy."""
    from babel.messages.pofile import read_po

    with template_path().open("rb") as pot:
        template = read_po(pot)
    with path.open("rb") as po:
        catalog = read_po(po)
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        strings = found.string if found is not None else ""
        forms = strings if isinstance(strings, tuple) else (strings,)
        if found is None or found.fuzzy or not all(forms):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing
