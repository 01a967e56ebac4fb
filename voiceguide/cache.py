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
import hashlib
import json
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from voiceguide.atomic import temp_path
from voiceguide.engines.base import VoiceSettings
from voiceguide.model import Clip

CACHE_FORMAT = 2  # bump when trimming, the entry layout or the voice's seeding changes
_MAGIC = b"VGC1"
_HEADER = struct.Struct("<4sII32s")  # magic, frame rate, samples, sha256 of the PCM
_ENTRY = re.compile(r"^[0-9a-f]{64}\.clip$")
PARSED = "parsed"  # the folder of the script files as read (voiceguide.parsed)
METERS = "meters"  # the folder of the audio files' meter readings (BlobStore)
COVERS = "covers"  # the folder of drawn covers (BlobStore)
_BLOB_MAGIC = b"VGB1"
_BLOB_HEADER = struct.Struct("<4sI32s")  # magic, bytes, sha256 of them


def default_cache_dir() -> Path:
    """$VOICEGUIDE_CACHE, else the user's cache folder (e.g. ~/.cache/voiceguide)."""
    configured = os.environ.get("VOICEGUIDE_CACHE")
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("voiceguide"))


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
        if len(data) < _HEADER.size:
            return None
        magic, rate, samples, digest = _HEADER.unpack_from(data)
        pcm = data[_HEADER.size:]
        if magic != _MAGIC or len(pcm) != 2 * samples or rate <= 0 or \
                hashlib.sha256(pcm).digest() != digest:
            return None
        return Clip(pcm, rate)

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
        for kept in [*self.root.glob(f"{PARSED}/*.pickle"),  # the scripts as read
                     *self.root.glob(f"{METERS}/*.blob"), *self.root.glob(f"{COVERS}/*.blob")]:
            with contextlib.suppress(OSError):
                kept.unlink()
        for folder in [*self.root.glob("??"), *(self.root / f for f in (PARSED, METERS, COVERS))]:
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
