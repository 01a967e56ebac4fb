"""Benchmark: voiceguide against the floor, all measured in one run on one machine.

- floor: the work no implementation can avoid: espeak-ng synthesis of the default
  routine's narration (one process, one call per sentence, no pyttsx3) plus one
  ffmpeg/LAME encode of PCM as long as the full routine, at the same bitrate;
- cold: `voiceguide build` of the default routine, empty render cache, fresh process;
- no-op: the same build again with nothing changed;
- one edit: the same build after changing one sentence of one technique;
- batch: `voiceguide batch` of 20 client routines of about 10 minutes each, cold cache:
  audio seconds produced per wall-clock second;
- memory: peak RSS (the largest process: voiceguide, its speech worker or ffmpeg) of
  builds of a 30- and a 60-minute routine and of a 30-minute technique of 500 steps
  built on its own (one track), against their raw PCM size;
- stages: one build in this process with each stage timed: wall seconds summed over
  threads, and the CPU seconds of the threads that ran it (ffmpeg and the speech workers
  are other processes: their CPU is shown for the whole build).

The floor is measured in each round right after that round's cold build, so the two see
the same machine; the CPU model (/proc/cpuinfo) and the load average before and after are
printed and recorded: a load above zero means others shared the CPU, and every figure is
then slower than the machine can do.
- piper: the same for `--engine piper` (the demo voice): its floor (the same sentences
  said by Piper, one process per core, each loading the voice once, plus one LAME
  encode), a cold build, a no-op, one edit, and a 20-client batch.

Run: `make bench` (prints tables, writes bench/results/latest.json); `python bench/run.py
--piper` runs only the piper part (writes bench/results/piper.json), `--memory` only the
memory part (prints its rows).
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voiceguide.build import open_library, plans_for
from voiceguide.engines.base import VoiceSettings
from voiceguide.engines.espeak_engine import EspeakLib
from voiceguide.native import ffmpeg_exe, load_espeak
from voiceguide.render import utterances

REPO = Path(__file__).resolve().parent.parent
VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))
RUNS = 2  # best of: the least disturbed run is the best estimate of the cost


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


def run(args: list[str], cache: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, the largest process of the tree) of a command."""
    env = {**os.environ, "VOICEGUIDE_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.Popen([VOICEGUIDE, *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, f"voiceguide {' '.join(args)} failed"
    return seconds, usage.ru_maxrss * 1024


def routine_ms(folder: Path) -> int:
    return int(json.loads((folder / "manifest.json").read_text())["routine"]["duration_ms"])


def built(out: Path) -> list[Path]:
    """The routine folders in an output folder (not the lock files beside them)."""
    return [manifest.parent for manifest in sorted(out.glob("*/manifest.json"))]


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (lscpu's "Model name")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def rebuilds(work: Path) -> dict[str, float]:
    """Cold, no-op and one-edit builds of the default routine, on a copy of the scripts,
    and the floor right after each cold build."""
    scripts = work / "scripts"
    shutil.copytree(REPO / "scripts", scripts)
    texts = utterances(plans_for(open_library(REPO / "scripts"), []))
    colds, floors, noops, edits = [], [], [], []
    for n in range(RUNS):
        cache, out = work / f"cache{n}", work / f"out{n}"
        args = ["build", "--scripts", str(scripts), "--out", str(out)]
        colds.append(run(args, cache)[0])
        frame_rate = 22050
        pcm_bytes = routine_ms(out / "homework") * frame_rate // 1000 * 2
        floors.append(floor_seconds(texts, pcm_bytes, frame_rate))
        noops.append(run(args, cache)[0])
        neck = scripts / "techniques" / "neck.yaml"
        text = neck.read_text()
        neck.write_text(text.replace("Sit tall, and let your shoulders drop.",
                                     f"Sit tall, and let your shoulders drop, {n}."))
        edits.append(run(args, cache)[0])
        neck.write_text(text)
    return {"cold_s": min(colds), "floor_s": min(floors), "noop_s": min(noops),
            "edit_s": min(edits), "audio_s": routine_ms(work / "out0" / "homework") / 1000}


def batch_clients(work: Path) -> Path:
    """20 client files of about 10 minutes each, in work/clients."""
    clients = work / "clients"
    if clients.is_dir():
        return clients
    clients.mkdir()
    orders = [["neck", "back"], ["face", "neck", "back"], ["back", "ankles-legs"],
              ["face", "ankles-legs"], ["neck", "back", "ankles-legs"]]
    for n in range(20):
        (clients / f"client{n:02d}.yaml").write_text(
            f"id: client-{n:02d}\nname: Client {n}\ntechniques: [{', '.join(orders[n % 5])}]"
            f"\nminutes: 10\n")
    return clients


def batch(work: Path) -> dict[str, float]:
    """20 personal routines of about 10 minutes, cold cache."""
    clients = batch_clients(work)
    out = work / "batch-out"
    seconds, _ = run(["batch", str(clients), "--out", str(out)], work / "batch-cache")
    audio = sum(routine_ms(folder) for folder in built(out)) / 1000
    return {"batch_s": seconds, "batch_audio_s": audio, "batch_realtime_x": audio / seconds}


def long_technique(scripts: Path, steps: int = 500) -> str:
    """A technique of `steps` steps (about 30 minutes), the same every run: the library's
    own sentences in order (cached after the first build), with pauses and holds mixed
    in. Returns its id."""
    own = ["face", "neck", "back", "ankles-legs", "intro", "outro"]
    sentences = sorted({m.strip() for name in own for m in re.findall(
        r"^\s*-?\s*say: (.+)$", (scripts / "techniques" / f"{name}.yaml").read_text(),
        re.MULTILINE) if "{" not in m})
    rows = []
    for n in range(steps):
        sentence = json.dumps(sentences[n % len(sentences)])
        kind = n % 10
        if kind in (1, 3, 5, 9):
            rows.append("  - pause: 1s")
        elif kind == 7:
            rows.append(f"  - hold:\n      say: {sentence}\n      for: 3s")
        else:
            rows.append(f"  - say: {sentence}")
    (scripts / "techniques" / "long-technique.yaml").write_text(
        "id: long-technique\ntitle: A Long Technique\nsummary: Five hundred steps.\n"
        "steps:\n" + "\n".join(rows) + "\n")
    return "long-technique"


def memory(work: Path) -> dict[str, float]:
    """Peak RSS of builds of long routines (the four techniques over and over) and of one
    long technique on its own (one 30-minute track)."""
    scripts = work / "long-scripts"
    shutil.copytree(REPO / "scripts", scripts)
    result = {}
    builds = []
    for label, rounds in (("30min", 2), ("60min", 4)):
        techniques = ", ".join(["face", "neck", "back", "ankles-legs"] * rounds)
        (scripts / "routines" / f"long{rounds}.yaml").write_text(
            f"id: long{rounds}\ntitle: Long\nsummary: Long.\nintro: intro\n"
            f"techniques: [{techniques}]\noutro: outro\n")
        builds.append((label, f"long{rounds}"))
    builds.append(("track", long_technique(scripts)))
    for label, name in builds:
        out = work / f"long-out-{name}"
        _, rss = run(["build", name, "--scripts", str(scripts), "--out", str(out)],
                     work / "long-cache")
        pcm = routine_ms(out / name) * 22050 // 1000 * 2
        result[f"{label}_audio_s"] = pcm / 2 / 22050
        result[f"{label}_peak_rss_mb"] = rss / 2**20
        result[f"{label}_pcm_mb"] = pcm / 2**20
        result[f"{label}_rss_over_pcm"] = rss / pcm
    return result


# What the stage table times: (module, the name it calls, the stage). A test checks each
# name still exists, so a renamed function cannot break `make bench` unseen.
STAGES = [("build", "render", "synthesis (speech workers: other processes)"),
          ("build", "assemble_routine", "assembly"),
          ("export", "normalization", "loudness normalization"),
          ("export", "encode", "encoding (ffmpeg)"),
          ("export", "write_joined", "joining MP3 frames (the full routine, pieces)"),
          ("export", "write_tags", "tags and cover"),
          ("export", "measure", "measuring loudness of files"),
          # streams the decoder's output into the meter: both stages in one
          ("export", "measure_pieces", "decoding and measuring files, streamed")]


def stage_seconds() -> dict[str, dict[str, float]]:
    """Time each stage of one build by wrapping the functions the pipeline calls: wall
    seconds summed over threads, and CPU seconds of the threads that ran it."""
    import voiceguide.build as build_module
    import voiceguide.export as export_module

    spent: dict[str, dict[str, float]] = {}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                stage = spent.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
                stage["wall_s"] += time.perf_counter() - start
                stage["cpu_s"] += time.thread_time() - cpu
        return wrapper

    patches = [(build_module if module == "build" else export_module, attr, name)
               for module, attr, name in STAGES]
    originals = [(module, attr, getattr(module, attr)) for module, attr, _ in patches]
    for module, attr, name in patches:
        setattr(module, attr, timed(name, getattr(module, attr)))
    try:
        with tempfile.TemporaryDirectory() as out:
            start, cpu = time.perf_counter(), time.process_time()
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            build_module.build(open_library(REPO / "scripts"), [], build_module.BuildOptions(
                out=Path(out), cache=None))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent["whole build: this process"] = {
                "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}
            spent["whole build: child processes (speech workers, ffmpeg)"] = {
                "wall_s": 0.0, "cpu_s": after.ru_utime + after.ru_stime - children.ru_utime
                - children.ru_stime}
    finally:
        for module, attr, original in originals:
            setattr(module, attr, original)
    return {k: {m: round(v, 2) for m, v in d.items()} for k, d in spent.items()}


PIPER = ["--engine", "piper"]


def _piper_part(texts: list[str], out: Path) -> None:
    """One floor process: load the voice once, say `texts`, write the raw PCM."""
    from voiceguide.engines.piper_engine import PiperBackend

    backend = PiperBackend(VoiceSettings(engine="piper"), out.parent)
    out.write_bytes(b"".join(backend.synthesize(t).pcm for t in texts))


def piper_floor_seconds(texts: list[str], audio_s: float) -> float:
    """Piper saying `texts`, split over one process per core, plus one LAME encode of
    PCM as long as the routine."""
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        parts = [Path(tmp) / f"part{n}.pcm" for n in range(cores)]
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, __file__, "--piper-part", str(part),
                                   json.dumps(texts[n::cores])])
                 for n, part in enumerate(parts)]
        assert all(p.wait() == 0 for p in procs), "the Piper floor failed"
        spoken = b"".join(part.read_bytes() for part in parts)
        frame_rate = 22050  # the demo voice's
        pcm_bytes = int(audio_s * frame_rate) * 2
        pcm = (spoken * (pcm_bytes // max(len(spoken), 1) + 1))[:pcm_bytes]
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "s16le", "-ar", str(frame_rate),
                        "-ac", "1", "-i", "-", "-c:a", "libmp3lame", "-b:a", "64k",
                        str(Path(tmp) / "floor.mp3")], input=pcm, check=True)
        return time.perf_counter() - start


def piper(work: Path) -> dict[str, float]:
    """Cold, no-op, one-edit builds and a 20-client batch with the piper engine (one
    run each: Piper is slow), and its floor."""
    scripts = work / "piper-scripts"
    shutil.copytree(REPO / "scripts", scripts)
    cache, out = work / "piper-cache", work / "piper-out"
    args = ["build", *PIPER, "--scripts", str(scripts), "--out", str(out)]
    print("piper: cold, no-op and one-edit builds...", file=sys.stderr, flush=True)
    result = {"piper_cold_s": run(args, cache)[0], "piper_noop_s": run(args, cache)[0]}
    neck = scripts / "techniques" / "neck.yaml"
    neck.write_text(neck.read_text().replace("Sit tall, and let your shoulders drop.",
                                             "Sit tall, and let your shoulders drop, now."))
    result["piper_edit_s"] = run(args, cache)[0]
    result["piper_audio_s"] = routine_ms(out / "homework") / 1000
    texts = utterances(plans_for(open_library(REPO / "scripts"), []))
    print("piper: the floor...", file=sys.stderr, flush=True)
    result["piper_floor_s"] = piper_floor_seconds(texts, result["piper_audio_s"])
    clients = work / "clients"  # written by batch()
    batch_out = work / "piper-batch-out"
    print("piper: a 20-client batch...", file=sys.stderr, flush=True)
    seconds, _ = run(["batch", str(clients), *PIPER, "--out", str(batch_out)],
                     work / "piper-batch-cache")
    audio = sum(routine_ms(folder) for folder in built(batch_out)) / 1000
    result |= {"piper_batch_s": seconds, "piper_batch_audio_s": audio,
               "piper_batch_realtime_x": audio / seconds}
    return result


def print_memory(f: dict[str, Any]) -> None:
    for label, what in (("30min", "routine"), ("60min", "routine"),
                        ("track", "technique (500 steps, one track)")):
        target = "<= 3x" if label == "60min" else ""  # the target: an hour's routine
        print(f"| peak RSS, {f[label + '_audio_s'] / 60:.0f}-minute {what} | "
              f"{f[label + '_peak_rss_mb']:.0f} MB | {f[label + '_rss_over_pcm']:.1f}x its raw "
              f"PCM ({f[label + '_pcm_mb']:.0f} MB) | {target} |")


def print_piper(f: dict[str, Any]) -> None:
    print("\n| piper (demo voice) | value | ratio | target |\n| --- | --- | --- | --- |")
    print(f"| Piper floor (Piper on {os.cpu_count()} cores + one LAME encode, "
          f"{f['piper_audio_s']:.0f} s of audio) | {f['piper_floor_s']:.2f} s | 1.00 | |")
    print(f"| cold build, --engine piper | {f['piper_cold_s']:.2f} s | "
          f"{f['piper_cold_s'] / f['piper_floor_s']:.2f}x Piper floor | <= 1.3x |")
    print(f"| no-op rebuild | {f['piper_noop_s']:.2f} s | "
          f"{f['piper_noop_s'] / f['piper_cold_s']:.1%} of cold | |")
    print(f"| one sentence edited | {f['piper_edit_s']:.2f} s | "
          f"{f['piper_edit_s'] / f['piper_cold_s']:.0%} of cold | |")
    print(f"| batch, 20 clients (~10 min each), cold | {f['piper_batch_s']:.1f} s for "
          f"{f['piper_batch_audio_s'] / 60:.0f} min | {f['piper_batch_realtime_x']:.0f}x "
          "real time | |")


def main() -> None:
    if sys.argv[1:2] == ["--piper-part"]:
        _piper_part(json.loads(sys.argv[3]), Path(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--memory"]:
        with tempfile.TemporaryDirectory() as tmp:
            figures = memory(Path(tmp))
        print(f"CPU: {cpu_model()}")
        print_memory(figures)
        return
    if sys.argv[1:2] == ["--piper"]:
        with tempfile.TemporaryDirectory() as tmp:
            batch_clients(Path(tmp))
            figures = piper(Path(tmp))
        print_piper(figures)
        out = REPO / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        rounded = {k: round(v, 3) for k, v in figures.items()}
        (out / "piper.json").write_text(json.dumps(rounded, indent=2) + "\n")
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        figures: dict[str, Any] = rebuilds(work)
        figures |= batch(work)
        figures |= memory(work)
        figures |= piper(work)
    figures["stages"] = stage_seconds()
    figures["cpu"] = cpu_model()
    figures["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, Python "
                          f"{platform.python_version()}, {platform.platform()}")
    figures["load_average_before_after"] = [round(load_before[0], 2),
                                            round(os.getloadavg()[0], 2)]
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    (out / "latest.json").write_text(json.dumps(rounded, indent=2) + "\n")
    f = figures
    print(f"CPU: {f['cpu']}\nmachine: {f['machine']}")
    print("load average (1 min) before and after: {} and {} (above 0: others shared the "
          "CPU)".format(*f["load_average_before_after"]))
    print(f"best of {RUNS} runs\n")
    print("| measure | value | ratio | target |\n| --- | --- | --- | --- |")
    print(f"| floor (espeak-ng + one LAME encode, {f['audio_s']:.0f} s of audio) | "
          f"{f['floor_s']:.2f} s | 1.00 | |")
    print(f"| cold build, default routine | {f['cold_s']:.2f} s | "
          f"{f['cold_s'] / f['floor_s']:.2f}x floor | <= 1.5x |")
    print(f"| no-op rebuild | {f['noop_s']:.2f} s | {f['noop_s'] / f['cold_s']:.1%} of cold "
          "| <= 5% |")
    print(f"| one sentence edited | {f['edit_s']:.2f} s | {f['edit_s'] / f['cold_s']:.0%} of "
          "cold | <= 35% |")
    print(f"| batch, 20 clients (~10 min each), cold | {f['batch_s']:.1f} s for "
          f"{f['batch_audio_s'] / 60:.0f} min | {f['batch_realtime_x']:.0f}x real time | "
          ">= 150x |")
    print_memory(f)
    print_piper(f)
    print("\n| stage (one in-process build, no cache) | wall s (summed over threads) | "
          "CPU s |\n| --- | --- | --- |")
    for stage, seconds in f["stages"].items():
        wall = f"{seconds['wall_s']:.2f}" if seconds["wall_s"] else ""
        print(f"| {stage} | {wall} | {seconds['cpu_s']:.2f} |")


if __name__ == "__main__":
    main()
