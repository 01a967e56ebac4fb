"""PCM -> audio files through ffmpeg (via pydub's export), and back for measuring.

MP3 comes out of LAME with its gapless header, so ffmpeg decodes it to exactly the
samples that went in. M4A (AAC) gets its chapters from ffmpeg itself (an ffmetadata
file as a second input); the other formats get theirs from mutagen (tags.py): ffmpeg
writes no ID3 CTOC, and no chapters at all into Ogg Vorbis.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voiceguide.engines.bundled import ffmpeg_exe, import_pydub
from voiceguide.errors import EngineError, SettingsError
from voiceguide.model import Chapter, Clip


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


def encode(clip: Clip, path: Path, encoding: Encoding, chapters: Sequence[Chapter] = (),
           language: str = "eng") -> None:
    """Encode mono PCM to `path` in the chosen format."""
    audio = encoding.audio
    pydub = import_pydub()
    segment = pydub.AudioSegment(data=clip.pcm, sample_width=2, frame_rate=clip.frame_rate,
                                 channels=1)
    params: list[str] = []
    meta = path.with_name(path.name + ".ffmeta")
    if audio.chapters_by_ffmpeg and chapters:
        meta.write_text(ffmetadata(chapters), encoding="utf-8")
        # Inputs come before output options: pydub puts `parameters` after its own input.
        params += ["-i", str(meta), "-map", "0:a", "-map_chapters", "1"]
    params += ["-c:a", audio.codec, "-ac", "1", "-metadata:s:a:0", f"language={language}"]
    if encoding.effective_bitrate:
        params += ["-b:a", encoding.effective_bitrate]
    if audio.name == "mp3":
        params += ["-id3v2_version", "0", "-write_xing", "1"]  # tags come from mutagen
    if audio.name == "m4a":
        params += ["-movflags", "+faststart"]  # playable while it downloads
    try:
        segment.export(str(path), format=audio.muxer, parameters=params).close()
    except pydub.exceptions.CouldntEncodeError as exc:
        raise EngineError(f"ffmpeg could not encode {path.name}: {str(exc)[-400:]}",
                          "check that imageio-ffmpeg is installed: pip install imageio-ffmpeg"
                          ) from None
    finally:
        meta.unlink(missing_ok=True)


def decode(path: Path, frame_rate: int) -> Clip:
    """Decode any output file back to mono PCM at frame_rate (gapless headers honoured)."""
    result = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le",
                             "-ac", "1", "-ar", str(frame_rate), "-"], capture_output=True,
                            check=False)
    if result.returncode != 0:
        raise EngineError(f"ffmpeg could not read back {path.name}: "
                          f"{result.stderr.decode(errors='replace')[-300:]}")
    return Clip(result.stdout, frame_rate)
