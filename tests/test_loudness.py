"""The loudness measurements against brute force and pyloudnorm: the shortcuts taken
for speed (oversampling only where a peak can matter, as a matrix product; metering in
pieces; settled digital silence skipped) must give the same figures as doing all the
work. Then the README's loudness figures, on real files."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import scipy.ndimage
import scipy.signal
from audio import decode, ebur128, load_manifest
from audio import pyloudnorm_lufs as file_lufs
from conftest import REPO, VOICEGUIDE
from scipy.signal import resample_poly

from voiceguide import background, loudness, sounds
from voiceguide.loudness import (
    BLOCK,
    OVERSAMPLE,
    LoudnessMeter,
    LoudnessTarget,
    TruePeakMeter,
    _k_weighting,
    block_peaks,
    k_weighted,
    measure,
    measure_pieces,
    normalization,
    normalize,
    program_lufs,
    pyloudnorm_lufs,
    streamed_lufs,
    true_peak_db,
)
from voiceguide.model import Clip

RATE = 22050
README = (REPO / "README.md").read_text(encoding="utf-8")


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Bursts of noisy tones at varied levels between silences, as int16."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE))
    position = 0
    while position < out.size:
        length = int(rng.uniform(0.2, 2.0) * RATE)
        t = np.arange(min(length, out.size - position)) / RATE
        level = 10 ** (rng.uniform(-30, -3) / 20)
        burst = np.sin(2 * np.pi * rng.uniform(100, 4000) * t + rng.uniform(0, 6))
        out[position:position + t.size] = level * burst * (1 + 0.2 * rng.standard_normal(t.size))
        position += t.size + int(rng.uniform(0.1, 1.5) * RATE)
    return np.clip(np.round(out * 32767), -32768, 32767).astype("<i2")


def exact_block_peaks(samples: np.ndarray) -> np.ndarray:
    """Everything oversampled at once: the slow, obvious way."""
    x = samples.astype(np.float64) / 32768
    up = np.abs(resample_poly(x, OVERSAMPLE, 1))
    blocks = -(-x.size // BLOCK)
    own = np.pad(np.abs(x), (0, blocks * BLOCK - x.size)).reshape(-1, BLOCK).max(axis=1)
    up = np.pad(up, (0, blocks * BLOCK * OVERSAMPLE - up.size))
    return np.maximum(up.reshape(blocks, -1).max(axis=1), own)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_true_peak_equals_oversampling_everything(seed: int) -> None:
    samples = speechlike(40, seed)
    exact = exact_block_peaks(samples)
    assert true_peak_db(samples) == pytest.approx(20 * math.log10(exact.max()), abs=1e-3)


def test_intersample_peaks_are_found() -> None:
    """A quarter-rate sine sampled 45 degrees off its crests: every sample is at 0.707 of
    the crest, the oversampled peak is at the crest (+3 dB)."""
    t = np.arange(RATE)
    x = 0.5 * np.sin(2 * np.pi * t / 4 + np.pi / 4)
    samples = np.round(x * 32767).astype("<i2")
    assert 20 * math.log10(np.abs(samples).max() / 32768) == pytest.approx(-9.03, abs=0.05)
    assert true_peak_db(samples) == pytest.approx(-6.02, abs=0.2)  # filter ripple


def test_blocks_under_the_floor_get_an_upper_bound_and_the_rest_are_exact() -> None:
    samples = speechlike(30, 4)
    exact = exact_block_peaks(samples)
    floor = 10 ** (-12 / 20)
    quick = block_peaks(samples, floor)
    assert np.all(quick >= exact - 1e-5)  # never below the truth
    above = quick >= floor
    assert 0 < above.sum() < quick.size  # the shortcut did skip something
    assert np.allclose(quick[above], exact[above], atol=1e-5)


def test_metering_in_pieces_equals_metering_at_once_and_pyloudnorm() -> None:
    samples = speechlike(60, 5)
    meter = LoudnessMeter(RATE)
    for piece in np.array_split(samples, [12345, 12346, 400000, 700001]):
        meter.feed(piece)
    whole = program_lufs(samples, RATE)
    assert meter.lufs() == pytest.approx(whole, abs=1e-4)
    reference = pyloudnorm.Meter(RATE).integrated_loudness(samples.astype(np.float64) / 32768)
    assert whole == pytest.approx(reference, abs=0.05)


def test_normalize_reaches_the_target_under_the_ceiling() -> None:
    clip = Clip(speechlike(60, 6).tobytes(), RATE)
    target = LoudnessTarget(-16, -1)
    out = np.frombuffer(normalize(clip, target, margin_db=1.3).pcm, dtype="<i2")
    assert program_lufs(out, RATE) == pytest.approx(-16, abs=0.2)
    assert 20 * math.log10(exact_block_peaks(out).max()) <= -1 - 1.3 + 0.05


def test_each_engine_is_limited_with_its_own_encoder_margin() -> None:
    """The export limits by the engine's margin (Piper's, wider: LAME overshoots its
    voice more), so that its files need no second encode."""
    from voiceguide.engines.piper_engine import PiperEngine
    from voiceguide.export import Publishing, _normalized

    assert PiperEngine.encoder_margin_db is not None
    assert PiperEngine.encoder_margin_db > loudness.ENCODER_MARGIN_DB
    samples = (speechlike(30, 5) // 8).astype("<i2")  # quiet (-28 LUFS), with clicks at
    samples[RATE::3 * RATE] = 32767  # full scale: raised 12 dB, the limiter must act
    clip = Clip(samples.tobytes(), RATE)
    gain = Publishing().encoding.audio.encoder_gain_db  # aimed for LAME's fixed gain
    for margin in (None, 3.0):
        (normalized,) = _normalized([clip], Publishing(encoder_margin_db=margin))
        out = np.frombuffer(normalized.clip().pcm, dtype="<i2")
        ceiling = -1 - (loudness.ENCODER_MARGIN_DB if margin is None else margin) - gain
        assert 20 * math.log10(exact_block_peaks(out).max()) == pytest.approx(ceiling, abs=0.1)


CUTS = [0, 1, 2047, 70000, 70001, 300000, 440999, 661499]


def pieces_of(samples: np.ndarray) -> list[np.ndarray]:
    return np.array_split(samples, [c for c in CUTS if c < samples.size])


@pytest.mark.parametrize("seed", [7, 8])
def test_measuring_in_pieces_is_measuring_at_once_to_the_bit(seed: int) -> None:
    """Pieces cut anywhere (a decoder's reads) give the very figures of the whole: the
    loudness through the same 10 s pieces, the true peak window by window."""
    samples = speechlike(70, seed)
    samples[: 3 * RATE] = 0  # leading silence: oversampled before any sound is seen
    whole = measure(Clip(samples.tobytes(), RATE))
    assert measure_pieces(pieces_of(samples), RATE)[0] == whole
    assert streamed_lufs(pieces_of(samples), RATE) == whole.lufs
    meter = TruePeakMeter()
    for piece in pieces_of(samples):
        meter.feed(piece)
    assert meter.db() == whole.true_peak_db == true_peak_db(samples)


def test_true_peak_meter_of_silence_and_of_short_audio() -> None:
    for samples in (np.zeros(0, dtype="<i2"), np.zeros(5 * RATE, dtype="<i2"),
                    speechlike(0.01, 9), speechlike(2, 9)):
        meter = TruePeakMeter()
        meter.feed(samples)
        assert meter.db() == true_peak_db(samples)


def test_normalized_in_chunks_is_normalize() -> None:
    """The chunks the encoder is given are the clip `normalize` makes, byte for byte."""
    clip = Clip(speechlike(40, 10).tobytes(), RATE)
    target = LoudnessTarget(-16, -1)
    made = normalization(clip, target)
    assert b"".join(made.chunks()) == made.clip().pcm == normalize(clip, target).pcm
    assert made.gain is not None and made.samples == clip.samples
    quiet = Clip(bytes(2 * RATE), RATE)
    assert b"".join(normalization(quiet, target).chunks()) == quiet.pcm


def test_normalization_lands_on_the_target_filtering_each_track_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the limiter works hard, each dB of gain adds well under a dB of loudness.
    Plain steps of the error took 41 metering passes on these 12 tracks and missed the
    target by more than 0.05 LU on 4 of them (by up to 0.63); secant steps, each try
    measured, took 36. Searching on the loudness predicted from the block energies, each
    track is filtered once, and lands."""
    filtered = 0

    def counted(frame_rate: int, samples: np.ndarray, state: np.ndarray) -> Any:
        nonlocal filtered
        filtered += samples.size
        return k_weighted(frame_rate, samples, state)

    monkeypatch.setattr(loudness, "k_weighted", counted)
    misses, limited, fed = [], 0, 0
    for divide, target in [(3, -12), (6, -14), (2, -10)]:
        for seed in range(4):
            samples = speechlike(30, seed) // divide
            made = normalization(Clip(samples.tobytes(), RATE), LoudnessTarget(target, -1))
            fed += samples.size
            limited += made.curve is not None
            out = np.frombuffer(made.clip().pcm, dtype="<i2")
            misses.append(abs(program_lufs(out, RATE) - target))
    assert limited >= 8, "the limiter had work to do"
    assert filtered == 2 * fed  # once in normalization, once in program_lufs above
    assert max(misses) < 0.05, misses


def test_the_predicted_loudness_is_close_to_the_measured(seed: int = 3) -> None:
    """The search's prediction (block energies times the limiter's gain, unfiltered)
    against the meter on the limited audio itself, from light to hard limiting."""
    samples = speechlike(30, seed) // 2
    clip = Clip(samples.tobytes(), RATE)
    meter = LoudnessMeter(RATE, block_energies=True)
    meter.feed(samples)
    assert meter.predicted_lufs(1.0, None) == pytest.approx(meter.lufs(), abs=1e-9)
    assert meter.predicted_lufs(2.0, None) == pytest.approx(meter.lufs() + 6.0206, abs=1e-4)
    peaks = loudness.block_peaks(samples)
    radius = RATE * loudness.LIMITER_RADIUS_MS // 1000 // loudness.BLOCK
    for gain_db in (0, 6, 12, 18):
        gain = 10 ** (gain_db / 20)
        curve = loudness.limiter_curve(peaks * gain, 10 ** (-2.3 / 20), radius)
        measured = streamed_lufs(loudness._limited(loudness.arrays(clip), gain, curve), RATE)
        assert curve is not None or gain_db == 0
        assert meter.predicted_lufs(gain, curve) == pytest.approx(measured, abs=0.01)


# --------------------------------------------------------------------------- real files
# What the README promises of the files, measured on real builds with the real voice by
# readers other than voiceguide's meter: pyloudnorm on the decoded file, ffmpeg's ebur128.

CLOSE_LU = 0.15  # MP3, Vorbis, WAV: the README's "within 0.15 LU"
PROMISED_LU = 0.5  # every file: beyond it a file is encoded again


def check_file(path: Path, lufs: float, peak: float, manifest: dict[str, Any],
               within: float = CLOSE_LU) -> float:
    """The file at `lufs` within `within` LU and under `peak` dBTP, as the manifest says
    and as pyloudnorm and ffmpeg measure it; returns the error (negative: quieter)."""
    measured = file_lufs(path)
    assert measured == pytest.approx(manifest["integrated_lufs"], abs=0.02), path.name
    assert abs(manifest["integrated_lufs"] - lufs) <= within, (path.name, manifest)
    assert manifest["true_peak_dbtp"] <= peak, (path.name, manifest)
    ffmpeg_lufs, ffmpeg_peak = ebur128(path)
    assert abs(ffmpeg_lufs - lufs) <= within, (path.name, ffmpeg_lufs)
    assert ffmpeg_peak <= peak, (path.name, ffmpeg_peak)
    return float(manifest["integrated_lufs"]) - lufs


@pytest.mark.e2e
def test_the_default_routine_is_as_loud_as_the_readme_says(quickstart: Path) -> None:
    manifest = load_manifest(quickstart)
    entries = [*manifest["tracks"], manifest["routine"]]
    for entry in entries:
        check_file(quickstart / entry["file"], -16, -1, entry["loudness"])
    said = re.search(r"The\s+default routine measures (-[\d.]+) to (-[\d.]+) LUFS per file "
                     r"\(the full routine (-[\d.]+)\), true\s+peaks between (-[\d.]+) and "
                     r"(-[\d.]+) dBTP", " ".join(README.split()))
    assert said, "the README's figures for the default routine"
    low, high, full, peak_low, peak_high = map(float, said.groups())
    lufs = [e["loudness"]["integrated_lufs"] for e in entries]
    peaks = [e["loudness"]["true_peak_dbtp"] for e in entries]
    figures = (min(lufs), max(lufs), manifest["routine"]["loudness"]["integrated_lufs"],
               min(peaks), max(peaks))
    # the build is deterministic; one step of rounding of slack for another CPU
    assert figures == pytest.approx((*sorted((low, high)), full, *sorted((peak_low, peak_high))),
                                    abs=0.011)


def build_outro(tmp_path: Path, *options: str) -> tuple[Path, dict[str, Any]]:
    """The bundled outro technique, built with the real voice as a user would; its file
    and the file's loudness from the manifest."""
    result = subprocess.run([VOICEGUIDE, "build", "outro", "--scripts", str(REPO / "scripts"),
                             "--out", str(tmp_path), *options], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    manifest = load_manifest(tmp_path / "outro")
    return tmp_path / "outro" / manifest["routine"]["file"], manifest["routine"]["loudness"]


@pytest.mark.e2e
@pytest.mark.parametrize("audio_format", ["mp3", "m4a", "opus", "ogg", "wav"])
def test_every_format_is_at_the_target_under_the_ceiling(tmp_path: Path,
                                                         audio_format: str) -> None:
    path, loudness = build_outro(tmp_path, "--format", audio_format)
    assert path.suffix == f".{audio_format}"
    if audio_format in ("m4a", "opus"):  # the README: a little under the target
        error = check_file(path, -16, -1, loudness, within=PROMISED_LU)
        assert -PROMISED_LU <= error <= 0
    else:
        check_file(path, -16, -1, loudness)


@pytest.mark.e2e
def test_another_target_and_ceiling(tmp_path: Path) -> None:
    path, loudness = build_outro(tmp_path, "--loudness", "-20", "--true-peak", "-2")
    check_file(path, -20, -2, loudness)


@pytest.mark.e2e
def test_under_a_background_bed(tmp_path: Path) -> None:
    path, loudness = build_outro(tmp_path, "--background", "rain")
    check_file(path, -16, -1, loudness)


# ------------------------------------------------------------- digital silence: no subnormals
# After sound stops, an IIR filter's state decays towards zero through subnormal floats
# (under np.finfo(...).tiny), where rounding holds it, and subnormal arithmetic is many
# times slower on Intel CPUs. A routine is half digital silence. These tests look at the
# numbers themselves (not the clock), so they fail on any CPU if the slow path is back.

# The filters of the chain, each with how many samples a call asks of it.
FILTERS: list[tuple[Any, str, Callable[..., int]]] = [
    (loudness, "_filtered", lambda form, samples, state: samples.size),  # the K-weighting
    (loudness, "_settling", lambda form, count, state: count),  # ... of settling silence
    (scipy.signal, "lfilter", lambda b, a, x, *rest, **kw: np.asarray(x).size),
    (scipy.signal, "resample_poly", lambda x, *rest, **kw: np.asarray(x).size),
    (loudness, "sliding_mean", lambda values, size: values.size),  # the limiter
    (loudness, "sliding_minimum", lambda values, size: values.size),
    (loudness, "_oversampled", lambda rows: rows.size)]  # the true peak's interpolation


def subnormal_count(value: Any) -> int:
    """Subnormal floats in an array, or in a tuple of arrays (a filter's output and state)."""
    if isinstance(value, tuple):
        return sum(subnormal_count(v) for v in value)
    a = np.asarray(value)
    if not np.issubdtype(a.dtype, np.floating):
        return 0
    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


class Watch:
    """What the signal chain asked of its filters: samples passed in, subnormals out."""

    def __init__(self) -> None:
        self.samples: dict[str, int] = {}
        self.subnormals: dict[str, int] = {}

    def wrap(self, name: str, function: Callable[..., Any], size: Callable[..., int]
             ) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            out = function(*args, **kwargs)
            self.samples[name] = self.samples.get(name, 0) + size(*args, **kwargs)
            self.subnormals[name] = self.subnormals.get(name, 0) + subnormal_count(out)
            return out
        return watched


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    """Every call to the chain's filters (looked up at call time) is watched."""
    w = Watch()
    for module, name, size in FILTERS:
        monkeypatch.setattr(module, name, w.wrap(name, getattr(module, name), size))
    yield w


def speech_then_silence() -> np.ndarray:
    """Speech, 100 s of digital silence (a long hold), speech, 30 s of silence, speech."""
    quiet = np.zeros(100 * RATE, dtype="<i2")
    return np.concatenate([speechlike(10, 7), quiet, speechlike(5, 8), quiet[:30 * RATE],
                           speechlike(3, 9)])


def test_the_meter_never_filters_into_subnormal_numbers(watch: Watch) -> None:
    samples = speech_then_silence()
    meter = LoudnessMeter(RATE)
    for piece in np.array_split(samples, 7):
        meter.feed(piece)
    assert math.isfinite(meter.lufs())
    assert watch.subnormals["_filtered"] == watch.subnormals["_settling"] == 0
    # Digital silence is filtered only until the filter has settled (well under 1 s of
    # each run), not sample by sample.
    speech = 18 * RATE
    assert 0 < watch.samples["_settling"] < 2 * RATE
    assert watch.samples["_filtered"] + watch.samples["_settling"] < speech + 2 * RATE


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
def test_the_filter_state_settles_to_exact_zero_in_silence(rate: int) -> None:
    meter = LoudnessMeter(rate)
    meter.feed(np.concatenate([speechlike(2, 10), np.zeros(5 * rate, dtype="<i2")]))
    assert not meter._state.any()


def plain_lufs(samples: np.ndarray, rate: int = RATE) -> float:
    """The meter's figure the plain way: scipy's sosfilt over every sample (the meter as
    it was), then the blocks and gates written out."""
    x = samples.astype(np.float64) / 32768
    filtered = scipy.signal.sosfilt(_k_weighting(rate), x)
    hop = round(rate / 10)
    quarters = np.square(filtered[:x.size // hop * hop]).reshape(-1, hop).sum(axis=1)
    blocks = (quarters[:-3] + quarters[1:-2] + quarters[2:-1] + quarters[3:]) / (4 * hop)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(blocks)
    gated = blocks[loudness >= -70]
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10
    return float(-0.691 + 10 * np.log10(
        blocks[(loudness > relative) & (loudness > -70)].mean()))


def test_skipping_settled_silence_leaves_the_reading_unchanged() -> None:
    """Against filtering every sample (the K-weighting, gating and blocks done the plain
    way) and against pyloudnorm's own meter, on speech with long digital silences."""
    samples = speech_then_silence()
    ours = program_lufs(samples, RATE)
    assert ours == pytest.approx(plain_lufs(samples), abs=1e-6)
    assert ours == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(
        samples.astype(np.float64) / 32768), abs=0.01)


def test_normalize_never_computes_with_subnormal_numbers(watch: Watch) -> None:
    """The whole normalization (meter, true peak, limiter) over speech and long silence,
    quiet enough that the limiter has work to do."""
    samples = speech_then_silence() // 8
    samples[5 * RATE:5 * RATE + 100] = 16000  # a click at -6 dBFS
    clip = Clip(samples.tobytes(), RATE)
    out = np.frombuffer(normalize(clip, LoudnessTarget(-16, -1)).pcm, dtype="<i2")
    assert program_lufs(out, RATE) == pytest.approx(-16, abs=0.2)
    assert {"_filtered", "_settling", "_oversampled", "sliding_mean"} <= watch.samples.keys()
    assert sum(watch.subnormals.values()) == 0, watch.subnormals


def test_cues_and_beds_never_compute_with_subnormal_numbers(watch: Watch) -> None:
    """Cues are measured as pyloudnorm would (pyloudnorm itself went subnormal in the
    silence a short cue is padded with); beds and the track under them by the meter."""
    for style in sounds.STYLES:
        for name in sounds.CUE_NAMES:
            sounds._make_cue.__wrapped__(name, RATE, style)
    bed = background._generated.__wrapped__("rain", RATE)
    track = Clip(speech_then_silence().tobytes(), RATE)
    background.mix_background(track, [(0, 10 * RATE)], bed)
    assert watch.samples["_filtered"] > 0
    assert sum(watch.subnormals.values()) == 0, watch.subnormals


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_pyloudnorm_lufs_is_pyloudnorms_figure(rate: int) -> None:
    """Its own blocks (one past the end when the audio ends past half a hop), on cues
    (the sounds it sets) and on speech with silences, of lengths that are no whole
    number of hops."""
    cues = [np.frombuffer(sounds._make_cue.__wrapped__(name, rate, style).pcm, dtype="<i2")
            for style in sounds.STYLES for name in ("chime", "bell", "closing", "hold_end")]
    rng = np.random.default_rng(rate)
    speech = [speechlike(seconds, seed)[:int(seconds * rate)] for seed, seconds in
              enumerate(rng.uniform(0.4, 6.0, 4))]
    for samples in cues + speech:
        x = samples / 32768.0
        assert pyloudnorm_lufs(x, rate) == pytest.approx(
            pyloudnorm.Meter(rate).integrated_loudness(x), abs=1e-9)


# ------------------------------------------------------------------- without scipy
# The package does its filtering with numpy alone (importing scipy.signal takes over a
# second); here each piece is checked against what it replaces.

RATES = [16000, 22050, 44100, 48000]


@pytest.mark.parametrize("rate", RATES)
def test_the_k_weighting_is_pyloudnorms(rate: int) -> None:
    from pyloudnorm.iirfilter import IIRfilter

    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))
    theirs = np.array([np.concatenate([s.b, s.a]) / s.a[0] for s in stages])
    np.testing.assert_allclose(_k_weighting(rate), theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rate", RATES)
def test_the_block_filter_is_sosfilt(rate: int) -> None:
    """Fed in pieces of every kind (shorter than a block, a block and a sample, a meter's
    piece) from the state some sound left, against sosfilt over the whole: within 1e-9
    of the peak, sample by sample (4e-12 measured), and the same state after. (From an
    arbitrary state, not one a sound can leave, the two differ by up to 1e-9: the 38 Hz
    high-pass's double pole near 1 makes both computations lose digits there.)"""
    sos = _k_weighting(rate)
    _, state = scipy.signal.sosfilt(sos, speechlike(1, rate - 1) / 32768, zi=np.zeros((2, 2)))
    samples = np.concatenate([speechlike(6, rate), np.zeros(rate * 2, dtype="<i2"),
                              speechlike(3, rate + 1)]) / 32768
    expected, expected_state = scipy.signal.sosfilt(sos, samples, zi=state)
    sizes = [1, 5, loudness.LIFT - 1, loudness.LIFT, loudness.LIFT + 1, 1000, rate]
    outs, position = [], 0
    while position < samples.size:
        size = sizes[len(outs) % len(sizes)]
        out, state = k_weighted(rate, samples[position:position + size], state)
        outs.append(out)
        position += size
    assert np.abs(np.concatenate(outs) - expected).max() <= 1e-9 * np.abs(samples).max()
    np.testing.assert_allclose(state, expected_state, rtol=0, atol=1e-9)


def test_the_interpolator_is_resample_polys() -> None:
    taps = scipy.signal.firwin(2 * 10 * OVERSAMPLE + 1, 1 / OVERSAMPLE, window=("kaiser", 5.0))
    matrix = loudness._interpolator()
    # column p holds every OVERSAMPLE-th tap from p, last tap first, times OVERSAMPLE
    for phase in range(OVERSAMPLE):
        column = taps[phase::OVERSAMPLE] * OVERSAMPLE
        np.testing.assert_allclose(matrix[::-1, phase], np.pad(
            column, (0, matrix.shape[0] - column.size)), rtol=0, atol=1e-12)
    rows = (speechlike(1, 4)[:4096].reshape(2, -1) / 32768).astype(np.float32)
    np.testing.assert_allclose(loudness._oversampled(rows), resample_poly(
        rows, OVERSAMPLE, 1, axis=1), rtol=0, atol=1e-5)


@pytest.mark.parametrize("size", [1, 3, 23, 25, 101])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # the limiter's: float32
def test_the_limiters_filters_are_scipys(size: int, dtype: type) -> None:
    """On random gains with runs of ones, the edges included (shorter than the window
    too), in the values' own type; a run of ones stays exactly one, as scipy's does."""
    rng = np.random.default_rng(size)
    for count in (1, size // 2 + 1, 5000):
        values = np.minimum(1.0, rng.uniform(0.3, 3.0, count)).astype(dtype)
        minimum = scipy.ndimage.minimum_filter1d(values, size, mode="nearest")
        mean = scipy.ndimage.uniform_filter1d(values, size, mode="nearest")
        ours = loudness.sliding_mean(values, size)
        assert np.array_equal(loudness.sliding_minimum(values, size), minimum)
        assert ours.dtype == mean.dtype
        # (scipy's running sum drifts by rounding along the array: 1e-16 a step)
        rtol = 1e-12 if dtype == np.float64 else np.finfo(np.float32).eps  # one step
        np.testing.assert_allclose(ours, mean, rtol=rtol, atol=0)
        assert np.all(ours[mean == 1.0] == 1.0)


@pytest.mark.e2e
def test_the_meter_reads_real_speech_as_it_did(quickstart: Path) -> None:
    """A track of the default routine, as built by the real voice and encoder: the same
    integrated loudness as the meter before (sosfilt over every sample) to 1e-6 LU."""
    samples = decode(quickstart / "03-neck.mp3", 22050).samples
    assert program_lufs(samples, 22050) == pytest.approx(plain_lufs(samples, 22050), abs=1e-6)
