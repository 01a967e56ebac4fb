"""The render cache: every synthesized (and trimmed) utterance, stored by a key that
covers everything that changes its sound, so a rebuild speaks only what changed.

The key is a SHA-256 of: the engine and the versions of the packages that make its sound,
the voice, rate and volume, and the text exactly as the voice is given it (after the
lexicon, so a changed respelling misses). Entries are written to a temporary file and
renamed into place, so two builds at once never see half an entry; each entry carries a
checksum of its audio, and one that fails it (truncated, corrupt) is ignored and
rendered again, never used. The same folder keeps the script files as read
(voiceguide.parsed), and each audio file's meter readings (`MeterStore`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from voiceguide.atomic import temp_path
from voiceguide.engines.base import VoiceSettings
from voiceguide.lazy import LazyModule
from voiceguide.model import Clip

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it

CACHE_FORMAT = 2  # bump when trimming, the entry layout or the voice's seeding changes
_MAGIC = b"VGC1"
_HEADER = struct.Struct("<4sII32s")  # magic, frame rate, samples, sha256 of the PCM
_ENTRY = re.compile(r"^[0-9a-f]{64}\.clip$")
PARSED = "parsed"  # the folder of the script files as read (voiceguide.parsed)
METERS = "meters"  # the folder of the audio files' meter readings (MeterStore)
_METER_MAGIC = b"VGM1"
_METER_HEADER = struct.Struct("<4sI32s")  # magic, cells, sha256 of the cells


def default_cache_dir() -> Path:
    """$VOICEGUIDE_CACHE, else the user's cache folder (e.g. ~/.cache/voiceguide)."""
    configured = os.environ.get("VOICEGUIDE_CACHE")
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("voiceguide"))


def write_entry(path: Path, data: bytes) -> None:
    """Write a cache entry whole or not at all (a temporary file renamed into place); a
    cache that can't be written only costs speed, never the build."""
    temp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
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
                     *self.root.glob(f"{METERS}/*.cells")]:  # the files' meter readings
            with contextlib.suppress(OSError):
                kept.unlink()
        for folder in [*self.root.glob("??"), self.root / PARSED, self.root / METERS]:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return before


@dataclass(frozen=True)
class MeterStore:
    """The loudness meter's cells of each audio file a build wrote (loudness.cells_lufs),
    by the file's fingerprint: when a routine is rebuilt after an edit, its full
    routine's loudness comes from these for the tracks that did not change, instead of
    decoding them again. A missing or damaged entry only costs that decoding."""

    root: Path

    def _path(self, fingerprint: str, cell: int) -> Path:
        return self.root / METERS / f"{fingerprint}-{cell}.cells"

    def get(self, fingerprint: str, cell: int) -> np.ndarray | None:
        try:
            data = self._path(fingerprint, cell).read_bytes()
        except OSError:
            return None
        if len(data) < _METER_HEADER.size:
            return None
        magic, count, digest = _METER_HEADER.unpack_from(data)
        cells = data[_METER_HEADER.size:]
        if magic != _METER_MAGIC or len(cells) != 4 * count or \
                hashlib.sha256(cells).digest() != digest:
            return None
        return np.frombuffer(cells, dtype="<f4")

    def put(self, fingerprint: str, cell: int, cells: np.ndarray) -> None:
        data = cells.astype("<f4").tobytes()
        write_entry(self._path(fingerprint, cell), _METER_HEADER.pack(
            _METER_MAGIC, cells.size, hashlib.sha256(data).digest()) + data)
