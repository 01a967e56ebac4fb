"""Optional background ambience under a track: a generated bed (rain, surf, drone) or the
clinic's own music file, looped to the track's length, faded in and out, and ducked under
the voice.

Design, in brief:

- Generated beds are made deterministically (seeded) as *exactly periodic* loops of
  LOOP_S seconds: noise is coloured in the frequency domain of the whole loop (so it wraps
  around by construction), swells and droplets wrap around the loop, and every tone has a
  whole number of cycles per loop. Repeating them has no seam at all. A music file has
  no such property, so `make_loop` crossfades its end into its start (equal power).
- Levels are relative: the bed in a pause sits `level_db` LU under the track's own
  integrated loudness (which is the voice's: gating leaves the pauses out), so it follows
  the voice whatever the engine or --volume. The track is loudness-normalized afterwards;
  with the default -18 LU the bed lands at about -34 LUFS in pauses of a -16 LUFS file:
  clearly there on earbuds in a quiet room, yet calm. Under speech it drops a further
  `duck_db` (12 dB): about 30 LU under the voice, well past the 20 dB speech-to-background
  that broadcasters recommend for older and hard-of-hearing listeners.
- The speech layout is known in advance, so ducking looks ahead: the bed starts down
  ATTACK_MS before a word and is fully down as it begins, and comes back up over
  RELEASE_MS after the speech ends. Spans closer than MERGE_GAP_MS (the 0.7 s breath
  between sentences) count as one, so the bed doesn't pump between sentences; it rises
  only in real pauses and holds.
- Everything runs in chunks of float32: a 60-minute file costs its int16 output plus a
  few MB, never several full-length float64 copies.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from voiceguide.errors import SettingsError
from voiceguide.lazy import LazyModule
from voiceguide.loudness import program_lufs
from voiceguide.model import Clip, Placed, Speech
from voiceguide.native import ffmpeg_exe
from voiceguide.pcm import to_int16
from voiceguide.sounds import REFERENCE_VOICE_LUFS
from voiceguide.text import did_you_mean

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it

BEDS: tuple[str, ...] = ("rain", "surf", "drone")
LOOP_S = 60  # generated loops: long enough that no pattern is noticed repeating
BED_LUFS = -30.0  # the level every Bed is stored at (only the relative level matters)
DEFAULT_LEVEL_DB = -18.0  # the bed in pauses, relative to the voice (LU); see above
DEFAULT_DUCK_DB = 12.0  # how much lower the bed is while the voice speaks
LEVEL_RANGE = (-40.0, -6.0)  # accepted level_db
DUCK_RANGE = (0.0, 40.0)  # accepted duck_db
ATTACK_MS = 300  # the bed goes down over this, ending as the speech starts
RELEASE_MS = 400  # ... and back up over this, starting as the speech ends
MERGE_GAP_MS = 1500  # speech closer than this is one span (no swell in a breath)
FADE_MS = 3000  # fade in over the track's start and out over its end
LOOP_CROSSFADE_MS = 1500  # a music file's end crossfades into its start over this
MIN_FILE_S = 2.0  # a shorter music file can't loop smoothly
MAX_FILE_S = 900  # decode at most the first 15 minutes; longer music just loops from there
_CHUNK = 1 << 18  # samples mixed at a time
_MUSIC_HINT = ("give the path of an audio file ffmpeg can read (MP3, WAV, M4A, OGG, FLAC) "
               f"or one of the beds: {', '.join(BEDS)}")


@dataclass(frozen=True, eq=False)
class Bed:
    """A background loop: float32 mono in -1..1 that repeats seamlessly, at `lufs`."""

    name: str  # a bed name, or the music file's path
    samples: np.ndarray
    frame_rate: int
    lufs: float

    @property
    def seconds(self) -> float:
        return self.samples.size / self.frame_rate


# --------------------------------------------------------------------------- loading


def load_bed(spec: str, frame_rate: int) -> Bed:
    """The bed `spec` names (one of BEDS) or the music file at path `spec`, at frame_rate,
    as a seamless loop at BED_LUFS. SettingsError for an unknown name or a file that is
    missing, unreadable, silent or too short. Call it before synthesizing, so a wrong
    setting stops the build early; generated beds are cached."""
    if spec in BEDS:
        return _generated(spec, frame_rate)
    path = Path(spec).expanduser()
    if not (path.exists() or path.suffix or len(path.parts) > 1):
        near = did_you_mean(spec, BEDS)
        raise SettingsError(
            f"unknown background {spec!r}",
            hint=f"choose one of {', '.join(BEDS)}, or give the path of an audio file"
            + (f"; {near}" if near else ""))
    return _from_file(path, frame_rate)


def make_loop(samples: np.ndarray, frame_rate: int,
              crossfade_ms: int = LOOP_CROSSFADE_MS) -> np.ndarray:
    """A loop of len(samples) - X samples that repeats without a seam: it starts X samples
    in, and its last X samples crossfade (equal power, right for unrelated material) from
    the end of `samples` into its first X samples, which lead straight on into where the
    loop starts. X is crossfade_ms, or a quarter of the input if that is shorter. Starting
    X in also means a music file longer than the track is never crossfaded at all."""
    x = np.asarray(samples, dtype=np.float32)
    fade = min(crossfade_ms * frame_rate // 1000, x.size // 4)
    if fade < 1:
        return x.copy()
    loop = x[fade:].copy()
    theta = (np.arange(fade, dtype=np.float32) + 0.5) * np.float32(np.pi / 2 / fade)
    loop[-fade:] = x[-fade:] * np.cos(theta) + x[:fade] * np.sin(theta)
    return loop


def _from_file(path: Path, frame_rate: int) -> Bed:
    shown = str(path)
    if not path.exists():
        raise SettingsError(f"background music {shown!r} was not found", hint=_MUSIC_HINT)
    if not path.is_file():
        raise SettingsError(f"background music {shown!r} is not a file", hint=_MUSIC_HINT)
    run = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-t", str(MAX_FILE_S),
         "-vn", "-f", "s16le", "-ac", "1", "-ar", str(frame_rate), "-"],
        capture_output=True, check=False)
    if run.returncode != 0:
        lines = run.stderr.decode(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"ffmpeg exited with {run.returncode}"
        raise SettingsError(f"background music {shown!r} could not be read: {why}",
                            hint=_MUSIC_HINT)
    pcm = np.frombuffer(run.stdout, dtype="<i2")
    seconds = pcm.size / frame_rate
    if seconds < MIN_FILE_S:
        raise SettingsError(
            f"background music {shown!r} is too short to loop ({seconds:.1f} s)",
            hint=f"use a file of at least {MIN_FILE_S:g} s")
    loop = make_loop(pcm.astype(np.float32) / np.float32(32768), frame_rate)
    lufs = program_lufs(loop, frame_rate)
    if not math.isfinite(lufs) or lufs < -70:
        raise SettingsError(f"background music {shown!r} is silent", hint=_MUSIC_HINT)
    return _at_reference(shown, loop, frame_rate, lufs)


def _at_reference(name: str, loop: np.ndarray, frame_rate: int, lufs: float) -> Bed:
    loop *= np.float32(10 ** ((BED_LUFS - lufs) / 20))
    loop.setflags(write=False)  # shared (cached): nobody may change it
    return Bed(name, loop, frame_rate, program_lufs(loop, frame_rate))


# --------------------------------------------------------------------------- mixing


def speech_spans(placed: Iterable[Placed]) -> list[tuple[int, int]]:
    """(start, end) in samples of every speech item of a track's layout: what
    `mix_background` ducks under. Cues are left out on purpose: they sit 12 LU or more
    above the bed anyway, and ducking for a 0.2 s tap would make the bed pump."""
    return [(p.start, p.end) for p in placed if isinstance(p.item, Speech)]


def background_problem(level_db: float, duck_db: float) -> str | None:
    """None when mix_background accepts these levels, else a one-line message."""
    if not LEVEL_RANGE[0] <= level_db <= LEVEL_RANGE[1]:
        return (f"a background level of {level_db:g} dB is outside "
                f"{LEVEL_RANGE[0]:g} to {LEVEL_RANGE[1]:g} (relative to the voice)")
    if not DUCK_RANGE[0] <= duck_db <= DUCK_RANGE[1]:
        return f"ducking by {duck_db:g} dB is outside {DUCK_RANGE[0]:g} to {DUCK_RANGE[1]:g}"
    return None


def mix_background(track_clip: Clip, speech_spans: Sequence[tuple[int, int]], bed: Bed,
                   level_db: float = DEFAULT_LEVEL_DB, duck_db: float = DEFAULT_DUCK_DB,
                   limiter_lift_db: float = 0.0) -> Clip:
    """`track_clip` with `bed` under it: bed sample i is bed.samples[i % len], at
    `level_db` LU relative to the track's loudness, `duck_db` lower during `speech_spans`
    (look-ahead ramps, see ATTACK_MS / RELEASE_MS / MERGE_GAP_MS), faded in over the first
    and out over the last FADE_MS (at most half the track each). The layout is unchanged:
    same length, silences now carry only the bed. Never clips: if voice peak plus bed peak
    could pass full scale, the whole mix is scaled down (it is normalized afterwards).
    `limiter_lift_db` is how much more than its plain gain the normalizer will raise the
    track because its limiter takes loudness back (export.limiter_lift_db): the bed is set
    that much lower, so that it lands `level_db` under the voice as heard. (A neural
    voice is lifted 6-10 dB: its bed was that much too loud.)"""
    problem = background_problem(level_db, duck_db)
    if problem is not None:
        raise SettingsError(problem, hint=f"the default is {DEFAULT_LEVEL_DB:g} dB, "
                            f"ducked by {DEFAULT_DUCK_DB:g} dB")
    if bed.frame_rate != track_clip.frame_rate:
        raise ValueError(f"bed at {bed.frame_rate} Hz, track at {track_clip.frame_rate} Hz")
    voice = np.frombuffer(track_clip.pcm, dtype="<i2")
    n, rate = voice.size, track_clip.frame_rate
    if n == 0 or bed.samples.size == 0:
        return track_clip
    program = program_lufs(voice, rate)
    if not math.isfinite(program):
        program = REFERENCE_VOICE_LUFS  # nothing to follow: assume the usual voice
    gain = 10 ** ((program + level_db - limiter_lift_db - bed.lufs) / 20)
    knots_x, knots_duck = _duck_knots(speech_spans, rate)
    fade = max(min(FADE_MS * rate // 1000, n // 2), 1)
    voice_peak = max(int(voice.max()), -int(voice.min())) / 32768
    bed_peak = float(np.max(np.abs(bed.samples))) * gain
    scale = min(1.0, (32767 / 32768) / max(voice_peak + bed_peak, 1e-9))
    out = np.empty(n, dtype="<i2")
    loop = bed.samples
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        pos = np.arange(start, stop)
        duck = np.interp(pos, knots_x, knots_duck).astype(np.float32)
        # raised-cosine ramps in dB: no corner where a ramp starts or ends
        level = np.float32(-duck_db / 20) * (0.5 - 0.5 * np.cos(np.float32(np.pi) * duck))
        bed_gain = np.float32(gain * scale) * np.power(np.float32(10), level)
        _apply_fades(bed_gain, start, n, fade)
        mixed = voice[start:stop] * np.float32(scale) + loop[pos % loop.size] * np.float32(
            32768) * bed_gain
        out[start:stop] = to_int16(mixed)
    return Clip(out.tobytes(), rate)


def _duck_knots(spans: Sequence[tuple[int, int]], rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints of the duck amount (0: full bed, 1: fully ducked), linear between them;
    spans less than MERGE_GAP_MS apart are merged first, so ramps never overlap."""
    attack, release = ATTACK_MS * rate // 1000, RELEASE_MS * rate // 1000
    merge = max(MERGE_GAP_MS * rate // 1000, attack + release)
    merged: list[list[int]] = []
    for start, end in sorted((s, e) for s, e in spans if e > s):
        if merged and start - merged[-1][1] < merge:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return np.array([0.0]), np.array([0.0])
    xs = [x for s, e in merged for x in (s - attack, s, e, e + release)]
    ds = [d for _ in merged for d in (0.0, 1.0, 1.0, 0.0)]
    return np.array(xs, dtype=np.float64), np.array(ds)


def _apply_fades(gain: np.ndarray, start: int, n: int, fade: int) -> None:
    """Multiply in place the raised-cosine fade-in over [0, fade) and fade-out over
    [n - fade, n) (exact zero at the track's first and last sample)."""
    stop = start + gain.size
    if start < fade:
        k = np.arange(start, min(stop, fade), dtype=np.float32)
        gain[:k.size] *= np.sin(k * np.float32(np.pi / 2 / fade)) ** 2
    if stop > n - fade:
        first = max(start, n - fade)
        k = np.arange(first - (n - fade) + 1, stop - (n - fade) + 1, dtype=np.float32)
        gain[first - start:] *= np.cos(k * np.float32(np.pi / 2 / fade)) ** 2


# --------------------------------------------------------------------------- generated


@lru_cache(maxsize=8)
def _generated(name: str, frame_rate: int) -> Bed:
    n = LOOP_S * frame_rate
    rng = np.random.default_rng(_SEEDS[name])
    loop = _MAKERS[name](rng, n, frame_rate).astype(np.float32)
    return _at_reference(name, loop, frame_rate, program_lufs(loop, frame_rate))


def _shaped_noise(rng: np.random.Generator, n: int, rate: int, slope: float, low: float,
                  high: float, shape: np.ndarray | None = None) -> np.ndarray:
    """Gaussian noise of period n (made in the frequency domain of the whole loop, so it
    wraps around), with the magnitude spectrum `_spectrum`, times `shape`, at unit RMS."""
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spectrum *= _spectrum(freqs, slope, low, high)
    spectrum[0] = 0.0
    wave: np.ndarray = np.fft.irfft(spectrum, n)
    if shape is not None:
        wave *= shape
    result: np.ndarray = wave / np.sqrt(np.mean(wave**2))
    return result


def _spectrum(f: np.ndarray, slope: float, low: float, high: float) -> np.ndarray:
    """A 1/f**slope tilt between 4th-order-like high-pass `low` and low-pass `high`."""
    with np.errstate(divide="ignore"):
        tilt = np.maximum(f, 1.0) ** -slope
        highpass = 1 / np.sqrt(1 + (low / np.maximum(f, 1e-3)) ** 4)
    lowpass = 1 / np.sqrt(1 + (f / high) ** 4)
    result: np.ndarray = tilt * highpass * lowpass
    return result


def _slow_wobble(rng: np.random.Generator, n: int, depth: float,
                 cycles: Sequence[int]) -> np.ndarray:
    """1 + a few slow sines with whole cycles per loop (so it wraps): a gentle drift."""
    t = np.arange(n) / n
    wobble = np.ones(n)
    for k in cycles:
        wobble += depth / len(cycles) * np.sin(2 * np.pi * (k * t + rng.uniform()))
    return wobble


def _rain(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Soft rain: pink-ish noise band-limited to 300 Hz-3.5 kHz (the hiss of nearer rain
    above that is what makes recorded rain tiring), drifting slowly by about +-1.5 dB,
    with sparse droplets: about 7 a second, short damped pings of 1.6-4.2 kHz with
    random levels, placed around the loop."""
    wave = _shaped_noise(rng, n, rate, 0.5, 300.0, 3500.0)
    wave *= _slow_wobble(rng, n, 0.35, (3, 7, 13))
    count = 7 * n // rate
    top = min(4200.0, 0.4 * rate)
    freqs = np.exp(rng.uniform(np.log(min(1600.0, top / 2)), np.log(top), count))
    taus = rng.uniform(0.003, 0.009, count)
    levels = np.exp(rng.normal(np.log(1.4), 0.5, count))
    starts = rng.integers(0, n, count)
    length = int(0.06 * rate)
    t = np.arange(length) / rate
    onset = np.minimum(t / 0.001, 1.0)  # 1 ms: a soft drop, not a click
    drops = (levels[:, None] * onset * np.exp(-t / taus[:, None])
             * np.sin(2 * np.pi * freqs[:, None] * t))
    np.add.at(wave, (starts[:, None] + np.arange(length)) % n, drops)
    return wave


def _surf(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Distant surf: brown (1/f^2) noise below 700 Hz for the body, swelling and
    receding over waves of 8-12 s (never to silence), with a brighter wash of 400 Hz-3 kHz
    noise that peaks with each crest, as breaking foam does."""
    periods = rng.uniform(8.0, 12.0, max(round(n / rate / 10), 1))
    edges = np.round(np.concatenate([[0.0], np.cumsum(periods)]) / periods.sum() * n)
    edges = edges.astype(np.int64)
    heights = rng.uniform(0.7, 1.0, periods.size)
    index = np.searchsorted(edges, np.arange(n), side="right") - 1
    phase = (np.arange(n) - edges[index]) / (edges[index + 1] - edges[index])
    rise = 0.6  # waves build slowly and fall away faster
    swell = np.where(phase < rise, np.sin(np.pi / 2 * phase / rise) ** 2,
                     np.cos(np.pi / 2 * (phase - rise) / (1 - rise)) ** 2) * heights[index]
    body = _shaped_noise(rng, n, rate, 1.0, 40.0, 700.0, shape=0.30 + 0.70 * swell)
    wash = _shaped_noise(rng, n, rate, 0.5, 400.0, 3000.0, shape=swell**3)
    result: np.ndarray = body + 0.35 * wash
    return result


def _drone(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """A warm low chord (G2 D3 G3 B3 D4: an open G major, the third kept soft and high so
    the low end stays clean), each note a pair of sines 0.1-0.25 Hz apart so it beats
    slowly (every 4-10 s), with soft 2nd and 3rd harmonics, each note swelling on its own
    slow cycle. Every frequency is a whole number of cycles per loop (looked up in one
    sine table by exact integer phase), so the loop is exactly periodic."""
    seconds = n / rate
    table = np.sin(2 * np.pi * np.arange(n) / n).astype(np.float32)
    steps = np.arange(n, dtype=np.int64)
    wave = np.zeros(n, dtype=np.float32)
    notes = ((98.0, 1.0), (146.83, 0.7), (196.0, 0.55), (246.94, 0.22), (293.66, 0.3))
    for hz, level in notes:
        beat = rng.uniform(0.1, 0.25)
        swell = _slow_wobble(rng, n, 0.3, (int(rng.integers(1, 4)),)).astype(np.float32)
        voice = np.zeros(n, dtype=np.float32)
        for harmonic, weight in ((1, 1.0), (2, 0.25), (3, 0.08)):
            for detune in (-beat / 2, beat / 2):
                cycles = round((hz + detune) * harmonic * seconds)
                if cycles / seconds >= 0.45 * rate:
                    continue
                offset = int(rng.integers(0, n))
                voice += weight * table[(cycles * steps + offset) % n]
        wave += np.float32(level) * voice * swell
    return wave


_MAKERS = {"rain": _rain, "surf": _surf, "drone": _drone}
_SEEDS = {"rain": 11, "surf": 23, "drone": 37}
