"""Tracks -> MP3 files and the manifest, written atomically.

Everything is first written under temporary names beside its final place; only when every
file of the routine is complete are they renamed into place (manifest last). A failure
leaves the previous build untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceguide.assemble import AssembledRoutine
from voiceguide.engines.bundled import import_pydub
from voiceguide.errors import EngineError, OutputError
from voiceguide.manifest import manifest_json
from voiceguide.model import Clip

MANIFEST = "manifest.json"
_TRACK_FILE = re.compile(r"^\d\d-[a-z0-9-]+\.mp3$")


@dataclass(frozen=True)
class Encoding:
    bitrate: str = "64k"  # plenty for a single voice: mono speech at 22.05 kHz


@dataclass(frozen=True)
class Written:
    folder: Path
    files: tuple[Path, ...]  # audio files, full routine last
    manifest: Path


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def encode_mp3(clip: Clip, path: Path, encoding: Encoding) -> None:
    """Mono MP3 through ffmpeg/libmp3lame; its LAME header carries the encoder delay and
    padding, so ffmpeg decodes it back to exactly `clip.samples` samples."""
    pydub = import_pydub()
    segment = pydub.AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.frame_rate,
                                 channels=1)
    try:
        segment.export(str(path), format="mp3", codec="libmp3lame", bitrate=encoding.bitrate,
                       parameters=["-ac", "1"]).close()
    except pydub.exceptions.CouldntEncodeError as exc:
        raise EngineError(f"the MP3 encoder failed for {path.name}: {str(exc)[-300:]}",
                          "check that imageio-ffmpeg is installed: pip install imageio-ffmpeg"
                          ) from None


def write_routine(assembled: AssembledRoutine, out_root: Path, settings: dict[str, Any],
                  encoding: Encoding = Encoding(), jobs: int = 1,
                  progress: Callable[[Path], None] | None = None) -> Written:
    routine = assembled.plan.routine
    folder = out_root / routine.id
    routine_file = f"{routine.id}.mp3"
    tracks = assembled.tracks
    # A technique built on its own is a one-track routine: one file is enough.
    alone = len(tracks) == 1 and tracks[0].plan.id == routine.id
    names = [routine_file] if alone else [f"{t.plan.file_name}.mp3" for t in tracks]
    jobs_list: list[tuple[Clip, Path]] = [] if alone else [
        (t.clip, folder / n) for t, n in zip(tracks, names, strict=True)]
    jobs_list.append((assembled.clip, folder / routine_file))
    manifest = manifest_json(assembled, names, routine_file, settings)

    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"can't create the output folder {folder}: {exc.strerror}",
                          "choose another folder with --out") from None
    temps = [_temp_name(path) for _, path in jobs_list]
    manifest_path = folder / MANIFEST
    temps.append(_temp_name(manifest_path))
    try:
        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            # ffmpeg runs as a subprocess, so threads encode tracks in parallel.
            futures = [pool.submit(encode_mp3, clip, temp, encoding)
                       for (clip, _), temp in zip(jobs_list, temps, strict=False)]
            for future, (_, final) in zip(futures, jobs_list, strict=True):
                future.result()
                if progress:
                    progress(final)
        temps[-1].write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
        for temp, (_, final) in zip(temps, jobs_list, strict=False):
            temp.replace(final)
        temps[-1].replace(manifest_path)
    except OSError as exc:
        raise OutputError(f"can't write to {folder}: {exc.strerror}",
                          "check the folder's permissions and free space") from None
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        if created and not any(folder.iterdir()):
            folder.rmdir()
    finals = tuple(path for _, path in jobs_list)
    _remove_stale(folder, {p.name for p in finals})
    return Written(folder, finals, manifest_path)


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Track files from an earlier build of this routine that this build no longer makes
    (a technique removed or moved) would confuse a client browsing the folder."""
    for path in folder.iterdir():
        if _TRACK_FILE.match(path.name) and path.name not in keep:
            path.unlink()
