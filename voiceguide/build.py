"""The Python API: find scripts, plan, render, assemble and write routines.

The CLI is a thin layer over these functions; tests call them directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voiceguide import __version__
from voiceguide.assemble import assemble_routine
from voiceguide.encode import Encoding
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import SettingsError
from voiceguide.export import Publishing, Written, write_routine
from voiceguide.library import find_scripts, load_library, resolve
from voiceguide.loudness import LoudnessTarget, normalize_routine
from voiceguide.model import Library, Routine, RoutinePlan
from voiceguide.plan import Pacing, plan_routine
from voiceguide.render import render, utterances


@dataclass(frozen=True)
class BuildOptions:
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    pacing: Pacing = field(default_factory=Pacing)
    encoding: Encoding = field(default_factory=Encoding)
    loudness: LoudnessTarget = field(default_factory=LoudnessTarget)
    step_chapters: bool = False
    out: Path = Path("output")
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass
class Progress:
    """Callbacks the CLI uses to draw its progress bars; all optional."""

    started: Callable[[int, int], None] = lambda utterances, files: None
    spoke: Callable[[str], None] = lambda text: None
    wrote: Callable[[Path], None] = lambda path: None


def open_library(scripts: Path | None = None, clinic: Path | None = None) -> Library:
    return load_library(find_scripts(scripts), clinic)


def routines_to_build(library: Library, names: Sequence[str]) -> list[Routine]:
    if names:
        return resolve(library, names)
    default = library.default_routine()
    if default is None:
        raise SettingsError("there is no default routine to build",
                            "name one (voiceguide build ROUTINE), or mark one routine "
                            "'default: true'")
    return [default]


def plans_for(library: Library, names: Sequence[str],
              pacing: Pacing | None = None) -> list[RoutinePlan]:
    return [plan_routine(r, library.techniques, pacing or Pacing())
            for r in routines_to_build(library, names)]


def settings_json(options: BuildOptions, engine_version: str) -> dict[str, Any]:
    return {
        **asdict(options.voice),
        "engine_version": engine_version,
        "loudness_lufs": options.loudness.lufs,
        "true_peak_dbtp": options.loudness.true_peak_db,
        "pacing": asdict(options.pacing),
        "voiceguide": __version__,
    }


def build(library: Library, names: Sequence[str] = (), options: BuildOptions | None = None,
          progress: Progress | None = None) -> list[Written]:
    """Build the named routines or techniques (none: the default routine). Nothing is
    written until every clip has been synthesized and checked."""
    options = options or BuildOptions()
    options.encoding.check()
    options.loudness.check()
    progress = progress or Progress()
    plans = plans_for(library, names, options.pacing)
    texts = utterances(plans)
    files = sum(len(p.tracks) + (len(p.tracks) > 1) for p in plans)
    with make_engine(options.voice) as engine:
        progress.started(len(texts), files)
        clips = render(texts, engine, progress.spoke)
        settings = settings_json(options, engine.version())
    publishing = Publishing(options.encoding, library.clinic, options.step_chapters,
                            options.loudness)
    # Aim the PCM so that the file lands on target after the encoder's own fixed gain.
    pcm_target = options.loudness.shifted(-options.encoding.audio.encoder_gain_db)
    written = []
    for plan in plans:
        assembled = normalize_routine(assemble_routine(plan, clips), pcm_target, options.jobs)
        written.append(write_routine(assembled, options.out, settings, publishing,
                                     options.jobs, progress.wrote))
    return written
