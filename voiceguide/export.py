"""An assembled routine -> its folder: audio files with tags, cover and chapters, WebVTT
captions, a playlist and the manifest, all written atomically.

Everything is first written under temporary names beside its final place; only when every
file of the routine is complete are they renamed into place (manifest last). A failure
leaves the previous build untouched. Each audio file is decoded again after encoding and
measured, so the manifest records the loudness of the file itself (a full routine joined
from its tracks' files, from the tracks' meter readings: see `_write_audio`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide import __version__
from voiceguide.assemble import AssembledRoutine, join_clips
from voiceguide.atomic import checkpoint, link_or_copy, staged, temp_path
from voiceguide.cache import COVERS, METERS, BlobStore
from voiceguide.cover import cover_bytes
from voiceguide.encode import (
    AUDIO_SUFFIXES,
    decode_chunks,
    encode,
)
from voiceguide.errors import EngineError
from voiceguide.lazy import LazyModule
from voiceguide.loudness import (
    BLOCK,
    ENCODER_MARGIN_DB,
    Loudness,
    Normalized,
    arrays,
    cell_samples,
    cells_lufs,
    correction,
    measure,
    measure_pieces,
    normalization,
    regrouped,
)
from voiceguide.manifest import (
    FileCheck,
    FileEntry,
    LoudnessEntry,
    RoutineEntry,
    TrackEntry,
    make_manifest,
    read_manifest,
)
from voiceguide.messages import ENGLISH, Messages
from voiceguide.model import Chapter, Clinic, Clip, window
from voiceguide.mp3join import (
    PIECE_SECONDS,
    CannotJoin,
    can_join,
    frame_samples,
    read_stream,
    split_points,
    write_joined,
)
from voiceguide.publishing import (
    FORMAT,
    MANIFEST,
    Provenance,
    Publishing,
    Written,
    is_alone,
)
from voiceguide.settings import Settings
from voiceguide.tags import Tags, language_3, write_tags
from voiceguide.timeline import (
    caption_lines,
    playlist_text,
    routine_caption_lines,
    step_chapters,
    track_chapters,
    webvtt_text,
)

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it

_OURS = "|".join(sorted(s.lstrip(".") for s in [*AUDIO_SUFFIXES, ".vtt", ".m3u8"]))


@dataclass(frozen=True)
class _Audio:
    clips: tuple[Clip, ...]  # played back to back: a track, or every track of the routine
    name: str
    tags: Tags


def _normalized(clips: Sequence[Clip], publishing: Publishing) -> list[Normalized]:
    """Each clip at the loudness target, aimed so that the file lands on it after the
    encoder's own fixed gain."""
    target = publishing.loudness
    if target is None:
        return [Normalized(clip) for clip in clips]
    aim = target.shifted(-publishing.encoding.audio.encoder_gain_db)
    margin = publishing.encoder_margin_db
    return [normalization(clip, aim, ENCODER_MARGIN_DB if margin is None else margin)
            for clip in clips]


def limiter_lift_db(clip: Clip, publishing: Publishing) -> float:
    """How many dB more than the plain gain to the target `clip` is raised when normalized,
    because its limiter takes part of the loudness back (0: nothing to normalize), as
    the normalization that the export will repeat finds it."""
    return max(_normalized([clip], publishing)[0].limiter_lift_db, 0.0)


# Encodes again, each aimed by what the last one did, when a file misses the loudness
# target or the true-peak ceiling: one is nearly always enough; a neural voice's bright
# consonants can make LAME overshoot more than the first correction allows for.
CORRECTIONS = 3


def _encode_and_measure(job: _Audio, temp: Path, publishing: Publishing, cell: int = 0
                        ) -> tuple[Loudness, list[np.ndarray]]:
    """Normalize, encode, tag, then decode and measure the file itself. When the encoder
    moved it off the loudness target (a codec's own gain and overshoot vary), correct by
    what was measured and encode again (CORRECTIONS times at most). Returns the loudness
    and, with `cell`, the meter's cells of the file (loudness.cells_lufs). The normalized
    audio goes to the encoder chunk by chunk and the file is measured as it is decoded:
    besides the assembled clips, only a few seconds of audio are held at a time. An MP3
    track is encoded in pieces at once (`_in_parts`)."""
    rate = job.clips[0].frame_rate

    def encode_once(clips: Sequence[Normalized]) -> tuple[Loudness, list[np.ndarray]]:
        if len(clips) == 1 and publishing.encoding.format == "mp3":
            pieces = _split(clips[0])
            if len(pieces) > 1:
                return _in_parts(pieces, temp, publishing, job.tags)
        encode(clips, temp, publishing.encoding, job.tags.chapters,
               language_3(publishing.language))
        write_tags(temp, publishing.encoding.format, job.tags)
        return _measured_file(temp, rate, sum(c.samples for c in clips),
                              publishing.encoding.format, cell)

    clips = _normalized(job.clips, publishing)
    loudness, cells = encode_once(clips)
    target = publishing.loudness
    for _ in range(CORRECTIONS):
        if target is None or not target.misses(loudness):
            break
        encoded = join_clips([c.clip() for c in clips])
        del clips
        clips = [correction(encoded, target, measure(encoded), loudness)]
        loudness, cells = encode_once(clips)
    return loudness, cells


def _split(clip: Normalized) -> list[Normalized]:
    """A normalized track cut in pieces where mp3join can join them again
    (mp3join.split_points: by the track alone, so a file is the same whatever else a
    build encodes), each the same samples as that stretch of the whole: the cuts are on
    limiter block edges (a frame is whole blocks) and in silence."""
    rate = clip.frame_rate
    frame = frame_samples(rate)
    silent = np.concatenate([np.zeros(0, dtype=bool), *(
        ~piece[:piece.size // frame * frame].reshape(-1, frame).any(axis=1)
        for piece in regrouped(arrays(clip.source), frame * 1024))])
    edges = [0, *split_points(silent, rate), clip.samples]
    if len(edges) == 2:
        return [clip]
    return [Normalized(window(clip.source, start, stop), clip.gain,
                       None if clip.curve is None else
                       clip.curve[start // BLOCK:-(-stop // BLOCK)])
            for start, stop in itertools.pairwise(edges)]


def _in_parts(pieces: Sequence[Normalized], temp: Path, publishing: Publishing, tags: Tags
              ) -> tuple[Loudness, list[np.ndarray]]:
    """An MP3 track encoded in pieces at once (one encoder each: LAME uses one core),
    each decoded and measured, then joined frame by frame into `temp` (mp3join) and
    tagged. The joined file decodes to the pieces back to back, sample for sample, so
    its loudness comes from the pieces' meter cells, its true peak is theirs."""
    rate = pieces[0].frame_rate
    cell = cell_samples(rate, frame_samples(rate))
    names = [temp_path(temp.with_name(f"{temp.name}.{n}")) for n in range(len(pieces))]

    def one(piece: Normalized, path: Path) -> tuple[Loudness, list[np.ndarray]]:
        encode(piece, path, publishing.encoding)
        return _measured_file(path, rate, piece.samples, "mp3", cell)

    try:
        with ThreadPoolExecutor(max_workers=min(len(pieces), os.cpu_count() or 1)) as pool:
            measured = list(pool.map(one, pieces, names))
        _write_joined(names, temp, sum(p.samples for p in pieces), rate)
    finally:
        for path in names:
            path.unlink(missing_ok=True)
    write_tags(temp, "mp3", tags)
    cells = [c for _, piece_cells in measured for c in piece_cells]
    return Loudness(cells_lufs(cells, rate, cell), max(lu.true_peak_db for lu, _ in measured)
                    ), cells


def _measured_file(path: Path, frame_rate: int, expected: int | None, audio_format: str,
                   cell: int) -> tuple[Loudness, list[np.ndarray]]:
    """A file's loudness (and meter cells, with `cell`), measured as it is decoded; with
    `expected`, EngineError unless it decodes to that many samples."""
    samples = 0

    def pieces() -> Iterator[np.ndarray]:
        nonlocal samples
        for chunk in decode_chunks(path, frame_rate):
            samples += len(chunk) // 2
            yield np.frombuffer(chunk, dtype="<i2")

    measured = measure_pieces(pieces(), frame_rate, cell)
    if expected is not None:
        check_length(path.name, samples, expected, frame_rate, audio_format)
    return measured


# How far a decoded file may differ in length from what was encoded: WAV decodes exactly;
# MP3 to the sample nearly always (LAME's gapless header; a 48 s track was seen decoding
# 21 samples long); AAC and Opus add their own priming, under 50 ms. A broken encoder
# writes far less than that, or nothing.
_LENGTH_SLACK_S = {"wav": 0.0}
_OTHER_SLACK_S = 0.06


def check_length(name: str, decoded: int, encoded: int, frame_rate: int, audio_format: str
                 ) -> None:
    """EngineError when a file decodes to another length than the audio given to the
    encoder: an encoder that wrote a truncated or empty file must not pass as a build."""
    slack = round(_LENGTH_SLACK_S.get(audio_format, _OTHER_SLACK_S) * frame_rate)
    if abs(decoded - encoded) > slack:
        raise EngineError(f"the encoder wrote {name} {decoded / frame_rate:.2f} s long, but "
                          f"{encoded / frame_rate:.2f} s were encoded",
                          "check the encoder (ffmpeg): reinstall imageio-ffmpeg")


def _stored_cells(meters: BlobStore, fingerprint: str, cell: int
                  ) -> list[np.ndarray] | None:
    blob = meters.get(f"{fingerprint}-{cell}")
    return None if blob is None else [np.frombuffer(blob, dtype="<f4")]


def _kept_cells(path: Path, frame_rate: int, cell: int) -> tuple[None, list[np.ndarray]]:
    """A kept file's meter cells, for the full routine's meter (its own loudness is known)
    when the meter store has none: decoded and measured again."""
    return None, _measured_file(path, frame_rate, None, "mp3", cell)[1]


def _join_routine(job: _Audio, tracks: Sequence[Path], temp: Path) -> None:
    """The full routine made from its tracks' files without encoding it again (mp3join),
    then tagged."""
    _write_joined(tracks, temp, sum(c.samples for c in job.clips), job.clips[0].frame_rate)
    write_tags(temp, "mp3", job.tags)


def _write_joined(files: Sequence[Path], path: Path, expected: int, frame_rate: int) -> None:
    """MP3 files joined into `path` (mp3join), read one at a time; EngineError unless the
    joined stream is `expected` samples long."""
    with path.open("wb") as out:
        samples = write_joined((read_stream(f.read_bytes()) for f in files), out)
    check_length(path.name, samples, expected, frame_rate, "mp3")


def can_join_tracks(assembled: AssembledRoutine, publishing: Publishing) -> bool:
    """Whether the full routine can be joined from its encoded tracks (MP3 only; tracks
    that meet in silence, so not under a background bed)."""
    tracks = assembled.tracks
    return publishing.encoding.format == "mp3" and len(tracks) > 1 and all(
        can_join(t.clip.pcm, t.clip.frame_rate, n == 0, n == len(tracks) - 1)
        for n, t in enumerate(tracks))


def _audio_print(job: _Audio, publishing: Publishing) -> str:
    """What one audio file's audio is made of: its clips, the format, the loudness target
    and how tracks are cut into pieces. (A clip's SHA-256 is computed once: the full
    routine's clips are its tracks'.)"""
    digest = hashlib.sha256()
    for clip in job.clips:
        digest.update(clip.sha256.encode("ascii"))
    # The clips as assembled: normalizing them is deterministic, so equal prints mean
    # equal audio and a kept file needs no normalizing either.
    described = {"encoding": asdict(publishing.encoding),
                 "loudness": asdict(publishing.loudness) if publishing.loudness else None,
                 "rate": job.clips[0].frame_rate, "manifest": FORMAT,
                 "margin": publishing.encoder_margin_db, "pieces": PIECE_SECONDS}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def _file_print(job: _Audio, audio_print: str) -> str:
    """What one audio file is made of: its audio (`_audio_print`) and its tags."""
    described = {"audio": audio_print, "tags": asdict(job.tags) | {
        "cover": hashlib.sha256(job.tags.cover).hexdigest()}}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode(
        "utf-8")).hexdigest()


@dataclass(frozen=True)
class _Earlier:
    """An audio file of the earlier build, still as it was written."""

    fingerprint: str
    audio_fingerprint: str
    loudness: Loudness


def _earlier_files(folder: Path) -> dict[str, _Earlier]:
    """Each audio file of the earlier build in `folder` that is still as it was written
    (a damaged or replaced one is made again)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return {}
    entries: list[TrackEntry | RoutineEntry] = [*manifest.tracks, manifest.routine]
    return {e.file: _Earlier(e.fingerprint, e.audio_fingerprint, e.loudness.loudness())
            for e in entries
            if e.file in manifest.files and manifest.files[e.file].matches(folder / e.file)}


def full_session_title(title: str, alone: bool, say: Messages = ENGLISH) -> str:
    """The full routine's own title (its album in the tags): apart from its tracks'."""
    return title if alone else say.full_session(title)


def _plan_audio(assembled: AssembledRoutine, publishing: Publishing,
                covers: BlobStore | None = None) -> tuple[list[_Audio], list[Chapter], bool]:
    """The audio files to write (full routine last), its chapters, and whether the routine
    is a single technique built on its own (then one file is enough)."""
    routine = assembled.plan.routine
    tracks = assembled.tracks
    suffix = publishing.encoding.audio.suffix
    clinic = publishing.clinic
    say = publishing.messages()
    cover, mime = _routine_cover(clinic, routine.title, say.cover_subtitle(
        len(tracks), assembled.duration_ms), covers)
    alone = is_alone(routine)
    chapters = step_chapters(assembled, say) if publishing.step_chapters else \
        track_chapters(assembled)

    def tags(title: str, album: str, number: int, total: int, comment: str,
             chapters: tuple[Chapter, ...] = ()) -> Tags:
        return Tags(title=title, artist=clinic.name, album=album, track=number,
                    tracks=total, year=publishing.year, comment=comment,
                    language=publishing.language, cover=cover, cover_mime=mime,
                    website=clinic.website, chapters=chapters, voice=publishing.voice)

    jobs = [] if alone else [
        _Audio((t.clip,), f"{t.plan.file_name}{suffix}",
               tags(t.plan.technique.title, routine.title, t.plan.number, len(tracks),
                    t.plan.technique.summary)) for t in tracks]
    # The full routine is its own one-track album: played as an album, the tracks and
    # the full session would otherwise play the same audio twice.
    album = full_session_title(routine.title, alone, say)
    jobs.append(_Audio(assembled.clips, f"{routine.id}{suffix}",
                       tags(routine.title, album, 1, 1, routine.summary,
                            tuple(chapters) if not alone else ())))
    return jobs, chapters, alone


def _routine_cover(clinic: Clinic, title: str, subtitle: str, covers: BlobStore | None
                   ) -> tuple[bytes, str]:
    """The routine's cover (cover.cover_bytes): a drawn one is kept in `covers` by what
    it shows and what draws it, so a rebuild does not draw it again."""
    if clinic.cover or covers is None:
        return cover_bytes(clinic.cover, title, clinic.name, subtitle)
    key = hashlib.sha256(json.dumps([title, clinic.name, subtitle, __version__, version(
        "pillow")]).encode("utf-8")).hexdigest()
    drawn = covers.get(key)
    if drawn is None:
        drawn = cover_bytes(None, title, clinic.name, subtitle)[0]
        covers.put(key, drawn)
    return drawn, "image/png"


def _ours(routine_id: str) -> re.Pattern[str]:
    """The names of the files a build of this routine writes: anything else in its folder
    (the share folder and zip, the user's own files) is carried over by the next build."""
    return re.compile(rf"^(\d\d-[a-z0-9-]+|{re.escape(routine_id)})\.({_OURS})$|"
                      rf"^{re.escape(MANIFEST)}$")


def write_routine(assembled: AssembledRoutine, out_root: Path, settings: Settings,
                  made: Provenance, publishing: Publishing | None = None, jobs: int = 1,
                  progress: Callable[[Path], None] | None = None,
                  digest: str = "", cache: Path | None = None) -> Written:
    """Write the routine's folder: made anew beside the old one (unchanged audio files are
    hard links, not encoded again) and put in its place in one step (atomic.staged), so
    the folder is always a whole build. Files of an earlier build that this one no
    longer makes (a technique removed, another format) are gone with the old folder;
    anything else in it (the share folder, the user's own files) is carried over. The
    caller holds the folder's lock. `cache` (the render cache's folder) keeps each
    file's meter readings and the cover between builds (None: a kept track is decoded
    again to meter the full routine, the cover drawn again)."""
    publishing = publishing or Publishing()
    meters, covers = (BlobStore(cache, METERS), BlobStore(cache, COVERS)) if cache else \
        (None, None)
    routine = assembled.plan.routine
    folder = out_root / routine.id
    audio, chapters, alone = _plan_audio(assembled, publishing, covers)
    say, language = publishing.messages(), publishing.language
    captions = [webvtt_text(caption_lines(t, 0, say), language) for t in assembled.tracks]
    captions.append(webvtt_text(routine_caption_lines(assembled, say), language))
    if alone:
        captions = captions[-1:]
    caption_names = [Path(a.name).with_suffix(".vtt").name for a in audio]
    playlist_name = f"{routine.id}.m3u8"
    track_files = audio[-1:] if alone else audio[:-1]
    playlist = playlist_text([(a.name, t.duration_ms, t.plan.technique.title)
                              for a, t in zip(track_files, assembled.tracks, strict=True)])
    texts = dict(zip(caption_names, captions, strict=True))
    texts[playlist_name] = playlist
    ours = _ours(routine.id)
    sounds = [_audio_print(a, publishing) for a in audio]
    prints = [_file_print(a, s) for a, s in zip(audio, sounds, strict=True)]
    earlier = _earlier_files(folder)
    was = [earlier.get(a.name) if (folder / a.name).is_file() else None for a in audio]
    # Kept as it is; or, with only its tags changed (a title, the cover), its audio kept
    # and tagged anew (MP3: ID3 tags and chapters are apart from the audio frames).
    kept = [w is not None and w.fingerprint == p for w, p in zip(was, prints, strict=True)]
    retag = [not k and w is not None and w.audio_fingerprint == s and
             publishing.encoding.format == "mp3"
             for k, w, s in zip(kept, was, sounds, strict=True)]
    with staged(folder, carry=lambda name: not ours.match(name)) as stage:
        loudness = _write_audio(audio, stage, folder, kept, retag, earlier, prints,
                                publishing, jobs,
                                not alone and can_join_tracks(assembled, publishing),
                                progress, meters)
        for name, text in texts.items():
            (stage / name).write_text(text, encoding="utf-8")
        entries = [FileEntry(audio=a.name, captions=c, loudness=LoudnessEntry.of(lu),
                             fingerprint=fp, audio_fingerprint=sound)
                   for a, c, lu, fp, sound in zip(audio, caption_names, loudness, prints,
                                                  sounds, strict=True)]
        track_entries = entries[-1:] if alone else entries[:-1]
        files = {name: FileCheck.of(stage / name) for name in [*(a.name for a in audio),
                                                              *texts]}
        manifest = make_manifest(assembled, track_entries, entries[-1], playlist_name,
                                 [] if alone else chapters, settings,
                                 replace(made, clinic=publishing.clinic.name),
                                 digest, files)
        (stage / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return Written(folder, tuple(folder / a.name for a in audio), folder / MANIFEST,
                   tuple(folder / n for n in texts))


def _write_audio(audio: list[_Audio], stage: Path, folder: Path, kept: list[bool],
                 retag: list[bool], earlier: dict[str, _Earlier], prints: list[str],
                 publishing: Publishing, jobs: int, joined: bool,
                 progress: Callable[[Path], None] | None, meters: BlobStore | None
                 ) -> list[Loudness]:
    """Encode into `stage` every audio file that changed (a kept file is linked from
    `folder` as it is; one with only new tags is copied and tagged again) and measure
    it; with `joined`, the full routine is joined from the tracks' files instead of
    encoded. (Not joined, the full routine normalizes its tracks
    again, in parallel with them: rare, and simpler than waiting on them.) ffmpeg runs
    as a subprocess and numpy frees the GIL: threads do run in parallel."""
    count = len(audio) - 1 if joined else len(audio)  # the files encoded here
    parts, keeps, retags = audio[:count], kept[:count], retag[:count]
    rate = audio[0].clips[0].frame_rate
    for a, keep, again in zip(audio, kept, retag, strict=True):
        if keep:
            link_or_copy(folder / a.name, stage / a.name)
        elif again:
            shutil.copyfile(folder / a.name, stage / a.name)
            write_tags(stage / a.name, "mp3", a.tags)
    full_needed = joined and not (kept[-1] or retag[-1])
    # The full routine's loudness is that of its tracks back to back (mp3join keeps the
    # decoded audio the same): from each track's meter cells, kept in the meter store,
    # so a track that did not change is not decoded again.
    cell = cell_samples(rate, frame_samples(rate)) if joined else 0
    loudness: list[Loudness] = []
    # One thread more than jobs: a track's own steps run one after another (normalize in
    # Python, encode in ffmpeg, decode, measure in Python), and with one thread per core
    # the threads fell into step, both in Python (one core: the GIL) then both in ffmpeg.
    stored: dict[int, list[np.ndarray] | None] = {}  # kept tracks' cells, from the store
    with ThreadPoolExecutor(max_workers=max(jobs, 1) + 1) as pool:

        def start(n: int) -> Future[tuple[Loudness | None, list[np.ndarray]]] | None:
            if not (keeps[n] or retags[n]):
                return pool.submit(_encode_and_measure, parts[n], stage / parts[n].name,
                                   publishing, cell)
            if (full_needed or retags[n]) and meters:  # (a retagged file's under its new print)
                stored[n] = _stored_cells(meters, earlier[parts[n].name].fingerprint, cell)
            if not full_needed or stored.get(n) is not None:
                return None
            return pool.submit(_kept_cells, stage / parts[n].name, rate, cell)

        futures = [start(n) for n in range(count)]
        cells: list[np.ndarray] = []
        for n, (a, future) in enumerate(zip(parts, futures, strict=True)):
            measured, track_cells = future.result() if future else (None, None)
            loudness.append(earlier[a.name].loudness if measured is None else measured)
            track_cells = stored.pop(n, None) if track_cells is None else track_cells
            if track_cells is not None and cell and meters and not keeps[n]:
                meters.put(f"{prints[n]}-{cell}", [c.astype("<f4", copy=False).data
                                                   for c in track_cells])
            if full_needed:
                assert track_cells is not None
                cells += track_cells
            futures[n] = None  # let its result go
            checkpoint("encoded")
            if progress:
                progress(folder / a.name)
    if joined:
        full = audio[-1]
        if kept[-1] or retag[-1]:
            loudness.append(earlier[full.name].loudness)
        else:
            try:
                _join_routine(full, [stage / a.name for a in parts], stage / full.name)
                loudness.append(Loudness(cells_lufs(cells, rate, cell),
                                         max(lu.true_peak_db for lu in loudness)))
            except CannotJoin:  # not expected of LAME, but never worth a failed build
                loudness.append(_encode_and_measure(full, stage / full.name,
                                                    publishing)[0])
        if progress:
            progress(folder / full.name)
    return loudness
