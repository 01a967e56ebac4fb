"""Benchmark: how close a cold build of the default routine comes to the floor.

All figures come from one run on one machine, and are reported as ratios against the
floor measured in the same run:

- floor: the work no implementation can avoid: espeak-ng synthesis of the routine's
  narration (one process, one call per sentence, no pyttsx3) plus one ffmpeg/LAME encode
  of PCM as long as the full routine, at the same bitrate;
- cold: `voiceguide build` of the default routine in a fresh process, including start-up;
- peak RSS of that build (the largest process: voiceguide, its speech worker or ffmpeg)
  against the raw PCM size of the routine;
- stages: one build in this process with each stage timed (summed over threads, so they
  can add up to more than the wall time), to show where the time goes.

Run: `make bench` (prints a table, writes bench/results/latest.json).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voiceguide.build import open_library, plans_for
from voiceguide.engines.base import VoiceSettings
from voiceguide.engines.bundled import ffmpeg_exe, load_espeak
from voiceguide.engines.espeak_engine import EspeakLib
from voiceguide.render import utterances

REPO = Path(__file__).resolve().parent.parent
RUNS = 3  # best of: the least disturbed run is the best estimate of the cost


def floor_seconds(texts: list[str], pcm_bytes: int, frame_rate: int) -> float:
    lib = EspeakLib(load_espeak())
    lib.initialize()
    voice = VoiceSettings()
    lib.set_voice(voice.voice)
    lib.set_rate_volume(voice.rate, voice.volume)
    start = time.perf_counter()
    spoken = b"".join(lib.synthesize(t) for t in texts)
    # Encode silence-free PCM as long as the routine: the spoken audio, looped.
    pcm = (spoken * (pcm_bytes // max(len(spoken), 1) + 1))[:pcm_bytes]
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "s16le", "-ar", str(frame_rate),
                        "-ac", "1", "-i", "-", "-c:a", "libmp3lame", "-b:a", "64k",
                        str(Path(out) / "floor.mp3")], input=pcm, check=True)
        return time.perf_counter() - start


def cold_build() -> tuple[float, int, dict[str, object]]:
    """Wall seconds, peak RSS (bytes) of the build and its children, and the manifest."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.Popen([str(Path(sys.executable).with_name("voiceguide")), "build",
                                 "--out", out], cwd=REPO, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        assert os.waitstatus_to_exitcode(status) == 0, "build failed"
        manifest = json.loads((Path(out) / "homework" / "manifest.json").read_text())
    return seconds, usage.ru_maxrss * 1024, manifest


def stage_seconds() -> dict[str, float]:
    """Time each stage of one build by wrapping the functions the pipeline calls."""
    import voiceguide.build as build_module
    import voiceguide.export as export_module

    spent: dict[str, float] = {}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    patches = [(build_module, "render", "synthesis"),
               (build_module, "assemble_routine", "assembly"),
               (build_module, "normalize_routine", "loudness normalization"),
               (export_module, "encode", "encoding"),
               (export_module, "write_tags", "tags and cover"),
               (export_module, "decode", "decoding files to measure them"),
               (export_module, "measure", "measuring loudness of files")]
    originals = [(module, attr, getattr(module, attr)) for module, attr, _ in patches]
    for module, attr, name in patches:
        setattr(module, attr, timed(name, getattr(module, attr)))
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            build_module.build(open_library(REPO / "scripts"), [],
                               build_module.BuildOptions(out=Path(out)))
            spent["wall"] = time.perf_counter() - start
    finally:
        for module, attr, original in originals:
            setattr(module, attr, original)
    return {k: round(v, 2) for k, v in spent.items()}


def main() -> None:
    builds = [cold_build() for _ in range(RUNS)]
    cold, _, manifest = min(builds, key=lambda b: b[0])
    peak_rss = max(b[1] for b in builds)
    routine = manifest["routine"]
    frame_rate = int(routine["frame_rate"])
    audio_s = routine["duration_ms"] / 1000
    pcm_bytes = int(audio_s * frame_rate) * 2
    texts = utterances(plans_for(open_library(REPO / "scripts"), []))
    floor = min(floor_seconds(texts, pcm_bytes, frame_rate) for _ in range(RUNS))
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, {platform.platform()}",
        "routine_audio_s": audio_s,
        "floor_s": round(floor, 3),
        "cold_s": round(cold, 3),
        "cold_over_floor": round(cold / floor, 2),
        "cold_realtime_x": round(audio_s / cold, 1),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "pcm_mb": round(pcm_bytes / 2**20, 1),
        "peak_rss_over_pcm": round(peak_rss / pcm_bytes, 2),
        "stages_s": stage_seconds(),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"machine: {result['machine']}")
    print(f"default routine: {audio_s:.1f} s of audio, {len(texts)} distinct sentences")
    print("| measure | value | ratio |\n| --- | --- | --- |")
    print(f"| floor (espeak-ng + one LAME encode) | {floor:.2f} s | 1.00 |")
    print(f"| cold build | {cold:.2f} s | {cold / floor:.2f}x floor "
          f"({audio_s / cold:.0f}x real time) |")
    print(f"| peak RSS of the build | {result['peak_rss_mb']} MB | "
          f"{result['peak_rss_over_pcm']}x the routine's raw PCM ({result['pcm_mb']} MB) |")
    print("\n| stage (one in-process build) | seconds |\n| --- | --- |")
    for stage, seconds in result["stages_s"].items():  # type: ignore[attr-defined]
        print(f"| {stage} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
