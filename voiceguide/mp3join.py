"""The full routine's MP3 made from its tracks' MP3 frames, so the audio is encoded once.

Hand-written because no library joins LAME streams sample-exactly: ffmpeg's concat keeps
every file's encoder delay and padding (about 50 ms of extra audio at each join).

Why a plain join of frames is exact here. A track's own stream decodes its sample k at
position k + delay; in the full routine the track's first sample is at S, decoded at
S + delay. When every track but the last is a whole number of frames long, the track's
frame n lands exactly on the full routine's frame S/frame + n, so its first len/frame
frames are the full routine's frames for that stretch. What the cut drops (the track's
last frames, holding its final samples and its padding) and what the next track's first
frames hold instead (its encoder delay) are all digital silence when the track ends in
silence and the next one starts in silence (else the next track's pre-echo, trimmed from
its own file, would sound in the join): LAME codes silence as zeros and the decoder's
overlap and filter memories stay zero, so the next track starts from the same state as
in its own file. Its first frame
borrows nothing from earlier frames (main_data_begin is 0), so the bit reservoir is safe.
The caller checks the silence (`can_join`); tests check decoded full == decoded tracks.

The joined stream's Info (Xing/LAME) frame gets what ffmpeg writes when it finishes a
file: the frame and byte counts, the first track's delay and the last track's padding, a
seek table, the music's length and CRC, and the tag's CRC. The music CRC is not computed
over the joined bytes again (a pure-Python CRC of 8 MB takes seconds): CRCs combine, so
it comes from each stream's own, less its dropped frames (`_music_crc`).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING, BinaryIO

from voiceguide.lazy import LazyModule

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it


class CannotJoin(ValueError):
    """These streams can't be joined frame by frame: encode the full routine instead."""


# MPEG version bits -> (bitrate table in kbit/s for Layer III, sample rates)
_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# The LAME tag's 12-bit delay and padding: after the Info id's 120 bytes of Xing fields
# (id, flags, frames, bytes, seek table, quality) and 21 bytes of the LAME tag.
_LAME_DELAY = 0x8D
_TOC = 16  # the seek table: 100 bytes after the Xing id, flags, frames and bytes
_MUSIC_LENGTH = 0x94  # the LAME tag's music length (4 bytes), music CRC and tag CRC (2)
_MUSIC_CRC = 0x98
_TAG_CRC = 0x9A
_TAG_CRC_SPAN = 190  # the tag CRC covers the Info frame's first 190 bytes


def frame_samples(frame_rate: int) -> int:
    """Samples in one MP3 frame: 1152 for MPEG-1 rates, 576 for the lower ones."""
    return 1152 if frame_rate >= 32000 else 576


def join_silence(frame_rate: int) -> int:
    """Silent samples a track must end with for the join to be exact: the decoder's
    delay (529) plus the encoder's (one frame), and two frames for the overlap and the
    filter bank, which reach a frame either way."""
    return 529 + 3 * frame_samples(frame_rate)


def can_join(pcm: bytes, frame_rate: int, first: bool, last: bool) -> bool:
    """Whether a track's PCM may be joined frame by frame to its neighbours: a whole
    number of frames long (but the last), and silent where it meets them."""
    samples = np.frombuffer(pcm, dtype="<i2")
    edge = join_silence(frame_rate)
    if samples.size < 2 * edge:
        return False
    return ((last or (samples.size % frame_samples(frame_rate) == 0
                      and not samples[-edge:].any()))
            and (first or not samples[:edge].any()))


# What a frame of digital silence costs to encode, decode and measure, against a frame
# of speech (LAME: 0.06 s of CPU for a minute of zeros, 0.26 s for a minute of speech).
_SILENT_WORK = 0.25
# A piece's work, in seconds of speech: a 3-minute track is two or three pieces, so an
# edit's one changed track keeps two cores busy; a piece costs about 40 ms more (an
# encoder and a decoder started).
PIECE_SECONDS = 60


def split_points(silent: np.ndarray, frame_rate: int) -> list[int]:
    """Where to cut a track into pieces of about PIECE_SECONDS of work that can be
    encoded apart and joined frame by frame (`can_join`): the sample of a frame edge with
    join_silence silent samples on both sides, nearest to each equal share of the work
    (silence is quick to encode). `silent` says of each whole frame of the track whether
    it is all zeros. It depends on the track alone, so a track is always cut the same
    way; fewer cuts (none) when it has fewer such silences."""
    frame = frame_samples(frame_rate)
    reach = -(-join_silence(frame_rate) // frame)  # whole silent frames on each side
    if silent.size < 2 * reach:
        return []
    quiet = np.lib.stride_tricks.sliding_window_view(silent, 2 * reach).all(axis=1)
    edges = np.flatnonzero(quiet) + reach  # frame edges with room both sides
    work = np.concatenate([[0.0], np.cumsum(np.where(silent, _SILENT_WORK, 1.0))])
    parts = max(round(work[-1] * frame / frame_rate / PIECE_SECONDS), 1)
    cuts: list[int] = []
    for share in range(1, parts):
        if edges.size == 0:
            break
        best = int(edges[np.abs(work[edges] - work[-1] * share / parts).argmin()])
        if (not cuts or best > cuts[-1]) and 0 < best < silent.size:
            cuts.append(best)
    return [cut * frame for cut in cuts]


@dataclass(frozen=True)
class Stream:
    """One LAME MP3 stream: its Info frame and audio frames (ID3 tags left out)."""

    info: bytes
    frames: tuple[bytes, ...]
    spf: int  # samples per frame
    delay: int  # encoder delay, samples (the decoder adds 529 of its own)
    padding: int

    @property
    def samples(self) -> int:
        return len(self.frames) * self.spf - self.delay - self.padding


def _frame_length(header: bytes) -> tuple[int, int]:
    """(bytes, samples) of the Layer III frame whose header this is."""
    if header[0] != 0xFF or header[1] & 0xE0 != 0xE0 or (header[1] >> 1) & 3 != 1:
        raise CannotJoin("not a Layer III frame")
    version = (header[1] >> 3) & 3
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or bitrate_index in (0, 15) or rate_index == 3:
        raise CannotJoin("a free-format or reserved frame")
    rate = _RATES[version][rate_index]
    if version == 3:
        return 144_000 * _MPEG1_KBPS[bitrate_index] // rate + (header[2] >> 1 & 1), 1152
    return 72_000 * _MPEG2_KBPS[bitrate_index] // rate + (header[2] >> 1 & 1), 576


def _side_info_size(header: bytes) -> int:
    mono = header[3] >> 6 == 3
    if (header[1] >> 3) & 3 == 3:
        return 17 if mono else 32
    return 9 if mono else 17


def read_stream(data: bytes) -> Stream:
    """Split an MP3 file written by ffmpeg/LAME into its Info frame and audio frames."""
    position = 0
    if data[:3] == b"ID3":  # ID3v2: a 10-byte header and a syncsafe size
        position = 10 + sum((byte & 0x7F) << (7 * (3 - n)) for n, byte in
                            enumerate(data[6:10]))
    frames = []
    while position + 4 <= len(data) and data[position:position + 3] != b"TAG":
        length, spf = _frame_length(data[position:position + 4])
        frames.append(data[position:position + length])
        position += length
    if not frames:
        raise CannotJoin("no MP3 frames")
    info = frames[0]
    tag = _info_offset(info)
    delays = int.from_bytes(info[tag + _LAME_DELAY:tag + _LAME_DELAY + 3], "big")
    return Stream(info, tuple(frames[1:]), spf, delays >> 12, delays & 0xFFF)


def _info_offset(frame: bytes) -> int:
    """Where the Xing/Info id sits in the stream's first frame."""
    for name in (b"Info", b"Xing"):
        if (offset := frame.find(name, 4, 40)) >= 0:
            return offset
    raise CannotJoin("no Info/LAME frame: the file has no gapless header")


def _main_data_begin(frame: bytes) -> int:
    """Where the frame's audio data starts, in bytes before it (the bit reservoir)."""
    if (frame[1] >> 3) & 3 == 3:
        return int.from_bytes(frame[4:6], "big") >> 7  # 9 bits on MPEG-1
    return frame[4]  # 8 bits on MPEG-2 and 2.5


def join(streams: Sequence[Stream]) -> bytes:
    """The streams one after another, gapless; see the module's docstring for when this
    is exact. Raises CannotJoin when the streams can't be joined."""
    out = io.BytesIO()
    write_joined(iter(streams), out)
    return out.getvalue()


def write_joined(streams: Iterator[Stream], out: BinaryIO) -> int:
    """`join` written to `out` (at its start: a new file) a stream at a time, so only one
    is held (`streams` may read each file as it is asked for); the Info frame, which
    counts them all, is written last over its place. Returns the joined length in
    samples, as the Info frame gives it. Raises CannotJoin when the streams can't be
    joined (`out` then holds part of them)."""
    first = next(streams)
    out.write(bytes(len(first.info)))  # the Info frame's place
    lengths: list[int] = []  # of every frame written
    crc, last, n = 0, first, 0
    for stream in itertools.chain([first], streams):
        if stream.info[1:4] != first.info[1:4] or stream.delay != first.delay:
            raise CannotJoin("the tracks' MP3 streams differ in format: can't join them")
        if n and stream.frames and _main_data_begin(stream.frames[0]):
            raise CannotJoin("a track's first MP3 frame borrows from earlier frames")
        if n and last.samples % last.spf:  # every stream but the last: whole frames
            raise CannotJoin("a track is not a whole number of MP3 frames long")
        if n:  # the stream before, now known not to be the last, loses its padding frames
            _write_frames(out, last, last.samples // last.spf, lengths)
            crc = _shifted(crc, sum(lengths[len(lengths) - last.samples // last.spf:])) ^ \
                _music_crc(last, last.samples // last.spf)
        last, n = stream, n + 1
    _write_frames(out, last, len(last.frames), lengths)
    crc = _shifted(crc, sum(lengths[len(lengths) - len(last.frames):])) ^ \
        _music_crc(last, len(last.frames))
    info = _info_frame(first.info, lengths, first.delay, last.padding, crc)
    out.seek(0)
    out.write(info)
    return len(lengths) * first.spf - first.delay - last.padding


def _write_frames(out: BinaryIO, stream: Stream, count: int, lengths: list[int]) -> None:
    used = stream.frames[:count]
    out.writelines(used)
    lengths.extend(len(f) for f in used)


def _info_frame(template: bytes, lengths: Sequence[int], delay: int, padding: int,
                music_crc: int) -> bytes:
    """A copy of `template` (an ffmpeg Info frame) describing frames of these `lengths`
    as ffmpeg does: frame and byte counts, seek table, delay and padding (what a decoder
    needs to trim the joined stream exactly), music length and CRC, and the tag's own
    CRC."""
    info = bytearray(template)
    tag = _info_offset(template)
    if int.from_bytes(info[tag + 4:tag + 8], "big") & 7 != 7:
        raise CannotJoin("the encoder wrote an Info frame without counts and seek table")
    starts = [0, *accumulate(lengths)]  # of each frame, after the Info frame
    total = len(info) + starts[-1]
    info[tag + 8:tag + 12] = len(lengths).to_bytes(4, "big")
    info[tag + 12:tag + 16] = total.to_bytes(4, "big")
    # Entry i: where i% of the frames are, in 256ths of the file (the first is 0).
    info[tag + _TOC:tag + _TOC + 100] = bytes(
        min(255, (len(info) + starts[i * len(lengths) // 100]) * 256 // total) if i else 0
        for i in range(100))
    info[tag + _LAME_DELAY:tag + _LAME_DELAY + 3] = (delay << 12 | padding).to_bytes(3, "big")
    info[tag + _MUSIC_LENGTH:tag + _MUSIC_LENGTH + 4] = total.to_bytes(4, "big")
    info[tag + _MUSIC_CRC:tag + _MUSIC_CRC + 2] = music_crc.to_bytes(2, "big")
    info[tag + _TAG_CRC:tag + _TAG_CRC + 2] = b"\0\0"
    info[tag + _TAG_CRC:tag + _TAG_CRC + 2] = crc16(info[:_TAG_CRC_SPAN]).to_bytes(2, "big")
    return bytes(info)


# The LAME tag's CRCs are CRC-16/ARC (polynomial 0x8005, reflected, starting at 0), the
# CRC ffmpeg calls AV_CRC_16_ANSI_LE. Hand-written: the standard library has only CRC-32
# and CRC-CCITT, and a stream's CRC is only ever computed here over a few kilobytes.
@lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = crc >> 1 ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def crc16(data: bytes | bytearray, crc: int = 0) -> int:
    table = _crc_table()
    for byte in data:
        crc = crc >> 8 ^ table[(crc ^ byte) & 0xFF]
    return crc


def _shifted(crc: int, count: int) -> int:
    """The CRC of the same bytes followed by `count` more that are zero bytes. Feeding a
    zero byte is a linear map of the 16-bit CRC, so `count` of them are that map's
    power: squared log2(count) times (as zlib's crc32_combine does), not fed one by one.
    Then CRC(a + b) = _shifted(CRC(a), len(b)) ^ CRC(b)."""
    table = _crc_table()
    step = [bit >> 8 ^ table[bit & 0xFF] for bit in (1 << i for i in range(16))]

    def applied(columns: list[int], value: int) -> int:
        out = 0
        for i, column in enumerate(columns):
            if value >> i & 1:
                out ^= column
        return out

    while count:
        if count & 1:
            crc = applied(step, crc)
        count >>= 1
        if count:
            step = [applied(step, column) for column in step]
    return crc


def _unshifted(crc: int, count: int) -> int:
    """The inverse of `_shifted`: the CRC of the bytes before `count` zero bytes. One
    zero byte maps c to (c >> 8) ^ T[c & 0xFF], and T's high bytes are all different, so
    the low byte of c is read off the result's high byte."""
    table = _crc_table()
    low_of = {entry >> 8: byte for byte, entry in enumerate(table)}
    for _ in range(count):
        low = low_of[crc >> 8]
        crc = ((crc ^ table[low]) & 0xFF) << 8 | low
    return crc


def _music_crc(stream: Stream, used: int) -> int:
    """The music CRC of the stream's first `used` frames, from the one its Info frame
    holds for all of them: CRC(all) = _shifted(CRC(used), len(rest)) ^ CRC(rest)."""
    tag = _info_offset(stream.info)
    whole = int.from_bytes(stream.info[tag + _MUSIC_CRC:tag + _MUSIC_CRC + 2], "big")
    rest = b"".join(stream.frames[used:])
    return _unshifted(whole ^ crc16(rest), len(rest))
