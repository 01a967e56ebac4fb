"""The manifest: the audio's real layout, measured after assembly, plus the settings that
made it. Its format is a stable interface (see the README); bump FORMAT on changes."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from voiceguide.assemble import AssembledRoutine
from voiceguide.model import Cue, Placed, Silence, Speech, Track, samples_to_ms

FORMAT = 1


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


def track_json(track: Track, file: str, start: int) -> dict[str, Any]:
    technique = track.plan.technique
    rate = track.clip.frame_rate
    return {
        "number": track.plan.number,
        "id": technique.id,
        "title": technique.title,
        "summary": technique.summary,
        "equipment": list(technique.equipment),
        "file": file,
        "duration_ms": track.duration_ms,
        "start_ms": samples_to_ms(start, rate),
        "items": [item_json(p, rate) for p in track.placed],
    }


def manifest_json(assembled: AssembledRoutine, files: list[str], routine_file: str,
                  settings: dict[str, Any]) -> dict[str, Any]:
    routine = assembled.plan.routine
    return {
        "format": FORMAT,
        "routine": {
            "id": routine.id,
            "title": routine.title,
            "summary": routine.summary,
            "file": routine_file,
            "duration_ms": assembled.clip.ms,
            "frame_rate": assembled.clip.frame_rate,
        },
        "tracks": [track_json(t, f, s) for t, f, s in
                   zip(assembled.tracks, files, assembled.starts, strict=True)],
        "settings": settings,
    }
