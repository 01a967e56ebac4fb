"""Sharing a routine with a client: one folder of static files that opens from a disk, from
an e-mailed zip, or from any web host.

`share()` first builds the routine (a no-op when its audio is up to date, so the page
always matches the scripts), then writes `OUT/<id>/share/`:

- `index.html`: the page (players, chapters, captions, written steps, downloads), with
  its CSS and script inline and a Content-Security-Policy that lets it load only its own
  files;
- `feed.xml`: a private podcast feed (RSS 2.0, iTunes and Podcasting 2.0 tags);
- the audio files, their WebVTT captions, the cover, the full routine's JSON chapters;
- `qr.svg` and `qr.png`: the page's address, when the folder's web address is known;

and `OUT/<id>/<id>-share.zip` beside it, holding the same files. Both are written into
a new version of the routine's folder, which replaces the old one in one step: a
failure or a kill leaves the previous share as it was.

Everything published comes from the scripts, the clinic profile, the client file and
the manifest: never a path or a name of the machine that built it. Text is escaped by
construction (Jinja2's autoescape for HTML, ElementTree for XML) and every URL is built
from quoted file names with urllib.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from pathlib import Path
from typing import Literal, assert_never
from urllib.parse import quote, urljoin, urlsplit, urlunsplit
from xml.etree import ElementTree as ET

import jinja2
import segno
from markupsafe import Markup

from voiceguide.atomic import folder_lock, link_or_copy, staged
from voiceguide.build import BuildOptions, Progress, Target, build, targets_for
from voiceguide.cover import routine_cover
from voiceguide.encode import AUDIO_SUFFIXES, FORMATS
from voiceguide.errors import OutputError, SettingsError
from voiceguide.export import full_session_title
from voiceguide.library import shown_path
from voiceguide.manifest import Manifest, RoutineEntry, TrackEntry, read_manifest
from voiceguide.messages import ENGLISH, Messages, messages_for
from voiceguide.model import (
    Chapter,
    Chime,
    Client,
    Clinic,
    Hold,
    Library,
    Pause,
    Repeat,
    Say,
    Sides,
    Step,
    fill,
    fmt_ms,
    leaves_out,
)
from voiceguide.plan import Pacing, said_sides
from voiceguide.publishing import Written, is_alone
from voiceguide.settings import resolve
from voiceguide.tags import GENRE

SHARE_FOLDER = "share"
PAGE = "index.html"
FEED = "feed.xml"
QR_SVG = "qr.svg"
QR_PNG = "qr.png"
CHAPTERS_MIME = "application/json+chapters"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
# The namespace Podcasting 2.0 derives a feed's podcast:guid from (UUIDv5 of its URL).
_PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
_BASE_URL_HINT = "give the web address the share folder will have, e.g. " \
    "https://example.org/homework/"

# --------------------------------------------------------------------------- URLs


def check_base_url(url: str) -> str:
    """The web address of the share folder, checked and normalized: http or https, a
    host, no user name or password (they would be published), no query or fragment,
    ending in '/'. Raises SettingsError otherwise."""

    def bad(why: str) -> SettingsError:
        return SettingsError(f"the base URL '{url}' {why}", _BASE_URL_HINT)

    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad("is empty or contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise bad("is not a web address that can be read") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("is not an http:// or https:// address")
    if not host:
        raise bad("names no host")
    if parts.username is not None or parts.password is not None:
        raise bad("carries a user name or password, which would be published")
    if parts.query or parts.fragment:
        raise bad("has a '?' query or a '#' fragment: give the folder's address")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme.lower(), netloc, quote(path, safe="/%:@!$&'()*+,;="),
                       "", ""))


def url_of(name: str, base: str | None) -> str:
    """A share file's URL: absolute under `base`, else relative to the page and feed."""
    quoted = quote(name)
    return urljoin(base, quoted) if base else quoted


def web_link(address: str) -> str | None:
    """The clinic's website as a link, only when it is an http(s) address (never a
    javascript: or other URL); None otherwise, and it is shown as text."""
    try:
        parts = urlsplit(address.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts)


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------- the view


StepKind = Literal["say", "hold", "repeat", "sides", "switch"]


@dataclass(frozen=True)
class WrittenStep:
    """A step as the page writes it: what to do, with its hold, repeat or sides made
    visible as a badge."""

    kind: StepKind
    text: str = ""
    badge: str = ""  # "Hold 30 s", "3 times", "Right side, then left side"
    release: str = ""  # what a hold ends with
    steps: tuple[WrittenStep, ...] = ()


@dataclass(frozen=True)
class SharedAudio:
    """One audio file of the share folder, as the page and the feed describe it."""

    file: str
    title: str
    summary: str
    duration_ms: int
    size: int  # bytes, exact
    mime: str
    captions: str  # the .vtt file beside it
    captions_url: str  # a data: URL of the same captions (see captions_data_url)
    guid: str


@dataclass(frozen=True)
class SharedTrack:
    number: int
    id: str
    title: str
    summary: str
    equipment: tuple[str, ...]
    duration_ms: int
    steps: tuple[WrittenStep, ...]
    audio: SharedAudio | None  # None: a technique shared on its own (the full file)
    framing: bool = False  # the routine's intro or outro, not one of its techniques


@dataclass(frozen=True)
class ShareView:
    """Everything the page and the feed show, taken from the scripts, the clinic profile,
    the client file and the manifest."""

    title: str
    summary: str
    clinic: Clinic
    note: str  # a client's personal note
    full: SharedAudio
    chapters: tuple[Chapter, ...]
    tracks: tuple[SharedTrack, ...]
    equipment: tuple[str, ...]
    cover: str  # file name
    chapters_file: str | None  # JSON chapters of the full routine
    base_url: str | None
    published: datetime  # when the audio was built
    language: str = "en"  # of the narration (BCP 47)
    voice: str = ""  # "Voice: NAME (ENGINE), LICENCE": who speaks, under what terms

    @property
    def page_url(self) -> str:
        return url_of(PAGE, self.base_url)

    @property
    def feed_url(self) -> str:
        return url_of(FEED, self.base_url)

    @property
    def audio(self) -> tuple[SharedAudio, ...]:
        """Every audio file: the tracks in order, then the full routine."""
        return (*(t.audio for t in self.tracks if t.audio), self.full)


def written_steps(steps: Sequence[Step], pacing: Pacing,
                  sides: Mapping[str, str] | None = None, say: Messages = ENGLISH
                  ) -> tuple[WrittenStep, ...]:
    """A technique's steps for reading: what is said, holds with their length, repeated
    blocks with their count (as the audio does them), blocks done on each side with the
    sides named. Pauses and chimes are for the ear and left out. `sides` holds the
    routine's words too (plan.routine_words), as the audio fills them."""
    sides = sides or {}
    out: list[WrittenStep] = []
    for step in steps:
        match step:
            case Say():
                if not leaves_out(step.text, sides):
                    out.append(WrittenStep("say", fill(step.text, sides)))
            case Hold():
                out.append(WrittenStep("hold", fill(step.say, sides),
                                       say.gettext("Hold {length}",
                                                   length=say.length(step.ms)),
                                       fill(say.script_default(step.release), sides)))
            case Repeat():
                times = pacing.repeats(step)
                inner = written_steps(step.steps, pacing, sides, say)
                if times == 1:
                    out.extend(inner)
                else:
                    out.append(WrittenStep("repeat", badge=say.ngettext(
                        "{count} time", "{count} times", times), steps=inner))
            case Sides():
                first, second = said_sides(step, say)
                inner = written_steps(step.steps, pacing, {**sides, **first}, say)
                if step.first_only:
                    badge = say.gettext("{side} side only", side=first["side"])
                else:
                    badge = say.gettext("{side} side, then {other_side} side", **first)
                    inner = (*inner, WrittenStep("switch", fill(say.script_default(
                        step.switch), {**sides, **second})))
                out.append(WrittenStep("sides", badge=badge[:1].upper() + badge[1:],
                                       steps=inner))
            case Pause() | Chime():
                pass  # for the ear
            case _:
                assert_never(step)
    return tuple(out)


def _equipment(tracks: Sequence[SharedTrack]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for track in tracks:
        for thing in track.equipment:
            seen.setdefault(thing, None)
    return tuple(seen)


def captions_data_url(vtt: str) -> str:
    """The captions inline: browsers refuse to load a .vtt file into a page opened from
    file:// ('file: URLs are treated as unique security origins'), a data: URL works
    everywhere."""
    return data_url(vtt.encode("utf-8"), "text/vtt")


@dataclass(frozen=True)
class ShareFiles:
    """What the view needs to know of the files in the share folder."""

    sizes: Mapping[str, int]  # every file, by name
    captions: Mapping[str, str]  # the WebVTT text of every .vtt file
    cover: str
    published: datetime


def share_view(target: Target, clinic: Clinic, manifest: Manifest, files: ShareFiles,
               note: str = "", base_url: str | None = None) -> ShareView:
    """The page's and feed's content: the manifest says what the audio is (files, lengths,
    chapters); the target's techniques say what to do (with the client's overrides and
    the pacing the audio was made with, so repeat counts match the audio)."""
    routine = manifest.routine
    mime = FORMATS[manifest.settings.format].mime
    pacing = manifest.build.pacing
    entries = manifest.tracks
    if [e.id for e in entries] != list(target.routine.track_ids()):  # just built
        raise OutputError(f"the manifest of '{target.routine.id}' does not list its "
                          "techniques", "build it again: voiceguide build")
    alone = is_alone(target.routine)
    words = target.words()
    say = target.messages

    def audio(entry: TrackEntry | RoutineEntry, title: str, summary: str) -> SharedAudio:
        name = entry.file
        return SharedAudio(name, title, summary, entry.duration_ms, files.sizes[name],
                           mime, entry.captions,
                           captions_data_url(files.captions[entry.captions]),
                           f"voiceguide:{target.routine.id}:{entry.fingerprint[:20]}")

    tracks = tuple(SharedTrack(
        e.number, e.id, e.title, e.summary, e.equipment, e.duration_ms,
        written_steps(target.techniques[e.id].steps, pacing, words, say),
        None if alone else audio(e, e.title, e.summary),
        e.id in target.routine.framing_ids()) for e in entries)
    chapters = tuple(c.chapter() for c in routine.chapters)
    full = audio(routine, full_session_title(routine.title, alone, say), routine.summary)
    return ShareView(
        title=routine.title, summary=routine.summary, clinic=clinic, note=note, full=full,
        chapters=chapters, tracks=tracks, equipment=_equipment(tracks), cover=files.cover,
        chapters_file=chapters_name(routine.id) if chapters else None, base_url=base_url,
        published=files.published, language=manifest.settings.language,
        voice=say.voice_line(manifest.build.credit().name, manifest.build.credit().licence,
                             ", "))


def chapters_name(routine_id: str) -> str:
    return f"{routine_id}.chapters.json"


# --------------------------------------------------------------------------- the page


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("voiceguide", "templates"),
    autoescape=True,  # every {{ value }} is HTML-escaped, attributes included
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
def _clock(ms: int) -> str:
    """Whole seconds cut, not rounded, as players show times (16:13 for 973.998 s)."""
    return fmt_ms(ms // 1000 * 1000)


_TEMPLATES.filters.update(clock=_clock, url=quote)


def _asset(name: str) -> str:
    return (resources.files("voiceguide") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()
                                         ).decode("ascii") + "'"


def page_html(view: ShareView, qr: bool = False) -> str:
    """index.html: self-contained (inline CSS and script, captions as data: URLs), its
    Content-Security-Policy allowing nothing but its own folder's files."""
    css, script = _asset("share.css"), _asset("share.js")
    policy = "; ".join([
        "default-src 'none'", "img-src 'self'", "media-src 'self' data:",
        f"style-src {_csp_hash(css)}", f"script-src {_csp_hash(script)}",
        "base-uri 'none'", "form-action 'none'"])
    say = messages_for(view.language)
    return _TEMPLATES.get_template("share.html").render(
        view=view, css=Markup(css), script=Markup(script), policy=policy, qr=qr,
        website=web_link(view.clinic.website),
        techniques=sum(1 for t in view.tracks if not t.framing),
        # voiceguide's words on the page, in the routine's language (extracted into the
        # catalogues from the template's _() and ngettext() calls)
        _=say.gettext, ngettext=say.ngettext, about=say.about_minutes, size=say.size)


# --------------------------------------------------------------------------- feed


def chapters_json(view: ShareView) -> str:
    """Podcasting 2.0 JSON chapters of the full routine."""
    return json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000, "title": c.title}
        for c in view.chapters]}, indent=2, ensure_ascii=False) + "\n"


def _sub(parent: ET.Element, tag: str, content: str | None = None, **attrs: str
         ) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if content is not None:
        element.text = content
    return element


def feed_xml(view: ShareView) -> bytes:
    """A private podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces, one
    episode per track and one for the full routine (with its chapters). Text goes in as
    element text and attribute values, so ElementTree escapes all of it."""
    ET.register_namespace("itunes", ITUNES)
    ET.register_namespace("podcast", PODCAST)
    ET.register_namespace("atom", ATOM)
    it, pc = f"{{{ITUNES}}}", f"{{{PODCAST}}}"
    base = view.base_url
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", view.title)
    _sub(channel, "link", view.page_url)
    if base:
        _sub(channel, f"{{{ATOM}}}link", href=view.feed_url, rel="self",
             type="application/rss+xml")
        _sub(channel, f"{pc}guid", str(uuid.uuid5(_PODCAST_GUID_NAMESPACE, view.feed_url
                                                    .split("://", 1)[1].rstrip("/"))))
    described = " ".join(part for part in (view.summary, view.note, view.clinic.safety,
                                           view.clinic.contact) if part)
    _sub(channel, "description", described)
    _sub(channel, "language", view.language)
    _sub(channel, "generator", "voiceguide")
    _sub(channel, "lastBuildDate", format_datetime(view.published, usegmt=True))
    _sub(channel, f"{it}author", view.clinic.name)
    _sub(channel, f"{it}image", href=url_of(view.cover, base))
    _sub(channel, f"{it}category", text=GENRE)  # an attribute: **attrs
    _sub(channel, f"{it}explicit", "false")
    _sub(channel, f"{it}type", "serial")
    _sub(channel, f"{it}block", "Yes")  # private: directories must not list it
    _sub(channel, f"{pc}locked", "yes")  # nor may anyone import it elsewhere
    image = _sub(channel, "image")
    _sub(image, "url", url_of(view.cover, base))
    _sub(image, "title", view.title)
    _sub(image, "link", view.page_url)
    episodes = view.audio
    for number, audio in enumerate(episodes, 1):
        item = _sub(channel, "item")
        _sub(item, "title", audio.title)
        _sub(item, "description", audio.summary)
        _sub(item, "guid", audio.guid, isPermaLink="false")
        # Newest last in the list of files, so apps sorting by date show the full session
        # first; serial apps order by episode number.
        published = view.published - timedelta(minutes=len(episodes) - number)
        _sub(item, "pubDate", format_datetime(published, usegmt=True))
        _sub(item, "enclosure", url=url_of(audio.file, base), length=str(audio.size),
             type=audio.mime)
        _sub(item, f"{it}duration", str(round(audio.duration_ms / 1000)))
        _sub(item, f"{it}episode", str(number))
        _sub(item, f"{it}episodeType", "full")
        _sub(item, f"{it}image", href=url_of(view.cover, base))
        _sub(item, f"{it}explicit", "false")
        _sub(item, f"{pc}transcript", url=url_of(audio.captions, base), type="text/vtt",
             rel="captions", language=view.language)
        if audio is view.full and view.chapters_file:
            _sub(item, f"{pc}chapters", url=url_of(view.chapters_file, base),
                 type=CHAPTERS_MIME)
    ET.indent(rss)
    body = ET.tostring(rss, encoding="unicode")
    note = "" if base else (
        "<!-- Links here are relative to this file: podcast apps need absolute ones. "
        "Share again with the base-url option, the web address of this folder. -->\n")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + note + body + "\n").encode("utf-8")


# --------------------------------------------------------------------------- QR


def qr_files(url: str) -> dict[str, bytes]:
    """The page's address as a QR code, in SVG (print, web) and PNG (e-mail, chat)."""
    code = segno.make(url, error="m", micro=False)
    svg, png = io.BytesIO(), io.BytesIO()
    code.save(svg, kind="svg", scale=8, border=4, title=url, svgclass=None,
              lineclass=None)
    code.save(png, kind="png", scale=10, border=4)
    return {QR_SVG: svg.getvalue(), QR_PNG: png.getvalue()}


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Shared:
    """A routine's share folder and zip, with the build that made its audio."""

    folder: Path
    archive: Path
    files: tuple[Path, ...]  # every file of the folder
    page_url: str  # relative (index.html) without a base URL
    feed_url: str
    base_url: str | None
    built: Written


def as_last_built(options: BuildOptions, library: Library, folder: Path,
                  client: Client | None = None) -> BuildOptions:
    """The options with every setting decided: the settings of the routine's earlier
    build (read from its manifest) under the options' own choices, over the client's
    and the clinic's. Sharing then rebuilds only what changed in the scripts, never the
    choices made when building it."""
    earlier = read_manifest(folder)
    settings = resolve(options.chosen, last_built=earlier.settings if earlier else None,
                       client=client, clinic=library.clinic, slow=options.slow)
    return replace(options, chosen=settings.choices())


def share(library: Library, name: str | None = None, base_url: str | None = None,
          options: BuildOptions | None = None, client: Client | None = None,
          progress: Progress | None = None) -> Shared:
    """Build a routine, a single technique or a client's routine (as it was last built;
    `options` for a first build), then write its share folder and zip. Bad input (a
    base URL that is not http(s), an unknown name) is refused before anything is
    written."""
    options = options or BuildOptions()
    base = check_base_url(base_url) if base_url is not None else None
    if name and client:
        raise SettingsError("give either a routine name or a client file, not both")
    names = [name] if name else []
    routine_folder = options.out / targets_for(library, names, client)[0].routine.id
    # The page speaks the language the audio was (or will be) built in.
    options = as_last_built(options, library, routine_folder, client)
    (target,) = targets_for(library, names, client, options.chosen)
    folder = routine_folder / SHARE_FOLDER
    archive = routine_folder / f"{target.routine.id}-share.zip"
    for path, kind in ((folder, "a folder"), (archive, "a file")):
        wrong = path.is_file() if kind == "a folder" else path.is_dir()
        if wrong:
            raise OutputError(f"{shown_path(path)} is in the way: it should be {kind}",
                              "move it away, or choose another output folder")
    with folder_lock(routine_folder, options.wait, (progress or Progress()).waiting):
        (written,) = build(library, names, options, progress, client)
        manifest = Manifest.from_json(written.manifest.read_bytes())
        return _write_share(written, manifest, target, target.clinic or library.clinic,
                            client.note if client else "", base, folder, archive)


def _write_share(written: Written, manifest: Manifest, target: Target, clinic: Clinic,
                 note: str, base: str | None, folder: Path, archive: Path) -> Shared:
    """The share folder and zip, written into a new version of the routine's folder that
    replaces it in one step (atomic.staged): a reader never sees a new share folder
    beside an old zip, and a failure leaves the previous share as it was. The caller
    holds the folder's lock."""
    routine = manifest.routine
    built = written.folder
    audio, captions = manifest.audio_files(), manifest.caption_files()
    cover, cover_mime = routine_cover(clinic.cover, routine.title, clinic.name,
                                      len(manifest.tracks), routine.duration_ms,
                                      target.messages)
    cover_name = "cover.png" if cover_mime == "image/png" else "cover.jpg"
    replaced = (folder.name, archive.name)
    with staged(built, carry=lambda name: name not in replaced) as routine_stage:
        stage = routine_stage / folder.name
        stage.mkdir()
        for name in [*audio, *captions]:
            link_or_copy(routine_stage / name, stage / name)
        (stage / cover_name).write_bytes(cover)
        texts = {name: (stage / name).read_text(encoding="utf-8") for name in captions}
        published = datetime.fromtimestamp(int((stage / routine.file).stat().st_mtime),
                                           UTC)
        sizes = {p.name: p.stat().st_size for p in stage.iterdir()}
        view = share_view(target, clinic, manifest, ShareFiles(
            sizes, texts, cover_name, published), note, base)
        if view.chapters_file:
            (stage / view.chapters_file).write_text(chapters_json(view), encoding="utf-8")
        if base:
            for name, data in qr_files(view.page_url).items():
                (stage / name).write_bytes(data)
        (stage / FEED).write_bytes(feed_xml(view))
        (stage / PAGE).write_text(page_html(view, qr=base is not None), encoding="utf-8")
        _zip(stage, routine_stage / archive.name, f"{routine.id}-share")
    files = tuple(sorted(folder.iterdir()))
    return Shared(folder, archive, files, view.page_url, view.feed_url, base, written)


# Already compressed: stored as they are, which is as small and much faster.
_STORED = {*AUDIO_SUFFIXES, ".png", ".jpg"}


def _zip(folder: Path, target: Path, top: str) -> None:
    """Every file of the folder under one top folder, so unpacking makes one folder."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{top}/{path.name}", zipfile.ZIP_STORED if path.suffix in
                          _STORED else zipfile.ZIP_DEFLATED)
