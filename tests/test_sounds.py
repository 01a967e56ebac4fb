"""Cues made in code (every style) and background beds mixed under a track: measured on
the samples, before any normalization."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from voiceguide import background
from voiceguide.background import (
    ATTACK_MS,
    BEDS,
    DEFAULT_DUCK_DB,
    DEFAULT_LEVEL_DB,
    FADE_MS,
    RELEASE_MS,
    Bed,
    load_bed,
    mix_background,
    speech_spans,
)
from voiceguide.errors import SettingsError
from voiceguide.loudness import program_lufs
from voiceguide.model import Clip, Cue, CueName, Placed, Silence, Speech
from voiceguide.native import ffmpeg_exe
from voiceguide.sounds import (
    CUE_NAMES,
    REFERENCE_VOICE_LUFS,
    STYLES,
    _make_cue,
    check_style,
    cue,
    cue_key,
    cue_ms,
    cue_style_problem,
    load_cues,
)

RATE = 22050
RATES = (16000, 22050, 44100, 48000)
ALL_CUES = [(style, name) for style in STYLES for name in CUE_NAMES]

# The lengths sounds.py documents (ms, at 22050 Hz), and what each cue is for.
DOCUMENTED_MS: dict[str, dict[CueName, int]] = {
    "bowl": {"chime": 2400, "bell": 1200, "closing": 3180, "hold_start": 210,
             "hold_end": 670},
    "chime": {"chime": 2390, "bell": 1080, "closing": 3350, "hold_start": 180,
              "hold_end": 620},
    "wood": {"chime": 710, "bell": 1060, "closing": 3000, "hold_start": 170,
             "hold_end": 650},
}
WANTED_MS: dict[CueName, tuple[int, int]] = {  # what each cue must be, whatever the style
    "chime": (500, 3000), "bell": (1000, 1500), "closing": (3000, 4000),
    "hold_start": (150, 300), "hold_end": (500, 1000)}


def samples(clip: Clip) -> np.ndarray:
    return np.frombuffer(clip.pcm, dtype="<i2").astype(np.float64) / 32768


def loudness(x: np.ndarray, rate: int) -> float:
    """BS.1770 integrated loudness; shorter than one 400 ms block: padded to one block
    (then it is the momentary loudness of a window holding the whole sound)."""
    block = math.ceil(0.4 * rate)
    padded = np.concatenate([x, np.zeros(max(block - x.size, 0))])
    return float(pyloudnorm.Meter(rate).integrated_loudness(padded))


def centroid_hz(x: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    return float((power * np.fft.rfftfreq(x.size, 1 / rate)).sum() / power.sum())


def strongest_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 8 * x.size))
    return float(np.fft.rfftfreq(8 * x.size, 1 / rate)[np.argmax(spectrum)])


# --------------------------------------------------------------------------- cues


@pytest.mark.parametrize(("style", "name"), ALL_CUES)
def test_every_cue_is_deterministic(style: str, name: CueName) -> None:
    fresh = _make_cue.__wrapped__(name, RATE, style)  # bypass the cache: compute it again
    assert fresh.pcm == cue(name, RATE, style).pcm
    assert fresh.pcm == _make_cue.__wrapped__(name, RATE, style).pcm
    assert fresh.frame_rate == RATE


@pytest.mark.parametrize(("style", "name"), ALL_CUES)
def test_every_cue_starts_without_a_click_and_ends_in_silence(style: str, name: CueName
                                                              ) -> None:
    for rate in RATES:
        x = samples(cue(name, rate, style))
        peak = np.abs(x).max()
        assert x[0] == 0.0 and abs(x[1]) < 0.05 * peak, (rate, x[:3])
        # A ramp, not a step: a tone starting at full level reaches its peak in < 1 ms.
        assert np.abs(x[: rate // 1000]).max() < 0.5 * peak
        assert x[-1] == 0.0
        tail = x[-rate // 100:]  # the last 10 ms: under -50 dBFS
        assert 20 * np.log10(np.sqrt(np.mean(tail**2)) + 1e-12) < -50


@pytest.mark.parametrize(("style", "name"), ALL_CUES)
def test_every_cue_has_its_documented_length_at_every_rate(style: str, name: CueName
                                                           ) -> None:
    low, high = WANTED_MS[name]
    for rate in RATES:
        ms = cue_ms(name, style, rate)
        assert ms == cue(name, rate, style).ms
        assert abs(ms - DOCUMENTED_MS[style][name]) <= 20, (rate, ms)
        assert low <= ms <= high


@pytest.mark.parametrize(("style", "name"), ALL_CUES)
def test_every_cue_sits_3_to_12_lu_under_the_voice(style: str, name: CueName) -> None:
    for rate in (RATE, 48000):
        x = samples(cue(name, rate, style))
        below = REFERENCE_VOICE_LUFS - loudness(x, rate)
        assert 3 <= below <= 12, (rate, below)
        assert 20 * np.log10(np.abs(x).max()) <= -6  # never louder peaks than the voice


@pytest.mark.parametrize("style", STYLES)
def test_hold_start_and_hold_end_sound_clearly_different(style: str) -> None:
    start, end = samples(cue("hold_start", RATE, style)), samples(cue("hold_end", RATE, style))
    assert end.size >= 2.5 * start.size  # a tap, then two notes
    assert centroid_hz(end, RATE) >= 1.5 * centroid_hz(start, RATE)  # low, then higher
    # and the end rises: its second note is higher than its first
    first, second = end[: RATE // 5], end[RATE * 3 // 10:]
    assert strongest_hz(second, RATE) > 1.3 * strongest_hz(first, RATE)


def test_unknown_style_names_the_choices() -> None:
    assert cue_style_problem("wood") is None
    assert cue_style_problem("bwol") == (
        "unknown cue style 'bwol' (choose one of bowl, chime, wood; did you mean 'bowl'?)")
    assert cue_style_problem("xylophone") == (
        "unknown cue style 'xylophone' (choose one of bowl, chime, wood)")
    assert check_style("chime") == "chime"
    with pytest.raises(SettingsError, match="unknown cue style 'gong'") as error:
        cue("bell", RATE, "gong")
    assert "bowl, chime, wood" in error.value.hint


@pytest.mark.e2e
def test_cues_sit_under_the_real_espeak_voice() -> None:
    from voiceguide.engines import VoiceSettings, make_engine

    with make_engine(VoiceSettings(engine="espeak")) as engine:
        voice = engine.synthesize("Sit tall on your chair, and let your shoulders soften.")
    level = loudness(samples(voice), voice.frame_rate)
    assert abs(level - REFERENCE_VOICE_LUFS) < 2
    for style, name in ALL_CUES:
        below = level - loudness(samples(cue(name, voice.frame_rate, style)), voice.frame_rate)
        assert 3 <= below <= 12, (style, name, below)


# --------------------------------------------------------------------------- beds

S = RATE  # samples per second
# Speech spans in seconds: a breath (0.7 s) between the first two, then real pauses; the
# loop seam of the generated beds (60 s) falls in the long pause.
SPANS_S = [(4.0, 8.0), (8.7, 10.0), (20.0, 24.0), (40.0, 44.0), (70.0, 73.0)]
TRACK_S = 78.0


def tone_track(spans_s: list[tuple[float, float]], seconds: float, amplitude: float = 0.1
               ) -> tuple[Clip, list[tuple[int, int]]]:
    """A stand-in voice: a 220 Hz tone over each span, silence elsewhere."""
    n = round(seconds * S)
    voice = np.zeros(n)
    spans = [(round(a * S), round(b * S)) for a, b in spans_s]
    for start, end in spans:
        t = np.arange(end - start) / S
        voice[start:end] = amplitude * np.sin(2 * np.pi * 220 * t)
    return Clip(np.round(voice * 32767).astype("<i2").tobytes(), S), spans


def bed_part(mixed: Clip, track: Clip) -> np.ndarray:
    """What the mix added: exact, since nothing is normalized yet."""
    part: np.ndarray = (np.frombuffer(mixed.pcm, dtype="<i2").astype(np.float64)
                        - np.frombuffer(track.pcm, dtype="<i2"))
    return part


def gain_db(part: np.ndarray, bed: Bed, start_s: float, end_s: float) -> float:
    """The gain applied to the bed over [start_s, end_s): its RMS over the raw loop's."""
    a, b = round(start_s * S), round(end_s * S)
    raw = bed.samples[np.arange(a, b) % bed.samples.size].astype(np.float64) * 32768
    return float(20 * np.log10(np.sqrt(np.mean(part[a:b] ** 2) / np.mean(raw**2))))


@pytest.fixture(scope="module")
def mixes() -> dict[str, tuple[Bed, Clip, np.ndarray]]:
    track, spans = tone_track(SPANS_S, TRACK_S)
    out = {}
    for name in BEDS:
        bed = load_bed(name, RATE)
        mixed = mix_background(track, spans, bed)
        assert len(mixed.pcm) == len(track.pcm) and mixed.frame_rate == RATE
        out[name] = (bed, track, bed_part(mixed, track))
    return out


@pytest.mark.parametrize("name", BEDS)
def test_bed_ducks_at_least_10_db_under_speech(
        name: str, mixes: dict[str, tuple[Bed, Clip, np.ndarray]]) -> None:
    bed, _, part = mixes[name]
    pauses = [gain_db(part, bed, a, b) for a, b in ((12, 18), (30, 38), (50, 58))]
    speech = [gain_db(part, bed, a, b) for a, b in ((4.5, 7.5), (8.0, 9.5), (20.5, 23.5))]
    assert max(pauses) - min(pauses) < 0.2  # one steady level in every pause
    assert min(pauses) - max(speech) >= 10
    assert abs(min(pauses) - max(speech) - DEFAULT_DUCK_DB) < 0.3
    # No swell in the 0.7 s breath between two sentences: they count as one.
    assert gain_db(part, bed, 8.0, 8.7) < min(pauses) - 10


@pytest.mark.parametrize("name", BEDS)
def test_bed_in_pauses_sits_at_its_level_under_the_voice(
        name: str, mixes: dict[str, tuple[Bed, Clip, np.ndarray]]) -> None:
    bed, track, part = mixes[name]
    voice = pyloudnorm.Meter(RATE).integrated_loudness(samples(track))
    in_pauses = bed.lufs + gain_db(part, bed, 30, 38)  # the whole loop at the pause gain
    assert abs(in_pauses - (voice + DEFAULT_LEVEL_DB)) < 0.5
    assert 15 <= voice - in_pauses <= 20
    # and measured directly over a full loop of bed alone (a long, steady pause)
    long_track, _ = tone_track([(1.0, 3.0)], 130.0)
    alone = bed_part(mix_background(long_track, [(S, 3 * S)], bed), long_track)
    direct = pyloudnorm.Meter(RATE).integrated_loudness(alone[5 * S:65 * S] / 32768)
    assert abs(direct - in_pauses) < 1.0


@pytest.mark.parametrize("name", BEDS)
def test_ducking_ramps_start_before_speech_and_end_after_it(
        name: str, mixes: dict[str, tuple[Bed, Clip, np.ndarray]]) -> None:
    bed, _, part = mixes[name]
    pause = gain_db(part, bed, 30, 38)
    for start, end in ((20.0, 24.0), (40.0, 44.0)):
        assert gain_db(part, bed, start - ATTACK_MS / 1000 - 0.8, start - ATTACK_MS / 1000
                       ) == pytest.approx(pause, abs=0.2)  # untouched before the ramp
        going_down = pause - gain_db(part, bed, start - 0.2, start - 0.1)
        assert 2 <= going_down <= DEFAULT_DUCK_DB - 2  # already on its way down
        assert pause - gain_db(part, bed, start, start + 0.1) >= DEFAULT_DUCK_DB - 0.5
        coming_up = pause - gain_db(part, bed, end + 0.1, end + 0.2)
        assert 2 <= coming_up <= DEFAULT_DUCK_DB - 2  # still on its way up after it
        back = gain_db(part, bed, end + RELEASE_MS / 1000, end + 1.5)
        assert back == pytest.approx(pause, abs=0.2)


@pytest.mark.parametrize("name", BEDS)
def test_bed_fades_in_and_out_at_the_track_ends(
        name: str, mixes: dict[str, tuple[Bed, Clip, np.ndarray]]) -> None:
    bed, _, part = mixes[name]
    fade = FADE_MS / 1000
    pause = gain_db(part, bed, 30, 38)
    assert part[0] == 0 and part[-1] == 0
    assert gain_db(part, bed, 0.0, 0.3) < pause - 20
    assert pause - 10 < gain_db(part, bed, fade / 2 - 0.1, fade / 2 + 0.1) < pause - 3
    assert gain_db(part, bed, fade, 3.6) == pytest.approx(pause, abs=0.2)
    assert gain_db(part, bed, 73.5, TRACK_S - fade) == pytest.approx(pause, abs=0.2)
    assert gain_db(part, bed, TRACK_S - 0.3, TRACK_S) < pause - 20


@pytest.mark.parametrize("name", BEDS)
def test_generated_loop_seam_has_no_jump(
        name: str, mixes: dict[str, tuple[Bed, Clip, np.ndarray]]) -> None:
    bed, _, part = mixes[name]
    seam = bed.samples.size  # bed sample i is loop[i % size]: the seam, inside a pause
    assert 45 * S < seam < 69 * S
    assert_no_jump(part, seam)


def assert_no_jump(part: np.ndarray, seam: int) -> None:
    steps = np.abs(np.diff(part[seam - S:seam + S]))
    typical = np.percentile(steps, 99.9)
    assert steps[S - 3:S + 2].max() <= 1.5 * typical + 2, (steps[S - 3:S + 2], typical)


def test_generated_beds_are_deterministic_and_at_their_reference_level() -> None:
    first = {name: load_bed(name, RATE).samples.copy() for name in BEDS}
    background._generated.cache_clear()
    for name in BEDS:
        again = load_bed(name, RATE)
        assert np.array_equal(again.samples, first[name])
        assert again.seconds == background.LOOP_S
        assert again.lufs == pytest.approx(background.BED_LUFS, abs=0.01)
        assert not again.samples.flags.writeable
    assert not np.array_equal(first["rain"], first["surf"])


def test_surf_swells_every_8_to_12_seconds() -> None:
    bed = load_bed("surf", RATE)
    x = bed.samples.astype(np.float64)
    envelope = np.sqrt(np.mean(x[: x.size // (S // 4) * (S // 4)].reshape(-1, S // 4) ** 2,
                               axis=1))  # 4 values a second
    spectrum = np.abs(np.fft.rfft(envelope - envelope.mean()))
    period = 1 / np.fft.rfftfreq(envelope.size, 0.25)[1 + np.argmax(spectrum[1:])]
    assert 8 <= period <= 12
    assert 20 * np.log10(envelope.max() / envelope.min()) > 6  # swells you can hear


def test_mix_never_clips_a_full_scale_voice() -> None:
    track, spans = tone_track([(1.0, 9.0)], 12.0, amplitude=1.0)
    mixed = np.frombuffer(mix_background(track, spans, load_bed("rain", RATE)).pcm, "<i2")
    top = np.abs(mixed.astype(np.int32))
    assert top.max() <= 32767
    # a hard clip flattens the tops of the tone: several samples in a row at the limit
    at_limit = top >= 32767
    assert not (at_limit[:-1] & at_limit[1:]).any()


def test_bad_levels_are_settings_errors() -> None:
    track, spans = tone_track([(1.0, 2.0)], 4.0)
    with pytest.raises(SettingsError, match="background level of -3 dB is outside"):
        mix_background(track, spans, load_bed("drone", RATE), level_db=-3)
    with pytest.raises(SettingsError, match="ducking by 50 dB"):
        mix_background(track, spans, load_bed("drone", RATE), duck_db=50)


def test_speech_spans_come_from_the_layout() -> None:
    placed = [Placed(Silence(500, "gap"), 0, 100), Placed(Speech("Hello."), 100, 300),
              Placed(Cue("hold_start"), 300, 350), Placed(Speech("Hold."), 350, 500)]
    assert speech_spans(placed) == [(100, 300), (350, 500)]


def test_program_lufs_matches_pyloudnorm() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([0.2 * rng.standard_normal(7 * S + 123), np.zeros(3 * S),
                        0.01 * rng.standard_normal(2 * S)])
    expected = pyloudnorm.Meter(RATE).integrated_loudness(x)
    assert program_lufs(x.astype(np.float32), RATE) == pytest.approx(expected, abs=0.05)
    as_int = np.round(x * 32767).astype("<i2")
    assert program_lufs(as_int, RATE) == pytest.approx(expected, abs=0.05)
    assert program_lufs(np.zeros(S, dtype="<i2"), RATE) == -math.inf


# --------------------------------------------------------------------------- files


def ffmpeg_sine(path: Path, seconds: float, hz: int = 330) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    f"sine=frequency={hz}:duration={seconds}:sample_rate=44100", "-y",
                    str(path)], check=True)
    return path


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_clinic_music_file_loads_and_loops_without_a_jump(tmp_path: Path, suffix: str
                                                          ) -> None:
    music = ffmpeg_sine(tmp_path / f"music{suffix}", 5.0)
    bed = load_bed(str(music), RATE)
    assert bed.frame_rate == RATE and bed.name == str(music)
    assert bed.lufs == pytest.approx(background.BED_LUFS, abs=0.1)
    assert 3.5 <= bed.seconds <= 4.0  # 5 s less the crossfade (a quarter of it)
    track, spans = tone_track([(1.0, 2.0)], 16.0)
    part = bed_part(mix_background(track, spans, bed), track)
    size = bed.samples.size
    for seam in (size, 2 * size, 3 * size):  # three times round, in the steady pause
        assert_no_jump(part, seam)
    # it keeps playing: every later second carries the music at the same level
    levels = [gain_db(part, bed, a, a + 1) for a in range(4, 12)]
    assert max(levels) - min(levels) < 0.5


def test_naive_looping_would_jump(tmp_path: Path) -> None:
    """The seam check can fail: a sine joined end to start, at a crest, with no crossfade."""
    music = ffmpeg_sine(tmp_path / "music.wav", 5.0)
    raw = np.frombuffer(subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(music), "-f", "s16le", "-ac", "1", "-ar",
         str(RATE), "-"], check=True, capture_output=True).stdout, dtype="<i2")
    cut = 3 * S + int(np.argmax(raw[3 * S:3 * S + 100]))  # the sine's crest; raw[0] is 0
    joined = np.concatenate([raw[:cut], raw[: 2 * S]]).astype(np.float64)
    with pytest.raises(AssertionError):
        assert_no_jump(joined, cut)


def test_missing_unreadable_or_short_music_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="was not found") as error:
        load_bed(str(tmp_path / "nope.mp3"), RATE)
    assert "MP3, WAV" in error.value.hint and "rain, surf, drone" in error.value.hint
    broken = tmp_path / "broken.mp3"
    broken.write_text("not audio")
    with pytest.raises(SettingsError, match=r"'.*broken\.mp3' could not be read: "):
        load_bed(str(broken), RATE)
    with pytest.raises(SettingsError, match="is not a file"):
        load_bed(str(tmp_path), RATE)
    short = ffmpeg_sine(tmp_path / "short.wav", 1.0)
    with pytest.raises(SettingsError, match=r"too short to loop \(1\.0 s\)"):
        load_bed(str(short), RATE)


def test_unknown_bed_lists_the_beds_and_the_closest() -> None:
    with pytest.raises(SettingsError, match="unknown background 'rian'") as error:
        load_bed("rian", RATE)
    assert error.value.hint == ("choose one of rain, surf, drone, or give the path of an "
                                "audio file; did you mean 'rain'?")
    with pytest.raises(SettingsError) as error:
        load_bed("forest", RATE)
    assert "did you mean" not in error.value.hint


def test_cues_come_from_the_render_cache_once_made(tmp_path: Path) -> None:
    from voiceguide.cache import ClipCache

    cache = ClipCache(tmp_path)
    made = load_cues("wood", RATE, cache)  # made, then stored
    assert cache.info().entries == len(CUE_NAMES)
    stored = cache.get(cue_key("bell", RATE, "wood"))
    assert stored is not None and stored.pcm == _make_cue("bell", RATE, "wood").pcm
    assert made["bell"].pcm == stored.pcm
    cache.put(cue_key("bell", RATE, "wood"), Clip(bytes(200), RATE))  # a marker
    again = load_cues("wood", RATE, cache)
    assert again["bell"].pcm == bytes(200)  # it was read, not made again
    assert cue("bell", RATE, "wood").pcm == stored.pcm  # cue() never depends on a cache


def test_estimated_cue_lengths_are_the_cues_lengths() -> None:
    """plan.CUE_MS (data, so planning stays pure) must match the cues themselves."""
    from voiceguide.plan import CUE_MS

    for name in CUE_NAMES:
        assert CUE_MS[name] == cue_ms(name, "bowl", 22050)
