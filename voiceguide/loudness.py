"""Loudness: measure per ITU-R BS.1770 (as pyloudnorm does) and bring a track to a target
integrated loudness with its true peak under a ceiling.

espeak-ng speaks at about -21 LUFS with peaks near -1.4 dBTP, so the +5 dB to reach -16
LUFS would clip. Gain alone is not enough: a look-ahead limiter holds the true peak under
the ceiling. No maintained library offers a sample-exact, true-peak limiter on numpy
arrays (pedalboard's Limiter judges sample peaks, not inter-sample peaks), so the limiter
below is written by hand; it is the classic "minimum filter, then smoothing" design.

Only numpy is used here, no scipy: importing scipy.signal takes 1.0-1.2 s (scipy 1.17
imports its stats, interpolation and optimization with it), which a one-sentence edit
waited for. The few filters the meter and the limiter need are written with numpy (the
K-weighting as a block filter, the interpolator from a Kaiser window, the limiter's
sliding minimum and average) and tested equal to scipy's and pyloudnorm's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from voiceguide.errors import SettingsError
from voiceguide.lazy import LazyModule
from voiceguide.model import Clip
from voiceguide.pcm import to_int16

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")  # imported on first use: a no-op rebuild never needs it


def import_loudness_libraries() -> None:
    """numpy is imported where it is first used (a no-op rebuild never needs it), and
    importing it takes about 0.1 s: a build that makes audio calls this while the voice
    speaks, to have it ready."""
    import numpy  # noqa: F401 - importing is the point


OVERSAMPLE = 4  # BS.1770-4 Annex 2: true peak from 4x oversampling at 44.1/48 kHz
LIMITER_RADIUS_MS = 15  # look-ahead and release of the limiter: gentle on speech
# How much of a dB of gain the loudness gains while the limiter works on speech (0.55-0.65
# measured on the default routine's tracks): normalization's first guess for its step.
LIMITED_SLOPE = 0.6
SEARCH_TRIES = 20  # the secant search converges in 3-6 (see normalization)
ENCODER_MARGIN_DB = 1.3  # lossy encoders overshoot (0.3-1.0 dB measured): limit below
_CHUNK = 1 << 18  # samples oversampled at a time: bounds memory on long routines
BLOCK = 32  # samples per step of the limiter's gain curve (1.5 ms at 22.05 kHz)


@dataclass(frozen=True)
class LoudnessTarget:
    lufs: float = -16.0  # podcast platforms' target for speech
    true_peak_db: float = -1.0

    def check(self) -> LoudnessTarget:
        """Raise SettingsError for targets no phone listener would want."""
        if not -30 <= self.lufs <= -10:
            raise SettingsError(f"a loudness target of {self.lufs:g} LUFS is outside -30 to "
                                "-10", "podcast apps expect -16")
        if not -9 <= self.true_peak_db <= 0:
            raise SettingsError(f"a true-peak ceiling of {self.true_peak_db:g} dBTP is "
                                "outside -9 to 0", "-1 is usual")
        return self

    def shifted(self, db: float) -> LoudnessTarget:
        return LoudnessTarget(self.lufs + db, self.true_peak_db + db)

    def misses(self, measured: Loudness) -> bool:
        """Outside what we promise: +-0.5 LU (platforms allow +-1) or over the ceiling."""
        return abs(measured.lufs - self.lufs) > 0.5 or measured.true_peak_db > \
            self.true_peak_db


@dataclass(frozen=True)
class Loudness:
    lufs: float  # integrated loudness (gated), LUFS
    true_peak_db: float  # dBTP

    def to_json(self) -> dict[str, float]:
        return {"integrated_lufs": round(self.lufs, 2), "true_peak_dbtp": round(
            self.true_peak_db, 2)}


# Digital silence in the meter (see k_weighted): a run of exact zeros is filtered a step
# at a time until each filter state is under SETTLED (-240 dBFS), then skipped.
SETTLED = 1e-12


@lru_cache(maxsize=8)
def _settle_step(rate: int) -> int:
    """Samples per step: over one, the fastest-decaying state of the K-weighting (the
    shelf's poles: 0.71 at 22.05 kHz) falls by 1e-100, so from SETTLED a step can't take
    it near subnormal numbers (2.2e-308); nor can the zeros filtered as they are (runs
    too short to hold a whole aligned step, under two steps: 1e-200), from the level of
    any sound. About 680 samples at 22.05 kHz (31 ms at any rate)."""
    radius = min(float(np.abs(np.roots(section[3:])).max()) for section in _k_weighting(rate))
    return max(int(100 * math.log(10) / -math.log(radius)), 1)


def _zero_runs(samples: np.ndarray, step: int) -> list[tuple[int, int]]:
    """(start, stop) of the runs of exact zeros in `samples` made of whole steps (aligned
    to `step`): every run of 2 * step zeros or more has one inside it. Judged a step at
    a time, which costs a fraction of finding every zero."""
    count = samples.size // step
    silent = ~samples[:count * step].reshape(count, step).any(axis=1)
    edges = np.flatnonzero(np.diff(silent, prepend=False, append=False))
    return [(int(a) * step, int(b) * step) for a, b in zip(edges[::2], edges[1::2],
                                                            strict=True)]


@lru_cache(maxsize=8)
def _k_weighting(rate: int) -> np.ndarray:
    """BS.1770's K-weighting as second-order sections (rows b0 b1 b2 1 a1 a2): the 4 dB
    high shelf at 1500 Hz, then the 38 Hz high-pass, from the Audio EQ Cookbook formulas
    with the parameters pyloudnorm uses (its IIRfilter "high_shelf" and "high_pass",
    tested equal): importing pyloudnorm would import scipy."""
    sections = []
    for gain_db, q, centre in ((4.0, 1 / math.sqrt(2), 1500.0), (0.0, 0.5, 38.0)):
        a = 10 ** (gain_db / 40)
        w0 = 2 * math.pi * centre / rate
        cos, alpha = math.cos(w0), math.sin(w0) / (2 * q)
        if gain_db:  # the high shelf
            lift = 2 * math.sqrt(a) * alpha
            b = [a * ((a + 1) + (a - 1) * cos + lift), -2 * a * ((a - 1) + (a + 1) * cos),
                 a * ((a + 1) + (a - 1) * cos - lift)]
            den = [(a + 1) - (a - 1) * cos + lift, 2 * ((a - 1) - (a + 1) * cos),
                   (a + 1) - (a - 1) * cos - lift]
        else:  # the high-pass
            b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
            den = [1 + alpha, -2 * cos, 1 - alpha]
        sections.append(np.array(b + den) / den[0])
    return np.array(sections)


def _recursion(sections: np.ndarray, samples: np.ndarray, state: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """`samples` through the sections one sample at a time, in plain Python, as scipy's
    sosfilt computes it (transposed direct form II, state (z1, z2) per section, flat):
    the outputs, and the state after each sample. Slow: only to derive the block form
    from (a few thousand samples, once per frame rate)."""
    z = [float(v) for v in state]
    outputs, states = [], []
    for value in samples.tolist():
        for k, (b0, b1, b2, _, a1, a2) in enumerate(sections.tolist()):
            y = b0 * value + z[2 * k]
            z[2 * k] = b1 * value - a1 * y + z[2 * k + 1]
            z[2 * k + 1] = b2 * value - a2 * y
            value = y
        outputs.append(value)
        states.append(list(z))
    return np.array(outputs), np.array(states).reshape(len(states), len(z))


LIFT = 32  # samples per block of the K-weighting's block form
# Blocks multiplied at a time: 128 x 32 x 32 multiply-adds is under OpenBLAS's threshold
# (2^18) for a second thread, which made the product 3 to 7 times slower while the
# other core was busy (measured on 2 cores): one thread, and the copies stay small.
_ROWS = 128
_NEGLIGIBLE = 1e-150  # entries of the leaps smaller than this are set to zero (below)


@dataclass(frozen=True, eq=False)
class BlockForm:
    """The K-weighting as a block filter: the outputs of a block of LIFT samples and the
    state after it are matrix products of its samples and the state before it, which
    numpy computes at BLAS speed (scipy's sosfilt loops over samples in C; numpy has no
    recursive filter, and one in Python would be over 100 times slower). Every matrix is the
    sample filter's response to a unit sample or a unit state (see `block_form`), so the
    two agree to rounding: within 1e-10 of the peak (4e-11 measured over a 29-minute
    track; the integrated loudness within 1e-12 LU), tested to 1e-9 against sosfilt.
    States are flat: (z1, z2) of the shelf, then of the high-pass."""

    within: np.ndarray  # (LIFT, LIFT): a block's samples -> its outputs from zero state
    impulse_states: np.ndarray  # (LIFT + 1, order): the state n samples after a unit sample
    free: np.ndarray  # (order, span): a state -> the outputs of the zeros after it
    decay: np.ndarray  # (span + 1, order, order): a state -> the state n zeros later
    leaps: tuple[np.ndarray, ...]  # decay[LIFT] to the powers 1, 2, 4, 8, ...


@lru_cache(maxsize=8)
def block_form(rate: int) -> BlockForm:
    """The block form of the K-weighting at `rate`, derived from `_recursion`; `free` and
    `decay` reach over a settling step (see k_weighted)."""
    sections = _k_weighting(rate)
    order, span = 2 * len(sections), max(_settle_step(rate), LIFT)
    outputs, states = _recursion(sections, np.eye(1, LIFT)[0], np.zeros(order))
    within = np.zeros((LIFT, LIFT))
    for row in range(LIFT):
        within[row, row:] = outputs[:LIFT - row]
    free, decay = np.zeros((order, span)), np.zeros((span + 1, order, order))
    decay[0] = np.eye(order)
    for unit in range(order):
        free[unit], decay[1:, unit] = _recursion(sections, np.zeros(span), np.eye(order)[unit])
    leaps = [decay[LIFT]]
    for _ in range(40):  # 2^40 blocks: more than any audio
        # What a leap carries over thousands of blocks is far under rounding: set to
        # zero, and powers of it never go subnormal (nor, through them, the states).
        leap = leaps[-1] @ leaps[-1]
        leap[np.abs(leap) < _NEGLIGIBLE] = 0.0
        leaps.append(leap)
    return BlockForm(within, np.vstack([np.zeros(order), states]), free, decay, tuple(leaps))


def _filtered(form: BlockForm, samples: np.ndarray, state: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """`samples` through the K-weighting from flat `state`: outputs, and the state after.

    Block by block: each block's own part (`within`), and its state's part, which needs
    the state at every block start: those follow s[k+1] = s[k] @ decay[LIFT] + u[k]
    (u[k]: the block's samples' part), solved for all k at once by doubling (after the
    step with leap 2^j, each s[k] holds the sum over the 2^(j+1) blocks before it)."""
    count, rest = divmod(samples.size, LIFT)
    out = np.empty(samples.size)
    if count:
        blocks = samples[:count * LIFT].reshape(count, LIFT)
        own = out[:count * LIFT].reshape(count, LIFT)
        after = np.empty((count, state.size))  # the state after each block
        into_state = form.impulse_states[LIFT:0:-1]
        for row in range(0, count, _ROWS):
            rows = slice(row, row + _ROWS)
            np.matmul(blocks[rows], form.within, out=own[rows])
            np.matmul(blocks[rows], into_state, out=after[rows])
        after[0] += state @ form.leaps[0]
        reach = 1
        for leap in form.leaps:
            if reach >= count:
                break
            after[reach:] += after[:-reach] @ leap  # (the product is made before the sum)
            reach *= 2
        own[0] += state @ form.free[:, :LIFT]
        own[1:] += after[:-1] @ form.free[:, :LIFT]
        state = after[-1]
    if rest:
        tail = samples[count * LIFT:]
        out[count * LIFT:] = tail @ form.within[:rest, :rest] + state @ form.free[:, :rest]
        state = state @ form.decay[rest] + tail @ form.impulse_states[rest:0:-1]
    return out, state


def _settling(form: BlockForm, count: int, state: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """The outputs of `count` zeros (at most a settling step) after flat `state`, and the
    state after them."""
    return state @ form.free[:, :count], state @ form.decay[count]


class LoudnessMeter:
    """BS.1770-4 integrated loudness of mono audio fed in pieces (int16, or floats in
    -1..1), the way pyloudnorm measures it (400 ms blocks every 100 ms, -70 LUFS absolute
    and -10 LU relative gates), filtering a chunk at a time: memory stays flat however
    long the routine, and a routine can be measured track after track."""

    def __init__(self, frame_rate: int, block_energies: bool = False, cell: int = 0) -> None:
        self._rate = frame_rate
        self._hop = round(0.1 * frame_rate)
        self._state = np.zeros((_k_weighting(frame_rate).shape[0], 2))
        self._rest = np.zeros(0)  # squares of the filtered samples short of a hop
        self._quarters: list[np.ndarray] = []  # energy of each 100 ms
        # With `cell` (a divisor of the hop: see `cell_samples`), also the energy of each
        # `cell` samples, so that files can be metered back to back later (`cells_lufs`).
        assert cell == 0 or self._hop % cell == 0
        self._cell = cell
        self._cell_rest = np.zeros(0)
        self._cells: list[np.ndarray] = []
        # With block_energies, also the energy of each stretch between a BLOCK's edge and
        # a quarter's, with the block and quarter it is in (see `predicted_lufs`).
        self._fed = 0
        self._pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = \
            [] if block_energies else None

    @property
    def piece(self) -> int:
        """Samples filtered at a time (10 s)."""
        return self._hop * 100

    def feed(self, samples: np.ndarray) -> None:
        integers = np.issubdtype(samples.dtype, np.integer)
        for start in range(0, samples.size, self.piece):
            piece = samples[start:start + self.piece].astype(np.float64)
            if integers:
                piece *= 1 / 32768
            filtered, self._state = k_weighted(self._rate, piece, self._state)
            squares = np.square(filtered, out=filtered)
            if self._pieces is not None:
                self._record(squares)
            if self._cell:
                cells = np.concatenate([self._cell_rest, squares])
                whole = cells.size // self._cell * self._cell
                self._cells.append(cells[:whole].reshape(-1, self._cell).sum(
                    axis=1).astype(np.float32))
                self._cell_rest = cells[whole:]
            self._fed += squares.size
            joined = np.concatenate([self._rest, squares])
            whole = joined.size // self._hop * self._hop
            self._quarters.append(joined[:whole].reshape(-1, self._hop).sum(axis=1))
            self._rest = joined[whole:]

    def lufs(self) -> float:
        """-inf for silence or less than one block."""
        quarters = np.concatenate(self._quarters) if self._quarters else np.zeros(0)
        return _quarters_lufs(quarters, self._hop)

    def cells(self) -> list[np.ndarray]:
        """The energy of each whole `cell` of samples fed (float32: under 1e-6 LU off), in
        the pieces they were fed in (never joined: a track's cells are a fifth of its
        PCM)."""
        return list(self._cells)

    def _record(self, squares: np.ndarray) -> None:
        """The energy of each stretch of `squares` between block and quarter edges."""
        first, stop = self._fed, self._fed + squares.size
        edges = np.union1d(np.arange(-(-first // BLOCK) * BLOCK, stop, BLOCK),
                           np.arange(-(-first // self._hop) * self._hop, stop, self._hop))
        starts = np.union1d([first], edges)
        assert self._pieces is not None
        # Only stretches with sound (the pauses and holds are half a routine), in float32
        # and int32: 12 bytes a stretch, under a tenth of the audio's own 2 bytes a sample
        energies = np.add.reduceat(squares, starts - first)
        sound = energies > 0
        self._pieces.append((energies[sound].astype(np.float32),
                             (starts[sound] // BLOCK).astype(np.int32),
                             (starts[sound] // self._hop).astype(np.int32)))

    def predicted_lufs(self, gain: float, curve: np.ndarray | None) -> float:
        """The loudness the audio fed would have times `gain` and a limiter's gain `curve`
        (its value at each BLOCK's centre), without filtering it again: the K-weighting is
        linear, so each stretch's energy is scaled by its block's gain squared and summed
        into the 100 ms quarters the meter gates. Exact without a curve; with one, close
        (within 1e-4 LU measured, up to 18 dB of gain into the limiter: the curve moves
        a little within a block, and the filter's memory reaches past it), so it guides
        the search for a gain and `normalization` measures the gain it finds."""
        assert self._pieces is not None, "made without block_energies"
        if len(self._pieces) != 1:  # joined once: a search predicts many times
            energies, blocks, quarter = (np.concatenate(a)
                                         for a in zip(*self._pieces, strict=True))
            self._pieces = [(energies, blocks, quarter)]
        (energies, blocks, quarter), count = self._pieces[0], self._fed // self._hop
        quarters = np.zeros(count + 1)
        for start in range(0, energies.size, _CHUNK):  # bounded temporaries
            part = slice(start, start + _CHUNK)
            weights = energies[part] if curve is None else \
                np.square(curve[blocks[part]], dtype=np.float32) * energies[part]
            quarters += np.bincount(quarter[part], weights, minlength=count + 1)
        return _quarters_lufs(quarters[:count] * gain**2, self._hop)


def cell_samples(frame_rate: int, frame: int) -> int:
    """The cell of `LoudnessMeter(cell=...)` for files `frame` samples apart: the
    largest that divides both the meter's 100 ms hop and the frame (9 samples for MP3 at
    22.05 kHz), so that files of whole frames, metered apart, can be metered back to back
    from their cells."""
    return math.gcd(round(0.1 * frame_rate), frame)


def cells_lufs(cells: Iterable[np.ndarray], frame_rate: int, cell: int) -> float:
    """The integrated loudness of files played back to back, from each one's cells
    (every file but the last a whole number of cells long), summed into the meter's
    100 ms quarters as they come (no joined copy). What the meter would read on the
    joined audio when each file ends in digital silence: the filter's memory of one
    file then reaches into the next only as a state under SETTLED, whose energy is under
    1e-20 of the quietest block the gate keeps."""
    hop = round(0.1 * frame_rate)
    per = hop // cell
    quarters: list[np.ndarray] = []
    rest = np.zeros(0, np.float64)
    for part in cells:
        joined = np.concatenate([rest, part])
        whole = joined.size // per * per
        quarters.append(joined[:whole].reshape(-1, per).sum(axis=1))
        rest = joined[whole:]
    return _quarters_lufs(np.concatenate([np.zeros(0), *quarters]), hop)


def _quarters_lufs(quarters: np.ndarray, hop: int) -> float:
    """Integrated loudness from the K-weighted energy of each 100 ms (`hop` samples)."""
    if quarters.size < 4:
        return -math.inf
    return _gated((quarters[:-3] + quarters[1:-2] + quarters[2:-1] + quarters[3:])
                  / (4 * hop))


def k_weighted(frame_rate: int, samples: np.ndarray, state: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """`samples` through the K-weighting from filter state `state` (one row per section,
    as scipy's sosfilt takes it; float64 out), and the state after them.

    Runs of digital silence (about half a routine: pauses and holds are exact zeros)
    are filtered only until the filter state has decayed under SETTLED; the state is
    then set to exact zero and the rest of the run is exact zero out. Filtering on would
    take the state down into subnormal numbers (under 2.2e-308), where rounding keeps it
    for good (a limit cycle), and subnormal arithmetic is about 20 times slower on Intel
    CPUs: most of the time of a build went there. What is left out is the response to a
    state under SETTLED (-240 dBFS): its energy is under 1e-14 of the quietest block the
    gate keeps, so the reading does not change (tested against filtering every sample,
    and against pyloudnorm)."""
    form, settle = block_form(frame_rate), _settle_step(frame_rate)
    flat = state.reshape(-1).astype(np.float64)
    out = np.zeros(samples.size)
    position = 0
    for first, stop in [*_zero_runs(samples, settle), (samples.size, samples.size)]:
        if first > position:
            out[position:first], flat = _filtered(form, samples[position:first], flat)
        position = first
        while position < stop and flat.any():
            step = min(position + settle, stop)
            out[position:step], flat = _settling(form, step - position, flat)
            # Each state on its own: the shelf's (fast) would reach subnormal numbers
            # while the high-pass's (slow) decays.
            flat[np.abs(flat) < SETTLED] = 0.0
            position = step
        position = stop
    return out, flat.reshape(state.shape)


def _gated(blocks: np.ndarray) -> float:
    """BS.1770 integrated loudness from the mean square of each 400 ms block."""
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(blocks)
    gated = blocks[loudness >= -70]
    if gated.size == 0:
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(gated.mean())) - 10
    kept = blocks[(loudness > relative) & (loudness > -70)]
    return -0.691 + 10 * math.log10(float(kept.mean()))


def pyloudnorm_lufs(samples: np.ndarray, frame_rate: int) -> float:
    """pyloudnorm's `Meter(frame_rate).integrated_loudness(samples)` (floats in -1..1, at
    least 400 ms), computed with the K-weighting above (no subnormal numbers). Its blocks
    differ from LoudnessMeter's at the end: it counts one more block when the audio ends
    past half a hop, reaching beyond the end. For short sounds set by it (the cues)."""
    x = np.asarray(samples, dtype=np.float64)
    filtered, _ = k_weighted(frame_rate, x, np.zeros((2, 2)))
    count = int(np.round((x.size / frame_rate - 0.4) / (0.4 * 0.25))) + 1
    bounds = [(int(0.4 * (j * 0.25) * frame_rate), int(0.4 * (j * 0.25 + 1) * frame_rate))
              for j in range(count)]  # pyloudnorm's own arithmetic, to the sample
    return _gated(np.array([np.sum(np.square(filtered[lo:hi])) for lo, hi in bounds])
                  * (1.0 / (0.4 * frame_rate)))


def program_lufs(samples: np.ndarray, frame_rate: int) -> float:
    """Integrated loudness of mono `samples` (see LoudnessMeter)."""
    meter = LoudnessMeter(frame_rate)
    meter.feed(samples)
    return meter.lufs()


def regrouped(pieces: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The samples of `pieces`, in order, cut again into pieces of exactly `size` (the
    last one shorter): fed these, a meter works on the same pieces as on all the samples
    at once, so its reading is the same to the bit."""
    held: list[np.ndarray] = []
    count = 0
    for piece in pieces:
        while piece.size:
            take = min(size - count, piece.size)
            held.append(piece[:take])
            count += take
            piece = piece[take:]
            if count == size:
                yield held[0] if len(held) == 1 else np.concatenate(held)
                held, count = [], 0
    if count:
        yield held[0] if len(held) == 1 else np.concatenate(held)


def streamed_lufs(pieces: Iterable[np.ndarray], frame_rate: int) -> float:
    """`program_lufs` of the samples of `pieces` back to back, never joined."""
    meter = LoudnessMeter(frame_rate)
    for piece in regrouped(pieces, meter.piece):
        meter.feed(piece)
    return meter.lufs()


@lru_cache(maxsize=1)
def _interpolator() -> np.ndarray:
    """The 4x interpolation filter scipy's resample_poly uses by default (a Kaiser-window
    design, 2 * 10 * OVERSAMPLE + 1 taps) as a polyphase matrix: oversampled point
    OVERSAMPLE * n + p is the dot product of samples n - 10 .. n + 10 with column p.
    The taps are scipy's `firwin(81, 1 / OVERSAMPLE, window=("kaiser", 5.0))`: a sinc
    cut off at the original Nyquist frequency, windowed, scaled to unit sum (tested)."""
    half = 10
    count = 2 * half * OVERSAMPLE + 1
    taps = np.sinc((np.arange(count) - (count - 1) / 2) / OVERSAMPLE) * np.kaiser(count, 5.0)
    taps /= taps.sum()
    matrix = np.zeros((2 * half + 1, OVERSAMPLE))
    for phase in range(OVERSAMPLE):
        for q in range(phase, taps.size, OVERSAMPLE):
            matrix[2 * half - (q - phase) // OVERSAMPLE, phase] = taps[q] * OVERSAMPLE
    return matrix


def _oversampled(rows: np.ndarray) -> np.ndarray:
    """Each row (float32) oversampled OVERSAMPLE times, zeros beyond its ends: what
    `resample_poly(rows, OVERSAMPLE, 1, axis=1)` gives (to float32 rounding), as one
    matrix product, about five times faster than its filter loop."""
    matrix = _interpolator().astype(np.float32)
    half = matrix.shape[0] // 2
    padded = np.pad(rows, ((0, 0), (half, half)))
    out = np.empty((rows.shape[0], rows.shape[1] * OVERSAMPLE), dtype=np.float32)
    for first in range(0, rows.shape[0], 4):  # the product copies its windows: 4 rows
        windows = np.lib.stride_tricks.sliding_window_view(  # at a time keep that small
            padded[first:first + 4], matrix.shape[0], axis=1)
        out[first:first + 4] = (windows @ matrix).reshape(windows.shape[0], -1)
    return out


@lru_cache(maxsize=1)
def _worst_overshoot() -> float:
    """How far above its input samples the 4x oversampled signal can ever reach: the
    largest sum of |taps| of any phase of the interpolation filter. About 2.24 (+7 dB)."""
    return float(np.abs(_interpolator()).sum(axis=0).max())


_PAD = 64  # > the filter's half length (10 input samples): segments join without errors
_SEGMENT = 64 * BLOCK  # samples oversampled together
_BATCH = 32  # segments oversampled in one call


def block_peaks(samples: np.ndarray, floor: float | None = None) -> np.ndarray:
    """The true peak of each BLOCK of samples (int16, or floats in -1..1): the largest
    |value| of its 4x oversampled points, and of the samples themselves.

    Oversampling is the costly part, so only blocks whose peak could reach `floor` are
    oversampled; the others get an upper bound (their neighbourhood's sample peak times
    the filter's worst overshoot), which is below `floor`. That is exact for a maximum
    (floor None: the largest sample peak, which the true peak is at least) and for a
    limiter whose ceiling, at its gain, is above floor. Float32 throughout, in chunks."""
    blocks = -(-samples.size // BLOCK)
    scale = np.float32(1 / 32768 if np.issubdtype(samples.dtype, np.integer) else 1.0)
    own = np.zeros(blocks, dtype=np.float32)
    for start in range(0, samples.size, _CHUNK):  # _CHUNK is a multiple of BLOCK
        piece = np.abs(samples[start:start + _CHUNK].astype(np.float32))
        piece = np.pad(piece, (0, -piece.size % BLOCK))
        own[start // BLOCK:start // BLOCK + piece.size // BLOCK] = piece.reshape(
            -1, BLOCK).max(axis=1) * scale
    near = own.copy()  # the filter reaches 10 samples into the neighbouring blocks
    near[1:] = np.maximum(near[1:], own[:-1])
    near[:-1] = np.maximum(near[:-1], own[1:])
    out = near * np.float32(_worst_overshoot())
    if floor is None:
        floor = float(own.max()) if own.size else 0.0
    per_segment = _SEGMENT // BLOCK
    segments = np.unique(np.nonzero(out >= floor)[0] // per_segment)
    for first in range(0, segments.size, _BATCH):
        batch = segments[first:first + _BATCH]
        rows = np.zeros((batch.size, _SEGMENT + 2 * _PAD), dtype=np.float32)
        for row, segment in enumerate(batch):
            lo = segment * _SEGMENT - _PAD
            piece = samples[max(lo, 0):lo + _SEGMENT + 2 * _PAD]
            rows[row, max(-lo, 0):max(-lo, 0) + piece.size] = piece * scale
        up = np.abs(_oversampled(rows))[
            :, _PAD * OVERSAMPLE:(_PAD + _SEGMENT) * OVERSAMPLE]
        peaks = up.reshape(batch.size, per_segment, -1).max(axis=2)
        for row, segment in enumerate(batch):
            span = slice(segment * per_segment, min((segment + 1) * per_segment, blocks))
            out[span] = np.maximum(peaks[row, :span.stop - span.start], own[span])
    return out


def true_peak_db(samples: np.ndarray) -> float:
    """The largest oversampled |value|, in dBTP."""
    peak = float(block_peaks(samples).max()) if samples.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


class TruePeakMeter:
    """`block_peaks` of audio fed in pieces (int16), holding only a few seconds of it:
    each window of _WINDOW samples is measured by `block_peaks` with a segment of the
    audio on either side (what its oversampling reaches into), so every block gets the
    value it gets when the whole is measured at once. With `floor` None (a maximum, as
    `true_peak_db`), blocks are oversampled where they could reach the largest sample
    peak so far, a lower floor than the whole's: more of them are oversampled, but none
    that could set the maximum is left out. With `keep`, every block's value is kept."""

    _WINDOW = 64 * _SEGMENT

    def __init__(self, floor: float | None = None, keep: bool = False) -> None:
        self._held = np.zeros(0, dtype="<i2")  # the window, a segment before it (not at
        self._before = 0  # the start) and what came after it
        self._fixed = floor
        self._floor = 0.0
        self._peak = 0.0
        self._kept: list[np.ndarray] | None = [] if keep else None

    def feed(self, samples: np.ndarray) -> None:
        self._held = np.concatenate([self._held, samples])
        while self._held.size >= self._before + self._WINDOW + _SEGMENT:
            self._measure(self._before + self._WINDOW)
            self._held = self._held[self._WINDOW + self._before - _SEGMENT:]
            self._before = _SEGMENT

    def _measure(self, end: int) -> None:
        window = self._held[self._before:end]
        if not window.size:
            return
        floor = self._fixed
        if floor is None:
            own = np.abs(window.astype(np.float32)).max() * np.float32(1 / 32768)
            floor = self._floor = max(self._floor, float(own))
        peaks = block_peaks(self._held[:end + _SEGMENT], floor)
        mine = peaks[self._before // BLOCK:-(-end // BLOCK)]
        self._peak = max(self._peak, float(mine.max()))
        if self._kept is not None:
            self._kept.append(mine)

    def _finish(self) -> None:
        self._measure(self._held.size)
        self._held, self._before = self._held[:0], 0

    def db(self) -> float:
        """The true peak of everything fed, in dBTP."""
        self._finish()
        return 20 * math.log10(self._peak) if self._peak > 0 else -math.inf

    def peaks(self) -> np.ndarray:
        """Every block's value (with `keep`), as `block_peaks` gives them."""
        self._finish()
        assert self._kept is not None
        return np.concatenate(self._kept) if self._kept else np.zeros(0, dtype=np.float32)


def streamed_block_peaks(pieces: Iterable[np.ndarray], floor: float) -> np.ndarray:
    """`block_peaks(samples, floor)` of the samples of `pieces` back to back."""
    meter = TruePeakMeter(floor, keep=True)
    for piece in pieces:
        meter.feed(piece)
    return meter.peaks()


def arrays(clip: Clip) -> Iterator[np.ndarray]:
    """A clip's samples, chunk by chunk (see Stitched)."""
    for chunk in clip.chunks():
        yield np.frombuffer(chunk, dtype="<i2")


def measure_pieces(pieces: Iterable[np.ndarray], frame_rate: int, cell: int = 0
                   ) -> tuple[Loudness, list[np.ndarray]]:
    """`measure` of 16-bit samples that come in pieces (a file as it is decoded), never
    holding more than a few seconds of them; and, with `cell`, the meter's cells (see
    `cells_lufs`)."""
    meter, peak = LoudnessMeter(frame_rate, cell=cell), TruePeakMeter()
    for piece in regrouped(pieces, meter.piece):
        meter.feed(piece)
        peak.feed(piece)
    return Loudness(meter.lufs(), peak.db()), meter.cells()


def measure(clip: Clip) -> Loudness:
    """Integrated loudness and true peak, read straight from the 16-bit PCM in chunks."""
    samples = np.frombuffer(clip.pcm, dtype="<i2")
    return Loudness(program_lufs(samples, clip.frame_rate), true_peak_db(samples))


def limiter_curve(peaks: np.ndarray, ceiling: float, radius: int) -> np.ndarray | None:
    """The gain at each block's centre so that gain * peak <= ceiling everywhere, changing
    smoothly (None: no block needs limiting); `peaks` are block peaks (BLOCK samples
    each) and `radius` is in blocks.

    A minimum filter spreads each block's needed reduction `radius + 1` blocks both ways;
    a moving average of radius `radius` then smooths it without rising above what any
    block it covers needs (each saw the same minimum), and interpolating between block
    centres stays under both neighbours' needs. Working on blocks is 32 times cheaper
    than on samples, and a 15 ms ramp is far longer than a block.
    """
    needed: np.ndarray = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
    if needed.min() >= 1.0:
        return None
    curve: np.ndarray = np.minimum(sliding_mean(sliding_minimum(needed, 2 * radius + 3),
                                                2 * radius + 1), needed)
    return curve


def sliding_minimum(values: np.ndarray, size: int) -> np.ndarray:
    """The minimum of the `size` values (odd) centred on each, the ends repeated beyond
    the edges: scipy.ndimage's `minimum_filter1d(values, size, mode="nearest")`, as
    `size` shifted minimums (as fast as scipy's for the limiter's sizes: measured)."""
    padded = np.pad(values, size // 2, mode="edge")
    out = padded[:values.size].copy()
    for shift in range(1, size):
        np.minimum(out, padded[shift:shift + values.size], out=out)
    return out


def sliding_mean(values: np.ndarray, size: int) -> np.ndarray:
    """The mean of the `size` values (odd) centred on each, the ends repeated beyond the
    edges: scipy.ndimage's `uniform_filter1d(values, size, mode="nearest")`, to rounding,
    in the values' own type (summed in float64). Summed with weights of one, then
    divided: a run of ones stays exactly one, so the limiter's curve is exactly 1 where
    it does not limit (see `_limited`)."""
    padded = np.pad(values, size // 2, mode="edge")
    out: np.ndarray = (np.convolve(padded, np.ones(size), "valid") / size).astype(
        values.dtype, copy=False)
    return out


def _limited(pieces: Iterable[np.ndarray], gain: float, curve: np.ndarray | None
             ) -> Iterator[np.ndarray]:
    """16-bit `samples` times `gain` times the curve (interpolated between block centres),
    rounded back to 16 bits, a chunk at a time: no whole-track float copies, and no
    whole-track output unless the caller joins the chunks. The curve is interpolated only
    in the blocks next to a block under 1 (elsewhere it is exactly 1)."""
    centres = np.arange(curve.size if curve is not None else 0) * BLOCK + (BLOCK - 1) / 2
    near = np.zeros(0, dtype=bool)
    if curve is not None:
        near = curve < 1
        near[1:] |= curve[:-1] < 1
        near[:-1] |= curve[1:] < 1
    start = 0
    for samples in regrouped(pieces, _CHUNK):  # _CHUNK is a multiple of BLOCK
        stop = start + samples.size
        piece = samples.astype(np.float32) * np.float32(gain)
        if curve is not None:
            blocks = np.flatnonzero(near[start // BLOCK:-(-stop // BLOCK)])
            at = (blocks[:, None] * BLOCK + np.arange(BLOCK)).ravel()
            at = at[at < stop - start]
            piece[at] *= np.interp(at + start, centres, curve).astype(np.float32)
        yield to_int16(piece)
        start = stop


@dataclass(frozen=True, eq=False)
class Normalized:
    """A clip at its loudness target: its samples times a gain and a limiter's gain
    curve (None: the clip as it is), made a chunk at a time on the way to the encoder,
    so no whole normalized copy of a long track is ever held (`clip` makes one)."""

    source: Clip
    gain: float | None = None
    curve: np.ndarray | None = None
    # How many dB more than the plain gain to the target `gain` is, because the limiter
    # takes part of the loudness back (a background bed is set this much lower).
    limiter_lift_db: float = 0.0

    @property
    def frame_rate(self) -> int:
        return self.source.frame_rate

    @property
    def samples(self) -> int:
        return self.source.samples

    def arrays(self) -> Iterator[np.ndarray]:
        if self.gain is None:
            yield from arrays(self.source)
        else:
            yield from _limited(arrays(self.source), self.gain, self.curve)

    def chunks(self) -> Iterator[bytes]:
        if self.gain is None:
            yield from self.source.chunks()
        else:
            yield from (a.tobytes() for a in self.arrays())

    def clip(self) -> Clip:
        if self.gain is None:
            return Clip(self.source.pcm, self.frame_rate)
        out = np.empty(self.samples, dtype="<i2")
        position = 0
        for piece in self.arrays():
            out[position:position + piece.size] = piece
            position += piece.size
        return Clip(out.tobytes(), self.frame_rate)


def normalization(clip: Clip, target: LoudnessTarget,
                  margin_db: float = ENCODER_MARGIN_DB) -> Normalized:
    """Gain to the target loudness, limited to the true-peak ceiling minus a margin for
    the encoder. Silence stays exactly silent, so the layout is unchanged. The clip is
    read chunk by chunk (a Stitched track is never joined) and each try's loudness is
    measured as its chunks are made: only the block peaks, the block energies and the
    gain curve are kept.

    Limiting lowers the loudness, by more the harder it works, so the gain is searched
    for, on the loudness predicted from the block energies (see `predicted_lufs`: no
    filtering, a try costs milliseconds, and it is within 1e-4 LU of the meter). The
    gain found is not measured again here: every file is decoded and measured once
    encoded (export), and encoded again if it missed. A track takes one pass to meter
    and one for its peaks where measuring each try took up to eight."""
    meter = LoudnessMeter(clip.frame_rate, block_energies=True)
    for piece in regrouped(arrays(clip), meter.piece):
        meter.feed(piece)
    loudness = meter.lufs()
    if not math.isfinite(loudness):
        return Normalized(clip)  # silence, or too short to measure: nothing to normalize
    ceiling = 10 ** ((target.true_peak_db - margin_db) / 20)
    radius = max(clip.frame_rate * LIMITER_RADIUS_MS // 1000 // BLOCK, 1)
    gain_db = target.lufs - loudness
    exact_up_to_db = -math.inf  # the gain up to which `peaks` is exact where it matters
    tried: tuple[float, float] | None = None  # the last try: its gain and its loudness
    best: tuple[float, float, np.ndarray | None] | None = None  # |error|, gain, curve
    for _ in range(SEARCH_TRIES):
        if gain_db > exact_up_to_db:  # (a pass costs about the same whatever the room:
            exact_up_to_db = gain_db + 12  # give plenty, to need just one)
            peaks = streamed_block_peaks(arrays(clip), ceiling / 10 ** (exact_up_to_db / 20))
        gain = 10 ** (gain_db / 20)
        curve = limiter_curve(peaks * gain, ceiling, radius)
        if curve is None:  # gain alone: the meter is linear, the figure is exact
            return Normalized(clip, gain)
        predicted = meter.predicted_lufs(gain, curve)
        error = target.lufs - predicted
        if best is None or abs(error) < best[0]:
            best = (abs(error), gain, curve)
        if abs(error) < 0.01:
            break
        # The limiter takes back part of each dB added (about 0.4 on speech at -16 LUFS,
        # 0.7 on a peaky neural voice), so a step of `error` falls short: step along the
        # slope of the last two tries (a secant step; the first assumes LIMITED_SLOPE).
        slope = LIMITED_SLOPE
        if tried is not None and gain_db != tried[0]:
            slope = min(max((predicted - tried[1]) / (gain_db - tried[0]), 0.1), 1.0)
        tried = (gain_db, predicted)
        gain_db += error / slope
    assert best is not None  # (SEARCH_TRIES >= 1)
    _, gain, curve = best  # the closest: the encode's check corrects what is still off
    return Normalized(clip, gain, curve, 20 * math.log10(gain) - (target.lufs - loudness))


def normalize(clip: Clip, target: LoudnessTarget, margin_db: float = ENCODER_MARGIN_DB
              ) -> Clip:
    """`normalization` as a clip."""
    return normalization(clip, target, margin_db).clip()


def correction(clip: Clip, target: LoudnessTarget, measured_pcm: Loudness,
               measured_file: Loudness) -> Normalized:
    """A second try after an encode missed the target: shift the PCM's targets by what the
    encoder did to loudness and peaks, measured on the decoded file."""
    loss = measured_pcm.lufs - measured_file.lufs
    overshoot = max(measured_file.true_peak_db - measured_pcm.true_peak_db, 0.0)
    return normalization(clip, LoudnessTarget(target.lufs + loss, target.true_peak_db),
                         margin_db=overshoot + 0.2)


def correct(clip: Clip, target: LoudnessTarget, measured_pcm: Loudness,
            measured_file: Loudness) -> Clip:
    """`correction` as a clip."""
    return correction(clip, target, measured_pcm, measured_file).clip()
