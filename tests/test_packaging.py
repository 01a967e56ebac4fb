"""The project as others get it: a wheel that carries the seed library, and clean code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def test_wheel_carries_the_seed_library_and_uses_it_anywhere(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("voiceguide-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    seeds = sorted(p.name for p in (REPO / "scripts").rglob("*.yaml"))
    packed = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("voiceguide/library/"))
    assert packed == seeds
    assert {f"voiceguide/templates/share.{x}" for x in ("html", "css", "js")} <= set(names)
    # Run the unpacked wheel from an empty folder: the bundled library must be found.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from voiceguide.cli import main; sys.argv = ['voiceguide', 'list']; main()",
         str(site)], cwd=empty, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert str(site / "voiceguide" / "library") in str((empty / result.stdout.split(
        "\n")[0].removeprefix("Scripts: ")).resolve())
    assert "homework" in result.stdout


def test_ruff_is_clean() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "voiceguide", "tests"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([str(BIN / "mypy")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
