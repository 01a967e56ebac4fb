"""The Python API: find scripts, plan, render, assemble and write routines.

The CLI is a thin layer over these functions; tests call them directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from voiceguide import __version__
from voiceguide.assemble import (
    DEFAULT_FRAME_RATE,
    AssembledRoutine,
    assemble_routine,
    frame_rate_of,
    planned_samples,
)
from voiceguide.background import Bed, load_bed, mix_background, speech_spans
from voiceguide.cache import ClipCache, default_cache_dir
from voiceguide.encode import Encoding
from voiceguide.engines import make_engine
from voiceguide.engines.base import Engine, VoiceSettings
from voiceguide.errors import SettingsError, VoiceguideError
from voiceguide.export import (
    Publishing,
    Written,
    audio_file_count,
    fingerprint,
    up_to_date,
    write_routine,
)
from voiceguide.lexicon import Lexicon, load_lexicon
from voiceguide.library import (
    CLINIC_FILE,
    LEXICON_FILE,
    find_scripts,
    load_client,
    load_library,
    resolve,
    shown_path,
)
from voiceguide.loudness import LoudnessTarget, import_loudness_libraries
from voiceguide.model import (
    Client,
    Clip,
    Library,
    Routine,
    RoutinePlan,
    Technique,
    about_minutes,
)
from voiceguide.mp3join import frame_samples
from voiceguide.parse import countdown_sayable, parse_clinic
from voiceguide.plan import PACE_BOUNDS, Framing, Pacing, personalize, plan_routine
from voiceguide.render import render, utterances
from voiceguide.sounds import DEFAULT_STYLE, check_style, load_cues
from voiceguide.voices import resolve_settings


@dataclass(frozen=True)
class BuildOptions:
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    pacing: Pacing = field(default_factory=Pacing)
    encoding: Encoding = field(default_factory=Encoding)
    loudness: LoudnessTarget = field(default_factory=LoudnessTarget)
    step_chapters: bool = False
    cue_style: str = DEFAULT_STYLE
    background: str | None = None  # a bed's name or a music file; None: silence
    minutes: float | None = None  # fit each routine to about this many minutes
    cache: ClipCache | None = field(default_factory=lambda: ClipCache(default_cache_dir()))
    out: Path = Path("output")
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass
class Progress:
    """Callbacks the CLI uses to draw its progress bars; all optional."""

    started: Callable[[int, int], None] = lambda utterances, files: None
    spoke: Callable[[str], None] = lambda text: None
    wrote: Callable[[Path], None] = lambda path: None


@dataclass(frozen=True)
class Job:
    """One routine to build, with what it says around its techniques."""

    routine: Routine
    techniques: Mapping[str, Technique]
    greeting: tuple[str, ...] = ()  # a client's "Hi Maria." and personal note
    minutes: float | None = None


def open_library(scripts: Path | None = None, clinic: Path | None = None) -> Library:
    return load_library(find_scripts(scripts), clinic)


def lexicon_for(library: Library) -> Lexicon:
    """The shipped lexicon of the clinic's language, with the clinic's own
    scripts/lexicon.yaml over it."""
    return lexicon_in(Path(library.root), library.clinic.language)


def lexicon_in(root: Path, language: str) -> Lexicon:
    extra = root / LEXICON_FILE
    return load_lexicon(language, extra if extra.is_file() else None, shown_path(extra))


def lexicon_of_folder(scripts: Path | None = None) -> Lexicon:
    """The lexicon of a scripts folder, reading only its clinic profile and lexicon: one
    broken technique must not stop `voiceguide say`."""
    root = find_scripts(scripts)
    profile = root / CLINIC_FILE
    language = parse_clinic(profile, shown_path(profile)).language if profile.is_file() \
        else "en"
    return lexicon_in(root, language)


def routines_to_build(library: Library, names: Sequence[str]) -> list[Routine]:
    if names:
        return resolve(library, names)
    default = library.default_routine()
    if default is None:
        raise SettingsError("there is no default routine to build",
                            "name one (voiceguide build ROUTINE), or mark one routine "
                            "'default: true'")
    return [default]


def client_job(library: Library, client: Client) -> Job:
    """A client's personal routine: the clinic's intro, the chosen techniques with the
    client's overrides, the clinic's outro."""
    techniques = dict(library.techniques)
    for tid, override in client.overrides:
        techniques[tid] = personalize(techniques[tid], override)
    titles = [library.techniques[t].title for t in client.techniques]
    routine = Routine(id=client.id, title=client.title or f"{client.name}'s routine",
                      summary=f"For {client.name}: {', '.join(titles)}.",
                      techniques=client.techniques, intro=library.clinic.intro,
                      outro=library.clinic.outro, file=client.file)
    greeting = (f"Hi {client.name}.", *((client.note,) if client.note else ()))
    return Job(routine, techniques, greeting, client.minutes)


def jobs_for(library: Library, names: Sequence[str], client: Client | None = None,
             minutes: float | None = None) -> list[Job]:
    if client is not None:
        job = client_job(library, client)
        return [replace(job, minutes=minutes or job.minutes)]
    return [Job(r, library.techniques, minutes=minutes)
            for r in routines_to_build(library, names)]


def framing(job: Job, library: Library, overview: str = "") -> Framing:
    clinic = library.clinic
    opening = (*job.greeting, *((overview,) if overview else ()),
               *((clinic.safety,) if clinic.safety else ()))
    return Framing(opening=opening, closing=(clinic.contact,) if clinic.contact else (),
                   framing_ids=job.routine.framing_ids())


def plan_job(job: Job, library: Library, pacing: Pacing, overview: str = "") -> RoutinePlan:
    return plan_routine(job.routine, job.techniques, pacing, framing(job, library, overview))


def plans_for(library: Library, names: Sequence[str],
              pacing: Pacing | None = None) -> list[RoutinePlan]:
    """Plans as written (no fitting, no overview): for `show` and `list`."""
    return [plan_job(job, library, pacing or Pacing()) for job in jobs_for(library, names)]


def overview_text(job: Job, total_ms: int) -> str:
    count = sum(1 for t in job.routine.track_ids() if t not in job.routine.framing_ids())
    things = "technique" if count == 1 else "techniques"
    return f"Today: {count} {things}, {about_minutes(total_ms)}."


def fit_pacing(job: Job, library: Library, pacing: Pacing, length: Callable[
        [RoutinePlan], int]) -> Pacing:
    """The pacing that brings a routine closest to `job.minutes`: repeats between each
    block's min and max, pauses scaled within PACE_BOUNDS; holds never change. Raises
    SettingsError, with the reachable range, when the target is out of reach."""
    assert job.minutes is not None
    target = job.minutes * 60_000
    best: tuple[float, float, Pacing] | None = None
    shortest, longest = float("inf"), 0.0
    for level in [i / 10 for i in range(11)]:
        base = replace(pacing, repeat_level=level)
        low = length(plan_job(job, library, replace(base, pace=PACE_BOUNDS[0])))
        high = length(plan_job(job, library, replace(base, pace=PACE_BOUNDS[1])))
        shortest, longest = min(shortest, low), max(longest, high)
        # Length grows linearly with pace (pauses scale, nothing else does).
        pace = PACE_BOUNDS[0] + (target - low) / max(high - low, 1) * (
            PACE_BOUNDS[1] - PACE_BOUNDS[0])
        pace = min(max(pace, PACE_BOUNDS[0]), PACE_BOUNDS[1])
        candidate = replace(base, pace=round(pace, 3))
        miss = abs(length(plan_job(job, library, candidate)) - target)
        score = (miss, abs(pace - pacing.pace))
        if best is None or score < best[:2]:
            best = (*score, candidate)
    assert best is not None
    if best[0] > 0.05 * target:
        raise SettingsError(
            f"'{job.routine.id}' can't be made {job.minutes:g} minutes long: with these "
            f"techniques it runs from {shortest / 60_000:.1f} to {longest / 60_000:.1f} "
            "minutes (fewest to most repeats, pauses from half to double)",
            "choose a length in that range, or change the techniques")
    return best[2]


def settings_json(options: BuildOptions, engine_version: str, pacing: Pacing
                  ) -> dict[str, Any]:
    return {
        **asdict(options.voice),
        "engine_version": engine_version,
        "loudness_lufs": options.loudness.lufs,
        "true_peak_dbtp": options.loudness.true_peak_db,
        "pacing": asdict(pacing),
        "cues": options.cue_style,
        "background": options.background,
        "voiceguide": __version__,
    }


@dataclass(frozen=True)
class _Planned:
    plan: RoutinePlan
    pacing: Pacing


def _track_frame(encoding: Encoding, frame_rate: int) -> int:
    """MP3 tracks are made a whole number of frames long: the full routine is joined
    from them (mp3join)."""
    return frame_samples(frame_rate) if encoding.format == "mp3" else 1


def _plan_all(jobs: list[Job], library: Library, options: BuildOptions, engine: Engine,
              clips: dict[str, Clip], progress: Progress, lexicon: Lexicon
              ) -> list[_Planned]:
    """Fit each job to its length, then say how long it is: both need the voice's real
    lengths, so this runs with the engine open."""
    planned = []
    for job in jobs:
        pacing = options.pacing

        def length(plan: RoutinePlan) -> int:
            rate = frame_rate_of(clips)
            return planned_samples(plan, clips, rate, options.cue_style, _track_frame(
                options.encoding, rate)) * 1000 // rate

        if job.minutes is not None:
            pacing = fit_pacing(job, library, pacing, length)
        overview = overview_text(job, length(plan_job(job, library, pacing)))
        clips.update(render([overview], engine, progress.spoke, lexicon, options.cache))
        planned.append(_Planned(plan_job(job, library, pacing, overview), pacing))
    return planned


def build(library: Library, names: Sequence[str] = (), options: BuildOptions | None = None,
          progress: Progress | None = None, client: Client | None = None) -> list[Written]:
    """Build the named routines or techniques (none: the default routine), or a client's
    personal routine. Nothing is written until every clip has been synthesized and
    checked."""
    options = options or BuildOptions()
    if client is not None and names:
        raise SettingsError("give either routine names or --client, not both")
    options.encoding.check()
    options.loudness.check()
    check_style(options.cue_style)
    # A Piper voice may live beside the scripts; the manifest names the voice used.
    options = replace(options, voice=resolve_settings(options.voice, Path(library.root)))
    if not countdown_sayable(options.pacing.countdown_ms):
        raise SettingsError("--countdown is said in whole seconds, at least 3",
                            "use e.g. --countdown 10, or 0 for none")
    # A typo or a missing file stops the build before any work; kept, a music file need
    # not be decoded again below.
    bed = load_bed(options.background, DEFAULT_FRAME_RATE) if options.background else None
    lexicon = lexicon_for(library)
    progress = progress or Progress()
    jobs = jobs_for(library, names, client, options.minutes)
    # Every sentence any pacing could say: repeats and pauses change, the words do not.
    texts = utterances(plan_job(job, library, options.pacing) for job in jobs)
    files = sum(audio_file_count(j.routine) for j in jobs)
    # Not entered with `with`: a worker starts only if something is not in the cache.
    engines = [make_engine(options.voice) for _ in range(max(options.jobs, 1))]
    try:
        progress.started(len(texts) + len(jobs), files)
        clips = render(texts, engines, progress.spoke, lexicon, options.cache,
                       meanwhile=import_loudness_libraries)
        load_cues(options.cue_style, frame_rate_of(clips), options.cache)
        planned = _plan_all(jobs, library, options, engines[0], clips, progress, lexicon)
        version = engines[0].identity()
    finally:
        for engine in engines:
            engine.close()
    frame_rate = frame_rate_of(clips)
    if options.background and bed is not None and bed.frame_rate != frame_rate:
        bed = load_bed(options.background, frame_rate)
    publishing = Publishing(options.encoding, library.clinic, options.step_chapters,
                            options.loudness)
    # Every routine is assembled before the first is written: a problem in any of them
    # leaves the output folder as it was.
    ready = []
    for item in planned:
        assembled = assemble_routine(item.plan, clips, options.cue_style,
                                     _track_frame(options.encoding, frame_rate))
        if bed is not None:
            assembled = _with_bed(assembled, bed)
        settings = {**settings_json(options, version, item.pacing),
                    "lexicon": {"files": list(lexicon.files), "digest": lexicon.digest()}}
        ready.append((assembled, settings))
    written = []
    for assembled, settings in ready:
        print_ = fingerprint(assembled, settings, publishing)
        earlier = up_to_date(options.out, assembled.plan.routine.id, print_)
        written.append(earlier or write_routine(
            assembled, options.out, settings,
            publishing, options.jobs, progress.wrote, print_))
    return written


def _with_bed(assembled: AssembledRoutine, bed: Bed) -> AssembledRoutine:
    """Background ambience under every track, ducked wherever the voice speaks."""
    tracks = tuple(replace(t, clip=mix_background(t.clip, speech_spans(t.placed), bed))
                   for t in assembled.tracks)
    return replace(assembled, tracks=tracks)


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class BatchResult:
    file: Path
    status: str  # "built", "unchanged" or "failed"
    folder: Path | None = None
    reason: str = ""  # why it failed, in the words the build would have used


def for_client(options: BuildOptions, client: Client) -> BuildOptions:
    """The client file's own voice, rate and pace over the batch's options."""
    voice = replace(options.voice, voice=client.voice or options.voice.voice,
                    rate=client.rate or options.voice.rate)
    pacing = replace(options.pacing, pace=client.pace or options.pacing.pace)
    return replace(options, voice=voice, pacing=pacing)


def batch(library: Library, files: Sequence[Path], options: BuildOptions | None = None,
          progress: Progress | None = None) -> list[BatchResult]:
    """Build every client file's routine, sharing the render cache. A bad file is
    reported and skipped; it never stops the others."""
    options = options or BuildOptions()
    # Clients are built side by side, each on its share of the cores: one build alone
    # leaves a core idle while it joins, measures and writes.
    at_once = max(1, min(options.jobs, len(files)))
    each = replace(options, jobs=max(1, options.jobs // at_once))

    def one(path: Path) -> BatchResult:
        try:
            client = load_client(path, library)
            (written,) = build(library, (), for_client(each, client), progress, client)
        except VoiceguideError as exc:
            return BatchResult(path, "failed", reason=exc.render().splitlines()[0])
        return BatchResult(path, "unchanged" if written.unchanged else "built",
                           written.folder)

    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return list(pool.map(one, files))
