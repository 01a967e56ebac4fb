"""Shared fixtures: small script libraries written into a temporary folder; in CI, a
test that would skip fails instead; commands run as a user without root's powers."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from voiceguide.build import BuildOptions
from voiceguide.library import load_client, load_library
from voiceguide.share import Shared, share

REPO = Path(__file__).resolve().parent.parent
VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))
SHARE_BASE_URL = "https://clinic.example/homework/"

# Every build in the tests (and the commands they run) caches sentences in a folder of
# this test run, never in the user's cache.
os.environ["VOICEGUIDE_CACHE"] = tempfile.mkdtemp(prefix="voiceguide-test-cache-")

pytest_plugins = ["pytester"]  # tests of the CI rule below run pytest on small test files


# --------------------------------------------------------------------------- CI


def in_ci() -> bool:
    """CI sets CI=true (any value but empty, 0, false, no or off counts)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


class SkipsFailInCI:
    """In CI no test may skip: a test that would skip because a tool is missing (Chromium,
    ffprobe, anything) fails there instead, saying why, so a CI machine that lost a tool
    can't pass while testing less. Elsewhere skips stay skips (shown by -ra). A test that
    should never run in CI must be deselected there, not skipped. Expected failures
    (xfail) are left alone."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Iterator[None]:
        report: pytest.TestReport = yield
        if report.skipped and not hasattr(report, "wasxfail") and in_ci():
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where every test must run: {_reason(report)}"
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Iterator[None]:
        report: pytest.CollectReport = yield
        if report.skipped and in_ci():
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where every test must run: {_reason(report)}"
        return report


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (file, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipsFailInCI(), "skips-fail-in-ci")


# --------------------------------------------------------------------------- users

COMMON_NAMES = {"root", "nobody", "user", "admin", "runner", "build", "ubuntu", "debian",
                "guest", "test", "home", "share"}


@dataclass(frozen=True)
class Unprivileged:
    """A user without root's powers, a folder of its own (outside pytest's temporary
    folders, which only their owner can enter) and a way to run commands as it. As root
    (as CI runs), the user is `nobody`, reached through setpriv with every group
    dropped; as anyone else, it is that user, who already has no such powers."""

    name: str
    folder: Path
    home: Path

    def command(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["setpriv", f"--reuid={self.name}", "--regid=nogroup", "--clear-groups",
                "--", *args]

    def env(self, **more: str) -> dict[str, str]:
        """The environment of a command run as the user: its own home and render cache,
        and its name in USER and LOGNAME (root's are not left behind)."""
        return {**os.environ, "HOME": str(self.home), "USER": self.name,
                "LOGNAME": self.name, "VOICEGUIDE_CACHE": str(self.folder / "cache"),
                **more}

    def run(self, args: list[str], cwd: Path | None = None, **env: str
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(args), capture_output=True, text=True,
                              cwd=cwd or self.folder, env=self.env(**env), timeout=300)

    def voiceguide(self, *args: str, cwd: Path | None = None, **env: str
                   ) -> subprocess.CompletedProcess[str]:
        return self.run([VOICEGUIDE, *args], cwd=cwd, **env)

    def give(self, path: Path) -> None:
        """Make `path` and everything under it the user's own."""
        if os.geteuid() != 0:
            return
        account = pwd.getpwnam(self.name)
        for found in [path, *path.rglob("*")]:
            os.chown(found, account.pw_uid, account.pw_gid, follow_symlinks=False)


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    name = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    folder = Path(tempfile.mkdtemp(prefix="voiceguide-unprivileged-"))
    (folder / "home").mkdir()
    user = Unprivileged(name, folder, folder / "home")
    user.give(folder)
    try:
        yield user
    finally:
        for path in [folder, *folder.rglob("*")]:  # read-only folders the test left
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder)

GOOD_TECHNIQUE = """\
id: neck
title: Relieve Tension in the Neck
summary: Ease a stiff neck.
equipment: [a chair]
steps:
  - say: Sit tall.
  - pause: 2s
  - chime
  - hold:
      say: Press and hold.
      for: 3s
  - repeat:
      times: 2
      steps:
        - say: Slide your fingers.
        - pause: 1s
  - sides:
      switch: Now the same with your {side} arm.
      steps:
        - say: Put your {side} arm across, toward your {other_side} shoulder.
"""

GOOD_ROUTINE = """\
id: daily
title: Daily
summary: A short routine.
default: true
intro: hello
techniques: [neck]
"""

HELLO = """\
id: hello
title: Hello
summary: Welcome.
steps:
  - say: Welcome.
"""

Writer = Callable[[str, str], Path]


def write_library(root: Path, techniques: dict[str, str], routines: dict[str, str]
                  ) -> Path:
    """A scripts folder at `root`: {id: YAML text} of techniques and of routines. It is a
    library of its own (`bundled: false`): what a test builds is what it wrote, not the
    bundled intro, outro and clinic lines too (test_starter tests the two together). A
    test that writes its own clinic.yaml reads the bundled library under it."""
    for folder, files in (("techniques", techniques), ("routines", routines)):
        (root / folder).mkdir(parents=True)
        for name, text in files.items():
            (root / folder / f"{name}.yaml").write_text(text)
    (root / "clinic.yaml").write_text("name: voiceguide\nbundled: false\n")
    return root


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """A valid library: techniques neck and hello, routine daily (default)."""
    return write_library(tmp_path / "scripts", {"neck": GOOD_TECHNIQUE, "hello": HELLO},
                         {"daily": GOOD_ROUTINE})


@pytest.fixture
def write(scripts: Path) -> Writer:
    """write('techniques/x.yaml', text) -> the path, text dedented."""

    def _write(relative: str, text: str) -> Path:
        path = scripts / relative
        path.write_text(textwrap.dedent(text))
        return path

    return _write


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's quick start, `make run` (real voice, real encoder), into a temporary
    output folder; returns the default routine's folder. Built once per test run."""
    out = tmp_path_factory.mktemp("output")
    subprocess.run(["make", "--no-print-directory", "run", f"OUT={out}"], cwd=REPO,
                   check=True, capture_output=True, timeout=600)
    return out / "homework"


@pytest.fixture(scope="session")
def shared_homework(quickstart: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick start's build, copied, then `voiceguide share --base-url` as a user runs
    it (the build is up to date, so it is not made again); returns the share folder."""
    out = tmp_path_factory.mktemp("shared")
    shutil.copytree(quickstart, out / "homework")
    result = subprocess.run([VOICEGUIDE, "share", "--out", str(out), "--base-url",
                             SHARE_BASE_URL], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Unchanged "), result.stdout
    return out / "homework" / "share"


HOSTILE_TITLE = "<script>alert(1)</script> & \"Sam's\" ]]> <img src=x onerror=alert(1)>"
HOSTILE_CLIENT = f"""\
id: sam
name: Sam
title: '{HOSTILE_TITLE.replace("'", "''")}'
techniques: [neck, rock]
note: 'Breathe & relax: "slowly", it''s fine ]]'
"""
HOSTILE_TECHNIQUE = """\
id: rock
title: Rock & "Roll" 'gently' ]]
summary: Sway & "rock" ]]
equipment: ['a "big" ball & a towel']
steps:
  - say: Press "lightly" & breathe; it's fine ]]
"""
COVER_NAME = 'my "cover" & <b>.png'


@pytest.fixture
def hostile(write: Writer, scripts: Path, tmp_path: Path) -> Shared:
    """A client whose title is a script, text with every XML and HTML special character,
    a javascript: website and a cover with a hostile file name, shared into a folder
    whose own name is hostile."""
    write("techniques/rock.yaml", HOSTILE_TECHNIQUE)
    write("clinic.yaml", f"name: Hands & \"Co\"\nwebsite: 'javascript:alert(1)'\n"
          f"contact: 'Call \"us\" & ask ]]'\ncover: '{COVER_NAME}'\n")
    Image.new("RGB", (1400, 1400), "teal").save(scripts / COVER_NAME, format="PNG")
    library = load_library(scripts)
    client = load_client(write("sam.yaml", HOSTILE_CLIENT), library)
    out = tmp_path / 'out & "<x>"'
    return share(library, base_url="https://clinic.example/a&b/\"x\"/",
                 options=BuildOptions(chosen={"engine": "tone"}, jobs=2, out=out),
                 client=client)
