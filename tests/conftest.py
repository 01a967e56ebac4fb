"""Shared fixtures: small script libraries written into a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
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


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """A valid library: techniques neck and hello, routine daily (default)."""
    root = tmp_path / "scripts"
    (root / "techniques").mkdir(parents=True)
    (root / "routines").mkdir()
    (root / "techniques" / "neck.yaml").write_text(GOOD_TECHNIQUE)
    (root / "techniques" / "hello.yaml").write_text(HELLO)
    (root / "routines" / "daily.yaml").write_text(GOOD_ROUTINE)
    return root


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
