"""Writing so that nothing is lost and nothing is mixed: every file and folder voiceguide
publishes appears whole or not at all, whatever stops the process.

- A single file is written under a hidden temporary name beside its place, flushed to
  the disk (fsync) and renamed over the old one (`write_atomic`, `temp_path`).
- A folder (a routine's audio, captions, manifest and share) is made anew in a hidden
  sibling folder, then published in one step (`staged`): on Linux the two folders swap
  names atomically (renameat2 with RENAME_EXCHANGE), so a reader sees either the old
  folder or the new one, never a mix, and a kill at any instant leaves one of them.
  Unchanged files are hard links into the new folder, so nothing is copied.
- One build at a time per folder (`folder_lock`): a second waits, or fails at once.
- What a killed build leaves behind (staging folders, hidden temporary files) is
  recognized by its name and removed by the next build of that folder
  (`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from voiceguide.errors import OutputError

_TEMP = re.compile(r"^\..+\.(?:\d+\.[0-9a-f]+|\d+\.\d+)\.(?:tmp|partial)$")
_FFMPEG_TEMPS = (".ffmeta", ".join")


def checkpoint(name: str) -> None:
    """A named point between two steps of writing. The fault-injection tests stop the
    process here (VOICEGUIDE_STOP_AT=name) with SIGKILL, as kill -9 or a closed laptop
    would, and check that the folder is then whole: the old one or the new one."""
    if os.environ.get("VOICEGUIDE_STOP_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def temp_path(final: Path) -> Path:
    """A hidden, unique name beside `final` for writing it before it is published."""
    return final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entries to the disk: a rename survives a power cut
    only when both the new file's data and the folder's entry are on the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems can't fsync a folder: nothing to lose
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (text is written as UTF-8), whole or not at all.
    OSError when it can't be written; the old file then stays as it was."""
    temp = temp_path(path)
    try:
        with temp.open("wb") as file:
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync(path.parent)


# --------------------------------------------------------------------------- folders


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders' names in one atomic step (Linux renameat2); False where the
    system or file system can't."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _old_name(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.old.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def publish_folder(stage: Path, folder: Path) -> None:
    """Put `stage` in the place of `folder` in one step; afterwards `stage` holds the old
    folder (or is gone when there was none). Where folders can't be swapped atomically,
    the old one is first renamed aside: a kill between the two renames leaves it under
    a name `remove_leftovers` puts back."""
    _fsync(stage)
    if not folder.exists():
        stage.rename(folder)
    elif not _exchange(stage, folder):
        aside = _old_name(folder)
        folder.rename(aside)
        checkpoint("aside")
        stage.rename(folder)
        aside.rename(stage)
    _fsync(folder.parent)


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it (voiceguide replaces files, never
    rewrites them, so a link keeps its content), else a copy; folders recursively."""
    if source.is_dir() and not source.is_symlink():
        target.mkdir()
        for entry in source.iterdir():
            link_or_copy(entry, target / entry.name)
        return
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _stage_name(folder: Path) -> Path:
    return folder.with_name(
        f".{folder.name}.stage.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _fsync_files(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            _fsync(path)
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        _fsync(path)


@contextmanager
def staged(folder: Path, carry: Callable[[str], bool] = lambda name: False
           ) -> Iterator[Path]:
    """A new version of `folder`, made in a hidden sibling folder and published in one
    step when the block ends without an error (else thrown away, the old folder as it
    was). Entries of the old folder for which `carry(name)` is true are carried over
    (hard links). OutputError when the folder can't be written."""
    where = folder.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        stage = _stage_name(folder)
        stage.mkdir()
    except OSError as exc:
        raise OutputError(f"can't write to {where}: {exc.strerror or exc}",
                          "check the folder's permissions and free space, or choose "
                          "another output folder") from None
    try:
        if folder.is_dir():
            for entry in folder.iterdir():
                if carry(entry.name):
                    link_or_copy(entry, stage / entry.name)
        checkpoint("staged")
        yield stage
        checkpoint("written")
        _fsync_files(stage)
        checkpoint("synced")
        publish_folder(stage, folder)
        checkpoint("published")
    except OSError as exc:
        raise OutputError(f"can't write to {folder}: {exc.strerror or exc}",
                          "check the folder's permissions and free space") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def remove_leftovers(folder: Path) -> None:
    """What killed builds of `folder` left behind: its staging folders beside it (an
    old version renamed aside is put back first when the folder itself is missing),
    and hidden temporary files and folders inside it."""
    where = folder.parent
    if not where.is_dir():
        return
    prefix = f".{folder.name}."
    aside = sorted(where.glob(f"{glob_escape(prefix)}old.*.tmp"))
    if aside and not folder.exists():
        with contextlib.suppress(OSError):
            aside.pop().rename(folder)
    for entry in where.glob(f"{glob_escape(prefix)}*.tmp"):
        if ".stage." in entry.name or ".old." in entry.name:
            shutil.rmtree(entry, ignore_errors=True)
    if folder.is_dir():
        for entry in folder.iterdir():
            if _TEMP.match(entry.name) or entry.name.endswith(_FFMPEG_TEMPS):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


# --------------------------------------------------------------------------- locks


_locks_guard = threading.Lock()


def lock_path(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.lock")


@contextmanager
def folder_lock(folder: Path, wait: bool = True,
                waiting: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the lock of `folder` (a hidden file beside it) for the block: builds, shares
    and batch jobs that write one folder take turns, across processes. Reentrant in one
    thread (share builds, then writes, under one lock). With `wait` False, OutputError
    at once when another process holds it; else `waiting(folder)` is called, then this
    waits."""
    path = lock_path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"can't write to {folder.parent}: {exc.strerror or exc}",
                          "check the folder's permissions, or choose another output "
                          "folder") from None
    with _locks_guard:
        lock = filelock.FileLock(path, is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if not wait:
            raise OutputError(f"{folder} is being written by another voiceguide",
                              "wait for it to finish, then try again"
                              ) from None
        if waiting:
            waiting(folder)
        lock.acquire()
    except OSError as exc:
        raise OutputError(f"can't lock {folder}: {exc.strerror or exc}",
                          "check the folder's permissions") from None
    try:
        yield
    finally:
        lock.release()
