"""The manifest: the audio's real layout, measured after assembly, plus the settings that
made it. Its format is a stable interface (see the README); bump FORMAT on changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from voiceguide.assemble import AssembledRoutine
from voiceguide.loudness import Loudness
from voiceguide.model import Chapter, Cue, Placed, Silence, Speech, Track, samples_to_ms

FORMAT = 3  # 3: hold cues, countdowns, cue names bell/closing, lexicon settings
MANIFEST = "manifest.json"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of the routine built into `folder`; None when there is none, or it
    can't be read."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def file_names(manifest: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The audio files (the full routine last) and the caption files a manifest names,
    each once (a technique built alone has one of each)."""
    entries = [*manifest["tracks"], manifest["routine"]]
    return (list(dict.fromkeys(e["file"] for e in entries)),
            list(dict.fromkeys(e["captions"] for e in entries)))


@dataclass(frozen=True)
class FileEntry:
    """One audio file as published: its name, its captions and its measured loudness."""

    audio: str
    captions: str
    loudness: Loudness
    fingerprint: str = ""  # of what the file is made of: equal means the same file


def item_json(placed: Placed, frame_rate: int) -> dict[str, Any]:
    item = placed.item
    out: dict[str, Any] = {
        "start_ms": samples_to_ms(placed.start, frame_rate),
        "end_ms": samples_to_ms(placed.end, frame_rate),
    }
    if isinstance(item, Speech):
        out = {"kind": "speech", **out, "text": item.text}
    elif isinstance(item, Silence):
        out = {"kind": "silence", **out, "reason": item.reason}
    elif isinstance(item, Cue):
        out = {"kind": "cue", **out, "cue": item.name}
    if item.source.line:
        # folder/file only: where the scripts live on the builder's machine is private
        where = "/".join(PurePath(item.source.file).parts[-2:])
        out["source"] = f"{where}:{item.source.line}"
    return out


def chapter_json(chapter: Chapter) -> dict[str, Any]:
    return {"title": chapter.title, "start_ms": chapter.start_ms, "end_ms": chapter.end_ms}


def track_json(track: Track, entry: FileEntry, start: int) -> dict[str, Any]:
    technique = track.plan.technique
    rate = track.clip.frame_rate
    return {
        "number": track.plan.number,
        "id": technique.id,
        "title": technique.title,
        "summary": technique.summary,
        "equipment": list(technique.equipment),
        "file": entry.audio,
        "captions": entry.captions,
        "duration_ms": track.duration_ms,
        "start_ms": samples_to_ms(start, rate),
        "loudness": entry.loudness.to_json(),
        "fingerprint": entry.fingerprint,
        "items": [item_json(p, rate) for p in track.placed],
    }


def manifest_json(assembled: AssembledRoutine, tracks: list[FileEntry], routine: FileEntry,
                  playlist: str, chapters: list[Chapter], settings: dict[str, Any]
                  ) -> dict[str, Any]:
    info = assembled.plan.routine
    return {
        "format": FORMAT,
        "routine": {
            "id": info.id,
            "title": info.title,
            "summary": info.summary,
            "file": routine.audio,
            "captions": routine.captions,
            "playlist": playlist,
            "duration_ms": assembled.duration_ms,
            "frame_rate": assembled.frame_rate,
            "loudness": routine.loudness.to_json(),
            "fingerprint": routine.fingerprint,
            "chapters": [chapter_json(c) for c in chapters],
        },
        "tracks": [track_json(t, e, s) for t, e, s in
                   zip(assembled.tracks, tracks, assembled.starts, strict=True)],
        "settings": settings,
    }
