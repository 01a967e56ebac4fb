"""Finding and cross-checking the scripts: a folder with `techniques/` and `routines/`.

Every file is read and every problem in every file is gathered before anything is
reported, so a therapist fixes the whole library in one pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from voiceguide import parsed
from voiceguide.errors import Problem, ScriptError, SettingsError
from voiceguide.model import (
    Client,
    Clinic,
    Hold,
    Library,
    Repeat,
    Routine,
    Sides,
    Source,
    Technique,
    walk,
)
from voiceguide.text import did_you_mean, normal_language

SCRIPT_SUFFIXES = (".yaml", ".yml")
CLINIC_FILE = "clinic.yaml"
DEFAULT_LANGUAGE = "en"
LEXICON_FILE = "lexicon.yaml"


def bundled(in_wheel: str, in_checkout: str) -> Path:
    """A folder the wheel packs as voiceguide/<in_wheel> (see hatch_build.py), or the
    checkout's <in_checkout>/ folder when running from source."""
    packed = Path(str(resources.files("voiceguide"))) / in_wheel
    if packed.is_dir():
        return packed
    return Path(__file__).resolve().parent.parent / in_checkout


def bundled_scripts() -> Path:
    """The seed library (scripts/)."""
    return bundled("library", "scripts")


def find_scripts(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The clinic's own scripts folder: --scripts DIR, else ./scripts when it exists, else
    the bundled library."""
    if explicit is not None:
        if not explicit.is_dir():
            raise SettingsError(f"scripts folder '{explicit}' does not exist",
                                "give a folder that holds techniques/ and routines/")
        return explicit
    local = (cwd or Path.cwd()) / "scripts"
    return local if local.is_dir() else bundled_scripts()


def base_of(root: Path) -> Path | None:
    """The library under a clinic's own folder: the bundled one, unless the folder is the
    bundled library itself (the source checkout's scripts/)."""
    bundled = bundled_scripts()
    return None if root.resolve() == bundled.resolve() else bundled


def shown_path(path: Path) -> str:
    """A path as the user should see it: relative to the current folder when inside it."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:  # elsewhere: the full path says more than ../../..
        return str(absolute)


def script_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SCRIPT_SUFFIXES and p.is_file())


@dataclass
class _Read:
    """What the scripts folders hold, a later folder's ids replacing an earlier's."""

    techniques: dict[str, Technique] = dataclasses.field(default_factory=dict)
    routines: dict[str, Routine] = dataclasses.field(default_factory=dict)
    broken: set[str] = dataclasses.field(default_factory=set)  # ids of techniques with problems
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def add(self, folder: Path, language: str) -> None:
        """One folder's scripts over those read before: an id both have is this one's."""
        techniques: list[Technique] = []
        routines: list[Routine] = []
        broken: set[str] = set()
        for path in script_files(folder / "techniques"):
            try:
                techniques.append(parsed.technique(path, shown_path(path), language))
            except ScriptError as exc:
                self.problems.extend(exc.problems)
                broken.update(_written_id(path))
        for path in script_files(folder / "routines"):
            try:
                routines.append(parsed.routine(path, shown_path(path)))
            except ScriptError as exc:
                self.problems.extend(exc.problems)
        self.problems += _duplicates(techniques) + _duplicates(routines)
        if any(r.default for r in routines):  # a default of its own replaces the one below
            self.routines = {k: replace(r, default=False) for k, r in self.routines.items()}
        self.techniques.update((t.id, t) for t in techniques)
        self.routines.update((r.id, r) for r in routines)
        self.broken = (self.broken - {t.id for t in techniques}) | broken


def load_library(root: Path, clinic_file: Path | None = None,
                 base: Path | None = None) -> Library:
    """Read every script under root (and the clinic profile, root/clinic.yaml unless
    another file is given); raise one ScriptError listing every problem. With `base` (the
    bundled library), root adds to it and overrides it by id: a technique, routine, clinic
    profile or lexicon of root's replaces base's of the same id or name."""
    problems: list[Problem] = []
    # The clinic first: its language says which letters the voice can read.
    clinic = Clinic()
    profile = clinic_file or _first_file([root, *([base] if base else [])], CLINIC_FILE)
    if profile is not None:
        try:
            clinic = parsed.clinic(profile, shown_path(profile))
        except ScriptError as exc:
            problems.extend(exc.problems)
    folders = [root] if base is None or not clinic.bundled else [base, root]
    read = _Read(problems=problems)
    for folder in folders:
        read.add(folder, clinic.language or DEFAULT_LANGUAGE)
    # A technique with problems is still a known id: a routine naming it gets no second,
    # misleading "no technique has the id" (its own problems say what to fix).
    by_id = {k: t for k, t in read.techniques.items() if k not in read.broken}
    known = {*by_id, *read.broken}
    if not known and not problems:
        problems.append(Problem(shown_path(root), 0, 0, "holds no techniques (put technique "
                                "files in a techniques/ folder inside it)"))
    for routine in read.routines.values():
        problems += _missing_references(routine, known)
        problems += _other_languages(routine.language, routine.track_ids(),
                                     routine.track_sources, by_id, clinic, "routine")
    defaults = [r for r in read.routines.values() if r.default]
    if len(defaults) > 1:
        problems += [_at(r.source, f"routine '{r.id}' is marked default, and so is "
                         f"'{defaults[0].id}' (mark only one routine 'default: true')")
                     for r in defaults[1:]]
    # the profile's intro and outro, and those of each language under 'translations'
    framing = [(name, getattr(given, name)) for given in
               (clinic, *(words for _, words in clinic.translations))
               for name in ("intro", "outro")]
    for name, ref in framing:
        if ref and ref not in known:
            problems.append(Problem(clinic.file, 0, 0, f"'{name}' names no technique: "
                                    f"'{ref}'{_suggest(ref, sorted(known))}"))
    if problems:
        raise ScriptError(problems)
    bundled = bundled_scripts().resolve()
    return Library(str(root), by_id, read.routines, clinic,
                   folders=tuple(shown_path(f) for f in reversed(folders)),
                   bundled_folder=next((shown_path(f) for f in folders
                                        if f.resolve() == bundled), ""))


def _first_file(folders: Iterable[Path], name: str) -> Path | None:
    return next((f / name for f in folders if (f / name).is_file()), None)


def load_client(path: Path, library: Library) -> Client:
    """A client file, checked against the library: every technique it names exists, and
    every override is for a chosen technique."""
    client = parsed.client(path, shown_path(path),
                           library.clinic.language or DEFAULT_LANGUAGE)
    problems = [_at(source, f"no technique has the id '{tid}'{_suggest(tid, library.techniques)}")
                for tid, source in zip(client.techniques, client.technique_sources, strict=True)
                if tid not in library.techniques]
    problems += _other_languages(client.language, client.techniques, client.technique_sources,
                                 library.techniques, library.clinic, "client's routine")
    for (tid, override), source in zip(client.overrides, client.override_sources,
                                       strict=True):
        if tid not in client.techniques:
            problems.append(_at(source, f"'{tid}' is not one of this client's techniques "
                                f"({', '.join(client.techniques)}): add it to 'techniques' "
                                "or remove its override"))
        technique = library.techniques.get(tid)
        if technique is None:
            continue
        for field, wanted, kind in (("hold", override.hold_ms, Hold),
                                    ("repeats", override.repeats, Repeat),
                                    ("sides", override.side, Sides)):
            if wanted and not any(isinstance(s, kind) for s in walk(technique.steps)):
                problems.append(_at(source, f"'{field}' would change nothing: '{tid}' has "
                                    f"no {kind.__name__.lower()} step (remove the line)"))
    if problems:
        raise ScriptError(problems)
    return client


def spoken_in(language: str | None, clinic: Clinic) -> str:
    """The language a technique, routine or client file is in: its own, else the
    clinic's, else English ('es', 'en-gb')."""
    return normal_language(language or clinic.language or DEFAULT_LANGUAGE)


def _other_languages(language: str | None, ids: Iterable[str], sources: Iterable[Source],
                     techniques: dict[str, Technique], clinic: Clinic, what: str
                     ) -> list[Problem]:
    """A routine's techniques speak its language: each one in another is named."""
    wanted = spoken_in(language, clinic)
    problems = []
    for tid, source in zip(ids, sources, strict=True):
        technique = techniques.get(tid)
        if technique is None:
            continue
        theirs = spoken_in(technique.language, clinic)
        if theirs != wanted:
            problems.append(_at(source, f"'{tid}' is in '{theirs}' ({technique.file}) but "
                                f"this {what} is in '{wanted}' (choose a technique in "
                                f"'{wanted}', or set 'language: {wanted}' where the "
                                "two should agree)"))
    return problems


def _at(source: Source, message: str) -> Problem:
    return Problem(source.file, source.line, source.column, message, _line_of(source))


def _line_of(source: Source) -> str:
    try:
        lines = Path(source.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return lines[source.line - 1] if 0 < source.line <= len(lines) else ""


def _duplicates(items: Iterable[Technique | Routine]) -> list[Problem]:
    first: dict[str, Technique | Routine] = {}
    problems = []
    for item in items:
        if item.id in first:
            problems.append(_at(item.source, f"id '{item.id}' is already used by "
                                f"{first[item.id].file} (give each file its own id)"))
        else:
            first[item.id] = item
    return problems


def _missing_references(routine: Routine, known: set[str]) -> list[Problem]:
    problems = []
    for ref, source in zip(routine.track_ids(), routine.track_sources, strict=True):
        if ref not in known:
            problems.append(_at(source, f"no technique has the id '{ref}'"
                                f"{_suggest(ref, sorted(known))}"))
    return problems


def _written_id(path: Path) -> list[str]:
    """The id a technique file gives itself, read as plainly as possible (the file has
    problems), or none."""
    from ruamel.yaml import YAML  # only for a file with problems
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return []
    found = data.get("id") if isinstance(data, dict) else None
    return [found] if isinstance(found, str) else []


def _suggest(name: str, known: Iterable[str]) -> str:
    guess = did_you_mean(name, known)
    return f" ({guess})" if guess else " (check the spelling)"


def validate_files(paths: Iterable[Path],
                   library: Callable[[], Library] | None = None) -> list[object]:
    """Check individual files. A script is checked on its own (references between
    scripts are checked by load_library); a client file fully, against `library()`
    (called only when a client file is among them): its techniques exist and its
    overrides apply to them, as `build`, `share` and `batch` check it."""
    from voiceguide.parse import file_kind  # the YAML reader: `validate FILE` reads them

    results: list[object] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            if library is not None and file_kind(path) == "client":
                results.append(load_client(path, library()))
            else:
                results.append(_parse_any(path))
        except ScriptError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScriptError(problems)
    return results


def _parse_any(path: Path) -> object:
    """A script, the clinic profile, a lexicon or a client file, told apart by name and
    folder as the README lays them out."""
    from voiceguide.parse import file_kind, parse_file  # as above: only `validate FILE`

    shown = shown_path(path)
    if path.name == CLINIC_FILE:
        return parsed.clinic(path, shown)
    if path.name == LEXICON_FILE:
        return parsed.lexicon(path, shown)
    if file_kind(path) == "client":
        return parsed.client(path, shown, _language_near(path))
    return parse_file(path, shown, _language_near(path))


def _language_near(path: Path) -> str:
    """The narration's language for a file checked on its own: the clinic profile's of
    the scripts folder it is in (beside it, or one folder up), else English."""
    for folder in (path.parent, path.parent.parent):
        profile = folder / CLINIC_FILE
        if profile.is_file():
            try:
                return parsed.clinic(profile, shown_path(profile)).language or DEFAULT_LANGUAGE
            except ScriptError:
                break  # checked on its own, if it is named
    return DEFAULT_LANGUAGE


def routines_named(library: Library, names: Iterable[str]) -> list[Routine]:
    """Routine or technique names from the command line -> routines to build. A single
    technique becomes a one-track routine of its own."""
    chosen: list[Routine] = []
    for name in names:
        if name in library.routines:
            chosen.append(library.routines[name])
        elif name in library.techniques:
            t = library.techniques[name]
            chosen.append(Routine(id=t.id, title=t.title, summary=t.summary,
                                  techniques=(t.id,), file=t.file, language=t.language))
        else:
            known = [*library.routines, *library.techniques]
            raise SettingsError(f"no routine or technique is called '{name}'"
                                f"{_suggest(name, known)}",
                                "run `voiceguide list` to see them")
    return chosen
