"""An assembled routine -> its folder: audio files with tags, cover and chapters, WebVTT
captions, a playlist and the manifest, all written atomically.

Everything is first written under temporary names beside its final place; only when every
file of the routine is complete are they renamed into place (manifest last). A failure
leaves the previous build untouched. Each audio file is decoded again after encoding and
measured, so the manifest records the loudness of the file itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.assemble import AssembledRoutine, join_clips
from voiceguide.cover import routine_cover
from voiceguide.encode import AUDIO_SUFFIXES, Encoding, decode, encode, remux_mp3
from voiceguide.errors import OutputError
from voiceguide.loudness import (
    Loudness,
    LoudnessMeter,
    LoudnessTarget,
    correct,
    measure,
    normalize,
)
from voiceguide.manifest import (
    FORMAT,
    MANIFEST,
    FileEntry,
    file_names,
    manifest_json,
    read_manifest,
)
from voiceguide.model import Chapter, Clinic, Clip, Routine
from voiceguide.mp3join import CannotJoin, can_join, join, read_stream
from voiceguide.tags import Tags, language_3, write_tags
from voiceguide.timeline import (
    caption_lines,
    playlist_text,
    routine_caption_lines,
    step_chapters,
    track_chapters,
    webvtt_text,
)

_OURS = "|".join(sorted(s.lstrip(".") for s in [*AUDIO_SUFFIXES, ".vtt", ".m3u8"]))


@dataclass(frozen=True)
class Publishing:
    """How a routine is published: format, tags and chapters."""

    encoding: Encoding = field(default_factory=Encoding)
    clinic: Clinic = field(default_factory=Clinic)
    step_chapters: bool = False
    loudness: LoudnessTarget | None = field(default_factory=LoudnessTarget)  # None: as is
    year: str = field(default_factory=lambda: str(date.today().year))


@dataclass(frozen=True)
class Written:
    folder: Path
    files: tuple[Path, ...]  # audio files, full routine last
    manifest: Path
    others: tuple[Path, ...] = ()  # captions and playlist
    unchanged: bool = False  # nothing had changed: nothing was written


def fingerprint(assembled: AssembledRoutine, settings: dict[str, Any],
                publishing: Publishing) -> str:
    """A digest of everything a routine's files are made from: the assembled audio and
    its layout, the settings, how it is published (format, tags, cover, chapters). Equal
    fingerprints mean equal files, so a rebuild can skip the encoding."""
    digest = hashlib.sha256()
    cover = Path(publishing.clinic.cover).read_bytes() if publishing.clinic.cover else b""
    described = {"manifest": FORMAT, "settings": settings, "cover": hashlib.sha256(
        cover).hexdigest(), "publishing": asdict(publishing),
        "routine": asdict(assembled.plan.routine)}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode("utf-8"))
    for track in assembled.tracks:
        digest.update(json.dumps([asdict(track.plan.technique), [
            (type(p.item).__name__, repr(p.item), p.start, p.end) for p in track.placed]],
            sort_keys=True, default=str).encode("utf-8"))
        digest.update(track.clip.pcm)
    return digest.hexdigest()


def up_to_date(out_root: Path, routine_id: str, print_: str) -> Written | None:
    """The earlier build of this routine, when its fingerprint matches and every file its
    manifest names is still there; else None."""
    folder = out_root / routine_id
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("fingerprint") != print_:
        return None
    audio, captions = file_names(manifest)
    paths = [folder / name for name in [*audio, *captions, manifest["routine"]["playlist"]]]
    if not all(p.is_file() for p in paths):
        return None
    return Written(folder, tuple(paths[:len(audio)]), folder / MANIFEST,
                   tuple(paths[len(audio):]), unchanged=True)


@dataclass(frozen=True)
class _Audio:
    clips: tuple[Clip, ...]  # played back to back: a track, or every track of the routine
    name: str
    tags: Tags


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _normalized(clips: Sequence[Clip], publishing: Publishing) -> list[Clip]:
    """Each clip at the loudness target, aimed so that the file lands on it after the
    encoder's own fixed gain."""
    target = publishing.loudness
    if target is None:
        return list(clips)
    aim = target.shifted(-publishing.encoding.audio.encoder_gain_db)
    return [normalize(clip, aim) for clip in clips]


def _encode_and_measure(job: _Audio, temp: Path, publishing: Publishing
                        ) -> tuple[Loudness, Clip]:
    """Normalize, encode, tag, then decode and measure the file itself. When the encoder
    moved it off the loudness target (a codec's own gain and overshoot vary), correct once
    by what was measured and encode again. Returns the loudness and the decoded audio."""

    def encode_once(clips: Sequence[Clip]) -> tuple[Loudness, Clip]:
        encode(clips, temp, publishing.encoding, job.tags.chapters,
               language_3(publishing.clinic.language))
        write_tags(temp, publishing.encoding.format, job.tags)
        decoded = decode(temp, clips[0].frame_rate)
        return measure(decoded), decoded

    clips = _normalized(job.clips, publishing)
    loudness, decoded = encode_once(clips)
    target = publishing.loudness
    if target is not None and target.misses(loudness):
        whole = join_clips(clips)
        loudness, decoded = encode_once([correct(whole, target, measure(whole), loudness)])
    return loudness, decoded


def _decoded(path: Path, frame_rate: int) -> tuple[None, Clip]:
    """A kept file decoded for the full routine's meter (its own loudness is known)."""
    return None, decode(path, frame_rate)


def _join_routine(job: _Audio, tracks: Sequence[Path], temp: Path) -> None:
    """The full routine made from its tracks' files without encoding it again (mp3join),
    then tagged."""
    remux_mp3(join([read_stream(path.read_bytes()) for path in tracks]), temp)
    write_tags(temp, "mp3", job.tags)


def can_join_tracks(assembled: AssembledRoutine, publishing: Publishing) -> bool:
    """Whether the full routine can be joined from its encoded tracks (MP3 only; tracks
    that meet in silence, so not under a background bed)."""
    tracks = assembled.tracks
    return publishing.encoding.format == "mp3" and len(tracks) > 1 and all(
        can_join(t.clip.pcm, t.clip.frame_rate, n == 0, n == len(tracks) - 1)
        for n, t in enumerate(tracks))


def _file_print(job: _Audio, publishing: Publishing) -> str:
    """What one audio file is made of: its audio, its tags, the format and the target."""
    digest = hashlib.sha256()
    for clip in job.clips:
        digest.update(clip.pcm)
    # The clips as assembled: normalizing them is deterministic, so equal prints mean
    # equal files and a kept file needs no normalizing either.
    described = {"tags": asdict(job.tags) | {"cover": hashlib.sha256(
        job.tags.cover).hexdigest()}, "encoding": asdict(publishing.encoding),
        "loudness": asdict(publishing.loudness) if publishing.loudness else None,
        "rate": job.clips[0].frame_rate, "manifest": FORMAT}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def _earlier_files(folder: Path) -> dict[str, tuple[str, Loudness]]:
    """Each audio file of the earlier build in `folder`: its fingerprint and loudness."""
    manifest = read_manifest(folder)
    if manifest is None:
        return {}
    try:
        entries = [*manifest["tracks"], manifest["routine"]]
        return {e["file"]: (e.get("fingerprint", ""), Loudness(
            e["loudness"]["integrated_lufs"], e["loudness"]["true_peak_dbtp"]))
            for e in entries}
    except (KeyError, TypeError):
        return {}


def is_alone(routine: Routine) -> bool:
    """A technique built on its own: one audio file serves as track and full routine."""
    ids = routine.track_ids()
    return len(ids) == 1 and ids[0] == routine.id


def full_session_title(title: str, alone: bool) -> str:
    """The full routine's own title (its album in the tags): apart from its tracks'."""
    return title if alone else f"{title} (full session)"


def audio_file_count(routine: Routine) -> int:
    return 1 if is_alone(routine) else len(routine.track_ids()) + 1


def _plan_audio(assembled: AssembledRoutine, publishing: Publishing
                ) -> tuple[list[_Audio], list[Chapter], bool]:
    """The audio files to write (full routine last), its chapters, and whether the routine
    is a single technique built on its own (then one file is enough)."""
    routine = assembled.plan.routine
    tracks = assembled.tracks
    suffix = publishing.encoding.audio.suffix
    clinic = publishing.clinic
    cover, mime = routine_cover(clinic.cover, routine.title, clinic.name, len(tracks),
                                assembled.duration_ms)
    alone = is_alone(routine)
    chapters = step_chapters(assembled) if publishing.step_chapters else \
        track_chapters(assembled)

    def tags(title: str, album: str, number: int, total: int, comment: str,
             chapters: tuple[Chapter, ...] = ()) -> Tags:
        return Tags(title=title, artist=clinic.name, album=album, track=number,
                    tracks=total, year=publishing.year, comment=comment,
                    language=clinic.language, cover=cover, cover_mime=mime,
                    website=clinic.website, chapters=chapters)

    jobs = [] if alone else [
        _Audio((t.clip,), f"{t.plan.file_name}{suffix}",
               tags(t.plan.technique.title, routine.title, t.plan.number, len(tracks),
                    t.plan.technique.summary)) for t in tracks]
    # The full routine is its own one-track album: played as an album, the tracks and
    # the full session would otherwise play the same audio twice.
    album = full_session_title(routine.title, alone)
    jobs.append(_Audio(assembled.clips, f"{routine.id}{suffix}",
                       tags(routine.title, album, 1, 1, routine.summary,
                            tuple(chapters) if not alone else ())))
    return jobs, chapters, alone


def write_routine(assembled: AssembledRoutine, out_root: Path, settings: dict[str, Any],
                  publishing: Publishing | None = None, jobs: int = 1,
                  progress: Callable[[Path], None] | None = None,
                  print_: str = "") -> Written:
    publishing = publishing or Publishing()
    routine = assembled.plan.routine
    folder = out_root / routine.id
    audio, chapters, alone = _plan_audio(assembled, publishing)
    captions = [webvtt_text(caption_lines(t)) for t in assembled.tracks]
    captions.append(webvtt_text(routine_caption_lines(assembled)))
    if alone:
        captions = captions[-1:]
    caption_names = [Path(a.name).with_suffix(".vtt").name for a in audio]
    playlist_name = f"{routine.id}.m3u8"
    track_files = audio[-1:] if alone else audio[:-1]
    playlist = playlist_text([(a.name, t.duration_ms, t.plan.technique.title)
                              for a, t in zip(track_files, assembled.tracks, strict=True)])

    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"can't create the output folder {folder}: {exc.strerror}",
                          "choose another folder with --out") from None
    finals = [folder / a.name for a in audio]
    texts = {folder / n: t for n, t in zip(caption_names, captions, strict=True)}
    texts[folder / playlist_name] = playlist
    manifest_path = folder / MANIFEST
    temps = {path: _temp_name(path) for path in [*finals, *texts, manifest_path]}
    try:
        prints = [_file_print(a, publishing) for a in audio]
        earlier = _earlier_files(folder)
        kept = [final.is_file() and earlier.get(final.name, ("", None))[0] == p
                for final, p in zip(finals, prints, strict=True)]
        loudness = _write_audio(audio, finals, temps, kept, earlier, publishing, jobs,
                                not alone and can_join_tracks(assembled, publishing),
                                progress)
        entries = [FileEntry(a.name, c, lu, fp) for a, c, lu, fp in
                   zip(audio, caption_names, loudness, prints, strict=True)]
        track_entries = entries[-1:] if alone else entries[:-1]
        settings = {**settings, "format": publishing.encoding.format,
                    "bitrate": publishing.encoding.effective_bitrate,
                    "clinic": publishing.clinic.name, "step_chapters": publishing.step_chapters}
        manifest = manifest_json(assembled, track_entries, entries[-1], playlist_name,
                                 [] if alone else chapters, settings)
        if print_:
            manifest["fingerprint"] = print_
        for path, text in texts.items():
            temps[path].write_text(text, encoding="utf-8")
        temps[manifest_path].write_text(json.dumps(manifest, indent=2, ensure_ascii=False)
                                        + "\n", encoding="utf-8")
        for path, temp in temps.items():  # the manifest is last: it vouches for the rest
            if temp.exists() or path.suffix not in AUDIO_SUFFIXES:
                temp.replace(path)
    except OSError as exc:
        raise OutputError(f"can't write to {folder}: {exc.strerror}",
                          "check the folder's permissions and free space") from None
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        if created and not any(folder.iterdir()):
            folder.rmdir()
    _remove_stale(folder, routine.id, {p.name for p in temps})
    return Written(folder, tuple(finals), manifest_path, tuple(texts))


def _write_audio(audio: list[_Audio], finals: list[Path], temps: dict[Path, Path],
                 kept: list[bool], earlier: dict[str, tuple[str, Loudness]],
                 publishing: Publishing, jobs: int, joined: bool,
                 progress: Callable[[Path], None] | None) -> list[Loudness]:
    """Encode every audio file that changed (a kept file stays as it is) and measure it;
    with `joined`, the full routine is joined from the tracks' files instead of encoded.
    (Not joined, the full routine normalizes its tracks again, in parallel with them:
    rare, and simpler than waiting on them.) ffmpeg runs as a subprocess and numpy
    frees the GIL: threads do run in parallel."""
    count = len(audio) - 1 if joined else len(audio)  # the files encoded here
    parts, paths, keeps = audio[:count], finals[:count], kept[:count]
    rate = audio[0].clips[0].frame_rate
    full_needed = joined and not kept[-1]
    # The full routine's loudness is that of the decoded tracks back to back, which is
    # exactly the decoded full file (mp3join): measured as the tracks come in, in order.
    meter, peak = LoudnessMeter(rate), -math.inf
    loudness: list[Loudness] = []
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:

        def start(n: int) -> Future[tuple[Loudness | None, Clip]] | None:
            if not keeps[n]:
                return pool.submit(_encode_and_measure, parts[n], temps[paths[n]], publishing)
            return pool.submit(_decoded, paths[n], rate) if full_needed else None

        # A finished track holds its decoded audio until the meter reaches it, in order:
        # at most `ahead` tracks are started past the one the meter waits for, so a slow
        # track can't make all the others pile up in memory behind it.
        ahead = 2 * max(jobs, 1)
        futures = {n: start(n) for n in range(min(ahead, count))}
        for n, path in enumerate(paths):
            future = futures.pop(n)  # let each decoded track go once used
            if n + ahead < count:
                futures[n + ahead] = start(n + ahead)
            result = future.result() if future else None
            measured = result[0] if result else None
            loudness.append(earlier[path.name][1] if keeps[n] or measured is None
                            else measured)
            if result and full_needed:
                meter.feed(np.frombuffer(result[1].pcm, dtype="<i2"))
                peak = max(peak, loudness[-1].true_peak_db)
            del result, future
            if progress:
                progress(path)
    if joined:
        full = finals[-1]
        if kept[-1]:
            loudness.append(earlier[full.name][1])
        else:
            tracks = [p if keep else temps[p] for p, keep in zip(paths, keeps, strict=True)]
            try:
                _join_routine(audio[-1], tracks, temps[full])
                loudness.append(Loudness(meter.lufs(), peak))
            except CannotJoin:  # not expected of LAME, but never worth a failed build
                loudness.append(_encode_and_measure(audio[-1], temps[full], publishing)[0])
        if progress:
            progress(full)
    return loudness


def _remove_stale(folder: Path, routine_id: str, keep: set[str]) -> None:
    """Files of an earlier build of this routine that this build no longer makes (a
    technique removed or moved, another format) would confuse a client browsing the
    folder."""
    ours = re.compile(rf"^(\d\d-[a-z0-9-]+|{re.escape(routine_id)})\.({_OURS})$")
    for path in folder.iterdir():
        if ours.match(path.name) and path.name not in keep:
            path.unlink()
