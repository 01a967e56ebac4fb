"""Whether a routine's folder already holds what a build would write: then the build
writes nothing, and finds that out without assembling, encoding or hashing any audio,
and without loading the export or the manifest's schemas.

Two things must hold, and both are checked.

**What the files are made of is unchanged.** `fingerprint` digests the routine's layout
(every item of every track and where it sits, in samples), the audio of each sentence,
cue and background bed placed there (by SHA-256: a cached sentence carries its own, see
`Clip.checked`), the settings, how the audio was made and is published, and voiceguide's
own code. Assembling a routine is deterministic from these, so equal fingerprints mean
equal files; it costs a few milliseconds, where hashing the assembled audio took 40.

**The files are still as they were written.** The manifest records each file's size and
SHA-256; reading and hashing every file took 20 ms of a rebuild with nothing to do. So
when a build has written a folder, or read it back and found it intact, it also notes in
the cache folder (under `written/`) what the file system says of each file: size, time
of last modification (mtime), time of the inode's last change (ctime), inode and device.
While all five are as noted, the file is the one that was checked, and is not read
again; when any differs, the files are hashed against the manifest as before (and noted
anew when intact). The ctime is what makes this safe: programs can set a file's mtime
(`touch -d`, `cp -p`, a tag editor that keeps the date; and ID3 padding can keep the
size) but not its ctime, which any write, rename or change of times moves to the
present. Only a change made within the same tick of the file system's clock as
voiceguide's own look at the file (a few milliseconds; each file is looked at before it
is read) could go unseen. On Windows st_ctime is the creation time instead, so there every file
is hashed, as before; a missing or unreadable note only costs that time too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.cache import code_digest, write_entry
from voiceguide.messages import catalogue_digest
from voiceguide.model import Cue, Speech
from voiceguide.publishing import FORMAT, MANIFEST, Written

if TYPE_CHECKING:
    from voiceguide.background import Bed
    from voiceguide.model import Clip, Placed, RoutinePlan
    from voiceguide.publishing import Provenance, Publishing
    from voiceguide.settings import Settings
    from voiceguide.sounds import Cues

_NOTE_FORMAT = 1
# Where ctime is the inode's change time (POSIX), and so tells of every change.
NOTES_TRUSTED = os.name != "nt"


def fingerprint(plan: RoutinePlan, layout: Sequence[Sequence[Placed]],
                clips: Mapping[str, Clip], cues: Cues, bed: Bed | None, settings: Settings,
                made: Provenance, publishing: Publishing) -> str:
    """A digest of everything a routine's files are made from (see the module's
    docstring): equal fingerprints mean equal files, so a rebuild can skip them.
    `layout` is the plan's, as voiceguide.assemble.layout places it."""
    digest = hashlib.sha256()
    cover = Path(publishing.clinic.cover).read_bytes() if publishing.clinic.cover else b""
    described = {
        "manifest": FORMAT, "code": code_digest().hex(), "settings": settings.to_json(),
        "made": asdict(made), "cover": hashlib.sha256(cover).hexdigest(),
        "publishing": asdict(publishing), "routine": repr(plan.routine),
        "words": catalogue_digest(publishing.language), "frame_rate": cues.frame_rate,
        "bed": None if bed is None else [bed.name, bed.frame_rate, bed.lufs, hashlib.sha256(
            bed.samples.tobytes()).hexdigest()]}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode("utf-8"))

    def sound(placed: Placed) -> str:
        """The SHA-256 of the audio at this place ('' for silence)."""
        item = placed.item
        if isinstance(item, Speech):
            return clips[item.text].sha256
        return cues[item.name].sha256 if isinstance(item, Cue) else ""

    for track, items in zip(plan.tracks, layout, strict=True):
        # repr: every field of these frozen values, as asdict gives them, and quicker
        digest.update(json.dumps([repr(track.technique), [
            (repr(p.item), p.start, p.end, sound(p)) for p in items]]).encode("utf-8"))
    return digest.hexdigest()


def up_to_date(out_root: Path, routine_id: str, digest: str, notes: Path | None = None
               ) -> Written | None:
    """The earlier build of this routine, when its fingerprint is `digest` and every file
    its manifest names is there as it was written; else None. With `notes` (a folder),
    a folder's files are read only when the file system says they changed since last
    noted there (see the module's docstring)."""
    folder = out_root / routine_id
    noted = _noted(notes, folder, digest)
    if noted is not None:
        return noted
    # Each file's state is taken before it is read: a change while it is read, or later,
    # shows in the next build's look.
    first = _status(folder / MANIFEST)
    from voiceguide.manifest import read_manifest  # pydantic: only to read the files

    manifest = read_manifest(folder)
    if manifest is None or manifest.fingerprint != digest:
        return None
    states = {name: _status(folder / name) for name in manifest.files} | {MANIFEST: first}
    if not manifest.intact(folder):
        return None
    audio = manifest.audio_files()
    paths = [folder / name for name in
             [*audio, *manifest.caption_files(), manifest.routine.playlist]]
    written = Written(folder, tuple(paths[:len(audio)]), folder / MANIFEST,
                      tuple(paths[len(audio):]), unchanged=True)
    _note(notes, written, digest, states)
    return written


def note_written(notes: Path | None, written: Written, digest: str) -> None:
    """Note the files a build has just written (it holds the folder's lock): the next
    build with the same fingerprint need not read them."""
    _note(notes, written, digest, {path.name: _status(path) for path in _paths(written)})


def _paths(written: Written) -> list[Path]:
    return [*written.files, *written.others, written.manifest]


def _status(path: Path) -> list[int] | None:
    """What the file system says of a file: size, mtime, ctime, inode, device."""
    try:
        status = path.stat()
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino,
            status.st_dev]


def _note_path(notes: Path, folder: Path) -> Path:
    return notes / f"{hashlib.sha256(os.fsencode(folder.absolute())).hexdigest()}.json"


def _note(notes: Path | None, written: Written, digest: str,
          states: Mapping[str, list[int] | None]) -> None:
    if notes is None or not NOTES_TRUSTED or None in states.values():
        return
    note = {"format": _NOTE_FORMAT, "folder": str(written.folder.absolute()),
            "fingerprint": digest, "files": [p.name for p in written.files],
            "others": [p.name for p in written.others], "states": states}
    write_entry(_note_path(notes, written.folder), json.dumps(note).encode("utf-8"))


def _noted(notes: Path | None, folder: Path, digest: str) -> Written | None:
    """The folder's build as noted, when its fingerprint is `digest` and every one of
    its files is as it was noted; else None."""
    if notes is None or not NOTES_TRUSTED:
        return None
    try:
        note = json.loads(_note_path(notes, folder).read_bytes())
        if note["format"] != _NOTE_FORMAT or note["folder"] != str(folder.absolute()) \
                or note["fingerprint"] != digest:
            return None
        written = Written(folder, tuple(folder / name for name in note["files"]),
                          folder / MANIFEST, tuple(folder / name for name in note["others"]),
                          unchanged=True)
        states = note["states"]
        same = sorted(states) == sorted(p.name for p in _paths(written)) and all(
            _status(path) == states[path.name] for path in _paths(written))
    except (OSError, ValueError, KeyError, TypeError):  # missing, damaged: read the files
        return None
    return written if same else None
