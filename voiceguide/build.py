"""The Python API: find scripts, plan, render, assemble and write routines.

The CLI is a thin layer over these functions; tests call them directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from voiceguide import __version__, parsed, said
from voiceguide.assemble import (
    DEFAULT_FRAME_RATE,
    AssembledRoutine,
    assemble_routine,
    frame_rate_of,
    layout,
    planned_samples,
)
from voiceguide.atomic import folder_lock, remove_leftovers
from voiceguide.background import Bed, load_bed, mix_background, speech_spans
from voiceguide.cache import WRITTEN, ClipCache, DamagedEntry, default_cache_dir
from voiceguide.encode import Encoding
from voiceguide.engines import make_engine
from voiceguide.engines.base import Engine
from voiceguide.errors import ScriptError, SettingsError, VoiceguideError
from voiceguide.freshness import fingerprint, note_written, up_to_date
from voiceguide.lexicon import Lexicon, load_lexicon
from voiceguide.library import (
    CLINIC_FILE,
    DEFAULT_LANGUAGE,
    LEXICON_FILE,
    base_of,
    find_scripts,
    load_client,
    load_library,
    routines_named,
    shown_path,
    spoken_in,
)
from voiceguide.loudness import LoudnessTarget, import_loudness_libraries
from voiceguide.messages import (
    ENGLISH,
    Messages,
    catalogue_problems,
    english,
    messages_for,
)
from voiceguide.model import (
    Client,
    Clinic,
    Clip,
    Cue,
    Library,
    Routine,
    RoutinePlan,
    Silence,
    Speech,
    Technique,
    TrackPlan,
)
from voiceguide.mp3join import frame_samples
from voiceguide.plan import (
    Framing,
    Pacing,
    estimate_lengths,
    estimate_ms,
    personalize,
    plan_routine,
    routine_words,
)
from voiceguide.publishing import Provenance, Publishing, Written, audio_file_count
from voiceguide.render import render, utterances
from voiceguide.settings import LIMITS, Choices, Settings, resolve
from voiceguide.sounds import Cues, check_style, load_cues
from voiceguide.text import normal_language
from voiceguide.voices import resolve_settings, voice_credit


@dataclass(frozen=True)
class BuildOptions:
    """How to build: the settings the caller chose (the rest come from the client file,
    the clinic profile and the defaults: see voiceguide.settings.resolve), and where and
    how fast to work."""

    chosen: Choices = field(default_factory=Choices)
    slow: bool = False  # the --slow preset under everything else chosen
    cache: ClipCache | None = field(default_factory=lambda: ClipCache(default_cache_dir()))
    out: Path = Path("output")
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)  # at once: workers, files
    wait: bool = True  # for another build of the same folder; False: OutputError at once

    def settings(self, library: Library, client: Client | None = None,
                 routine: Routine | None = None) -> Settings:
        return resolve(self.chosen, client=client, clinic=library.clinic, routine=routine,
                       slow=self.slow)


def pacing_of(settings: Settings) -> Pacing:
    return Pacing(pace=settings.pace, countdown_ms=settings.countdown * 1000)


def encoding_of(settings: Settings) -> Encoding:
    return Encoding(settings.format, settings.bitrate).check()


def loudness_of(settings: Settings) -> LoudnessTarget:
    return LoudnessTarget(settings.loudness, settings.true_peak).check()


@dataclass
class Progress:
    """Callbacks the CLI uses to draw its progress bars; all optional."""

    started: Callable[[int, int], None] = lambda utterances, files: None
    spoke: Callable[[str], None] = lambda text: None
    wrote: Callable[[Path], None] = lambda path: None
    waiting: Callable[[Path], None] = lambda folder: None  # another build holds it


@dataclass(frozen=True)
class Target:
    """One routine to build (a routine, a technique alone, or a client's routine), with
    what it says around its techniques."""

    routine: Routine
    techniques: Mapping[str, Technique]
    greeting: tuple[str, ...] = ()  # a client's "Hi Maria." and personal note
    name: str = ""  # the client's name as it is said
    messages: Messages = ENGLISH  # voiceguide's own words, in the routine's language
    clinic: Clinic | None = None  # the profile in that language (None: the library's)

    def words(self) -> dict[str, str]:
        """What the routine's placeholders say (plan.routine_words): from the techniques
        it does, not its intro and outro, and the client's name. The audio and the share
        page both read it."""
        routine = self.routine
        return routine_words([self.techniques[t] for t in routine.track_ids()
                              if t not in routine.framing_ids()], self.name, self.messages)


def open_library(scripts: Path | None = None, clinic: Path | None = None) -> Library:
    """The clinic's scripts (--scripts DIR, else ./scripts) over the bundled library."""
    root = find_scripts(scripts)
    return load_library(root, clinic, base_of(root))


def lexicon_for(library: Library, language: str | None = None) -> Lexicon:
    """The shipped lexicon of `language` (default: the clinic's), with the clinic's own
    scripts/lexicon.yaml over it (else the bundled library's, if it has one)."""
    return lexicon_in([Path(f) for f in library.folders],
                      language or library.clinic.language or DEFAULT_LANGUAGE)


def lexicon_in(folders: Sequence[Path], language: str) -> Lexicon:
    extra = next((f / LEXICON_FILE for f in folders if (f / LEXICON_FILE).is_file()), None)
    return load_lexicon(language, extra, shown_path(extra) if extra else "")


def lexicon_of_folder(scripts: Path | None = None) -> Lexicon:
    """The lexicon of a scripts folder (over the bundled library), reading only clinic
    profiles and lexicons: one broken technique must not stop `voiceguide say`."""
    root = find_scripts(scripts)
    folders = [root, *filter(None, [base_of(root)])]
    profile = next((f / CLINIC_FILE for f in folders if (f / CLINIC_FILE).is_file()), None)
    language = parsed.clinic(profile, shown_path(profile)).language if profile else None
    return lexicon_in(folders, language or DEFAULT_LANGUAGE)


def languages_of(library: Library) -> list[str]:
    """Every language the library's routines and techniques are in ('en', 'es')."""
    named = [r.language for r in library.routines.values()] + \
        [t.language for t in library.techniques.values()]
    return sorted({spoken_in(language, library.clinic) for language in named})


def language_warnings(library: Library) -> list[str]:
    """What a build in each of the library's languages would say in English (a missing
    catalogue or message); ScriptError when a language's lexicon is wrong."""
    warnings = []
    for language in languages_of(library):
        lexicon_for(library, language)
        warnings += catalogue_problems(language)
    profile = library.clinic
    for language in languages_of(library):
        said = [name for name in ("contact", "safety") if getattr(profile, name)]
        if said and not english(language) and profile.in_language(language) is profile:
            warnings.append(
                f"{profile.file or 'the clinic profile'}: its {' and '.join(said)} "
                f"{'are' if len(said) > 1 else 'is'} said in its own words in routines in "
                f"'{language}' (add them under 'translations: {language}:', see the README)")
    clinic = profile.language
    for routine in library.routines.values():
        own = routine.language
        if own and clinic and normal_language(own) != normal_language(clinic):
            warnings.append(
                f"{routine.file}: '{routine.id}' is in '{own}', but the clinic profile's "
                f"'language: {clinic}' comes first, so it is built in '{clinic}' (remove "
                f"'language' from {library.clinic.file} to build each routine in its own)")
    return warnings


def routines_to_build(library: Library, names: Sequence[str]) -> list[Routine]:
    if names:
        return routines_named(library, names)
    default = library.default_routine()
    if default is None:
        raise SettingsError("there is no default routine to build",
                            "name one (voiceguide build ROUTINE), or mark one routine "
                            "'default: true'")
    return [default]


def client_target(library: Library, client: Client, chosen: Choices | None = None
                  ) -> Target:
    """A client's personal routine: the clinic's intro, the chosen techniques with the
    client's overrides, the clinic's outro; in the client's language (`chosen`: the
    flags, which may name another)."""
    language = resolve(chosen, client=client, clinic=library.clinic).language
    say, clinic = messages_for(language), library.clinic.in_language(language)
    techniques = dict(library.techniques)
    for tid, override in client.overrides:
        techniques[tid] = personalize(techniques[tid], override)
    titles = [library.techniques[t].title for t in client.techniques]
    routine = Routine(id=client.id, title=client.title or say.client_title(client.name),
                      summary=say.client_summary(client.name, titles),
                      techniques=client.techniques, intro=clinic.intro,
                      outro=clinic.outro, file=client.file, language=client.language)
    spoken = client.say_name or client.name
    greeting = (say.greeting(spoken), *((client.note,) if client.note else ()))
    return Target(routine, techniques, greeting, spoken, say, clinic)


def targets_for(library: Library, names: Sequence[str], client: Client | None = None,
                chosen: Choices | None = None) -> list[Target]:
    """What to build: a client's routine, or the named routines and techniques (none:
    the default routine), each with voiceguide's words in its language (`chosen`: the
    flags, which may name one)."""
    if client is not None:
        if names:
            raise SettingsError("give either routine names or a client file, not both")
        return [client_target(library, client, chosen)]
    targets = []
    for routine in routines_to_build(library, names):
        language = resolve(chosen, clinic=library.clinic, routine=routine).language
        targets.append(Target(routine, library.techniques, messages=messages_for(language),
                              clinic=library.clinic.in_language(language)))
    return targets


def framing(target: Target, library: Library, overview: str = "") -> Framing:
    clinic = target.clinic or library.clinic
    opening = (*target.greeting, *((overview,) if overview else ()),
               *((clinic.safety,) if clinic.safety else ()))
    return Framing(opening=opening, closing=(clinic.contact,) if clinic.contact else (),
                   framing_ids=target.routine.framing_ids(), words=target.words(),
                   messages=target.messages)


def plan_target(target: Target, library: Library, pacing: Pacing, overview: str = ""
                ) -> RoutinePlan:
    return plan_routine(target.routine, target.techniques, pacing,
                        framing(target, library, overview))


def plans_for(library: Library, names: Sequence[str],
              pacing: Pacing | None = None) -> list[RoutinePlan]:
    """Plans as written (no fitting, no overview): the words any build may say."""
    return [plan_target(target, library, pacing or Pacing())
            for target in targets_for(library, names)]


def estimated_plans(library: Library, names: Sequence[str], rate: int,
                    client: Client | None = None) -> list[RoutinePlan]:
    """Plans as a build would make them, with the overview ("Today: ...") said from the
    estimated length, without synthesizing: for `show`, `list` and the studio."""
    plans = []
    for target in targets_for(library, names, client):
        plan = plan_target(target, library, Pacing())
        total = sum(estimate_ms(t, rate) for t in plan.tracks)
        plans.append(plan_target(target, library, Pacing(), overview_text(target, total)))
    return plans


@dataclass(frozen=True)
class TimelineRow:
    """One line of a track's timeline as `show` prints it and the studio previews it."""

    at_ms: int  # estimated: speech lengths are guessed from the rate
    what: str  # "say", "pause", "hold" or a cue's name
    text: str = ""  # what is said, or the silence's length ("5 s")


def timeline(track: TrackPlan, rate: int, start_ms: int = 0) -> tuple[list[TimelineRow], int]:
    """A track's timeline from `start_ms` (short breaths between sentences left out), and
    where it ends."""
    rows, clock = [], start_ms
    for item, length in zip(track.items, estimate_lengths(track, rate), strict=True):
        if isinstance(item, Speech):
            rows.append(TimelineRow(clock, "say", item.text))
        elif isinstance(item, Silence) and item.reason != "gap":
            rows.append(TimelineRow(clock, item.reason, f"{item.ms / 1000:g} s"))
        elif isinstance(item, Cue):
            rows.append(TimelineRow(clock, item.name))
        clock += length
    return rows, clock


def overview_text(target: Target, total_ms: int) -> str:
    count = sum(1 for t in target.routine.track_ids() if t not in target.routine.framing_ids())
    return target.messages.overview(count, total_ms)


def _overview_guess(target: Target, plan: RoutinePlan, settings: Settings) -> str:
    """The overview from the routine's estimated length (within 3% of the real one on
    the default routine), or from the length it is to be fitted to."""
    total = round(settings.minutes * 60_000) if settings.minutes is not None \
        else sum(estimate_ms(track, settings.rate) for track in plan.tracks)
    return overview_text(target, total)


def fit_pacing(target: Target, library: Library, pacing: Pacing, minutes: float,
               length: Callable[[RoutinePlan], int]) -> Pacing:
    """The pacing that brings a routine closest to `minutes`: repeats between each
    block's min and max, pauses scaled within the pace limits; holds never change.
    Raises SettingsError, with the reachable range, when the length is out of reach."""
    goal = minutes * 60_000
    least, most = LIMITS["pace"].low, LIMITS["pace"].high
    best: tuple[float, float, Pacing] | None = None
    shortest, longest = float("inf"), 0.0
    for level in [i / 10 for i in range(11)]:
        base = replace(pacing, repeat_level=level)
        low = length(plan_target(target, library, replace(base, pace=least)))
        high = length(plan_target(target, library, replace(base, pace=most)))
        shortest, longest = min(shortest, low), max(longest, high)
        # Length grows linearly with pace (pauses scale, nothing else does).
        pace = least + (goal - low) / max(high - low, 1) * (most - least)
        pace = min(max(pace, least), most)
        candidate = replace(base, pace=round(pace, 3))
        miss = abs(length(plan_target(target, library, candidate)) - goal)
        score = (miss, abs(pace - pacing.pace))
        if best is None or score < best[:2]:
            best = (*score, candidate)
    assert best is not None
    if best[0] > 0.05 * goal:
        raise SettingsError(
            f"'{target.routine.id}' can't be made {minutes:g} minutes long: with these "
            f"techniques it runs from {shortest / 60_000:.1f} to {longest / 60_000:.1f} "
            "minutes (fewest to most repeats, pauses from half to double)",
            "choose a length in that range, or change the techniques")
    return best[2]


@dataclass(frozen=True)
class _Planned:
    plan: RoutinePlan
    pacing: Pacing


def _track_frame(encoding: Encoding, frame_rate: int) -> int:
    """MP3 tracks are made a whole number of frames long: the full routine is joined
    from them (mp3join)."""
    return frame_samples(frame_rate) if encoding.format == "mp3" else 1


def _plan_all(targets: list[Target], library: Library, settings: Settings, engine: Engine,
              clips: dict[str, Clip], cues: Cues, progress: Progress, lexicon: Lexicon,
              cache: ClipCache | None) -> list[_Planned]:
    """Fit each target to its length, then say how long it is: both need the voice's real
    lengths, so this runs with the engine open."""
    planned = []
    frame = _track_frame(encoding_of(settings), cues.frame_rate)
    for target in targets:
        pacing = pacing_of(settings)

        def length(plan: RoutinePlan) -> int:
            return planned_samples(plan, clips, cues, frame) * 1000 // cues.frame_rate

        if settings.minutes is not None:
            pacing = fit_pacing(target, library, pacing, settings.minutes, length)
        overview = overview_text(target, length(plan_target(target, library, pacing)))
        if overview in clips:  # guessed right (_overview_guess), and already said
            progress.spoke(overview)
        else:
            clips.update(render([overview], engine, progress.spoke, lexicon, cache))
        planned.append(_Planned(plan_target(target, library, pacing, overview), pacing))
    return planned


def build(library: Library, names: Sequence[str] = (), options: BuildOptions | None = None,
          progress: Progress | None = None, client: Client | None = None) -> list[Written]:
    """Build the named routines or techniques (none: the default routine), or a client's
    personal routine, with the settings `resolve` decides (the options' choices over the
    client file's, over the clinic's). Nothing is written until every clip has been
    synthesized and checked."""
    options = options or BuildOptions()
    # Routines in different languages are built apart: each has its own voice.
    groups: dict[Settings, list[Target]] = {}
    for target in targets_for(library, names, client, options.chosen):
        settings = options.settings(library, client, target.routine)
        groups.setdefault(settings, []).append(target)
    return [written for settings, targets in groups.items()
            for written in _build(library, targets, settings, options, progress)]


def _build(library: Library, targets: list[Target], settings: Settings,
           options: BuildOptions, progress: Progress | None) -> list[Written]:
    """Build targets that share their settings (and so their voice). The sentences in the
    cache are first known by their entries' headers alone, which is all a rebuild with
    nothing to do needs; one whose audio, once needed, is found damaged means building
    again with every entry read (and a damaged one spoken again)."""
    try:
        return _build_once(library, targets, settings, options, progress, unread=True)
    except DamagedEntry:
        return _build_once(library, targets, settings, options, progress, unread=False)


def _build_once(library: Library, targets: list[Target], settings: Settings,
                options: BuildOptions, progress: Progress | None, unread: bool
                ) -> list[Written]:
    encoding, loudness = encoding_of(settings), loudness_of(settings)
    check_style(settings.cues)
    # A Piper voice may live beside the scripts; the manifest names the voice used.
    settings = replace(settings, voice=resolve_settings(settings.voice_settings(),
                                                        Path(library.root),
                                                        settings.language).voice)
    credit = voice_credit(settings.voice_settings(), Path(library.root))
    # A typo or a missing file stops the build before any work; kept, a music file need
    # not be decoded again below.
    bed = load_bed(settings.background, DEFAULT_FRAME_RATE) if settings.background else None
    lexicon = lexicon_for(library, settings.language)
    progress = progress or Progress()
    if options.cache:
        said.recall(options.cache.root)
    # Every sentence any pacing could say: repeats and pauses change, the words do not.
    plans = [plan_target(t, library, pacing_of(settings)) for t in targets]
    texts = utterances(plans)
    # The overview says the length, known only once the voice has spoken: said here from
    # the estimate, it is nearly always right, and saves starting a voice again for one
    # sentence after the rest (0.3 s; a second with a neural voice). A wrong guess is
    # said again then (see _plan_all).
    guesses = dict.fromkeys(_overview_guess(target, plan, settings)
                            for target, plan in zip(targets, plans, strict=True))
    texts += [guess for guess in guesses if guess not in texts]
    files = sum(audio_file_count(t.routine) for t in targets)
    # Not entered with `with`: a worker starts only if something is not in the cache.
    engines = [make_engine(settings.voice_settings()) for _ in range(max(options.jobs, 1))]
    try:
        progress.started(len(texts) + len(targets), files)
        clips = render(texts, engines, progress.spoke, lexicon, options.cache,
                       meanwhile=import_loudness_libraries, unread=unread)
        cues = load_cues(settings.cues, frame_rate_of(clips), options.cache)
        planned = _plan_all(targets, library, settings, engines[0], clips, cues, progress,
                            lexicon, options.cache)
        version = engines[0].identity()
    finally:
        for engine in engines:
            engine.close()
    if options.cache:
        said.keep(options.cache.root)
    frame_rate = cues.frame_rate
    if settings.background and bed is not None and bed.frame_rate != frame_rate:
        bed = load_bed(settings.background, frame_rate)
    say = messages_for(settings.language)
    publishing = Publishing(encoding, targets[0].clinic or library.clinic,
                            settings.step_chapters, loudness, settings.language,
                            voice=say.voice_line(credit.name, credit.licence),
                            encoder_margin_db=engines[0].encoder_margin_db)
    notes = options.cache.root / WRITTEN if options.cache else None
    frame = _track_frame(encoding, frame_rate)
    ready = []
    for item in planned:
        made = Provenance(engine_version=version, voice=credit.name,
                          voice_licence=credit.licence, voiceguide=__version__,
                          pacing=item.pacing, lexicon_files=lexicon.files,
                          lexicon_digest=lexicon.digest())
        digest = fingerprint(item.plan, layout(item.plan, clips, cues, frame), clips, cues,
                             bed, settings, made, publishing)
        ready.append((item.plan, made, digest))

    def assembled(plan: RoutinePlan) -> AssembledRoutine:
        routine = assemble_routine(plan, clips, cues, frame)
        return routine if bed is None else _with_bed(routine, bed, publishing)

    # Every routine to be written is assembled before the first is written: a problem
    # in any of them leaves the output folder as it was.
    fresh = {n: assembled(plan) for n, (plan, _, digest) in enumerate(ready)
             if up_to_date(options.out, plan.routine.id, digest, notes) is None}
    written = []
    for n, (plan, made, digest) in enumerate(ready):
        folder = options.out / plan.routine.id
        with folder_lock(folder, options.wait, progress.waiting):
            remove_leftovers(folder)
            earlier = up_to_date(options.out, plan.routine.id, digest, notes)
            if earlier is None:
                from voiceguide.export import write_routine  # the encoders, the schemas

                # (not assembled above when another build changed the folder meanwhile)
                audio = fresh.pop(n) if n in fresh else assembled(plan)
                earlier = write_routine(audio, options.out, settings, made, publishing,
                                        options.jobs, progress.wrote, digest,
                                        options.cache.root if options.cache else None)
                note_written(notes, earlier, digest)
            written.append(earlier)
    return written


def _with_bed(assembled: AssembledRoutine, bed: Bed, publishing: Publishing
              ) -> AssembledRoutine:
    """Background ambience under every track, ducked wherever the voice speaks, at its
    level under the voice as it will be heard (after the limiter)."""
    from voiceguide.export import limiter_lift_db  # the meters

    tracks = tuple(replace(t, clip=mix_background(
        t.clip, speech_spans(t.placed), bed,
        limiter_lift_db=limiter_lift_db(t.clip, publishing))) for t in assembled.tracks)
    return replace(assembled, tracks=tracks)


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class BatchResult:
    file: Path
    status: str  # "built", "unchanged" or "failed"
    folder: Path | None = None
    reason: str = ""  # why it failed, in the words the build would have used: every
    #                   problem of a bad file, one per line


def batch(library: Library, files: Sequence[Path], options: BuildOptions | None = None,
          progress: Progress | None = None,
          done: Callable[[BatchResult], None] | None = None) -> list[BatchResult]:
    """Build every client file's routine, sharing the render cache. A bad file is
    reported and skipped; it never stops the others. Each client gets the settings
    `build` gives it: the options' choices over its own file's."""
    options = options or BuildOptions()
    # Clients are built side by side, each on its share of the cores: one build alone
    # leaves a core idle while it joins, measures and writes.
    at_once = max(1, min(options.jobs, len(files)))
    each = replace(options, jobs=max(1, options.jobs // at_once))

    def one(path: Path) -> BatchResult:
        try:
            client = load_client(path, library)
            (written,) = build(library, (), each, progress, client)
            result = BatchResult(path, "unchanged" if written.unchanged else "built",
                                 written.folder)
        except VoiceguideError as exc:
            # every problem of the file, one per line, as `validate` lists them
            reason = exc.message if isinstance(exc, ScriptError) else exc.render()
            result = BatchResult(path, "failed", reason=reason)
        if done:
            done(result)
        return result

    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return list(pool.map(one, files))
