"""The manifest: the audio's real layout, measured after assembly, the settings that made
it, and how each file was made. It is the contract between a build, the next build
(which keeps what is unchanged) and `share`, and a stable interface for other tools
(see the README): one type, read and written here only. Bump FORMAT on changes.

The types are pydantic models (frozen): reading validates, so an older or damaged
manifest is never half-read: `read_manifest` returns None and the build makes the
folder again.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path, PurePath
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from voiceguide.assemble import AssembledRoutine
from voiceguide.loudness import Loudness
from voiceguide.model import Chapter, Cue, Placed, Silence, Speech, Track, samples_to_ms
from voiceguide.publishing import FORMAT as FORMAT
from voiceguide.publishing import MANIFEST as MANIFEST
from voiceguide.publishing import Provenance as Provenance
from voiceguide.settings import Settings


class _Json(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoudnessEntry(_Json):
    """As measured in the file; None for a file too quiet or short to measure."""

    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None

    @classmethod
    def of(cls, loudness: Loudness) -> LoudnessEntry:
        def finite(value: float) -> float | None:  # strict JSON has no Infinity
            return round(value, 2) if math.isfinite(value) else None

        return cls(integrated_lufs=finite(loudness.lufs),
                   true_peak_dbtp=finite(loudness.true_peak_db))

    def loudness(self) -> Loudness:
        return Loudness(-math.inf if self.integrated_lufs is None else self.integrated_lufs,
                        -math.inf if self.true_peak_dbtp is None else self.true_peak_dbtp)


class ItemEntry(_Json):
    """One speech, silence or cue of a track, in ms from the track's start."""

    kind: Literal["speech", "silence", "cue"]
    start_ms: int
    end_ms: int
    text: str | None = None  # speech
    reason: str | None = None  # silence: pause, hold or gap
    cue: str | None = None  # cue: its name
    source: str | None = None  # "techniques/neck.yaml:14": the script line it came from

    @classmethod
    def of(cls, placed: Placed, frame_rate: int) -> ItemEntry:
        item = placed.item
        start, end = samples_to_ms(placed.start, frame_rate), samples_to_ms(placed.end,
                                                                             frame_rate)
        # folder/file only: where the scripts live on the builder's machine is private
        source = f"{'/'.join(PurePath(item.source.file).parts[-2:])}:{item.source.line}" \
            if item.source.line else None
        match item:
            case Speech():
                return cls(kind="speech", start_ms=start, end_ms=end, text=item.text,
                           source=source)
            case Silence():
                return cls(kind="silence", start_ms=start, end_ms=end, reason=item.reason,
                           source=source)
            case Cue():
                return cls(kind="cue", start_ms=start, end_ms=end, cue=item.name,
                           source=source)


class ChapterEntry(_Json):
    title: str
    start_ms: int
    end_ms: int

    @classmethod
    def of(cls, chapter: Chapter) -> ChapterEntry:
        return cls(title=chapter.title, start_ms=chapter.start_ms, end_ms=chapter.end_ms)

    def chapter(self) -> Chapter:
        return Chapter(self.title, self.start_ms, self.end_ms)


class TrackEntry(_Json):
    number: int
    id: str
    title: str
    summary: str
    equipment: tuple[str, ...]
    file: str
    captions: str
    duration_ms: int
    start_ms: int  # its offset in the full routine's file
    loudness: LoudnessEntry
    fingerprint: str  # of what the file is made of: equal means the same file
    # of its audio alone: equal means the same audio (the tags may differ)
    audio_fingerprint: str = ""
    items: tuple[ItemEntry, ...]


class RoutineEntry(_Json):
    id: str
    title: str
    summary: str
    file: str
    captions: str
    playlist: str
    duration_ms: int
    frame_rate: int
    loudness: LoudnessEntry
    fingerprint: str
    audio_fingerprint: str = ""  # as a track's
    chapters: tuple[ChapterEntry, ...]


class FileCheck(_Json):
    """What a file of the folder was when it was written: a rebuild that finds it
    otherwise (damaged, replaced, half-written by something else) makes it again."""

    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileCheck:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        return cls(size=path.stat().st_size, sha256=digest.hexdigest())

    def matches(self, path: Path) -> bool:
        try:
            return path.stat().st_size == self.size and FileCheck.of(path) == self
        except OSError:
            return False


class Manifest(_Json):
    format: Literal[5] = FORMAT
    routine: RoutineEntry
    tracks: tuple[TrackEntry, ...]
    settings: Settings
    build: Provenance
    fingerprint: str = ""  # of everything the files are made of (export.fingerprint)
    files: dict[str, FileCheck] = {}  # every file but this one, as written

    def intact(self, folder: Path) -> bool:
        """Every file the manifest names is in `folder` as it was written."""
        return bool(self.files) and all(check.matches(folder / name)
                                        for name, check in self.files.items())

    def audio_files(self) -> list[str]:
        """The audio files, the full routine last, each once (a technique built alone
        has one file)."""
        return list(dict.fromkeys([*(t.file for t in self.tracks), self.routine.file]))

    def caption_files(self) -> list[str]:
        return list(dict.fromkeys([*(t.captions for t in self.tracks),
                                   self.routine.captions]))

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """ValueError (pydantic's ValidationError) for anything but this format."""
        return cls.model_validate_json(text)


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of the routine built into `folder`; None when there is none, or it
    can't be read (damaged, or written by another version: the build then makes the
    folder again)."""
    try:
        return Manifest.from_json((folder / MANIFEST).read_bytes())
    except (OSError, ValidationError):
        return None


class FileEntry(_Json):
    """One audio file as published: its name, its captions and its measured loudness."""

    audio: str
    captions: str
    loudness: LoudnessEntry
    fingerprint: str = ""
    audio_fingerprint: str = ""


def track_entry(track: Track, entry: FileEntry, start: int) -> TrackEntry:
    technique = track.plan.technique
    rate = track.clip.frame_rate
    return TrackEntry(
        number=track.plan.number, id=technique.id, title=technique.title,
        summary=technique.summary, equipment=technique.equipment, file=entry.audio,
        captions=entry.captions, duration_ms=track.duration_ms,
        start_ms=samples_to_ms(start, rate), loudness=entry.loudness,
        fingerprint=entry.fingerprint, audio_fingerprint=entry.audio_fingerprint,
        items=tuple(ItemEntry.of(p, rate) for p in track.placed))


def make_manifest(assembled: AssembledRoutine, tracks: list[FileEntry], routine: FileEntry,
                  playlist: str, chapters: list[Chapter], settings: Settings,
                  made: Provenance, fingerprint: str = "",
                  files: dict[str, FileCheck] | None = None) -> Manifest:
    info = assembled.plan.routine
    return Manifest(
        routine=RoutineEntry(
            id=info.id, title=info.title, summary=info.summary, file=routine.audio,
            captions=routine.captions, playlist=playlist,
            duration_ms=assembled.duration_ms, frame_rate=assembled.frame_rate,
            loudness=routine.loudness, fingerprint=routine.fingerprint,
            audio_fingerprint=routine.audio_fingerprint,
            chapters=tuple(ChapterEntry.of(c) for c in chapters)),
        tracks=tuple(track_entry(t, e, s) for t, e, s in
                     zip(assembled.tracks, tracks, assembled.starts, strict=True)),
        settings=settings, build=made, fingerprint=fingerprint, files=files or {})
