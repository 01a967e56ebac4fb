"""The project as others get it: a wheel that carries the seed library as git tracks
it, and clean code."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

BIN = Path(sys.executable).parent


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` makes, from a checkout of the project's tracked files
    in which a technique and a client file are being written (untracked) and a technique
    is ignored: built once (it takes a while), looked at by the tests below."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "checkout"
    for name in git("ls-files", "-z", cwd=REPO).split("\0"):
        if name and (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    (source / "scripts" / "techniques" / "draft.yaml").write_text("id: draft\n")
    (source / "clients" / "draft.yaml").write_text("id: draft\n")
    (source / ".gitignore").write_text((REPO / ".gitignore").read_text() + "*.bak\n")
    (source / "scripts" / "techniques" / "neck.yaml.bak").write_text("old\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-w", str(tmp / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    (built,) = (tmp / "dist").glob("voiceguide-*.whl")
    return built


def test_the_wheel_carries_only_the_tracked_scripts(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tracked = git("ls-files", "scripts", "clients", cwd=REPO).split()
    assert tracked  # the seed library and the example client
    packed = sorted(n.replace("voiceguide/library/", "scripts/", 1)
                    .replace("voiceguide/clients/", "clients/", 1) for n in names
                    if n.startswith(("voiceguide/library/", "voiceguide/clients/")))
    assert packed == sorted(tracked)  # no draft.yaml, no neck.yaml.bak
    assert {f"voiceguide/templates/share.{x}" for x in ("html", "css", "js")} <= set(names)


def voiceguide_from(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI of an unpacked wheel (not this checkout), run in `cwd`."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from voiceguide.cli import main; sys.argv = ['voiceguide', *sys.argv[2:]]; main()",
         str(site), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_wheel_uses_its_library_anywhere_and_init_copies_it(wheel: Path,
                                                                tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    library = site / "voiceguide" / "library"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = voiceguide_from(site, "list", cwd=empty)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Scripts: {library} (the bundled library)\n")
    assert "homework" in result.stdout
    result = voiceguide_from(site, "init", cwd=empty)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (empty / "scripts" / "techniques").iterdir()) == sorted(
        p.name for p in (library / "techniques").iterdir())
    assert (empty / "clients" / "maria.yaml").read_bytes() == (
        REPO / "clients" / "maria.yaml").read_bytes()
    result = voiceguide_from(site, "list", cwd=empty)
    assert result.stdout.startswith(f"Scripts: scripts, over the bundled library ({library})")
    assert "  yours (scripts/techniques/neck.yaml)\n" in result.stdout


def test_ruff_is_clean() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "voiceguide", "tests",
                             "hatch_build.py"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([str(BIN / "mypy")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
