"""The render cache: every synthesized (and trimmed) utterance, stored by a key that
covers everything that changes its sound, so a rebuild speaks only what changed.

The key is a SHA-256 of: the engine and the versions of the packages that make its sound,
the voice, rate and volume, and the text exactly as the voice is given it (after the
lexicon, so a changed respelling misses). Entries are written to a temporary file and
renamed into place, so two builds at once never see half an entry; each entry carries a
checksum of its audio, and one that fails it (truncated, corrupt) is ignored and
rendered again, never used. The same folder keeps the script files as read
(voiceguide.parsed), each audio file's meter readings and drawn covers (`BlobStore`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import re
import struct
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from voiceguide import __version__
from voiceguide.atomic import temp_path
from voiceguide.engines.base import VoiceSettings
from voiceguide.model import Clip

CACHE_FORMAT = 2  # bump when trimming, the entry layout or the voice's seeding changes
_MAGIC = b"VGC1"
_HEADER = struct.Struct("<4sII32s")  # magic, frame rate, samples, sha256 of the PCM
_ENTRY = re.compile(r"^[0-9a-f]{64}\.clip$")
PARSED = "parsed"  # the folder of the script files as read (voiceguide.parsed)
WRITTEN = "written"  # the folder of what builds last saw of their files (freshness)
SAID = "said.json"  # what num2words and Babel said (voiceguide.said)
METERS = "meters"  # the folder of the audio files' meter readings (BlobStore)
COVERS = "covers"  # the folder of drawn covers (BlobStore)
_BLOB_MAGIC = b"VGB1"
_BLOB_HEADER = struct.Struct("<4sI32s")  # magic, bytes, sha256 of them


@functools.cache
def code_digest() -> bytes:
    """voiceguide's own code and Python's version: its modules known by size and time of
    change, as Python's own bytecode cache knows them (reading them all would cost more
    than a rebuild with nothing to do)."""
    parts = [sys.version, __version__]
    package = Path(__file__).parent
    for module in sorted(package.glob("*.py")):
        status = module.stat()
        parts.append(f"{module.name} {status.st_size} {status.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).digest()


class DamagedEntry(Exception):
    """A cache entry's audio no longer matches its checksum (see ClipCache.peek)."""


class _Unread(Clip):
    """A cache entry's clip whose audio is read from `path`, and checked against its
    SHA-256, when first asked for (as Stitched, a Clip that computes its PCM)."""

    def __init__(self, path: Path, frame_rate: int, samples: int, sha256: str) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "frame_rate", frame_rate)
        object.__setattr__(self, "_samples", samples)
        self.__dict__["sha256"] = sha256  # where Clip's cached_property keeps it

    path: Path
    _samples: int

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def pcm(self) -> bytes:
        read = self.__dict__.get("_pcm")
        if read is None:
            try:
                clip = _clip(self.path.read_bytes())
            except OSError:
                clip = None
            if clip is None or clip.sha256 != self.sha256:
                raise DamagedEntry(str(self.path))
            read = self.__dict__["_pcm"] = clip.pcm
        return read

    def __repr__(self) -> str:
        return f"_Unread({self.path.name}, {self.samples} samples at {self.frame_rate} Hz)"


def _clip(data: bytes) -> Clip | None:
    """A cache entry's clip, or None when it is damaged."""
    if len(data) < _HEADER.size:
        return None
    magic, rate, samples, digest = _HEADER.unpack_from(data)
    pcm = data[_HEADER.size:]
    if magic != _MAGIC or len(pcm) != 2 * samples or rate <= 0 or \
            hashlib.sha256(pcm).digest() != digest:
        return None
    return Clip.checked(pcm, rate, digest.hex())


def default_cache_dir() -> Path:
    """$VOICEGUIDE_CACHE, else the user's cache folder (e.g. ~/.cache/voiceguide)."""
    configured = os.environ.get("VOICEGUIDE_CACHE")
    if configured:
        return Path(configured)
    import platformdirs  # only here: a few ms of every command that sets the folder

    return Path(platformdirs.user_cache_dir("voiceguide"))


def installed(name: str) -> list[str]:
    """The installed metadata folders of a library ('pydantic-2.14.4.dist-info')."""
    try:  # the top-level package: finding ruamel.yaml would import ruamel
        spec = importlib.util.find_spec(name.partition(".")[0])
    except (ImportError, ValueError):
        return []
    places = spec.submodule_search_locations if spec else None
    if not places:
        return []
    site = Path(next(iter(places))).parent
    wanted = name.replace(".", "_").lower() + "-"
    try:
        return sorted(p.name for p in site.iterdir() if p.name.endswith(".dist-info")
                      and p.name.replace(".", "_").lower().startswith(wanted))
    except OSError:
        return []


def write_entry(path: Path, data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write a cache entry whole or not at all (a temporary file renamed into place); a
    cache that can't be written only costs speed, never the build. `data` may be pieces,
    written one after another."""
    temp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("wb") as out:
            out.writelines([data] if isinstance(data, bytes) else data)
        temp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()


@dataclass(frozen=True)
class CacheInfo:
    root: Path
    entries: int
    bytes: int


@dataclass(frozen=True)
class ClipCache:
    root: Path

    def key(self, identity: str, settings: VoiceSettings, spoken: str) -> str:
        blob = json.dumps({"format": CACHE_FORMAT, "engine": identity,
                           "voice": asdict(settings), "text": spoken}, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.clip"

    def get(self, key: str) -> Clip | None:
        """The cached clip, or None when missing or damaged."""
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        return _clip(data)

    def peek(self, key: str) -> Clip | None:
        """The cached clip as its entry's header gives it (frame rate, length, SHA-256),
        or None when missing or plainly damaged; its audio is read, and checked, only
        when first asked for (DamagedEntry then, if it does not match). To decide whether
        anything needs the audio: reading and checking 100 sentences took 20 ms."""
        try:
            with self._path(key).open("rb") as entry:
                header = entry.read(_HEADER.size)
                size = os.fstat(entry.fileno()).st_size
        except OSError:
            return None
        if len(header) < _HEADER.size:
            return None
        magic, rate, samples, digest = _HEADER.unpack(header)
        if magic != _MAGIC or size != _HEADER.size + 2 * samples or rate <= 0:
            return None
        return _Unread(self._path(key), rate, samples, digest.hex())

    def put(self, key: str, clip: Clip) -> None:
        """Store a clip."""
        header = _HEADER.pack(_MAGIC, clip.frame_rate, clip.samples,
                              hashlib.sha256(clip.pcm).digest())
        write_entry(self._path(key), header + clip.pcm)

    def _entries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("*/*.clip") if _ENTRY.match(p.name)
                and p.parent.name == p.name[:2]]

    def info(self) -> CacheInfo:
        sizes = []
        for entry in self._entries():
            with contextlib.suppress(OSError):  # another build may be replacing it
                sizes.append(entry.stat().st_size)
        return CacheInfo(self.root, len(sizes), sum(sizes))

    def clear(self) -> CacheInfo:
        """Remove every entry (and nothing else: --cache may name any folder)."""
        before = self.info()
        for entry in self._entries():
            with contextlib.suppress(OSError):
                entry.unlink()
        # the scripts as read (parsed.py), the meter readings and covers, what builds
        # saw of their files (freshness) and what the language libraries said (said.py)
        for kept in [*self.root.glob(f"{PARSED}/*.pickle"),
                     *self.root.glob(f"{METERS}/*.blob"), *self.root.glob(f"{COVERS}/*.blob"),
                     *self.root.glob(f"{WRITTEN}/*.json"), self.root / SAID]:
            with contextlib.suppress(OSError):
                kept.unlink()
        for folder in [*self.root.glob("??"),
                       *(self.root / f for f in (PARSED, METERS, COVERS, WRITTEN))]:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return before


@dataclass(frozen=True)
class BlobStore:
    """What a build made besides clips and may use again, by a key of what it is made of:
    each audio file's meter cells (`METERS`: when a routine is rebuilt after an edit, the
    full routine's loudness comes from these for the tracks that did not change, instead
    of decoding them again) and drawn covers (`COVERS`: 0.2 s to draw). Each entry
    carries a checksum; a missing or damaged one only costs making it again."""

    root: Path
    kind: str  # METERS or COVERS: the folder under the cache

    def _path(self, key: str) -> Path:
        return self.root / self.kind / f"{key}.blob"

    def get(self, key: str) -> bytes | None:
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        if len(data) < _BLOB_HEADER.size:
            return None
        magic, size, digest = _BLOB_HEADER.unpack_from(data)
        blob = data[_BLOB_HEADER.size:]
        if magic != _BLOB_MAGIC or len(blob) != size or \
                hashlib.sha256(blob).digest() != digest:
            return None
        return blob

    def put(self, key: str, blob: bytes | Sequence[bytes | memoryview]) -> None:
        """Store bytes, or pieces of them written one after another (never joined)."""
        pieces = [blob] if isinstance(blob, bytes) else blob
        digest = hashlib.sha256()
        for piece in pieces:
            digest.update(piece)
        header = _BLOB_HEADER.pack(_BLOB_MAGIC, sum(memoryview(p).nbytes for p in pieces),
                                   digest.digest())
        write_entry(self._path(key), [header, *pieces])
