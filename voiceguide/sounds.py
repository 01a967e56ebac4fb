"""Cues made in code, so the project needs no audio assets.

A client follows the track with eyes closed and hands busy, so every cue must be told
apart by ear alone, never startle, and never mask or compete with the voice:

- Every sound is a few struck partials with their own exponential decays (how a struck
  bowl, bar or block actually rings), shaped by a soft attack (no click) and a fade to
  exact zero at its end (no click into the silence after it).
- Each cue has a fixed *score* per style (which notes, when, how long), so its length is
  the same on every call and the planner can count on `cue_ms`.
- Levels are set by measurement, not by peak: every cue is scaled to a loudness a fixed
  number of LU below a typical espeak-ng voice (see `cue_loudness`). A bright bell and a
  low block at the same peak sound very different; at the same loudness they don't.
- Cues are trimmed like speech (`voiceguide.pcm.trim`), so the silence after a cue starts
  where it stops being heard.

The cues (what they mean to the client), and their lengths in seconds (trimmed, at
22050 Hz; other rates differ by at most 10 ms; `cue_ms` gives the exact value):

==============  =====  =====  =====  =================================================
cue             bowl   chime  wood   why
==============  =====  =====  =====  =================================================
``chime``       2.40   2.39   0.71   a script's own ``- chime``: one clear strike
``bell``        1.20   1.08   1.06   next technique: short, marks the change without
                                     holding the session up
``closing``     3.18   3.35   3.00   end of a routine: three gentle strikes falling
                                     through a major triad (a falling chord sounds
                                     finished)
``hold_start``  0.21   0.18   0.17   stillness begins: one soft, low, damped tap, felt
                                     more than heard, so it doesn't break the stillness
``hold_end``    0.67   0.62   0.65   the hold is over: two quick notes *rising*;
                                     longer, higher and two-toned, so it can't be taken
                                     for the start with eyes closed
==============  =====  =====  =====  =================================================

Styles: ``bowl`` (default) warm singing-bowl strikes; ``chime`` the original bright
small bell; ``wood`` a soft hollow wooden block, for clients who find bells too bright.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from voiceguide.errors import SettingsError
from voiceguide.lazy import LazyModule
from voiceguide.loudness import pyloudnorm_lufs
from voiceguide.model import Clip, CueName
from voiceguide.pcm import KEEP_MARGIN_MS, to_int16, trim
from voiceguide.text import did_you_mean

if TYPE_CHECKING:
    import numpy as np

    from voiceguide.cache import ClipCache
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild takes its cues from the cache

STYLES: tuple[str, ...] = ("bowl", "chime", "wood")
DEFAULT_STYLE = "bowl"
CUE_NAMES: tuple[CueName, ...] = get_args(CueName)

# espeak-ng (en-us+f3, 140 wpm, volume 1) speaks at about -21 LUFS integrated (-20.3
# measured over five of the library's sentences). Cues are set relative to it; the whole
# track is loudness-normalized afterwards, so only the difference matters.
REFERENCE_VOICE_LUFS = -21.0
# How far below the voice each cue sits, by `cue_loudness`. The old chime (peak -12 dBFS)
# measured about 5 LU below: clearly heard, not startling. Marking cues sit 6 LU below,
# the hold cues 8: they fall into the stillness itself.
BELOW_VOICE_LU: dict[CueName, float] = {
    "chime": 6.0, "bell": 6.0, "closing": 6.0, "hold_start": 8.0, "hold_end": 8.0}
MAX_PEAK_DBFS = -6.0  # never drive the limiter harder than the voice does
_GATE_BLOCK_S = 0.4  # BS.1770 gating block: shorter cues are measured padded to one block


# --------------------------------------------------------------------------- timbres


@dataclass(frozen=True)
class _Partial:
    ratio: float  # frequency relative to the note
    level: float
    decay_s: float  # time constant of the exponential decay
    beat_hz: float = 0.0  # a bowl's partials are split doublets: they beat slowly


@dataclass(frozen=True)
class _Timbre:
    partials: tuple[_Partial, ...]
    attack_ms: float  # soft mallet: a raised-cosine onset instead of a click
    knock: float = 0.0  # level of a short low-passed noise burst: the wooden "tok"


# A singing bowl: partials near 1 : 2.7 : 5.1 : 8.2 with long, slow-beating decays, and a
# strong second partial; struck with felt (12 ms onset), so it is warm rather than bright.
_BOWL = _Timbre((
    _Partial(1.0, 1.0, 1.4, 0.8), _Partial(2.71, 0.55, 0.9, 1.7),
    _Partial(5.12, 0.22, 0.45, 2.6), _Partial(8.21, 0.08, 0.25, 3.1)), attack_ms=12.0)
# The old chime: a small struck bar (free-free bar ratios 1 : 2.76 : 5.40 : 8.93), bright.
_BAR = _Timbre((
    _Partial(1.0, 1.0, 1.2), _Partial(2.76, 0.45, 0.7), _Partial(5.40, 0.20, 0.35),
    _Partial(8.93, 0.08, 0.2)), attack_ms=8.0)
# A hollow wooden block: one main resonance that dies within a tenth of a second, weak
# inharmonic upper modes, and a soft knock of noise; 3 ms onset so it stays soft.
_WOOD = _Timbre((
    _Partial(1.0, 1.0, 0.09), _Partial(2.41, 0.30, 0.035), _Partial(3.93, 0.10, 0.015)),
    attack_ms=3.0, knock=0.25)


@dataclass(frozen=True)
class _Note:
    at_s: float
    hz: float
    level: float = 1.0
    decay: float = 1.0  # scales every partial's decay: shorter for damped taps


@dataclass(frozen=True)
class _Score:
    timbre: _Timbre
    notes: tuple[_Note, ...]
    ms: int  # synthesized length (the trimmed clip is at most this long)
    fade_ms: int  # a raised-cosine fade to exact zero over the end


# Pitches: bowl in D major (warm, low), chime an octave brighter, wood around the voice's
# own register but damped. Closings fall through a major triad; hold ends rise a fifth.
_SCORES: dict[str, dict[CueName, _Score]] = {
    "bowl": {
        "chime": _Score(_BOWL, (_Note(0.0, 293.7),), 2600, 700),
        "bell": _Score(_BOWL, (_Note(0.0, 440.0, decay=0.45),), 1300, 400),
        "closing": _Score(_BOWL, (_Note(0.0, 440.0, decay=0.8), _Note(0.7, 370.0, 0.9, 0.8),
                                  _Note(1.4, 293.7, 0.85)), 3600, 900),
        "hold_start": _Score(_BOWL, (_Note(0.0, 196.0, decay=0.05),), 250, 90),
        "hold_end": _Score(_BOWL, (_Note(0.0, 392.0, 0.8, 0.2), _Note(0.22, 587.3, 1.0, 0.25)),
                           850, 300),
    },
    "chime": {
        "chime": _Score(_BAR, (_Note(0.0, 660.0),), 2500, 300),  # the original chime
        "bell": _Score(_BAR, (_Note(0.0, 880.0, decay=0.5),), 1200, 350),
        "closing": _Score(_BAR, (_Note(0.0, 880.0, decay=0.7), _Note(0.7, 740.0, 0.9, 0.8),
                                 _Note(1.4, 587.3, 0.85, 1.2)), 3700, 900),
        "hold_start": _Score(_BAR, (_Note(0.0, 523.3, decay=0.05),), 200, 80),
        "hold_end": _Score(_BAR, (_Note(0.0, 784.0, 0.8, 0.25), _Note(0.2, 1174.7, 1.0, 0.3)),
                           700, 250),
    },
    "wood": {
        "chime": _Score(_WOOD, (_Note(0.0, 392.0, decay=1.3), _Note(0.35, 392.0, 0.6, 1.3)),
                        900, 250),
        "bell": _Score(_WOOD, (_Note(0.0, 523.3), _Note(0.35, 392.0, 0.9, 2.5)), 1400, 300),
        "closing": _Score(_WOOD, (_Note(0.0, 523.3), _Note(0.9, 440.0, 0.9),
                                  _Note(2.0, 349.2, 0.85, 3.5)), 3500, 600),
        "hold_start": _Score(_WOOD, (_Note(0.0, 261.6, decay=0.5),), 220, 70),
        "hold_end": _Score(_WOOD, (_Note(0.0, 392.0, 0.8), _Note(0.25, 587.3, 1.0, 1.6)),
                           800, 250),
    },
}


# --------------------------------------------------------------------------- public API


def cue_style_problem(style: str) -> str | None:
    """None for a known style, else a one-line message naming the choices."""
    if style in STYLES:
        return None
    near = did_you_mean(style, STYLES)
    return f"unknown cue style {style!r} (choose one of {', '.join(STYLES)}" + (
        f"; {near})" if near else ")")


def check_style(style: str) -> str:
    """`style`, or SettingsError when it is not one of STYLES."""
    problem = cue_style_problem(style)
    if problem is not None:
        raise SettingsError(problem, hint=f"use one of {', '.join(STYLES)}")
    return style


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """What cues are made by: this module, trimming, and the loudness meter (its filter
    coefficients included)."""
    from voiceguide import loudness, pcm

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(pcm.__file__).read_bytes())
    digest.update(Path(loudness.__file__).read_bytes())
    return digest.hexdigest()


def cue_key(name: CueName, frame_rate: int, style: str) -> str:
    """The render-cache key of a cue: changes whenever the code that makes it does."""
    blob = f"cue|{_code_digest()}|{style}|{name}|{frame_rate}"
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Cues:
    """Every cue of one style at one frame rate: what assembling a routine needs."""

    style: str
    frame_rate: int
    clips: Mapping[CueName, Clip]

    def __getitem__(self, name: CueName) -> Clip:
        return self.clips[name]


def load_cues(style: str, frame_rate: int, cache: ClipCache | None = None) -> Cues:
    """Every cue of `style` at `frame_rate`, from the render cache when it has them
    (making one synthesizes and measures it, with numpy, which a no-op rebuild never
    imports), else made and put there."""
    clips: dict[CueName, Clip] = {}
    for name in CUE_NAMES:
        key = cue_key(name, frame_rate, style)
        clip = cache.get(key) if cache else None
        if clip is None:
            clip = cue(name, frame_rate, style)
            if cache:
                cache.put(key, clip)
        clips[name] = clip
    return Cues(style, frame_rate, clips)


def cue(name: CueName, frame_rate: int, style: str = DEFAULT_STYLE) -> Clip:
    """The cue `name` in `style` at `frame_rate`: deterministic (the same bytes on every
    call), starting from zero, ending in exact zero, trimmed like speech, and scaled to
    BELOW_VOICE_LU[name] under REFERENCE_VOICE_LUFS (by `cue_loudness`)."""
    return _make_cue(name, frame_rate, style)


@lru_cache(maxsize=64)
def _make_cue(name: CueName, frame_rate: int, style: str) -> Clip:
    score = _SCORES[check_style(style)].get(name)
    if score is None:
        raise ValueError(f"unknown cue {name!r}")  # unreachable: CueName is closed
    wave = _render(score, frame_rate)
    target = REFERENCE_VOICE_LUFS - BELOW_VOICE_LU[name]
    first = wave * 10 ** ((target - cue_loudness(wave, frame_rate)) / 20)
    # Trimmed at its final level (trim judges absolute levels), then measured again:
    # cutting the inaudible tail changes what the gating averages over.
    trimmed = trim(Clip(_to_pcm(first), frame_rate))
    out = np.frombuffer(trimmed.pcm, dtype="<i2") / 32768.0
    gain = 10 ** ((target - cue_loudness(out, frame_rate)) / 20)
    gain = min(gain, 10 ** (MAX_PEAK_DBFS / 20) / float(np.max(np.abs(out))))  # safety net
    out = out * gain
    # trim keeps a margin of near-silence (under -45 dBFS); bring its last samples to
    # exact zero so the cue hands over to digital silence without the faintest step.
    tail = min(out.size, frame_rate * KEEP_MARGIN_MS // 1000)
    out[out.size - tail:] *= np.linspace(1.0, 0.0, tail)
    return Clip(_to_pcm(out), frame_rate)


def cue_ms(name: CueName, style: str = DEFAULT_STYLE, frame_rate: int = 22050) -> int:
    """The exact length of `cue(name, frame_rate, style)` in ms (cached: cheap to call)."""
    return cue(name, frame_rate, style).ms


def cue_loudness(samples: np.ndarray, frame_rate: int) -> float:
    """A cue's loudness in LUFS: BS.1770 integrated (gated) loudness, as pyloudnorm
    measures the voice (`pyloudnorm_lufs`: its figure, computed without subnormal
    numbers), with a cue shorter than one 400 ms gating block padded with silence to one
    block. For the short hold cues that is their energy spread over 400 ms: an honest
    "momentary loudness" reading, if a little under what the ear hears for a very short
    tap (the ear integrates over 100-200 ms). `samples`: floats in -1..1 or int16."""
    x = np.asarray(samples, dtype=np.float64)
    if np.issubdtype(np.asarray(samples).dtype, np.integer):
        x = x / 32768.0
    block = math.ceil(_GATE_BLOCK_S * frame_rate)
    if x.size < block:
        x = np.concatenate([x, np.zeros(block - x.size)])
    return pyloudnorm_lufs(x, frame_rate)


# --------------------------------------------------------------------------- synthesis


def _to_pcm(samples: np.ndarray) -> bytes:
    return to_int16(samples * 32768.0).tobytes()


def _render(score: _Score, frame_rate: int) -> np.ndarray:
    n = score.ms * frame_rate // 1000
    wave = np.zeros(n)
    for index, note in enumerate(score.notes):
        start = round(note.at_s * frame_rate)
        wave[start:] += note.level * _strike(score.timbre, note, n - start, frame_rate, index)
    fade = min(n, score.fade_ms * frame_rate // 1000)
    wave[n - fade:] *= np.cos(np.linspace(0.0, np.pi / 2, fade)) ** 2
    wave[-1] = 0.0
    return wave


def _strike(timbre: _Timbre, note: _Note, n: int, frame_rate: int, seed: int) -> np.ndarray:
    """One struck note: decaying partials under a raised-cosine attack. Partials above
    0.45 * frame_rate are left out (no aliasing at 16 kHz)."""
    t = np.arange(n) / frame_rate
    out = np.zeros(n)
    for p in timbre.partials:
        freq = note.hz * p.ratio
        if freq >= 0.45 * frame_rate:
            continue
        decay = np.exp(-t / (p.decay_s * note.decay))
        if p.beat_hz:  # a doublet: two equal halves p.beat_hz apart beat slowly
            tone = 0.5 * (np.sin(2 * np.pi * freq * t)
                          + np.sin(2 * np.pi * (freq + p.beat_hz) * t + 0.7))
        else:
            tone = np.sin(2 * np.pi * freq * t)
        out += p.level * tone * decay
    if timbre.knock:
        # A few ms of noise, low-passed by a running mean: the contact of a soft beater
        # on wood. Seeded, so the cue is the same on every call.
        length = min(n, max(frame_rate * 4 // 1000, 1))
        noise = np.random.default_rng(1000 + seed).standard_normal(length)
        width = max(frame_rate // 2500, 1)
        noise = np.convolve(noise, np.ones(width) / width, mode="same")
        out[:length] += timbre.knock * noise * np.exp(-np.arange(length) / (length / 4))
    attack = min(n, max(round(timbre.attack_ms * frame_rate / 1000), 2))
    out[:attack] *= np.sin(np.linspace(0.0, np.pi / 2, attack)) ** 2
    return out
