"""The share page in a real browser: Debian's Chromium, headless, driven by Playwright
(which never downloads a browser here: it is pointed at /usr/bin/chromium). The page is
opened from file://, as a client opening the e-mailed zip would.

Screenshots and the printed handout are kept in tests/artifacts/ (git-ignored) for a
person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import webvtt
from audio import load_manifest
from conftest import HOSTILE_TITLE, REPO

from voiceguide.share import Shared

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian chromium is not installed (.ci/run installs it: apt-get install chromium)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "tests" / "artifacts"
PHONE = {"width": 390, "height": 844}

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@dataclass
class Visit:
    """A page opened in a fresh browser context, with everything it did."""

    page: Page
    console: list[str] = field(default_factory=list)  # errors and warnings
    errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def visit(browser: Browser) -> Iterator[Any]:
    contexts = []

    def open_page(html: Path, phone: bool = True) -> Visit:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True) \
            if phone else browser.new_context()
        contexts.append(context)
        seen = Visit(context.new_page())
        page = seen.page
        page.on("console", lambda m: seen.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: seen.errors.append(str(e)))
        page.on("request", lambda r: seen.requests.append(r.url))
        page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        return seen

    yield open_page
    for context in contexts:
        context.close()


DURATIONS = """() => Promise.all([...document.querySelectorAll("audio")].map(a =>
    a.readyState >= 1 ? a.duration : new Promise((ok, fail) => {
        a.addEventListener("loadedmetadata", () => ok(a.duration));
        a.addEventListener("error", () => fail(new Error("can't load " + a.currentSrc)));
    })))"""


# --------------------------------------------------------------------------- the real page


@pytest.mark.e2e
def test_page_loads_from_file_with_no_errors_and_no_network(shared_homework: Path,
                                                            visit: Any) -> None:
    seen = visit(shared_homework / "index.html")
    durations = seen.page.evaluate(DURATIONS)
    assert seen.console == [] and seen.errors == []
    folder = shared_homework.as_uri() + "/"
    outside = [u for u in seen.requests if not u.startswith((folder, "data:"))]
    assert outside == []
    loaded = {u.removeprefix(folder) for u in seen.requests}
    assert {"index.html", "homework.mp3", "01-intro.mp3", "06-outro.mp3", "cover.png",
            "qr.svg"} <= loaded
    assert len(durations) == 7


@pytest.mark.e2e
def test_every_player_reports_its_duration(shared_homework: Path, visit: Any) -> None:
    manifest = load_manifest(shared_homework.parent)
    durations = visit(shared_homework / "index.html").page.evaluate(DURATIONS)
    expected = [manifest["routine"], *manifest["tracks"]]
    assert len(durations) == len(expected)
    for duration, entry in zip(durations, expected, strict=True):
        assert duration > 0
        # Chromium reads the length from the MP3's header: within two frames and a bit.
        assert abs(duration * 1000 - entry["duration_ms"]) < 150, entry["file"]


@pytest.mark.e2e
def test_chapter_buttons_seek_the_full_player(shared_homework: Path, visit: Any) -> None:
    chapters = load_manifest(shared_homework.parent)["routine"]["chapters"]
    page = visit(shared_homework / "index.html").page
    page.evaluate(DURATIONS)
    buttons = page.locator("button[data-seek]")
    assert buttons.count() == len(chapters) == 6
    for index, chapter in reversed(list(enumerate(chapters))):
        buttons.nth(index).click()
        at = page.evaluate("document.getElementById('full').currentTime")
        assert abs(at - chapter["start_ms"] / 1000) <= 0.25, chapter["title"]
        assert buttons.nth(index).inner_text().startswith(chapter["title"])
        page.wait_for_function(
            "i => document.querySelectorAll('button[data-seek]')[i]"
            ".getAttribute('aria-current') === 'true'", arg=index)
    page.evaluate("document.getElementById('full').pause()")


@pytest.mark.e2e
def test_captions_load_and_show_the_line_being_said(shared_homework: Path,
                                                    visit: Any) -> None:
    manifest = load_manifest(shared_homework.parent)
    page = visit(shared_homework / "index.html").page
    # (Functions, not expressions: the page's Content-Security-Policy forbids eval.)
    page.wait_for_function("() => document.querySelector('#full track').readyState === 2")
    cues = page.evaluate("document.getElementById('full').textTracks[0].cues.length")
    assert cues == len(webvtt.read(str(shared_homework / "homework.vtt")).captions)
    # Seek into the back's first hold: the line under the player shows its timer.
    back = next(t for t in manifest["tracks"] if t["id"] == "back")
    hold = next(i for i in back["items"] if i.get("cue") == "hold_start")
    at = (back["start_ms"] + hold["end_ms"] + 2000) / 1000
    page.evaluate(DURATIONS)
    page.evaluate(f"document.getElementById('full').currentTime = {at}")
    page.wait_for_function(
        "() => document.getElementById('full-caption').textContent === 'Hold - 30 s'")
    tracks = page.evaluate("[...document.querySelectorAll('track')].map(t => t.kind)")
    assert tracks == ["captions"] * 7


@pytest.mark.e2e
def test_phone_screenshot(shared_homework: Path, visit: Any) -> None:
    """Readable on a phone: no sideways scrolling, body text of at least 16 px, tap
    targets of at least 44 px; the screenshots are kept for a person to look at."""
    page = visit(shared_homework / "index.html").page
    page.evaluate(DURATIONS)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
    heights = page.evaluate("[...document.querySelectorAll('button, .downloads a')]"
                            ".map(b => b.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "share-phone.png")
    page.screenshot(path=ARTIFACTS / "share-phone-full.png", full_page=True)
    assert (ARTIFACTS / "share-phone.png").stat().st_size > 10_000


@pytest.mark.e2e
def test_printed_page_is_a_two_page_handout(shared_homework: Path, visit: Any) -> None:
    page = visit(shared_homework / "index.html", phone=False).page
    page.emulate_media(media="print")
    shown = page.evaluate("""() => Object.fromEntries(
        ["audio", ".chapters", ".downloads", ".qr", ".steps", ".safety", ".clinic-footer"]
        .map(s => [s, document.querySelector(s).getClientRects().length > 0]))""")
    assert shown == {"audio": False, ".chapters": False, ".downloads": False, ".qr": True,
                     ".steps": True, ".safety": True, ".clinic-footer": True}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = page.pdf(path=ARTIFACTS / "share-handout.pdf", format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 2


# --------------------------------------------------------------------------- hostile text


def test_a_hostile_title_does_not_run(hostile: Shared, visit: Any) -> None:
    seen = visit(hostile.folder / "index.html")
    page = seen.page
    durations = page.evaluate(DURATIONS)
    assert all(d > 0 for d in durations)
    assert page.inner_text("h1") == HOSTILE_TITLE
    assert page.title().startswith(HOSTILE_TITLE)
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.locator("button[data-seek]").first.click()
    assert seen.dialogs == [] and seen.errors == [] and seen.console == []
    folder = hostile.folder.as_uri() + "/"
    assert all(u.startswith((folder, "data:")) for u in seen.requests)
