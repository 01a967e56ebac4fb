"""The studio's pages and requests: a window onto the scripts, client files and output
folders, through the same Python API as the command line."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from voiceguide.atomic import write_atomic
from voiceguide.background import BEDS
from voiceguide.build import (
    BuildOptions,
    Progress,
    build,
    estimated_plans,
    lexicon_for,
    targets_for,
    timeline,
)
from voiceguide.cache import ClipCache
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import Problem, ScriptError, SettingsError, VoiceguideError
from voiceguide.library import (
    CLINIC_FILE,
    DEFAULT_LANGUAGE,
    SCRIPT_SUFFIXES,
    base_of,
    load_client,
    load_library,
    shown_path,
)
from voiceguide.manifest import read_manifest
from voiceguide.model import Clinic, Library, Technique, fmt_ms
from voiceguide.parse import parse_clinic, parse_technique
from voiceguide.plan import Pacing, estimate_ms
from voiceguide.say import say_to_file
from voiceguide.settings import LIMITS, SLOW, Choices, resolve
from voiceguide.share import SHARE_FOLDER, check_base_url, share, written_steps
from voiceguide.sounds import STYLES
from voiceguide.studio.clients import ClientForm, adjustable, estimate, out_of_date, read_form
from voiceguide.studio.jobs import Busy, Jobs
from voiceguide.studio.security import Guard, Refused, confined
from voiceguide.voices import all_voices, piper_installed

HERE = Path(__file__).parent
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # ids name files and folders: nothing else
_SAID = re.compile(r"^[0-9a-f]{32}\.mp3$")
T = TypeVar("T")


@dataclass
class Studio:
    """What the studio works on, and its state between requests."""

    scripts: Path
    clients: Path
    out: Path
    say_cache: Path  # "Say it" clips, by the hash of voice and text
    cache: ClipCache | None = None
    jobs_at_once: int = 2
    jobs: Jobs = field(default_factory=Jobs)
    checked: dict[str, float] = field(default_factory=dict)  # folder: found up to date

    def library(self) -> Library:
        """The scripts over the bundled library, as the commands read them."""
        return load_library(self.scripts, base=base_of(self.scripts))

    def clinic(self) -> Clinic:
        profile = self.scripts / CLINIC_FILE
        if not profile.is_file():
            return Clinic()
        try:
            return parse_clinic(profile, shown_path(profile))
        except ScriptError:
            return Clinic()

    def technique_files(self) -> list[Path]:
        folder = self.scripts / "techniques"
        return sorted(p for p in folder.iterdir() if p.suffix in SCRIPT_SUFFIXES) \
            if folder.is_dir() else []

    def technique_file(self, name: str) -> Path:
        """A file of the techniques folder, by name; Refused for anything else."""
        path = confined(self.scripts / "techniques", name)
        if path not in [p.resolve() for p in self.technique_files()]:
            raise Refused(f"'{name}' is not a technique file", "open one from the library")
        return path

    def edit_name(self, technique: Technique) -> str:
        """The name of the technique's file in the editor's address."""
        return next((p.name for p in self.technique_files()
                     if p.resolve() == Path(technique.file).resolve()), "")

    def client_file(self, name: str) -> Path:
        """The client file of that name (without .yaml or .yml), or where a new one goes.
        The pages name client files by file name, as the command line does."""
        checked_id(name)
        found = [p for p in self.client_files() if p.stem == name]
        return found[0] if found else confined(self.clients, f"{name}.yaml")

    def client_files(self) -> list[Path]:
        return sorted(p for p in self.clients.iterdir() if p.suffix in SCRIPT_SUFFIXES) \
            if self.clients.is_dir() else []

    def folder(self, routine_id: str) -> Path:
        return confined(self.out, checked_id(routine_id))

    def options(self, chosen: Choices) -> BuildOptions:
        return BuildOptions(chosen=chosen, cache=self.cache, out=self.out,
                            jobs=self.jobs_at_once)


def checked_id(text: str) -> str:
    if not _ID.match(text):
        raise Refused(f"'{text}' is not an id", "ids are lowercase letters, digits and "
                      "dashes")
    return text


# --------------------------------------------------------------------------- views


def players(studio: Studio, routine_id: str) -> dict[str, Any] | None:
    """The players of a routine's last build, from its manifest: the whole routine with
    its chapters, then each track (a technique built alone has one file)."""
    folder = studio.folder(routine_id)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    routine = manifest.routine

    def url(name: str, fingerprint: str) -> str:
        return f"/out/{routine_id}/{name}?v={fingerprint[:12]}"

    tracks = [{"title": t.title, "url": url(t.file, t.fingerprint), "ms": t.duration_ms,
               "length": fmt_ms(t.duration_ms)} for t in manifest.tracks]
    built = (folder / "manifest.json").stat().st_mtime
    return {"id": routine_id, "title": routine.title,
            "full": {"url": url(routine.file, routine.fingerprint), "ms": routine.duration_ms,
                     "length": fmt_ms(routine.duration_ms), "title": routine.title},
            "chapters": [{"title": c.title, "at": c.start_ms / 1000,
                          "clock": fmt_ms(c.start_ms)} for c in routine.chapters],
            "tracks": tracks if len(manifest.audio_files()) > 1 else [],
            "built": time.strftime("%Y-%m-%d %H:%M", time.localtime(built)),
            "voice": manifest.build.voice}


def shared(studio: Studio, routine_id: str) -> dict[str, Any] | None:
    folder = studio.folder(routine_id) / SHARE_FOLDER
    if not (folder / "index.html").is_file():
        return None
    base = f"/out/{routine_id}/{SHARE_FOLDER}"
    feed = _feed_address(folder / "feed.xml")
    return {"page": f"{base}/index.html", "qr": f"{base}/qr.svg"
            if (folder / "qr.svg").is_file() else None,
            "zip": f"/out/{routine_id}/{routine_id}-share.zip", "feed": feed}


def _feed_address(feed: Path) -> str:
    """The feed's own address as written in it (absolute with a base URL)."""
    text = feed.read_text(encoding="utf-8") if feed.is_file() else ""
    found = re.search(r'<atom:link href="([^"]+)"', text)
    return found.group(1) if found and found.group(1).startswith("http") else ""


@cache
def _system_voices(language: str) -> tuple[tuple[str, str], ...]:
    """espeak-ng's voices of the language (listing them starts the engine: once)."""
    try:
        with make_engine(VoiceSettings(engine="espeak")) as engine:
            found = engine.voices()
    except VoiceguideError:
        return ()
    main = language.split("-")[0].lower()
    return tuple((f"pyttsx3:{v.id.rsplit('/', 1)[-1]}", f"{v.name} (espeak-ng)")
                 for v in found if any(lang.split("-")[0] == main for lang in v.languages))


def warm_voice_list(scripts: Path) -> None:
    profile = scripts / CLINIC_FILE
    with contextlib.suppress(VoiceguideError):
        _system_voices((parse_clinic(profile).language if profile.is_file() else None)
                       or DEFAULT_LANGUAGE)


def voice_choices(studio: Studio, clinic: Clinic, current: str) -> list[tuple[str, str]]:
    """(engine:voice, label) for the voice menus: the clinic's first (''), the neural
    voices installed, then espeak-ng's voices of the clinic's language."""
    settings = resolve(clinic=clinic)
    choices = [("", f"The clinic's voice ({settings.voice}, {settings.engine})")]
    default = f"{settings.engine}:{settings.voice}"
    if piper_installed():
        choices += [(f"piper:{v.name}", f"{v.name} (Piper, neural)")
                    for v in all_voices(studio.scripts)]
    choices += [("pyttsx3:en-us+f3", "en-us+f3 (espeak-ng, the default)")]
    choices += list(_system_voices(clinic.language or DEFAULT_LANGUAGE))
    if current and current not in {value for value, _ in choices}:
        choices.insert(1, (current, current.replace(":", ", ")))
    return [c for i, c in enumerate(choices) if c[0] != default or i == 0]


def voice_of(choice: str) -> Choices:
    """The engine and voice a menu's value names ('': the clinic's)."""
    if not choice:
        return Choices()
    engine, _, voice = choice.partition(":")
    return Choices(engine=engine, voice=voice)


def estimated_length(library: Library, name: str, rate: int) -> int:
    """A routine's or technique's length as `show` estimates it."""
    (plan,) = estimated_plans(library, [name], rate)
    return sum(estimate_ms(t, rate) for t in plan.tracks)


def named(items: Mapping[str, T], request: Request, kind: str) -> T:
    """The technique or routine the address names; SettingsError when there is none."""
    name = checked_id(request.path_params["id"])
    if name not in items:
        raise SettingsError(f"no {kind} is called '{name}'", "open one from the library")
    return items[name]


def problem_json(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "column": problem.column,
            "message": problem.message, "text": problem.render()}


# --------------------------------------------------------------------------- the app


def create_app(studio: Studio, token: str, port: int, hosts: set[str],
               any_address: bool = False) -> Starlette:
    """The app, behind its Guard: requests must name one of `hosts` (or, with
    `any_address`, any IP address with the port) and carry the token."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    templates = Jinja2Templates(env=environment)

    def page(request: Request, name: str, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, {"clinic": studio.clinic(),
                                                          **context})

    # ------------------------------------------------------------------- library

    def library_page(request: Request) -> Response:
        files = [{"name": p.name, "shown": shown_path(p)} for p in studio.technique_files()]
        try:
            library = studio.library()
        except ScriptError as exc:
            return page(request, "library.html", problems=[problem_json(p) for p in
                                                           exc.problems],
                        techniques=[], routines=[], files=files)
        rate = resolve(clinic=library.clinic).rate
        techniques = [{"id": t.id, "title": t.title, "summary": t.summary,
                       "equipment": t.equipment, "file": t.file,
                       "edit": studio.edit_name(t),
                       "length": fmt_ms(estimated_length(library, t.id, rate)),
                       "built": read_manifest(studio.out / t.id) is not None}
                      for t in sorted(library.techniques.values(), key=lambda t: t.title)]
        routines = [{"id": r.id, "title": r.title, "file": r.file,
                     "length": fmt_ms(estimated_length(library, r.id, rate)),
                     "techniques": [library.techniques[t].title for t in r.track_ids()]}
                    for r in library.routines.values()]
        return page(request, "library.html", problems=[], techniques=techniques,
                    routines=routines, files=files)

    def built(routine_id: str, clinic: Clinic) -> dict[str, Any]:
        """What the Build and Share panel shows of a routine."""
        return {"players": players(studio, routine_id), "shared": shared(studio, routine_id),
                "share_url": _share_url(clinic, routine_id), "kind": "routine"}

    def technique_page(request: Request) -> Response:
        library = studio.library()
        technique = named(library.techniques, request, "technique")
        (target,) = targets_for(library, [technique.id])
        rate = resolve(clinic=library.clinic).rate
        return page(request, "technique.html", technique=technique,
                    edit=studio.edit_name(technique),
                    steps=written_steps(technique.steps, Pacing(), target.words()),
                    length=fmt_ms(estimated_length(library, technique.id, rate)),
                    voices=voice_choices(studio, library.clinic, ""),
                    **built(technique.id, library.clinic))

    def routine_page(request: Request) -> Response:
        library = studio.library()
        routine = named(library.routines, request, "routine")
        return page(request, "routine.html", routine=routine,
                    techniques=[library.techniques[t] for t in routine.track_ids()],
                    **built(routine.id, library.clinic))

    # ------------------------------------------------------------------- editing

    def edit_page(request: Request) -> Response:
        path = studio.technique_file(request.path_params["file"])
        return page(request, "edit.html", file=path.name, shown=shown_path(path),
                    text=path.read_text(encoding="utf-8-sig"))

    def checked_technique(path: Path, text: str) -> tuple[Technique | None, list[Problem]]:
        """The technique the editor's text makes, checked as `validate` checks the file
        (the same messages, naming the file and line), without writing it."""
        with tempfile.TemporaryDirectory(prefix="voiceguide-studio-") as folder:
            draft = Path(folder) / path.name
            draft.write_text(text, encoding="utf-8")
            try:
                technique = parse_technique(draft, shown_path(path),
                                            studio.clinic().language or DEFAULT_LANGUAGE)
            except ScriptError as exc:
                return None, list(exc.problems)
        return replace(technique, file=shown_path(path)), []

    async def check_api(request: Request) -> Response:
        body = await request.json()
        path = studio.technique_file(str(body.get("file", "")))
        technique, problems = checked_technique(path, str(body.get("text", "")))
        rows: list[dict[str, Any]] = []
        total = ""
        if technique is not None:
            # the technique alone, as `voiceguide show` prints it
            library = Library(str(studio.scripts), {technique.id: technique}, {},
                              studio.clinic())
            rate = resolve(clinic=library.clinic).rate
            (plan,) = estimated_plans(library, [technique.id], rate)
            clock = 0
            for track in plan.tracks:
                found, clock = timeline(track, rate, clock)
                rows += [{"at": fmt_ms(r.at_ms), "what": r.what, "text": r.text}
                         for r in found]
            total = fmt_ms(clock)
        return JSONResponse({"problems": [problem_json(p) for p in problems],
                             "timeline": rows, "total": total})

    async def save_api(request: Request) -> Response:
        body = await request.json()
        path = studio.technique_file(str(body.get("file", "")))
        text = str(body.get("text", ""))
        _, problems = checked_technique(path, text)
        if problems and not body.get("force"):
            # an answer, not a failure: the page shows the problems beside their lines
            return JSONResponse({"saved": False, "problems": [problem_json(p)
                                                              for p in problems]})
        write_atomic(path, text)
        return JSONResponse({"saved": True, "problems": [problem_json(p) for p in problems]})

    # ------------------------------------------------------------------- say it

    async def say_api(request: Request) -> Response:
        body = await request.json()
        library = studio.library()
        settings = resolve(voice_of(str(body.get("voice", ""))), clinic=library.clinic)
        voice = settings.voice_settings()
        lexicon = lexicon_for(library)
        text = " ".join(str(body.get("text", "")).split())
        key = hashlib.sha256(json.dumps([voice.engine, voice.voice, voice.rate, text,
                                         lexicon.digest()]).encode()).hexdigest()[:32]
        path = studio.say_cache / f"{key}.mp3"
        if not path.is_file():
            await run_in_threadpool(say_to_file, text, voice, lexicon, path)
        return JSONResponse({"url": f"/said/{key}.mp3"})

    def said_file(request: Request) -> Response:
        name = request.path_params["name"]
        if not _SAID.match(name):
            raise Refused(f"'{name}' is not a said clip", "use the Say it buttons")
        return FileResponse(confined(studio.say_cache, name), media_type="audio/mpeg")

    def output_file(request: Request) -> Response:
        path = confined(studio.out, request.path_params["path"])
        if not path.is_file() or any(part.startswith(".") for part in
                                     path.relative_to(studio.out.resolve()).parts):
            raise Refused("no such file in the output folder", "build the routine first")
        return FileResponse(path)

    # ------------------------------------------------------------------- clients

    def clients_page(request: Request) -> Response:
        rows = []
        library: Library | None = None
        problems: list[dict[str, Any]] = []
        try:
            library = studio.library()
        except ScriptError as exc:
            problems = [problem_json(p) for p in exc.problems]
        for path in studio.client_files():
            row: dict[str, Any] = {"file": shown_path(path), "id": path.stem, "problem": "",
                                   "name": path.stem}
            if library is not None:
                try:
                    client = load_client(path, library)
                    folder = studio.folder(client.id)
                    made = players(studio, client.id)
                    stale = out_of_date(client, path, library, folder,
                                        studio.checked.get(client.id, 0))
                    row |= {"name": client.name,
                            "techniques": [library.techniques[t].title
                                           for t in client.techniques],
                            "built": made["built"] if made else "", "stale": stale}
                except VoiceguideError as exc:
                    row["problem"] = exc.render()
            rows.append(row)
        return page(request, "clients.html", rows=rows, problems=problems)

    def client_page(request: Request) -> Response:
        library = studio.library()
        cid = request.path_params.get("id")
        form = ClientForm(techniques=[])
        if cid is not None:
            form = ClientForm.of(load_client(studio.client_file(cid), library))
        choices = [adjustable(t) for t in sorted(library.techniques.values(),
                                                 key=lambda t: t.title)
                   if t.id not in (library.clinic.intro, library.clinic.outro)]
        return page(request, "client.html", form=form, original=cid or "",
                    choices=choices, voices=voice_choices(studio, library.clinic, form.voice),
                    styles=STYLES, beds=BEDS, slow=SLOW, limits=LIMITS,
                    players=players(studio, cid) if cid else None,
                    shared=shared(studio, cid) if cid else None, kind="client",
                    share_url=_share_url(library.clinic, cid) if cid else "")

    async def form_of(request: Request) -> tuple[ClientForm, str]:
        body = await request.json()
        original = str(body.pop("original", ""))
        try:
            return ClientForm.model_validate(body), original
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SettingsError(f"'{where}': {first['msg']}", "correct it in the form"
                                ) from None

    async def estimate_api(request: Request) -> Response:
        form, _ = await form_of(request)
        library = studio.library()
        text = form.to_yaml()
        try:
            client = read_form(text, library, f"clients/{form.id or 'new'}.yaml")
        except ScriptError as exc:
            return JSONResponse({"problems": [problem_json(p) for p in exc.problems],
                                 "yaml": text})
        found = estimate(library, client)
        return JSONResponse({"problems": [], "yaml": text, "total": fmt_ms(found.total_ms),
                             "shortest": round(found.shortest_ms / 60_000, 1),
                             "longest": round(found.longest_ms / 60_000, 1),
                             "problem": found.problem})

    async def client_save_api(request: Request) -> Response:
        form, original = await form_of(request)
        library = studio.library()
        # An open client's file is written again; a new one may not replace another's.
        path = studio.client_file(original or form.id.strip())
        if path.exists() and not original:
            raise SettingsError(f"there is already a client file {shown_path(path)}",
                                "choose another id, or open that client from the list")
        text = form.to_yaml()
        try:
            read_form(text, library, shown_path(path))
        except ScriptError as exc:
            return JSONResponse({"saved": False, "problems": [problem_json(p) for p in
                                                              exc.problems]})
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        return JSONResponse({"saved": True, "file": shown_path(path),
                             "url": f"/client/{path.stem}"})

    # ------------------------------------------------------------------- build, share

    def work_for(body: dict[str, Any], sharing: bool) -> tuple[str, str, Callable[
            [Progress], dict[str, Any]]]:
        """What a Build or Share button asks for: its title, the routine's id, and the
        work (run by Jobs in a thread)."""
        library = studio.library()
        kind, name = str(body.get("kind", "")), checked_id(str(body.get("name", "")))
        client = load_client(studio.client_file(name), library) if kind == "client" \
            else None
        (target,) = targets_for(library, [] if client else [name], client)
        routine_id = target.routine.id
        options = studio.options(voice_of(str(body.get("voice", ""))))
        base = str(body.get("base_url", "")).strip() or None
        if sharing and base is not None:
            check_base_url(base)  # before anything is built: a typo costs nothing

        def work(progress: Progress) -> dict[str, Any]:
            if sharing:
                done = share(library, None if client else name, base, options, client,
                             progress)
                return {"id": routine_id, "unchanged": done.built.unchanged}
            (written,) = build(library, [] if client else [name], options, progress,
                               client)
            studio.checked[routine_id] = time.time()
            return {"id": routine_id, "unchanged": written.unchanged}

        verb = "Share" if sharing else "Build"
        return f"{verb} {target.routine.title}", routine_id, work

    async def build_api(request: Request) -> Response:
        title, routine_id, work = work_for(await request.json(), sharing=False)
        return JSONResponse(studio.jobs.start(title, routine_id, work).to_json())

    async def share_api(request: Request) -> Response:
        title, routine_id, work = work_for(await request.json(), sharing=True)
        return JSONResponse(studio.jobs.start(title, routine_id, work).to_json())

    def job_api(request: Request) -> Response:
        job = studio.jobs.last
        return JSONResponse(job.to_json() if job else {})

    def players_part(request: Request) -> Response:
        rid = checked_id(request.path_params["id"])
        return page(request, "_results.html", players=players(studio, rid),
                    shared=shared(studio, rid))

    # ------------------------------------------------------------------- errors

    async def failed(request: Request, exc: Exception) -> Response:
        """Every error is a message in the page; the server keeps running."""
        status = 409 if isinstance(exc, Busy) else 403 if isinstance(exc, Refused) else 400
        if isinstance(exc, ScriptError):
            problems = [problem_json(p) for p in exc.problems]
            message = "The scripts have problems: fix them in the library."
        elif isinstance(exc, VoiceguideError):
            problems, message = [], exc.render()
        else:
            problems, status = [], 500
            message = (f"internal error: {type(exc).__name__}: {exc} (the studio keeps "
                       "running; please report it)")
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "problems": problems},
                                status_code=status)
        return templates.TemplateResponse(request, "error.html",
                                          {"clinic": studio.clinic(), "message": message,
                                           "problems": problems}, status_code=status)

    routes = [
        Route("/", library_page),
        Route("/technique/{id}", technique_page),
        Route("/routine/{id}", routine_page),
        Route("/edit/{file}", edit_page),
        Route("/clients", clients_page),
        Route("/client/new", client_page),
        Route("/client/{id}", client_page),
        Route("/results/{id}", players_part),
        Route("/out/{path:path}", output_file),
        Route("/said/{name}", said_file),
        Route("/api/check", check_api, methods=["POST"]),
        Route("/api/save", save_api, methods=["POST"]),
        Route("/api/say", say_api, methods=["POST"]),
        Route("/api/estimate", estimate_api, methods=["POST"]),
        Route("/api/client", client_save_api, methods=["POST"]),
        Route("/api/build", build_api, methods=["POST"]),
        Route("/api/share", share_api, methods=["POST"]),
        Route("/api/job", job_api),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={Exception: failed,
                                                       VoiceguideError: failed})
    app.add_middleware(Guard, token=token, port=port, hosts=hosts, any_address=any_address)
    return app


def _share_url(clinic: Clinic, routine_id: str | None) -> str:
    """The address a share gets by default: the clinic profile's share_url and the id."""
    if not clinic.share_url or not routine_id:
        return ""
    return clinic.share_url.rstrip("/") + f"/{routine_id}/"

