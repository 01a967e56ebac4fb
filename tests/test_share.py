"""Sharing with clients: the share folder, its zip, the podcast feed and the QR code, read
back with other code than wrote them (feedparser, ElementTree, html.parser, zxing-cpp);
hostile text, bad input and failures while writing. The browser tests are in
test_share_browser.py."""

from __future__ import annotations

import getpass
import io
import json
import os
import pwd
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree as ET

import feedparser
import pytest
import zxingcpp
from audio import load_manifest
from conftest import (
    COMMON_NAMES,
    COVER_NAME,
    HOSTILE_TITLE,
    REPO,
    SHARE_BASE_URL,
    VOICEGUIDE,
    Unprivileged,
    Writer,
)
from PIL import Image
from test_client import CLIENT as MARIA

from voiceguide import share as share_module
from voiceguide.build import BuildOptions
from voiceguide.errors import ExitCode, OutputError, SettingsError
from voiceguide.library import load_client, load_library
from voiceguide.model import Chapter, Clinic, Repeat, Say
from voiceguide.plan import Pacing
from voiceguide.settings import Choices
from voiceguide.share import (
    ITUNES,
    PODCAST,
    SharedAudio,
    SharedTrack,
    ShareView,
    WrittenStep,
    captions_data_url,
    check_base_url,
    feed_xml,
    page_html,
    share,
    written_steps,
)

TONE: Choices = {"engine": "tone"}


def options(out: Path) -> BuildOptions:
    return BuildOptions(chosen=TONE, jobs=2, out=out)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def picture(path: Path) -> Image.Image:
    return Image.open(io.BytesIO(path.read_bytes()))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folder` (hidden ones too): size and mtime."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


# --------------------------------------------------------------------------- readers


def share_file(href: str, folder: Path, base: str | None) -> Path:
    """The file of the share folder a published URL points at."""
    if base:
        assert href.startswith(base), href
        href = href[len(base):]
    assert not urlsplit(href).scheme and not href.startswith("/"), href
    name = unquote(href)
    assert "/" not in name and (folder / name).is_file(), href
    return folder / name


def check_feed(folder: Path, manifest: dict[str, Any], base: str | None) -> None:
    """The feed as a podcast app reads it: parsed by feedparser without complaint, an
    episode per audio file with its exact length, duration, captions and chapters."""
    data = (folder / "feed.xml").read_bytes()
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    assert feed.namespaces["itunes"] == ITUNES and feed.namespaces["podcast"] == PODCAST
    routine = manifest["routine"]
    alone = [t["file"] for t in manifest["tracks"]] == [routine["file"]]
    expected = ([] if alone else manifest["tracks"]) + [routine]
    assert feed.feed.title == routine["title"]
    assert [e.title for e in feed.entries] == [t["title"] for t in expected[:-1]] + [
        routine["title"] if alone else f"{routine['title']} (full session)"]
    channel = ET.fromstring(data).find("channel")
    assert channel is not None
    assert channel.findtext(f"{{{ITUNES}}}block") == "Yes"
    assert channel.findtext(f"{{{PODCAST}}}locked") == "yes"
    image = channel.find(f"{{{ITUNES}}}image")
    assert image is not None and share_file(image.get("href", ""), folder, base)
    guids = set()
    for number, (entry, item, want) in enumerate(zip(feed.entries, channel.iter("item"),
                                                     expected, strict=True), 1):
        (enclosure,) = entry.enclosures
        assert share_file(enclosure.href, folder, base).name == want["file"]
        assert int(enclosure.length) == (folder / want["file"]).stat().st_size
        assert enclosure.type == "audio/mpeg"
        assert int(entry.itunes_duration) == round(want["duration_ms"] / 1000)
        assert item.findtext(f"{{{ITUNES}}}episode") == str(number)
        assert entry.summary == want["summary"]
        guids.add(entry.id)
        transcript = item.find(f"{{{PODCAST}}}transcript")
        assert transcript is not None and transcript.get("type") == "text/vtt"
        assert share_file(transcript.get("url", ""), folder, base).name == want["captions"]
        chapters = item.find(f"{{{PODCAST}}}chapters")
        if want is routine and routine["chapters"]:
            assert chapters is not None
            assert chapters.get("type") == "application/json+chapters"
            read = json.loads(share_file(chapters.get("url", ""), folder, base).read_text())
            assert [(c["title"], round(c["startTime"] * 1000)) for c in read["chapters"]] \
                == [(c["title"], c["start_ms"]) for c in routine["chapters"]]
        else:
            assert chapters is None
    assert len(guids) == len(expected)


def check_zip(shared: share_module.Shared) -> None:
    """The zip holds exactly the share folder's files, under one folder."""
    with zipfile.ZipFile(shared.archive) as archive:
        names = archive.namelist()
        top = f"{shared.archive.stem}/"
        assert all(n.startswith(top) and ".." not in n and not n.startswith("/")
                   for n in names)
        assert sorted(n.removeprefix(top) for n in names) == sorted(
            p.name for p in shared.folder.iterdir())
        for path in shared.folder.iterdir():
            assert archive.read(top + path.name) == path.read_bytes()


def published_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a share folder, and every member of the zip beside it."""
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    (zipped,) = folder.parent.glob("*-share.zip")
    with zipfile.ZipFile(zipped) as archive:
        files.update({n: archive.read(n) for n in archive.namelist()})
    return files


def check_private(folder: Path, *private: Path, user: str | None = None) -> None:
    """Nothing of the builder's machine is published: no home folder, no path of the
    output or scripts, no user name (this process's, its account's, and `user`, the name
    a command ran under; unless it is a common word, which could appear anyway)."""
    needles = {str(Path.home()), *(str(p.resolve()) for p in private),
               *(str(p) for p in private)}
    for name in (getpass.getuser(), pwd.getpwuid(os.getuid()).pw_name, user):
        if name and len(name) >= 4 and name.lower() not in COMMON_NAMES:
            needles.add(name)
    for name, data in published_bytes(folder).items():
        for needle in needles:
            assert needle.encode() not in data, (name, needle)


class Elements(HTMLParser):
    """Every element of a page, with its attributes, and the text of each."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text.setdefault(self._open[-1], []).append(data)


def parse_page(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def check_page_is_inert(html: str) -> Elements:
    """One script (ours), no event handler attributes, no link or source but the share
    folder's own files and data: URLs."""
    page = parse_page(html)
    scripts = [attrs for tag, attrs in page.elements if tag == "script"]
    assert len(scripts) == 1 and not scripts[0]
    assert "".join(page.text["script"]) == (REPO / "voiceguide" / "templates" /
                                            "share.js").read_text()
    for tag, attrs in page.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src"):
            value = attrs.get(name)
            if value is None or value.startswith("data:"):
                continue
            parts = urlsplit(value)
            assert (not parts.scheme and "/" not in value) or parts.scheme in (
                "http", "https"), (tag, value)
    return page


# --------------------------------------------------------------------------- the folder


def test_share_builds_the_routine_then_writes_folder_and_zip(scripts: Path,
                                                             tmp_path: Path) -> None:
    shared = share(load_library(scripts), options=options(tmp_path))
    assert not shared.built.unchanged  # never built before: built now
    assert shared.folder == tmp_path / "daily" / "share"
    assert shared.archive == tmp_path / "daily" / "daily-share.zip"
    assert sorted(p.name for p in shared.files) == [
        "01-hello.mp3", "01-hello.vtt", "02-neck.mp3", "02-neck.vtt", "cover.png",
        "daily.chapters.json", "daily.mp3", "daily.vtt", "feed.xml", "index.html"]
    for name in ("01-hello.mp3", "daily.mp3", "02-neck.vtt"):
        assert (shared.folder / name).read_bytes() == (tmp_path / "daily" / name
                                                       ).read_bytes()
    assert picture(shared.folder / "cover.png").size == (1400, 1400)
    assert (shared.page_url, shared.feed_url) == ("index.html", "feed.xml")
    check_zip(shared)
    manifest = json.loads(shared.built.manifest.read_text())
    check_feed(shared.folder, manifest, None)
    check_private(shared.folder, tmp_path, scripts)
    assert not [p for p in (tmp_path / "daily").iterdir() if p.name.startswith(".")]


def test_a_share_names_nothing_of_who_made_it_or_where(scripts: Path,
                                                       unprivileged: Unprivileged) -> None:
    """`build` then `share --base-url`, run as a user with a name of its own (in USER and
    LOGNAME, where getpass finds it) and the scripts and output in its home folder: none
    of the names or paths are published. As root too: the commands run as nobody, with
    that name and home, so the check never rests on root's name, too common to look for."""
    name = "maplewood7"
    home = unprivileged.home / name
    work = home / "Clinic files"
    scripts = shutil.copytree(scripts, work / "scripts")
    out = work / "output"
    unprivileged.give(unprivileged.folder)
    for command in (["build", "--engine", "tone"], ["share", "--base-url", SHARE_BASE_URL]):
        result = unprivileged.voiceguide(*command, "--scripts", str(scripts), "--out",
                                         str(out), cwd=work, HOME=str(home), USER=name,
                                         LOGNAME=name)
        assert result.returncode == 0, result.stderr
    folder = out / "daily" / "share"
    assert (folder / "feed.xml").is_file() and (folder / "qr.svg").is_file()
    check_private(folder, home, work, scripts, out, unprivileged.folder, user=name)
    for leak in (name, str(home), str(out)):  # the check is no no-op: each would be seen
        (folder / "leak.txt").write_text(f"made by {leak}.")
        with pytest.raises(AssertionError, match=r"leak\.txt"):
            check_private(folder, home, work, scripts, out, unprivileged.folder, user=name)


def test_a_technique_shared_on_its_own(scripts: Path, tmp_path: Path) -> None:
    shared = share(load_library(scripts), "neck", options=options(tmp_path))
    assert sorted(p.name for p in shared.files) == [
        "cover.png", "feed.xml", "index.html", "neck.mp3", "neck.vtt"]
    page = (shared.folder / "index.html").read_text()
    assert page.count("<audio") == 1 and "<button" not in page
    check_feed(shared.folder, json.loads(shared.built.manifest.read_text()), None)


def test_written_steps_show_holds_repeats_and_sides(scripts: Path) -> None:
    neck = load_library(scripts).techniques["neck"]
    assert written_steps(neck.steps, Pacing()) == (
        WrittenStep("say", "Sit tall."),
        WrittenStep("hold", "Press and hold.", "Hold 3 s", "And release."),
        WrittenStep("repeat", badge="2 times", steps=(
            WrittenStep("say", "Slide your fingers."),)),
        WrittenStep("sides", badge="Right side, then left side", steps=(
            WrittenStep("say", "Put your right arm across, toward your left shoulder."),
            WrittenStep("switch", "Now the same with your left arm."))))
    # Fitting to a length may choose another count: the page says what the audio does.
    block = (Repeat(3, (Say("Roll."),), least=1, most=5),)
    assert written_steps(block, Pacing(repeat_level=1.0)) == (
        WrittenStep("repeat", badge="5 times", steps=(WrittenStep("say", "Roll."),)),)
    assert written_steps(block, Pacing(repeat_level=0.0)) == (
        WrittenStep("say", "Roll."),)  # once: no badge


# test_client's client file, renamed and titled.
CLIENT = MARIA.replace("id: maria\nname: Maria\n",
                       "id: sam\nname: Sam\ntitle: Sam's neck routine\n")


def test_a_client_share_is_theirs_and_reuses_their_build(write: Writer, scripts: Path,
                                                         tmp_path: Path) -> None:
    client = write("sam.yaml", CLIENT)
    out = tmp_path / "out"
    built = run("build", "--engine", "tone", "--client", str(client), "--scripts",
                str(scripts), "--out", str(out), "--cues", "wood", "--pace", "1.3")
    assert built.returncode == 0, built.stderr
    audio = out / "sam" / "sam.mp3"
    stamp = audio.stat().st_mtime_ns
    # The client file given as the name, as `voiceguide share clients/x.yaml` does.
    result = run("share", str(client), "--scripts", str(scripts), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Unchanged {out / 'sam'}/")  # as it was built
    assert audio.stat().st_mtime_ns == stamp
    assert "Hint: with --base-url" in result.stdout
    folder = out / "sam" / "share"
    page = (folder / "index.html").read_text()
    assert "Go gently on the left." in page and "Sam&#39;s neck routine" in page
    assert "Left side only" in page and "Hold 5 s" in page and "3 times" in page
    assert "Right side" not in page
    # Only this client's files.
    manifest = load_manifest(out / "sam")
    own = {e[key] for e in [*manifest["tracks"], manifest["routine"]]
           for key in ("file", "captions")}
    assert {p.name for p in folder.iterdir()} == own | {
        "cover.png", "feed.xml", "index.html", "sam.chapters.json"}


def test_a_client_file_and_a_name_are_not_both_given(write: Writer, scripts: Path,
                                                     tmp_path: Path) -> None:
    library = load_library(scripts)
    client = load_client(write("sam.yaml", CLIENT), library)
    with pytest.raises(SettingsError, match="either a routine name or a client file"):
        share(library, "daily", options=options(tmp_path), client=client)
    assert not tmp_path.joinpath("daily").exists()


# --------------------------------------------------------------------------- the real build


@pytest.mark.e2e
def test_feed_of_the_default_routine(shared_homework: Path) -> None:
    manifest = load_manifest(shared_homework.parent)
    check_feed(shared_homework, manifest, SHARE_BASE_URL)
    assert len(manifest["tracks"]) == 6
    check_private(shared_homework, shared_homework.parent.parent, REPO)


@pytest.mark.e2e
def test_qr_code_decodes_to_the_page_address(shared_homework: Path) -> None:
    (found,) = zxingcpp.read_barcodes(picture(shared_homework / "qr.png"))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    assert found.text == SHARE_BASE_URL + "index.html"
    svg = ET.parse(shared_homework / "qr.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.e2e
def test_default_routine_page_has_everything_a_client_needs(shared_homework: Path) -> None:
    manifest = load_manifest(shared_homework.parent)
    html = (shared_homework / "index.html").read_text()
    page = check_page_is_inert(html)
    assert page.elements[0] == ("html", {"lang": "en"})
    text = html.replace("&#39;", "'")
    for wanted in ("Healing Hands", "Self-Massage Homework", "Questions about your homework?",
                   "Stop if anything hurts.", "a tennis ball", "a wall", "Hold 30 s",
                   "Right side, then left side", SHARE_BASE_URL + "feed.xml", "qr.svg"):
        assert wanted in text, wanted
    sources = [a["src"] for tag, a in page.elements if tag == "source"]
    assert sources == [manifest["routine"]["file"], *[t["file"] for t in manifest["tracks"]]]
    tracks = [a for tag, a in page.elements if tag == "track"]
    assert len(tracks) == 7 and all(a["kind"] == "captions" for a in tracks)
    seeks = [a["data-seek"] for tag, a in page.elements if tag == "button"]
    assert seeks == [f"{c['start_ms'] / 1000:.3f}" for c in manifest["routine"]["chapters"]]
    policy = next(a["content"] for tag, a in page.elements
                  if a.get("http-equiv") == "Content-Security-Policy")
    assert policy is not None and "default-src 'none'" in policy


def test_the_page_footer_names_the_voice_and_its_licence(scripts: Path,
                                                         tmp_path: Path) -> None:
    shared = share(load_library(scripts), options=options(tmp_path))
    page = parse_page((shared.folder / "index.html").read_text())
    manifest = json.loads(shared.built.manifest.read_text())
    assert manifest["build"]["voice"] == "en-us+f3 (tone)"
    assert manifest["build"]["voice_licence"] == "test tone"
    footer = [n for n, (tag, a) in enumerate(page.elements) if tag == "footer"]
    credit = [(tag, a) for tag, a in page.elements[footer[0]:]
              if a.get("class") == "voice-credit"]
    assert credit == [("p", {"class": "voice-credit"})]
    assert "Voice: en-us+f3 (tone), test tone" in page.text["p"]


# --------------------------------------------------------------------------- hostile text

EVIL = "<script>alert(1)</script><img src=x onerror=alert(1)> & \"q\" 'a' ]]> --> <!--"


def test_every_text_is_escaped_in_page_and_feed() -> None:
    """Every string the page and feed show, hostile at once: nothing becomes markup."""
    audio = SharedAudio('a"b<c>&.mp3', EVIL, EVIL, 61_000, 1234, "audio/mpeg", 'c"<.vtt',
                        captions_data_url(f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{EVIL}\n"),
                        EVIL)
    steps = (WrittenStep("hold", EVIL, "Hold 3 s", EVIL),
             WrittenStep("sides", badge=EVIL, steps=(WrittenStep("say", EVIL),
                                                     WrittenStep("switch", EVIL))))
    clinic = Clinic(name=EVIL, website="javascript:alert(1)", contact=EVIL, safety=EVIL)
    from datetime import UTC, datetime

    view = ShareView(
        title=EVIL, summary=EVIL, clinic=clinic, note=EVIL, full=audio,
        chapters=(Chapter(EVIL, 0, 1000),),
        tracks=(SharedTrack(1, "t", EVIL, EVIL, (EVIL,), 61_000, steps, audio),),
        equipment=(EVIL,), cover='c"<o>&.png',
        chapters_file='ch"<>.json', base_url=None, published=datetime(2025, 1, 2, tzinfo=UTC),
        voice=EVIL)
    html = page_html(view, qr=True)
    page = check_page_is_inert(html)
    assert EVIL in page.text["p"]  # the voice's credit in the footer
    assert "javascript:" not in "".join(str(a) for _, a in page.elements)
    assert "".join(page.text["h1"]) == EVIL
    assert EVIL in page.text["li"]  # a step, the equipment
    assert "".join(page.text["title"]).startswith(EVIL)
    assert not feedparser.parse(feed_xml(view)).bozo  # (it sanitizes what it reads)
    channel = ET.fromstring(feed_xml(view)).find("channel")
    assert channel is not None
    assert channel.findtext("title") == EVIL
    assert channel.findtext(f"{{{ITUNES}}}author") == EVIL
    item = channel.find("item")
    assert item is not None
    assert item.findtext("title") == EVIL and item.findtext("description") == EVIL
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("url") == "a%22b%3Cc%3E%26.mp3"


def test_hostile_client_text_is_published_as_text(hostile: share_module.Shared,
                                                  scripts: Path) -> None:
    html = (hostile.folder / "index.html").read_text()
    page = check_page_is_inert(html)
    assert "".join(page.text["h1"]) == HOSTILE_TITLE
    assert "Breathe & relax: \"slowly\", it's fine ]]" in page.text["p"]
    assert 'a "big" ball & a towel' in page.text["li"]
    # The website is shown as text, never linked.
    assert "javascript:" not in "".join(str(attrs) for _, attrs in page.elements)
    assert "javascript:alert(1)" in page.text["p"]
    base = "https://clinic.example/a&b/%22x%22/"
    assert hostile.page_url == base + "index.html"
    manifest = json.loads(hostile.built.manifest.read_text())
    check_feed(hostile.folder, manifest, base)
    channel = ET.parse(hostile.folder / "feed.xml").getroot().find("channel")
    assert channel is not None and channel.findtext("title") == HOSTILE_TITLE
    assert 'Rock & "Roll" \'gently\' ]]' in [i.findtext("title")
                                             for i in channel.iter("item")]
    (found,) = zxingcpp.read_barcodes(picture(hostile.folder / "qr.png"))
    assert found.text == base + "index.html"
    check_zip(hostile)
    check_private(hostile.folder, hostile.folder.parent.parent, scripts)
    for data in published_bytes(hostile.folder).values():
        assert COVER_NAME.encode() not in data


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def built(scripts: Path, tmp_path: Path) -> Path:
    """An output folder with the default routine built and shared once."""
    out = tmp_path / "out"
    share(load_library(scripts), options=options(out))
    return out


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://x.org/", "is not an http:// or https:// address"),
    ("javascript:alert(1)", "is not an http:// or https:// address"),
    ("example.com", "is not an http:// or https:// address"),
    ("https://", "names no host"),
    ("https://me:secret@example.org/", "carries a user name or password, which would be "
     "published"),
    ("https://example.org/?a=1", "has a '?' query or a '#' fragment: give the folder's "
     "address"),
    ("https://example.org/my folder/", "is empty or contains spaces or control characters"),
    ("", "is empty or contains spaces or control characters"),
    ("https://example.org:99999/", "is not a web address that can be read"),
])
def test_bad_base_url_is_refused(url: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        check_base_url(url)
    assert caught.value.render() == (
        f"the base URL '{url}' {why} (give the web address the share folder will have, "
        "e.g. https://example.org/homework/)")


def test_bad_base_url_writes_nothing(scripts: Path, built: Path) -> None:
    before = snapshot(built)
    for url in ("ftp://x.org/", "javascript:alert(1)", "example.com"):
        result = run("share", "--base-url", url, "--scripts", str(scripts), "--out",
                     str(built))
        assert result.returncode == ExitCode.INVALID_SCRIPT
        assert result.stderr.startswith(f"error: the base URL '{url}' is not an http:// or "
                                        "https:// address (give the web address")
        assert "Traceback" not in result.stderr
        assert snapshot(built) == before
    # Nor is a routine never built before built for nothing.
    fresh = built.parent / "fresh"
    assert run("share", "--base-url", "example.com", "--scripts", str(scripts), "--out",
               str(fresh)).returncode == ExitCode.INVALID_SCRIPT
    assert not fresh.exists()


@pytest.mark.parametrize(("url", "normal"), [
    ("https://example.org/homework", "https://example.org/homework/"),
    ("HTTP://Example.ORG:8080/a/b/", "http://example.org:8080/a/b/"),
    ("https://bücher.example/übung", "https://xn--bcher-kva.example/%C3%BCbung/"),
    ("https://example.org", "https://example.org/"),
])
def test_base_url_is_normalized_to_a_folder(url: str, normal: str) -> None:
    assert check_base_url(url) == normal


def test_a_path_in_the_way_is_an_output_error(scripts: Path, built: Path) -> None:
    folder = built / "daily" / "share"
    (built / "daily" / "daily-share.zip").unlink()
    (built / "daily" / "daily-share.zip").mkdir()
    before = snapshot(built)
    result = run("share", "--scripts", str(scripts), "--out", str(built))
    assert result.returncode == ExitCode.OUTPUT
    assert result.stderr.startswith("error: ") and "daily-share.zip is in the way: it " \
        "should be a file (move it away, or choose another output folder)" in result.stderr
    assert snapshot(built) == before
    assert folder.is_dir()


def test_an_output_folder_that_cannot_be_made(scripts: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run("share", "--scripts", str(scripts), "--out", str(blocker / "out"))
    assert result.returncode == ExitCode.OUTPUT
    assert result.stderr.startswith("error: can't write to ")
    assert "Traceback" not in result.stderr


def test_a_read_only_output_folder(scripts: Path, unprivileged: Unprivileged) -> None:
    """An output folder its user may not write: `share` fails (exit 5) and changes
    nothing. (A routine's folder is made anew beside the old one and swapped in, so it
    is the output folder that must be writable.) Run by a user without root's powers
    (nobody, when the tests run as root: root writes into read-only folders), in a
    folder of its own, built and shared there once first."""
    scripts = shutil.copytree(scripts, unprivileged.folder / "scripts")
    unprivileged.give(scripts)
    out = unprivileged.folder / "out"
    for command in (["build", "--engine", "tone"], ["share"]):
        result = unprivileged.voiceguide(*command, "--scripts", str(scripts), "--out",
                                         str(out))
        assert result.returncode == 0, result.stderr
    write = scripts / "techniques" / "hello.yaml"
    write.write_text(write.read_text().replace("Welcome.", "Welcome again."))
    (out / "daily").chmod(0o555)
    out.chmod(0o555)
    before = snapshot(out)
    result = unprivileged.voiceguide("share", "--scripts", str(scripts), "--out", str(out))
    assert result.returncode == ExitCode.OUTPUT, result.stderr
    assert "error: can't write to" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(out) == before


@pytest.mark.parametrize("where", ["while zipping", "when the folder is swapped in"])
def test_a_failure_while_writing_leaves_the_previous_share(
        scripts: Path, write: Writer, built: Path, monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    routine = built / "daily"
    before = snapshot(routine / "share")
    zipped = (routine / "daily-share.zip").read_bytes()
    real = share_module._zip

    def failing(*args: Any) -> None:
        if where == "while zipping":
            real(*args)
        raise OSError(28, "No space left on device")

    if where == "while zipping":
        monkeypatch.setattr(share_module, "_zip", failing)
    else:
        from voiceguide import atomic
        monkeypatch.setattr(atomic, "publish_folder", failing)
    write("techniques/hello.yaml", "id: hello\ntitle: Hello\nsummary: S\nsteps:\n"
          "  - say: A new welcome.\n")
    with pytest.raises(OutputError, match="can't write to"):
        share(load_library(scripts), options=options(built))
    assert snapshot(routine / "share") == before
    assert (routine / "daily-share.zip").read_bytes() == zipped
    assert not [p.name for p in routine.iterdir() if p.name.startswith(".")]
    assert not [p.name for p in built.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- README


def test_readme_share_examples_run(scripts: Path, tmp_path: Path) -> None:
    """The README's share commands, run as written, in a folder with scripts/ and
    clients/ (built first with the fast tone voice: share keeps a build's settings)."""
    section = (REPO / "README.md").read_text().split("## Sharing with clients", 1)[1]
    section = section.split("\n## ", 1)[0]
    commands = [line for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)
                for line in block.splitlines() if line.startswith("voiceguide share")]
    assert len(commands) >= 2
    work = tmp_path / "work"
    (work / "clients").mkdir(parents=True)
    (scripts / "clinic.yaml").write_text("name: Healing Hands\n")
    scripts.rename(work / "scripts")
    (work / "clients" / "maria.yaml").write_text(CLIENT.replace("sam", "maria"))
    assert run("build", "--engine", "tone", cwd=work).returncode == 0
    assert run("build", "--engine", "tone", "--client", "clients/maria.yaml",
               cwd=work).returncode == 0
    for command in commands:
        result = run(*command.split()[1:], cwd=work)
        assert result.returncode == 0, (command, result.stderr)
        assert "Unchanged" in result.stdout
    assert (work / "output" / "daily" / "share" / "index.html").is_file()
    assert (work / "output" / "maria" / "share" / "index.html").is_file()
