"""voiceguide studio in a real browser (Debian's Chromium through Playwright, as the share
page's tests use it), against a server started in this process on a free port: a client
routine made by clicking, saved, built and heard; a technique edited with a mistake,
then fixed and saved; "Say it"; and the requests the studio must refuse.

Builds use the tone engine (`engine: tone` in the clinic profile) on short techniques,
so the whole module takes a few seconds of audio work. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import VOICEGUIDE, write_library
from test_share_browser import ARTIFACTS, CHROMIUM, PHONE, browser  # noqa: F401 (fixture)

from voiceguide.cache import ClipCache
from voiceguide.library import load_client, load_library
from voiceguide.studio import Address, running
from voiceguide.studio.clients import ClientForm

# The browser's tests are end-to-end tests (left out of `make test-fast`); the requests
# and the command are tested without a browser.
in_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian chromium is not installed (.ci/run installs it: apt-get install chromium)")

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect

PRESS = """\
id: press
title: Press and Hold
summary: A press on the shoulder, held.
equipment: [a chair]
steps:
  - say: Sit tall on your chair.
  - hold:
      say: Press your shoulder gently, and hold.
      for: 5s
      release: And let go.
  - repeat:
      times: 2
      steps:
        - say: Breathe out slowly.
        - pause: 1s
"""
SWAY = """\
id: sway
title: Sway Side to Side
summary: A slow sway.
steps:
  - sides:
      steps:
        - say: Lean to your {side} side.
        - pause: 1s
"""
BREATHE = """\
id: breathe
title: Breathe
summary: Three calm breaths.
steps:
  - say: Breathe in through your nose.
  - pause: 2s
  - say: And out through your mouth.
"""
CLINIC = """\
name: Quiet Hands
contact: Ask us at your next visit.
engine: tone
share_url: https://clinic.example/c/
"""
SHARE_URL = "https://clinic.example/c/"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("studio")
    scripts = write_library(root / "scripts", {"press": PRESS, "sway": SWAY,
                                               "breathe": BREATHE}, {})
    (scripts / "clinic.yaml").write_text(CLINIC)
    (root / "clients").mkdir()
    return root


@pytest.fixture(scope="module")
def studio(workspace: Path) -> Iterator[Address]:
    with running(workspace / "scripts", workspace / "clients", workspace / "out",
                 cache=ClipCache(workspace / "cache")) as address:
        yield address


def opened(browser: Browser, studio: Address, path: str, phone: bool = False) -> Page:  # noqa: F811
    """A fresh browser context, let in by the start-up address (its token becomes a
    cookie), then at `path`; any error of the page's script fails the test."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True) \
        if phone else browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(studio.start_url)
    assert "?token" not in page.url  # swapped for a cookie, kept out of the history
    page.goto(studio.base + path)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def wait_for(page: Page, verb: str) -> None:
    """Until the page says the build (or share) it started is done."""
    expect(page.locator("#progress-text")).to_have_text(re.compile(rf"^{verb} .*: done"),
                                                        timeout=60_000)


# --------------------------------------------------------------------------- refusals


def request(studio: Address, method: str, path: str, *, host: str | None = None,
            origin: str | None = "same", token: str | None = "cookie",
            body: dict[str, Any] | None = None) -> tuple[int, str]:
    """A raw request (no browser, no URL normalization), as another program might send."""
    headers = {"Host": host or f"127.0.0.1:{studio.port}"}
    if token == "cookie":
        headers["Cookie"] = f"voiceguide-studio-{studio.port}={studio.token}"
    elif token:
        headers["Cookie"] = f"voiceguide-studio-{studio.port}={token}"
    if origin == "same":
        if method == "POST":
            headers["Origin"] = studio.base
    elif origin:
        headers["Origin"] = origin
    connection = http.client.HTTPConnection(studio.host, studio.port, timeout=30)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={**headers, "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_requests_without_the_token_or_from_elsewhere_are_refused(
        studio: Address, workspace: Path) -> None:
    assert request(studio, "GET", "/")[0] == 200
    assert request(studio, "GET", "/", host=f"localhost:{studio.port}")[0] == 200
    # no token, a wrong one, a wrong one in the address
    assert request(studio, "GET", "/", token=None)[0] == 403
    assert request(studio, "GET", "/", token="guess")[0] == 403
    assert request(studio, "GET", "/?token=guess", token=None)[0] == 403
    assert request(studio, "GET", f"/?token={studio.token}", token=None)[0] == 303
    # DNS rebinding: a foreign name that resolves to 127.0.0.1 carries its own Host
    status, text = request(studio, "GET", "/", host=f"evil.example:{studio.port}")
    assert (status, text) == (403, "Refused: unknown Host: open the studio at the address "
                                   "it printed.")
    # another web site's page posting to the studio (the browser sends its Origin)
    body = {"kind": "routine", "name": "press"}
    assert request(studio, "POST", "/api/build", origin="https://evil.example",
                   body=body)[0] == 403
    assert request(studio, "POST", "/api/build", origin=None, body=body)[0] == 403
    assert request(studio, "GET", "/", origin=f"http://evil.example:{studio.port}")[0] == 403
    assert studio.__class__  # nothing was built by any of these
    assert not (workspace / "out" / "press").exists()


def test_paths_outside_the_studios_folders_are_refused(studio: Address,
                                                       workspace: Path) -> None:
    (workspace / "secret.txt").write_text("private")
    (workspace / "out").mkdir(exist_ok=True)
    (workspace / "out" / "link.txt").symlink_to(workspace / "secret.txt")
    for path in ("/out/../secret.txt", "/out/..%2Fsecret.txt", "/out/%2E%2E/secret.txt",
                 "/out/link.txt", "/out/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
                 "/edit/..%2Fclinic.yaml", "/edit/%2E%2E", "/said/..%2F..%2Fsecret.txt",
                 "/client/..%2Fsecret", "/results/..%2F..", "/technique/..%2Fx"):
        status, text = request(studio, "GET", path)
        assert status in (403, 404), (path, status)
        assert "private" not in text and "root:" not in text, path
    status, text = request(studio, "POST", "/api/save", body={
        "file": "../clinic.yaml", "text": "name: Gone\n", "force": True})
    assert status == 403 and "outside the studio's folders" in text
    assert "Quiet Hands" in (workspace / "scripts" / "clinic.yaml").read_text()
    status, text = request(studio, "POST", "/api/build", body={
        "kind": "client", "name": "../../secret"})
    assert status == 403 and "is not an id" in text


def test_errors_are_messages_and_the_server_keeps_running(studio: Address) -> None:
    status, text = request(studio, "POST", "/api/build", body={"kind": "routine",
                                                               "name": "nope"})
    assert status == 400
    assert json.loads(text)["error"].startswith("no routine or technique is called 'nope'")
    status, text = request(studio, "GET", "/technique/nope")
    assert status == 400 and "no technique is called" in text and "Traceback" not in text
    assert request(studio, "GET", "/")[0] == 200


# --------------------------------------------------------------------------- the form


@pytest.mark.e2e
@in_chromium
def test_a_client_routine_made_by_clicking_is_saved_built_and_shared(
        browser: Browser, studio: Address, workspace: Path) -> None:  # noqa: F811
    page = opened(browser, studio, "/")
    page.get_by_role("link", name="New client routine").click()
    page.get_by_label("Name", exact=True).fill("Ana Lima")
    page.get_by_label("Personal note").fill("Go easy on the left shoulder this week.")
    page.get_by_label("Technique to add").select_option("press")
    page.get_by_role("button", name="Add technique").click()
    page.get_by_label("Technique to add").select_option("sway")
    page.get_by_role("button", name="Add technique").click()
    page.get_by_role("button", name="Move Sway Side to Side up").click()
    press = page.locator('.chosen-item[data-id="press"]')
    press.get_by_label("Holds (s)").fill("8")
    page.locator('.chosen-item[data-id="sway"]').get_by_label("Sides").select_option("left")
    expect(page.locator("#estimate")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(page.locator("#range")).to_contain_text("can be")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/client/ana-lima$"))

    saved = workspace / "clients" / "ana-lima.yaml"
    client = load_client(saved, load_library(workspace / "scripts"))
    assert client.techniques == ("sway", "press")
    assert dict(client.overrides)["press"].hold_ms == 8000
    assert dict(client.overrides)["sway"].side == "left"
    assert client.note == "Go easy on the left shoulder this week."

    page.get_by_role("button", name="Build").click()
    wait_for(page, "Build")
    manifest = json.loads((workspace / "out" / "ana-lima" / "manifest.json").read_text())
    expected = [manifest["routine"]["duration_ms"],
                *(t["duration_ms"] for t in manifest["tracks"])]
    durations = page.locator(".players audio").evaluate_all(
        """players => Promise.all(players.map(a => a.readyState >= 1 ? a.duration :
            new Promise(ok => a.addEventListener("loadedmetadata", () => ok(a.duration)))))""")
    assert len(durations) == len(expected) == 3
    for duration, ms in zip(durations, expected, strict=True):
        assert abs(duration * 1000 - ms) < 150
    expect(page.locator(".chapters button")).to_have_count(2)

    page.get_by_role("button", name="Share").click()
    wait_for(page, "Share")
    assert page.locator("#base-url").input_value() == f"{SHARE_URL}ana-lima/"
    expect(page.locator(".feed")).to_have_text(f"{SHARE_URL}ana-lima/feed.xml")
    page.wait_for_function("() => document.querySelector('img.qr').complete")
    assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 100
    href = page.locator("a.share-zip").get_attribute("href")
    assert href == "/out/ana-lima/ana-lima-share.zip"
    assert (workspace / "out" / "ana-lima" / "ana-lima-share.zip").is_file()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "studio-desktop.png", full_page=True)
    assert not page.errors  # type: ignore[attr-defined]

    # The command line reads the file the studio wrote and finds the same audio (run
    # from the same folder: the manifest names the scripts' lines by their paths).
    result = subprocess.run([VOICEGUIDE, "build", "--client", str(saved), "--scripts",
                             str(workspace / "scripts"), "--out", str(workspace / "out"),
                             "--cache", str(workspace / "cache")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Unchanged "), result.stdout


@pytest.mark.e2e
@in_chromium
def test_the_clients_list_shows_out_of_date_audio_and_rebuilds_it(
        browser: Browser, studio: Address, workspace: Path) -> None:  # noqa: F811
    # Its own client, built by the command line: this test does not depend on the form
    # test having run first (under pytest-xdist the two may run in different processes).
    client = workspace / "clients" / "ben-okafor.yaml"
    client.write_text("id: ben-okafor\nname: Ben\ntechniques: [breathe, press]\n")
    result = subprocess.run([VOICEGUIDE, "build", "--client", str(client), "--scripts",
                             str(workspace / "scripts"), "--out", str(workspace / "out"),
                             "--cache", str(workspace / "cache")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    page = opened(browser, studio, "/clients")
    row = page.locator('tr[data-id="ben-okafor"]')
    expect(row).to_contain_text("up to date")
    press = workspace / "scripts" / "techniques" / "press.yaml"
    press.write_text(PRESS.replace("Sit tall", "Sit up tall"))
    page.reload()
    expect(row.locator(".badge")).to_have_text("out of date")
    row.get_by_role("button", name="Rebuild").click()
    wait_for(page, "Build")
    expect(row.locator(".badge")).to_have_text("up to date")
    page.reload()
    expect(row.locator(".badge")).to_have_text("up to date")


def test_a_client_file_round_trips_through_the_form(workspace: Path) -> None:
    library = load_library(workspace / "scripts")
    path = workspace / "round.yaml"
    form = ClientForm.model_validate({
        "id": "zoe", "name": "Zoë: \"Z\" # not a comment", "say_name": "Zoey",
        "title": "Zoë's routine", "note": "Breathe out & relax.",
        "techniques": [{"id": "press", "hold": 12.5, "repeats": 3},
                       {"id": "sway", "sides": "right"}],
        "voice": "tone:tone", "rate": 120, "pace": 1.4, "minutes": 2, "cues": "wood",
        "background": "rain"})
    path.write_text(form.to_yaml())
    assert ClientForm.of(load_client(path, library)) == form


def test_a_wrong_value_in_the_form_is_named_at_its_line_of_the_client_file(
        studio: Address, workspace: Path) -> None:
    form = {"id": "kim", "name": "Kim", "techniques": [{"id": "sway"}], "cues": "gong"}
    status, text = request(studio, "POST", "/api/estimate", body=form)
    (problem,) = json.loads(text)["problems"]
    assert status == 200
    assert problem["text"].startswith("clients/kim.yaml:5:7: 'cues': unknown cue style "
                                      "'gong' (choose one of bowl, chime, wood)")
    status, text = request(studio, "POST", "/api/client", body=form)
    assert json.loads(text)["saved"] is False
    assert not (workspace / "clients" / "kim.yaml").exists()


# --------------------------------------------------------------------------- editing


@pytest.mark.e2e
@in_chromium
def test_a_technique_edited_with_a_mistake_is_shown_beside_its_line_then_saved(
        browser: Browser, studio: Address, workspace: Path) -> None:  # noqa: F811
    path = workspace / "scripts" / "techniques" / "breathe.yaml"
    page = opened(browser, studio, "/edit/breathe.yaml", phone=True)
    expect(page.locator("#timeline")).to_contain_text("Breathe in through your nose.")
    wrong = BREATHE.replace("pause: 2s", "pause: 2 secs")
    page.locator("#source").fill(wrong)
    line = wrong.splitlines().index("  - pause: 2 secs") + 1
    expect(page.locator("#problem-list")).to_contain_text(
        f"breathe.yaml:{line}:12 'pause': unknown duration unit 'secs' (use s, m, or 1m30s)")
    expect(page.locator(f"#notes .note[data-line='{line}']")).to_have_count(1)
    expect(page.locator("#lines .bad")).to_have_text(str(line))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#save-status")).to_contain_text("Not saved")
    assert path.read_text() == BREATHE

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "studio-phone.png")
    fixed = BREATHE.replace("pause: 2s", "pause: 4s")
    page.locator("#source").fill(fixed)
    expect(page.locator("#problem-list li")).to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("pause4 s")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#save-status")).to_contain_text("Saved")
    assert path.read_text() == fixed
    assert not page.errors  # type: ignore[attr-defined]


@pytest.mark.e2e
@in_chromium
def test_say_it_plays_the_sentence(browser: Browser, studio: Address) -> None:  # noqa: F811
    page = opened(browser, studio, "/technique/press")
    page.get_by_role("button", name="Say it: Press your shoulder gently, and hold.").click()
    page.wait_for_function("() => document.querySelector('#said').duration > 0")
    assert page.locator("#said").evaluate("a => a.duration") > 0.5
    assert not page.errors  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the command


def test_the_command_warns_when_other_computers_may_reach_it_and_stops_on_ctrl_c(
        workspace: Path) -> None:
    """`voiceguide studio --host 0.0.0.0`: a warning, an address with the token; any IP
    address is a right Host then, a DNS name still is not; Ctrl+C stops it cleanly."""
    process = subprocess.Popen(
        [VOICEGUIDE, "studio", "--no-open", "--port", "0", "--host", "0.0.0.0",
         "--scripts", str(workspace / "scripts"), "--clients", str(workspace / "clients"),
         "--out", str(workspace / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
        assert found, line
        studio = Address("127.0.0.1", int(found[1]), found[2])
        assert request(studio, "GET", "/")[0] == 200
        assert request(studio, "GET", "/", host=f"192.0.2.7:{studio.port}")[0] == 200
        assert request(studio, "GET", "/", host=f"evil.example:{studio.port}")[0] == 403
        assert request(studio, "GET", "/", token=None)[0] == 403
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert "Warning: --host 0.0.0.0 lets other computers reach the studio" in \
            process.stderr.read()
    finally:
        stopped(process)


def test_a_build_waits_for_the_command_line_and_a_second_one_is_refused(
        studio: Address, workspace: Path) -> None:
    """The studio's build takes the output folder's lock, as the command line does: while
    another process holds it, the page says it is waiting; a second build request
    meanwhile is refused with a message."""
    folder = workspace / "out" / "breathe"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from voiceguide.atomic import folder_lock\n"
         f"with folder_lock(Path({str(folder)!r})):\n"
         "    print('locked', flush=True)\n    sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "locked\n"
        status, _ = request(studio, "POST", "/api/build", body={"kind": "routine",
                                                                "name": "breathe"})
        assert status == 200
        job = poll(studio, lambda job: "Waiting" in job["note"])
        assert job["note"].startswith("Waiting for another voiceguide to finish writing")
        status, text = request(studio, "POST", "/api/build", body={"kind": "routine",
                                                                   "name": "press"})
        assert status == 409
        assert json.loads(text)["error"] == ("a build is running: Build Breathe (wait for it "
                                             "to finish, then try again)")
        assert not (folder / "manifest.json").exists()
        holder.stdin.write("\n")
        holder.stdin.flush()
        job = poll(studio, lambda job: job["state"] != "running")
        assert job["state"] == "done", job
        assert (folder / "manifest.json").is_file()
    finally:
        stopped(holder)


def stopped(process: subprocess.Popen[str]) -> None:
    """Killed if still running, its pipes closed."""
    process.kill()
    process.communicate()


def poll(studio: Address, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for _ in range(300):
        job: dict[str, Any] = json.loads(request(studio, "GET", "/api/job")[1])
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"the job never got there: {job}")
