"""The `voiceguide` command: turns arguments into options and calls the Python API.

Only VoiceguideError is caught and shown as a message; anything else is a bug, shown as
one line unless --debug asks for the traceback.

The annotations here are evaluated when each command is defined (no `from __future__
import annotations`): typer reads every command's on each run, and evaluating them from
strings each time took 15 ms of every command.
"""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias, cast

import typer

from voiceguide import __version__
from voiceguide.background import BEDS
from voiceguide.build import (
    BuildOptions,
    Progress,
    batch,
    build,
    estimated_plans,
    language_warnings,
    lexicon_of_folder,
    open_library,
    targets_for,
    timeline,
)
from voiceguide.cache import ClipCache, default_cache_dir
from voiceguide.encode import FORMATS
from voiceguide.engines import engine_names
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import ExitCode, ScriptError, SettingsError, VoiceguideError
from voiceguide.lexicon import phonemes
from voiceguide.library import (
    SCRIPT_SUFFIXES,
    find_scripts,
    load_client,
    shown_path,
    validate_files,
)
from voiceguide.model import Library, fmt_ms
from voiceguide.plan import estimate_ms
from voiceguide.settings import LIMITS, SLOW, Choices, Settings
from voiceguide.sounds import STYLES
from voiceguide.starter import CLIENTS, start_library
from voiceguide.text import language_problem, plural
from voiceguide.voices import ESPEAK_ENGINES
from voiceguide.voices_cli import voices_app

# `check`, `say` and `share` import their modules when they run (numpy, the recognizer,
# jinja2, segno): every command, a no-op `build` above all, starts faster without them.
if TYPE_CHECKING:
    from voiceguide.check import CheckReport, FileReport
    from voiceguide.publishing import Written

app = typer.Typer(
    help="Turn technique scripts into calm, timed, voice-guided audio (MP3).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CORES = os.cpu_count() or 1
JobsOption = Annotated[int, typer.Option(
    min=1, help="Speech workers and files encoded at once (default: all cores).")]
ScriptsOption = Annotated[
    Path | None,
    typer.Option("--scripts", help="Your scripts folder (techniques/, routines/, "
                 "clinic.yaml), read over the bundled library: yours win by id "
                 "(default: ./scripts if it exists, else the bundled library alone)"),
]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
ClinicOption = Annotated[Path | None, typer.Option(
    help="Clinic profile (default: clinic.yaml in the scripts folder).")]
CacheOption = Annotated[Path | None, typer.Option(
    help="Render cache folder (default: $VOICEGUIDE_CACHE, else the user cache).")]
NoCacheOption = Annotated[bool, typer.Option(
    "--no-cache", help="Speak every sentence again; neither read nor write the cache.")]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bars (they show only on a terminal anyway).")]
NoWaitOption = Annotated[bool, typer.Option(
    "--no-wait", help="When another voiceguide is writing the same output folder, stop "
    "at once (exit 5) instead of waiting for it.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voiceguide {__version__}")
        raise typer.Exit()


def _cache(folder: Path | None) -> ClipCache:
    """--cache DIR, else $VOICEGUIDE_CACHE or the user's cache folder."""
    return ClipCache(folder or default_cache_dir())


_debug = {"on": False}  # --debug, set by the callback before any command runs


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks of errors (or set VOICEGUIDE_DEBUG=1).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    _debug["on"] = debug


def debugging() -> bool:
    """--debug was given, or VOICEGUIDE_DEBUG=1 is in the environment."""
    return _debug["on"] or os.environ.get("VOICEGUIDE_DEBUG") == "1"


_DEFAULT = Settings()


def _client_file(names: list[str], client: Path | None) -> tuple[list[str], Path | None]:
    """A client file's path given where a routine's name goes (`build clients/zoe.yaml`)
    is the client's routine, as with --client."""
    files = [n for n in names if Path(n).suffix in SCRIPT_SUFFIXES]
    if not files:
        return names, client
    if client is not None or len(names) > 1:
        raise SettingsError("give one client file, alone (a client's routine is built on "
                            "its own)", "e.g. voiceguide build clients/maria.yaml")
    return [], Path(files[0])


def _default(name: str) -> str:
    """'(default: 140)' (not in brackets: the help's rich markup would take them for a
    style and drop them) for a setting whose option defaults to None (not given), so the
    client file and the clinic profile can set it when the command line does not."""
    value = getattr(_DEFAULT, name)
    return f"(default: {'none' if value is None else value})"


# The choices of an option, as typer wants them (a Literal type): a wrong value is a usage
# error (exit 2) that lists them. mypy sees plain strings.
if TYPE_CHECKING:
    EngineName: TypeAlias = str
    FormatName: TypeAlias = str
    StyleName: TypeAlias = str
else:
    EngineName = Literal[tuple(engine_names())]
    FormatName = Literal[tuple(FORMATS)]
    StyleName = Literal[tuple(STYLES)]

EngineOption = Annotated[EngineName | None, typer.Option(
    help=f"Speech engine {_default('engine')}.")]
FormatOption = Annotated[FormatName | None, typer.Option(
    "--format", help=f"Audio format {_default('format')}.")]


def _range(name: str) -> dict[str, float]:
    """min and max of a numeric option, from the one table of limits."""
    limit = LIMITS[name]
    return {"min": limit.low, "max": limit.high}


def _int_range(name: str) -> dict[str, int]:
    limit = LIMITS[name]
    return {"min": int(limit.low), "max": int(limit.high)}


def _language_code(value: str | None) -> str | None:
    """--language: a BCP 47 code (a usage error otherwise, exit 2)."""
    if value is not None and language_problem(value):
        raise typer.BadParameter(f"'{value}' {language_problem(value)}")
    return value.strip() if value else None


def given(**options: object) -> Choices:
    """The settings given on the command line: every option left out is None."""
    return cast(Choices, {k: v for k, v in options.items() if v is not None})


@app.command("build")
def build_command(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="ROUTINE_OR_TECHNIQUE",
        help="What to build (default: the default routine).")] = None,
    client: Annotated[Path | None, typer.Option(
        help="A client file: build that client's personal routine.")] = None,
    out: OutOption = Path("output"),
    engine: EngineOption = None,
    voice: Annotated[str | None, typer.Option(
        help=f"Voice id (see `voiceguide voices`) {_default('voice')}.")] = None,
    rate: Annotated[int | None, typer.Option(
        **_int_range("rate"), help=f"Speech rate, words per minute {_default('rate')}.")
                    ] = None,
    volume: Annotated[float | None, typer.Option(
        **_range("volume"), help=f"Voice volume, 0.1 to 1 {_default('volume')}.")] = None,
    pace: Annotated[float | None, typer.Option(
        **_range("pace"), help="Scale the scripts' pauses (holds never change) "
        f"{_default('pace')}.")] = None,
    slow: Annotated[bool, typer.Option(
        "--slow", help=f"A gentler preset: {SLOW['rate']} wpm, pauses {SLOW['pace']}x "
        "longer, holds unchanged.")] = False,
    minutes: Annotated[float | None, typer.Option(
        **_range("minutes"), help="Fit each routine to about this many minutes.")] = None,
    countdown: Annotated[int | None, typer.Option(
        **_int_range("countdown"), help="Say 'N more seconds' this many seconds before the "
        "end of holds at least twice as long (0: only where a script asks) "
        f"{_default('countdown')}.")] = None,
    cues: Annotated[StyleName | None, typer.Option(
        help=f"Sound style of bells and hold cues {_default('cues')}.")] = None,
    background: Annotated[str | None, typer.Option(
        help=f"Background ambience under the voice: {', '.join(BEDS)}, or a music file.")
                          ] = None,
    jobs: JobsOption = CORES,
    audio_format: FormatOption = None,
    bitrate: Annotated[str | None, typer.Option(
        help="Bitrate, e.g. 64k (default: 64k; opus 32k).")] = None,
    loudness: Annotated[float | None, typer.Option(
        **_range("loudness"), help=f"Loudness target in LUFS {_default('loudness')}.")
                        ] = None,
    true_peak: Annotated[float | None, typer.Option(
        **_range("true_peak"), help=f"True-peak ceiling in dBTP {_default('true_peak')}.")
                         ] = None,
    step_chapters: Annotated[bool, typer.Option(
        "--step-chapters", help="A chapter per script step in the full routine.")] = False,
    language: Annotated[str | None, typer.Option(
        callback=_language_code, help="Language of voiceguide's own words and of the "
        "voice, e.g. es or en-GB (default: the client file's, the clinic's, the "
        "routine's, else en).")] = None,
    clinic: ClinicOption = None,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    no_wait: NoWaitOption = False,
    quiet: QuietOption = False,
    scripts: ScriptsOption = None,
) -> None:
    """Build routines (or single techniques, or a client's routine: a client file's path
    works as a name, as --client does) into tagged,
    loudness-normalized audio tracks, a chaptered full-routine file, captions, a playlist
    and a manifest under OUT/<routine-id>/. Settings not given here come from the client
    file, then the clinic profile, then the defaults."""
    names, client = _client_file(names or [], client)
    library = open_library(scripts, clinic)
    person = load_client(client, library) if client else None
    chosen = given(engine=engine, voice=voice, rate=rate, volume=volume, pace=pace,
                   minutes=minutes, countdown=countdown, cues=cues, background=background,
                   format=audio_format, bitrate=bitrate, loudness=loudness,
                   true_peak=true_peak, step_chapters=step_chapters or None,
                   language=language)
    options = BuildOptions(chosen=chosen, slow=slow, out=out, jobs=jobs,
                           cache=None if no_cache else _cache(cache), wait=not no_wait)
    with progress_bars(quiet) as (progress, _):
        written = build(library, names or [], options, progress, person)
    for result in written:
        say_built(result, list_files=True)


def _may_draw(quiet: bool) -> bool:
    """Whether progress bars may be drawn: on a terminal (or where FORCE_COLOR or
    TTY_COMPATIBLE=1 say to draw as on one), unless `quiet`. rich is imported only then:
    it costs a tenth of a rebuild that has nothing to do."""
    if quiet:
        return False
    environ = os.environ
    return bool((sys.stderr is not None and sys.stderr.isatty())
                or environ.get("TTY_COMPATIBLE") == "1" or environ.get("FORCE_COLOR"))


def _waiting_line(folder: Path) -> str:
    return f"Waiting for another voiceguide to finish writing {shown_path(folder)}/ ..."


@contextmanager
def progress_bars(quiet: bool = False, clients: int = 0
                  ) -> Iterator[tuple[Progress, Callable[[], None]]]:
    """Progress bars on stderr, only when it is a terminal (never into piped output) and
    not `quiet`: sentences said of all, audio files written of all, and with `clients`
    a batch's clients done of all. Yields the callbacks for the build and one to call
    when a client is done."""
    if not _may_draw(quiet):
        yield Progress(waiting=lambda folder: typer.echo(_waiting_line(folder), err=True)
                       ), lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as Bars

    console = Console(stderr=True)
    with Bars(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
              transient=True, console=console, disable=not console.is_terminal) as bars:
        done = bars.add_task("Clients", total=clients) if clients else None
        speak = bars.add_task("Speaking", total=None)
        encode = bars.add_task("Encoding", total=None)

        def started(utterances: int, files: int) -> None:
            # a batch starts a build per client: the totals add up
            for task, more in ((speak, utterances), (encode, files)):
                bars.update(task, total=(bars.tasks[task].total or 0) + more)

        def client_done() -> None:
            if done is not None:
                bars.advance(done)

        def waiting(folder: Path) -> None:
            console.print(_waiting_line(folder), highlight=False)

        yield Progress(started=started, spoke=lambda _: bars.advance(speak),
                       wrote=lambda _: bars.advance(encode), waiting=waiting), client_done


def say_built(result: "Written", list_files: bool) -> None:
    if result.unchanged:
        typer.echo(f"Unchanged {shown_path(result.folder)}/ (nothing to do)")
        return
    typer.echo(f"Built {shown_path(result.folder)}/")
    if list_files:
        for path in (*result.files, *result.others, result.manifest):
            typer.echo(f"  {path.name}")


RoutineOrClient = Annotated[str | None, typer.Argument(
    metavar="ROUTINE_OR_CLIENT",
    help="A routine or technique id, or a client file (clients/maria.yaml) "
    "(default: the default routine).")]

@app.command("share")
def share_command(
    name: RoutineOrClient = None,
    client: Annotated[Path | None, typer.Option(
        help="A client file: share that client's personal routine.")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="The web address the share folder will have, e.g. "
        "https://example.org/homework/: the podcast feed gets absolute links and the "
        "page a QR code.")] = None,
    out: OutOption = Path("output"),
    jobs: JobsOption = CORES,
    clinic: ClinicOption = None,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    no_wait: NoWaitOption = False,
    quiet: QuietOption = False,
    scripts: ScriptsOption = None,
) -> None:
    """Make a folder to share a routine with a client: a page with players, chapters,
    captions and the written steps, a private podcast feed, the audio, a QR code, and a
    zip of it all, under OUT/<routine-id>/share/. Builds the routine first if its audio
    is missing or out of date (with the settings of its last build)."""
    from voiceguide.share import FEED, PAGE, QR_PNG, QR_SVG, check_base_url, share

    if base_url is not None:
        check_base_url(base_url)  # before reading anything: a typo costs nothing
    names, client = _client_file([name] if name else [], client)
    name = names[0] if names else None
    library = open_library(scripts, clinic)
    person = load_client(client, library) if client else None
    options = BuildOptions(out=out, jobs=jobs, cache=None if no_cache else _cache(cache),
                           wait=not no_wait)
    with progress_bars(quiet) as (progress, _):
        shared = share(library, name, base_url, options, person, progress)
    say_built(shared.built, list_files=False)
    size = sum(p.stat().st_size for p in shared.files)
    typer.echo(f"Shared {shown_path(shared.folder)}/ ({len(shared.files)} files, "
               f"{size / 1_000_000:.1f} MB)")
    described = {PAGE: "the page: open it, or put the folder on a web host",
                 FEED: "the podcast feed", QR_SVG: "the page's address as a QR code",
                 QR_PNG: "the same, as a picture"}
    for path in shared.files:
        if path.name in described:
            typer.echo(f"  {path.name:<12} {described[path.name]}")
    typer.echo(f"Zip to send: {shown_path(shared.archive)} "
               f"({shared.archive.stat().st_size / 1_000_000:.1f} MB)")
    if shared.base_url:
        typer.echo(f"Page: {shared.page_url}\nFeed: {shared.feed_url}")
    else:
        typer.echo("Hint: with --base-url (the web address this folder will have, e.g. "
                   "https://example.org/homework/) the podcast feed gets the absolute "
                   "links podcast apps need, and the page a QR code.")


_CHECK_ROW = "{:<22} {:>9} {:>6} {:>9} {:>6} {:>6} {:>8}"


def _check_row(report: "FileReport") -> str:
    wer = report.wer
    chapters = {None: "-", True: "ok", False: "WRONG"}[report.chapters_ok]
    return _CHECK_ROW.format(
        report.file, f"{report.heard}/{report.sentences}" if report.speech_checked else "-",
        "-" if wer is None else f"{wer:.0%}", f"{report.silent}/{report.silences}",
        f"{report.lufs:.1f}", f"{report.true_peak:.1f}", chapters)


@app.command("check")
def check_command(
    name: RoutineOrClient = None,
    out: OutOption = Path("output"),
    files: Annotated[list[str] | None, typer.Option(
        "--file", help="Check only this audio file of the routine (may be repeated).")
                     ] = None,
    no_wer: Annotated[bool, typer.Option(
        "--no-wer", help="Skip the open-vocabulary word error rate (about ten times "
        "faster; sentences are still recognized).")] = False,
    scripts: ScriptsOption = None,
) -> None:
    """Listen back to a built routine before sending it: every sentence is recognized
    where the manifest places it, pauses and holds are silent, loudness and true peak
    are as asked, and the full routine's chapters are the manifest's. Exit code 6 when
    anything is wrong, each problem named by its script's file:line."""
    from voiceguide.check import check_folder

    client = None
    if name and Path(name).suffix in SCRIPT_SUFFIXES:
        client, name = Path(name), None
    library = open_library(scripts)
    person = load_client(client, library) if client else None
    (target,) = targets_for(library, [name] if name else [], person)
    hint = " ".join(["voiceguide build", *([name] if name else []),
                     *(["--client", str(client)] if client else []),
                     *(["--out", str(out)] if out != Path("output") else [])])
    folder = out / target.routine.id
    header = {"printed": False}

    def done(report: "FileReport") -> None:
        if not header["printed"]:
            typer.echo(f"Checking {shown_path(folder)}/")
            typer.echo(_CHECK_ROW.format("file", "sentences", "WER", "silences", "LUFS",
                                         "peak", "chapters"))
            header["printed"] = True
        typer.echo(_check_row(report))

    _say_checked(check_folder(folder, [Path(f) for f in library.folders], hint, files or (),
                              not no_wer, done))


def _say_checked(report: "CheckReport") -> None:
    for note in report.notes:
        typer.echo(note)
    if report.wer is not None:
        typer.echo(f"Word error rate of open recognition: {report.wer:.0%} (a figure of the "
                   "voice's clarity to a machine, not a pass or fail)")
    problems = report.problems
    if not problems:
        typer.echo(f"OK: {plural(len(report.files), 'file')} checked, no problems.")
        return
    for problem in problems:
        typer.echo(problem.render())
    typer.echo(f"{plural(len(problems), 'problem')} found: do not send these files.")
    raise typer.Exit(ExitCode.CHECK_FAILED)


@app.command("list")
def list_command(scripts: ScriptsOption = None) -> None:
    """List techniques and routines with their planned lengths (estimated) and where each
    comes from: your scripts folder or the bundled library."""
    library = open_library(scripts)
    rate = _DEFAULT.rate
    typer.echo(f"Scripts: {_folders(library)}")
    default = library.default_routine()
    techniques = []
    for t in sorted(library.techniques.values(), key=lambda t: t.id):
        (plan,) = estimated_plans(library, [t.id], rate)  # as `show` and `build` plan it
        techniques.append((t.id, estimate_ms(plan.tracks[0], rate), t.title, t.file))
    routines = []
    for r in sorted(library.routines.values(), key=lambda r: r.id):
        (plan,) = estimated_plans(library, [r.id], rate)
        mark = " (default)" if default and r.id == default.id else ""
        routines.append((r.id, sum(estimate_ms(t, rate) for t in plan.tracks),
                         f"{r.title}{mark}: {', '.join(r.track_ids())}", r.file))
    for heading, rows in (("Techniques", techniques), ("Routines", routines)):
        width = max((len(row[2]) for row in rows), default=5)
        typer.echo(f"\n{heading}:\n  {'id':<16} {'length':>7}  {'title':<{width}}  from")
        for item_id, ms, title, file in rows:
            typer.echo(f"  {item_id:<16} ~{fmt_ms(ms):>6}  {title:<{width}}  "
                       f"{_origin(library, file)}")


def _folders(library: Library) -> str:
    """The folders a library was read from: 'scripts, over the bundled library (/path)'."""
    own, *under = library.folders
    if own == library.bundled_folder:
        return f"{own} (the bundled library)"
    return own + (f", over the bundled library ({under[0]})" if under else "")


def _origin(library: Library, file: str) -> str:
    return "bundled" if library.bundled(file) else f"yours ({file})"


@app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="A routine or technique id.")],
                 rate: Annotated[int, typer.Option(**_int_range("rate"),
                                                   help="Speech rate (wpm).")] = _DEFAULT.rate,
                 scripts: ScriptsOption = None) -> None:
    """Show the timeline with timestamps and the total length, without synthesizing.
    Speech lengths are estimates (~); pauses and holds are exact."""
    library = open_library(scripts)
    (plan,) = estimated_plans(library, [name], rate)
    clock = 0
    for track in plan.tracks:
        typer.echo(f"\n{track.file_name}  {track.technique.title}")
        rows, clock = timeline(track, rate, clock)
        for row in rows:
            typer.echo(f"  ~{fmt_ms(row.at_ms):>7}  {row.what:<6} {row.text}".rstrip())
    typer.echo(f"\nTotal: ~{fmt_ms(clock)} ({plural(len(plan.tracks), 'track')})")


@app.command("validate")
def validate_command(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Script files to check (default: the whole scripts folder).")] = None,
    scripts: ScriptsOption = None,
) -> None:
    """Check scripts and report every problem at once; writes nothing."""
    if files:
        checked = validate_files(files, lambda: open_library(scripts))
        typer.echo(f"OK: {plural(len(checked), 'file')} checked, no problems.")
        return
    library = open_library(scripts)
    for warning in language_warnings(library):  # each language's lexicon is read too
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"OK: {plural(len(library.techniques), 'technique')} and "
               f"{plural(len(library.routines), 'routine')} in {_folders(library)}, "
               "no problems.")


@app.command("say")
def say_command(
    text: Annotated[str, typer.Argument(help="The words to say, in quotes.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The audio file to write "
                                      "(its ending picks the format).")] = Path("say.mp3"),
    engine: Annotated[EngineName, typer.Option(help="Speech engine.")] = _DEFAULT.engine,
    voice: Annotated[str, typer.Option(help="Voice id.")] = _DEFAULT.voice,
    rate: Annotated[int, typer.Option(**_int_range("rate"), help="Speech rate (wpm).")
                    ] = _DEFAULT.rate,
    show_phonemes: Annotated[bool, typer.Option(
        "--phonemes", help="Also print how espeak-ng reads it (IPA).")] = False,
    scripts: ScriptsOption = None,
) -> None:
    """Say one line into an audio file, with the lexicon's respellings: hear how a word
    sounds before putting it in a script."""
    from voiceguide.say import say_to_file

    lexicon = lexicon_of_folder(scripts)
    said = say_to_file(text, VoiceSettings(engine, voice, rate), lexicon, out)
    if said.spoken != " ".join(text.split()):
        typer.echo(f"Said as: {said.spoken}")
    if show_phonemes:
        reader = voice if engine in ESPEAK_ENGINES else "en-us"  # espeak-ng's own voices
        typer.echo(f"Phonemes: {phonemes(said.spoken, reader)}")
    typer.echo(f"Wrote {shown_path(said.path)} ({said.ms / 1000:.1f} s)")


@app.command("batch")
def batch_command(
    clients: Annotated[Path, typer.Argument(help="A folder of client files (*.yaml).")],
    out: OutOption = Path("output"),
    engine: EngineOption = None,
    audio_format: FormatOption = None,
    jobs: JobsOption = CORES,
    quiet: QuietOption = False,
    scripts: ScriptsOption = None,
) -> None:
    """Build every client file's routine in a folder, sharing the render cache; one bad
    file does not stop the others. Ends with a summary: built, unchanged, failed."""
    if not clients.is_dir():
        raise SettingsError(f"'{clients}' is not a folder", "give the folder that holds "
                            "the client files, e.g. clients")
    files = sorted(p for p in clients.iterdir() if p.suffix in (".yaml", ".yml"))
    library = open_library(scripts)
    options = BuildOptions(chosen=given(engine=engine, format=audio_format), out=out,
                           jobs=jobs)
    with progress_bars(quiet, clients=len(files)) as (progress, client_done):
        results = batch(library, files, options, progress, lambda _: client_done())
    for result in results:
        where = f" -> {shown_path(result.folder)}/" if result.folder else ""
        typer.echo(f"{result.status:<9} {shown_path(result.file)}{where}"
                   + "".join(f"\n          {line}" for line in result.reason.splitlines()))
    counts = {s: sum(r.status == s for r in results) for s in ("built", "unchanged", "failed")}
    typer.echo(f"{counts['built']} built, {counts['unchanged']} unchanged, "
               f"{counts['failed']} failed")
    if counts["failed"]:
        raise typer.Exit(ExitCode.INVALID_SCRIPT)


@app.command("init")
def init_command(
    folder: Annotated[Path, typer.Argument(
        metavar="DIR", show_default=False,
        help="Where to make the library: its scripts/ folder and clients/ go here "
        "(default: the current folder).")] = Path(),
) -> None:
    """Start your clinic's own library: copy the bundled techniques, routine, clinic
    profile and an example client file into DIR/scripts and DIR/clients, to edit.
    Never overwrites: stops if DIR/scripts is already there."""
    started = start_library(folder)
    where = shown_path(started.scripts)
    typer.echo(f"Made {where}/, a copy of the bundled library for you to edit:")
    for name in started.others:
        typer.echo(f"  {where}/{name}")
    for kind, names in (("techniques", started.techniques), ("routines", started.routines)):
        typer.echo(f"  {where}/{kind}/  {plural(len(names), kind[:-1])}: {', '.join(names)}")
    for path in started.clients:
        typer.echo(f"  {shown_path(path)}  an example client file")
    steps = [] if folder.resolve() == Path.cwd().resolve() else [
        ("cd " + shown_path(folder), "work in the new library's folder")]
    steps += [("voiceguide list", "what you have, and where each comes from"),
              ("voiceguide validate", "check your changes"),
              ("voiceguide build", "build the default routine into output/"),
              *[(f"voiceguide build {CLIENTS}/{p.name}", "a client's own routine")
                for p in started.clients[:1]]]
    typer.echo(f"\nNext: put your clinic's name and contact line in {where}/clinic.yaml "
               f"and change any technique\n(your files win over the bundled ones of the "
               "same id). Then:")
    for command, what in steps:
        typer.echo(f"  {command:<36} {what}")


cache_app = typer.Typer(help="The render cache: every sentence spoken before.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info_command(
    cache: Annotated[Path | None, typer.Option(help="Cache folder.")] = None,
) -> None:
    """Where the render cache is, and how much it holds."""
    info = _cache(cache).info()
    typer.echo(f"Cache: {info.root}\n{info.entries} sentences, {info.bytes / 2**20:.1f} MB")


@cache_app.command("clear")
def cache_clear_command(
    cache: Annotated[Path | None, typer.Option(help="Cache folder.")] = None,
) -> None:
    """Empty the render cache (the next build speaks every sentence again)."""
    info = _cache(cache).clear()
    typer.echo(f"Removed {info.entries} sentences ({info.bytes / 2**20:.1f} MB) from "
               f"{info.root}")


@app.command("studio")
def studio_command(
    scripts: ScriptsOption = None,
    clients: Annotated[Path, typer.Option(help="Folder of client files.")] = Path("clients"),
    out: OutOption = Path("output"),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any "
                                      "free one).")] = 8765,
    host: Annotated[str | None, typer.Option(
        help="Listen on this address instead of 127.0.0.1 (other computers may then "
        "reach it: a warning is printed).")] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="Don't open the browser.")
                       ] = False,
    jobs: JobsOption = CORES,
) -> None:
    """Make, hear and share routines in your web browser: a local web app on this
    computer, over the same scripts, client files and output folders."""
    from voiceguide.studio import serve  # the web parts load only for the studio

    serve(find_scripts(scripts), clients, out, host, port, not no_open, jobs)


app.add_typer(voices_app, name="voices")  # voices_cli.py: list, add, download


def main() -> None:
    """Entry point: run the app, turning VoiceguideError into a message and exit code."""
    try:
        app(standalone_mode=True)
    except ScriptError as exc:
        typer.echo(exc.render(), err=True)
        count = len(exc.problems)
        typer.echo(f"{plural(count, 'problem')} found; nothing was written.", err=True)
        sys.exit(exc.exit_code)
    except VoiceguideError as exc:
        if debugging():
            raise
        typer.echo(f"error: {exc.render()}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: keep the terminal readable, --debug shows it all
        if debugging():
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc} (run again with --debug "
                   "and report it)", err=True)
        sys.exit(ExitCode.INTERNAL)
