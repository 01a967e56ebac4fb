"""Native parts that ship as wheels: libespeak-ng (espeakng-loader) and ffmpeg
(imageio-ffmpeg), with the system ones as fallbacks. Nothing here needs apt.

Nothing happens at import: the library is loaded, the environment and pydub's converter
are set, only when a caller asks (`load_espeak`, `import_pydub`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import warnings
from types import ModuleType

from voiceguide.errors import EngineError

ESPEAK_HINT = "install it with `pip install espeakng-loader`, or the OS package espeak-ng"
FFMPEG_HINT = "install it with `pip install imageio-ffmpeg`, or the OS package ffmpeg"

# System library names, in the order pyttsx3 itself tries them.
_SYSTEM_ESPEAK = ("libespeak-ng.so.1", "libespeak-ng.1.dylib", "libespeak-ng.dll")

_espeak: ctypes.CDLL | None = None


def load_espeak() -> ctypes.CDLL:
    """Load libespeak-ng once per process and return its handle.

    Must run before pyttsx3 loads its driver: the wheel's library is loaded with
    RTLD_GLOBAL under its soname `libespeak-ng.so.1`, so pyttsx3's later
    `dlopen("libespeak-ng.so.1")` gets this same copy (and its data) instead of failing.
    """
    global _espeak
    if _espeak is None:
        _espeak = _load_bundled_espeak() or _load_system_espeak()
    return _espeak


def _load_bundled_espeak() -> ctypes.CDLL | None:
    try:
        import espeakng_loader
    except ImportError:
        return None
    # Without a data path the library looks for its data where the wheel was built. A
    # path the user set is theirs to keep (their own voices, a newer data set).
    os.environ.setdefault("ESPEAK_DATA_PATH", espeakng_loader.get_data_path())
    try:
        return ctypes.CDLL(espeakng_loader.get_library_path(), mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return None  # a broken wheel: a system copy may still work


def _load_system_espeak() -> ctypes.CDLL:
    found = ctypes.util.find_library("espeak-ng")
    for name in (*_SYSTEM_ESPEAK, *((found,) if found else ())):
        try:
            return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
    raise EngineError("the espeak-ng speech library was not found", hint=ESPEAK_HINT)


def ffmpeg_exe() -> str:
    """Path of an ffmpeg that can encode MP3: the imageio-ffmpeg one, else PATH's."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        pass  # not installed, or its binary is missing for this platform
    found = shutil.which("ffmpeg")
    if found is None:
        raise EngineError("ffmpeg (the MP3 encoder) was not found", hint=FFMPEG_HINT)
    return found


def import_pydub(converter: bool = True) -> ModuleType:
    """Import pydub set up to use `ffmpeg_exe()` (without `converter`, for work in memory
    only, as assembling a track is: finding ffmpeg cost about 0.05 s of a rebuild that
    has nothing to do).

    pydub warns at import when no ffmpeg is on PATH (ours is not) and about `audioop`
    on Python 3.11-3.12; the test suite turns warnings into errors, so these known,
    harmless ones are silenced for the import only. Load only WAV with it: its MP3
    loading needs ffprobe, which imageio-ffmpeg does not ship.
    """
    exe = ffmpeg_exe() if converter else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Couldn't find ff", RuntimeWarning)
        warnings.filterwarnings("ignore", ".*audioop", DeprecationWarning)
        warnings.filterwarnings("ignore", "invalid escape sequence", SyntaxWarning)
        import pydub
    if exe is not None:
        pydub.AudioSegment.converter = exe
    module: ModuleType = pydub
    return module
