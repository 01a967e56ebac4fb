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

The joined stream's Info (Xing/LAME) frame gets the new frame and byte counts, the first
track's delay and the last track's padding; ffmpeg then copies the frames into the final
file (`-c copy`), writing a fresh seek table and the LAME checksums itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def split_points(silent: np.ndarray, frame_rate: int, parts: int) -> list[int]:
    """Where to cut a track into up to `parts` pieces of about equal length that can be
    encoded apart and joined frame by frame (`can_join`): the sample of a frame edge with
    join_silence silent samples on both sides, nearest to each equal share. `silent`
    says of each whole frame of the track whether it is all zeros. Fewer cuts (none)
    when the track has fewer such silences."""
    frame = frame_samples(frame_rate)
    reach = -(-join_silence(frame_rate) // frame)  # whole silent frames on each side
    if silent.size < 2 * reach:
        return []
    quiet = np.lib.stride_tricks.sliding_window_view(silent, 2 * reach).all(axis=1)
    edges = np.flatnonzero(quiet) + reach  # frame edges with room both sides
    cuts: list[int] = []
    for share in range(1, parts):
        if edges.size == 0:
            break
        best = int(edges[np.abs(edges - silent.size * share / parts).argmin()])
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
    first, last = streams[0], streams[-1]
    for stream in streams:
        if stream.info[1:4] != first.info[1:4] or stream.delay != first.delay:
            raise CannotJoin("the tracks' MP3 streams differ in format: can't join them")
    for stream in streams[1:]:
        if stream.frames and _main_data_begin(stream.frames[0]):
            raise CannotJoin("a track's first MP3 frame borrows from earlier frames")
    frames: list[bytes] = []
    for stream in streams[:-1]:
        if stream.samples % stream.spf:
            raise CannotJoin("a track is not a whole number of MP3 frames long")
        frames.extend(stream.frames[:stream.samples // stream.spf])
    frames.extend(last.frames)
    return _info_frame(first.info, frames, first.delay, last.padding) + b"".join(frames)


def _info_frame(template: bytes, frames: Sequence[bytes], delay: int, padding: int) -> bytes:
    """A copy of `template` (an ffmpeg Info frame) with the frame and byte counts, delay
    and padding of `frames`: what a decoder needs to trim the joined stream exactly.
    The seek table and checksums are left for ffmpeg to rewrite (encode.remux_mp3)."""
    info = bytearray(template)
    tag = _info_offset(template)
    if int.from_bytes(info[tag + 4:tag + 8], "big") & 3 != 3:
        raise CannotJoin("the encoder wrote an Info frame without frame and byte counts")
    total = len(info) + sum(len(f) for f in frames)
    info[tag + 8:tag + 12] = len(frames).to_bytes(4, "big")
    info[tag + 12:tag + 16] = total.to_bytes(4, "big")
    info[tag + _LAME_DELAY:tag + _LAME_DELAY + 3] = (delay << 12 | padding).to_bytes(3, "big")
    return bytes(info)
