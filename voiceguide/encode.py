"""PCM -> audio files through ffmpeg (PCM piped to its stdin), and back for measuring.

MP3 comes out of LAME with its gapless header, so ffmpeg decodes it to exactly the
samples that went in. M4A (AAC) gets its chapters from ffmpeg itself (an ffmetadata
file as a second input); the other formats get theirs from mutagen (tags.py): ffmpeg
writes no ID3 CTOC, and no chapters at all into Ogg Vorbis.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from voiceguide.atomic import temp_path
from voiceguide.errors import EngineError, OutputError, SettingsError
from voiceguide.model import Chapter, Clip, Pcm
from voiceguide.native import FFMPEG_HINT, ffmpeg_exe


@dataclass(frozen=True)
class AudioFormat:
    name: str
    suffix: str
    muxer: str  # ffmpeg's -f
    codec: str
    default_bitrate: str | None  # None: uncompressed
    chapters_by_ffmpeg: bool
    mime: str
    # A fixed gain of the encoder itself: ffmpeg's libmp3lame scales input by 0.95
    # (measured: -0.446 dB on sines of 1, 4 and 8 kHz). Compensated before encoding.
    encoder_gain_db: float = 0.0


FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    AudioFormat("mp3", ".mp3", "mp3", "libmp3lame", "64k", False, "audio/mpeg",
                20 * math.log10(0.95)),
    AudioFormat("m4a", ".m4a", "ipod", "aac", "64k", True, "audio/mp4"),
    AudioFormat("opus", ".opus", "opus", "libopus", "32k", False, "audio/ogg"),
    AudioFormat("ogg", ".ogg", "ogg", "libvorbis", "64k", False, "audio/ogg"),
    AudioFormat("wav", ".wav", "wav", "pcm_s16le", None, False, "audio/wav"),
)}


AUDIO_SUFFIXES = frozenset(f.suffix for f in FORMATS.values())

_BITRATE = re.compile(r"^(\d{1,3})k$")


@dataclass(frozen=True)
class Encoding:
    format: str = "mp3"
    bitrate: str | None = None  # None: the format's default (64k suits a voice in mono)

    def check(self) -> Encoding:
        """Raise SettingsError for an unknown format or an unusable bitrate."""
        if self.format not in FORMATS:
            raise SettingsError(f"unknown format '{self.format}'",
                                f"choose one of {', '.join(FORMATS)}")
        if self.bitrate is not None:
            match = _BITRATE.match(self.bitrate)
            if not match or not 8 <= int(match[1]) <= 320:
                raise SettingsError(f"'{self.bitrate}' is not a bitrate this tool uses",
                                    "write kilobits per second, 8k to 320k, e.g. 64k")
        return self

    @property
    def audio(self) -> AudioFormat:
        return FORMATS[self.format]

    @property
    def effective_bitrate(self) -> str | None:
        if self.audio.default_bitrate is None:
            return None
        return self.bitrate or self.audio.default_bitrate


def _escape_ffmetadata(text: str) -> str:
    for char in ("\\", "=", ";", "#", "\n"):
        text = text.replace(char, "\\" + char)
    return text


def ffmetadata(chapters: Sequence[Chapter]) -> str:
    rows = [";FFMETADATA1"]
    for chapter in chapters:
        rows += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={chapter.start_ms}",
                 f"END={chapter.end_ms}", f"title={_escape_ffmetadata(chapter.title)}"]
    return "\n".join(rows) + "\n"


# What ffmpeg says when the fault is the disk's or the folder's, not the encoder's.
_WRITE_FAULTS = ("No space left on device", "Permission denied", "Read-only file system",
                 "Disk quota exceeded")


def _run_ffmpeg(args: list[str], pieces: Iterable[bytes], name: str) -> None:
    """Run ffmpeg with `pieces` written to its stdin one by one: the audio is never joined
    into one buffer or written to a temporary WAV (what pydub's export does). EngineError
    when the encoder is missing or fails; OutputError when the file can't be written."""
    exe = ffmpeg_exe()
    try:
        proc = subprocess.Popen([exe, "-v", "error", "-nostdin", "-y", *args],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    except OSError as exc:
        raise EngineError(f"ffmpeg ({exe}) could not be started: {exc.strerror or exc}",
                          FFMPEG_HINT) from None
    with proc:
        assert proc.stdin is not None and proc.stderr is not None
        try:
            for piece in pieces:
                proc.stdin.write(piece)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its own message says why
        error = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode == 0:
        return
    fault = next((f for f in _WRITE_FAULTS if f in error), None)
    if fault:
        raise OutputError(f"can't write {name}: {fault}",
                          "check the folder's permissions and free space")
    last = error.splitlines()[-1] if error else f"exit code {proc.returncode}"
    raise EngineError(f"ffmpeg could not encode {name}: {last[-300:]}", FFMPEG_HINT)


def encode(audio: Pcm | Sequence[Pcm], path: Path, encoding: Encoding,
           chapters: Sequence[Chapter] = (), language: str = "eng") -> None:
    """Encode mono PCM (one clip, or clips back to back) to `path` in the chosen format,
    piped to ffmpeg chunk by chunk (see `Pcm`)."""
    clips = list(audio) if isinstance(audio, Sequence) else [audio]
    fmt = encoding.audio
    args = ["-f", "s16le", "-ar", str(clips[0].frame_rate), "-ac", "1", "-i", "pipe:0"]
    meta = temp_path(path.with_name(path.name + ".ffmeta"))
    if fmt.chapters_by_ffmpeg and chapters:
        meta.write_text(ffmetadata(chapters), encoding="utf-8")
        args += ["-i", str(meta), "-map", "0:a", "-map_chapters", "1"]
    args += ["-c:a", fmt.codec, "-ac", "1", "-metadata:s:a:0", f"language={language}"]
    if encoding.effective_bitrate:
        args += ["-b:a", encoding.effective_bitrate]
    if fmt.name == "mp3":
        args += ["-id3v2_version", "0", "-write_xing", "1"]  # tags come from mutagen
    if fmt.name == "m4a":
        args += ["-movflags", "+faststart"]  # playable while it downloads
    try:
        _run_ffmpeg([*args, "-f", fmt.muxer, str(path)],
                    (chunk for c in clips for chunk in c.chunks()), path.name)
    finally:
        meta.unlink(missing_ok=True)


def decode(path: Path, frame_rate: int) -> Clip:
    """Decode any output file back to mono PCM at frame_rate (gapless headers honoured).
    EngineError when it can't be read: the encoder wrote no real audio."""
    return Clip(b"".join(list(decode_chunks(path, frame_rate))), frame_rate)


_READ = 1 << 18  # bytes of decoded PCM read at a time (6 s at 22.05 kHz)


def decode_chunks(path: Path, frame_rate: int) -> Iterator[bytes]:
    """`decode`, a piece at a time as ffmpeg decodes (each a whole number of samples),
    so that a long file can be measured without holding it. EngineError, after the last
    piece, when it can't be read."""
    with tempfile.TemporaryFile() as errors:  # a file: ffmpeg never waits on it
        with subprocess.Popen([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path),
                               "-f", "s16le", "-ac", "1", "-ar", str(frame_rate), "-"],
                              stdout=subprocess.PIPE, stderr=errors) as proc:
            assert proc.stdout is not None
            rest = b""
            while chunk := proc.stdout.read(_READ):
                chunk = rest + chunk
                whole = len(chunk) // 2 * 2
                rest = chunk[whole:]
                if whole:
                    yield chunk[:whole] if rest else chunk
        if proc.returncode != 0:
            errors.seek(0)
            raise EngineError(f"ffmpeg could not read back {path.name}: "
                              f"{errors.read().decode(errors='replace')[-300:]}")
    if rest:
        yield rest
