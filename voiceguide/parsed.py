"""Script files as parsed before, kept in the cache folder between runs.

Reading a script costs most of a rebuild that has nothing to do: ruamel's round-trip
loader (the one that keeps every line and column for the messages) is pure Python, and
with the pydantic schemas it took about 0.3 s for the bundled library. What parsing a
file gives (the technique, routine, clinic profile, client or lexicon, or the problems
it reports) depends only on the file's bytes, its path and the name it is shown by, and
the code that reads it, so it is kept under a key made of those; on a hit neither
voiceguide.parse nor ruamel nor the schemas are imported.

Each reader below returns what the voiceguide.parse (or lexicon) reader it names
returns, or raises the same ScriptError, message for message. An entry is one pickle per
file (a newer version of the file replaces it), checked against a checksum; one that is
missing, damaged or from other code is read again, never trusted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from voiceguide.cache import PARSED, code_digest, default_cache_dir, installed, write_entry
from voiceguide.errors import ScriptError

if TYPE_CHECKING:
    from voiceguide.errors import Problem
    from voiceguide.model import Client, Clinic, Routine, Technique

_MAGIC = b"VGP1"
_DIGEST = hashlib.sha256().digest_size
# The libraries whose words and positions end up in a parse's messages.
_READERS = ("ruamel.yaml", "pydantic", "pydantic_core")

T = TypeVar("T")


def technique(path: Path, shown: str, language: str) -> Technique:
    def parse() -> Technique:
        from voiceguide.parse import parse_technique  # ruamel, pydantic: only on a miss

        return parse_technique(path, shown, language)

    return _cached(f"technique {language}", path, shown, parse)


def routine(path: Path, shown: str) -> Routine:
    def parse() -> Routine:
        from voiceguide.parse import parse_routine  # ruamel, pydantic: only on a miss

        return parse_routine(path, shown)

    return _cached("routine", path, shown, parse)


def client(path: Path, shown: str, language: str) -> Client:
    def parse() -> Client:
        from voiceguide.parse import parse_client  # ruamel, pydantic: only on a miss

        return parse_client(path, shown, language)

    return _cached(f"client {language}", path, shown, parse)


def clinic(path: Path, shown: str) -> Clinic:
    """The clinic profile, with its cover image checked on every call (the image is
    another file: see check_cover)."""

    def parse() -> Clinic:
        from voiceguide.parse import read_clinic  # ruamel, pydantic: only on a miss

        return read_clinic(path, shown)

    return check_cover(_cached("clinic", path, shown, parse), path)


def lexicon(path: Path, shown: str) -> dict[str, str]:
    def parse() -> dict[str, str]:
        from voiceguide.lexicon import read_lexicon  # ruamel: only on a miss

        return read_lexicon(path, shown)

    return _cached("lexicon", path, shown, parse)


def check_cover(profile: Clinic, path: Path) -> Clinic:
    """The profile with its cover image (named as written, beside the profile at `path`)
    checked and given as a full path; a missing or unreadable image is a problem at the
    profile's 'cover' line, so it stops a build before anything is written."""
    if not profile.cover:
        return profile
    from voiceguide.cover import image_problem  # Pillow: only for a profile with a cover

    cover = path.parent / profile.cover
    problem = image_problem(cover)
    if problem:
        from voiceguide.parse import problem_at  # the line of 'cover': read it again

        raise ScriptError([problem_at(path, profile.file, ("cover",), f"'cover': {problem}")])
    return replace(profile, cover=str(cover.resolve()))


def _cached(reader: str, path: Path, shown: str, parse: Callable[[], T]) -> T:
    """parse(), or what it gave (or the problems it raised) for the same bytes before."""
    try:
        raw = path.read_bytes()
    except OSError:
        return parse()  # it says why the file can't be read
    entry = default_cache_dir() / PARSED / f"{_name(reader, path, shown)}.pickle"
    key = hashlib.sha256(b"\0".join([_code(), reader.encode(), os.fsencode(path),
                                     os.fsencode(shown), raw])).digest()
    found = _load(entry, key)
    if found is not None:
        ok, value = found
        if not ok:
            raise ScriptError(cast("list[Problem]", value))
        return cast(T, value)
    try:
        value = parse()
    except ScriptError as exc:
        _store(entry, key, raw, path, (False, exc.problems))
        raise
    _store(entry, key, raw, path, (True, value))
    return value


def _name(reader: str, path: Path, shown: str) -> str:
    """One entry per file and reader: a file's next version replaces its last."""
    where = b"\0".join([reader.encode(), os.fsencode(path.absolute()), os.fsencode(shown)])
    return hashlib.sha256(where).hexdigest()


def _load(entry: Path, key: bytes) -> tuple[bool, object] | None:
    """(parsed without problems, the value or the problems), or None for a miss."""
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    head = len(_MAGIC) + 2 * _DIGEST
    payload = data[head:]
    if data[:len(_MAGIC)] != _MAGIC or data[len(_MAGIC):len(_MAGIC) + _DIGEST] != key or \
            data[len(_MAGIC) + _DIGEST:head] != hashlib.sha256(payload).digest():
        return None
    try:
        # Unpickling runs code named by the data, so it is only ever done on entries of
        # the user's own cache folder, written by voiceguide (like the sentences there):
        # whoever can write into it can already change the user's own files.
        found = pickle.loads(payload)
    except Exception:  # any damage, or a class changed since: read the file again
        return None
    return found if isinstance(found, tuple) and len(found) == 2 else None


def _store(entry: Path, key: bytes, raw: bytes, path: Path, found: tuple[bool, object]
           ) -> None:
    """Keep a parse, unless the file changed while it was read (its result would then
    be filed under the old bytes)."""
    try:
        if path.read_bytes() != raw:
            return
        payload = pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)
    except (OSError, pickle.PicklingError):
        return
    write_entry(entry, _MAGIC + key + hashlib.sha256(payload).digest() + payload)


@functools.cache
def _code() -> bytes:
    """What a parse depends on besides its file: voiceguide's own code (the readers and
    the words, limits and model they check against: see code_digest) and the installed
    versions of the YAML reader and pydantic, known by the names of their installed
    metadata, found beside them without importing them."""
    parts = [code_digest().hex()]
    for name in _READERS:
        parts += installed(name)
    return hashlib.sha256("\n".join(parts).encode()).digest()
