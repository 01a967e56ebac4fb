"""Memory on long tracks: a track is held once, as the pieces it is made of, and writing
it (normalizing, encoding, decoding and measuring the file) holds no whole copy of it.
Measured with tracemalloc (numpy reports its arrays to it), as a share of the track's
raw PCM: no wall clock, nothing that depends on the machine. What remains is a few
arrays with one value per 32-sample block (the limiter's: 1/16 to 1/8 of the PCM each)
and a few seconds of audio."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_loudness import RATE, speechlike

from voiceguide import mp3join
from voiceguide.export import Publishing, _Audio, _encode_and_measure
from voiceguide.loudness import LoudnessTarget, normalization
from voiceguide.model import Clip, Stitched
from voiceguide.tags import Tags

MINUTES = 8


def long_track(minutes: float = MINUTES) -> Stitched:
    """A track as assembly makes one: a few sentences said over and over, between
    silences that are views of one buffer of zeros."""
    sentences = [speechlike(2.5 + n, 20 + n).tobytes() for n in range(4)]
    zeros = memoryview(bytes(2 * 4 * RATE))
    parts: list[bytes | memoryview] = []
    size, n = 0, 0
    while size < minutes * 60 * RATE * 2:
        parts += [sentences[n % 4], zeros[:2 * RATE * (1 + n % 4)]]
        size += len(parts[-2]) + len(parts[-1])
        n += 1
    return Stitched(parts, RATE)


def traced_peak(work: object) -> int:
    """Bytes allocated at the peak while `work()` runs, above what was held before (the
    libraries imported and their caches filled first)."""
    normalization(long_track(0.2), LoudnessTarget())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_a_track_holds_its_pieces_not_a_copy() -> None:
    track = long_track()
    assert track.samples * 2 == sum(len(p) for p in track.parts)
    assert b"".join(track.chunks()) == track.pcm
    assert traced_peak(long_track) < 0.25 * track.samples * 2  # joined: over 1x


def test_normalizing_a_long_track_holds_no_copy_of_it() -> None:
    track = long_track()
    pcm = track.samples * 2

    def normalize_all() -> None:
        for _ in normalization(track, LoudnessTarget()).chunks():
            pass

    assert traced_peak(normalize_all) < 0.75 * pcm  # the old code: over 2x (two copies)


def test_writing_a_long_track_holds_no_copy_of_it(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Normalized, encoded in pieces, tagged, decoded and measured: the whole of `write`
    for one file. What it holds grows with the track only by the normalization's records
    and the meter's cells (a fifth of its PCM: see loudness.cells_lufs); the rest is a
    few chunks per piece at work, whatever the length. (Before: the normalized track,
    its bytes, the decoded file read whole: over 3x the track's PCM.) Measured at two
    lengths, so the pieces' fixed working set (a few chunks each) does not hide what
    grows."""
    tags = Tags("Long", "Clinic", "Long", 1, 1, "2026", "", "en", b"", "")
    monkeypatch.setattr(mp3join, "PIECE_SECONDS", 15)  # many pieces at either length
    # One piece at a time: pieces at work side by side make the peak depend on how
    # their busiest moments meet (a fixed cost, but not the same at both lengths).
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    peaks, sizes = [], []
    for minutes in (MINUTES / 4, MINUTES / 2):
        track = long_track(minutes)
        job = _Audio((track,), "long.mp3", tags)
        measured: list[object] = []
        peaks.append(traced_peak(lambda job=job, measured=measured: measured.append(
            _encode_and_measure(job, tmp_path / "long.mp3", Publishing())[0])))
        sizes.append(track.samples * 2)
        assert (tmp_path / "long.mp3").stat().st_size > 0 and measured
    growth = (peaks[1] - peaks[0]) / (sizes[1] - sizes[0])
    # Measured 0.19: the normalization's records (see the test above) and the meter's
    # cells grow with the track; a copy of it would add 1 more.
    assert growth < 0.5, f"{growth:.2f} of the added PCM held"


def test_the_same_bytes_as_a_joined_clip() -> None:
    """A Stitched track and the same PCM joined into one clip normalize to the same
    bytes."""
    track = long_track(1)
    joined = Clip(track.pcm, RATE)
    a = b"".join(normalization(track, LoudnessTarget()).chunks())
    b = b"".join(normalization(joined, LoudnessTarget()).chunks())
    assert a == b and np.frombuffer(a, dtype="<i2").any()
