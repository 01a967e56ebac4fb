"""A rebuild with nothing to do stays light: it reads the scripts from the cache of parsed
files and decides from the fingerprint and the manifest, without importing the libraries
that make, measure, tag or share audio (each costs a noticeable part of a no-op's time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# What a no-op rebuild must never import: numpy and scipy (the meters, the cues, the
# beds), the YAML reader and the schemas (parsing), the tag writer, the cover, captions,
# the share page and its QR code, the recognizer of `check`, and the search for ffmpeg
# (imageio-ffmpeg): nothing is encoded; nor the export and the manifest's schemas (the
# files are checked from what was noted of them), the language libraries (what they said
# is kept), or rich (no terminal, no progress bars). pydantic is not on the list: typer
# itself uses it to read the command line.
HEAVY = ("numpy", "scipy", "pyloudnorm", "ruamel", "voiceguide.parse", "mutagen", "PIL",
         "webvtt", "jinja2", "segno", "voiceguide.share", "voiceguide.check", "pocketsphinx",
         "imageio_ffmpeg", "voiceguide.export", "voiceguide.manifest", "babel", "num2words",
         "rich")

# Runs the command as the `voiceguide` entry point does and, at exit, lists the modules
# it imported.
_RUN = """
import atexit, json, sys
listing = sys.argv[1]
atexit.register(lambda: open(listing, "w").write(json.dumps(sorted(sys.modules))))
from voiceguide.cli import main
sys.argv = ["voiceguide", *sys.argv[2:]]
main()
"""


def build(scripts: Path, out: Path, cache: Path, modules: Path) -> tuple[str, list[str]]:
    """`voiceguide build` with the tone engine in a fresh process: (stdout, modules)."""
    env = {**os.environ, "VOICEGUIDE_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", _RUN, str(modules), "build", "--engine",
                           "tone", "--scripts", str(scripts), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300,
                          cwd=scripts.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(modules.read_text())


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str], str]:
    """The small library built cold, then again: (cold's modules, no-op's, no-op's
    output)."""
    from conftest import GOOD_ROUTINE, GOOD_TECHNIQUE, HELLO, write_library

    work = tmp_path_factory.mktemp("noop")
    scripts = write_library(work / "scripts", {"neck": GOOD_TECHNIQUE, "hello": HELLO},
                            {"daily": GOOD_ROUTINE})
    args = (scripts, work / "out", work / "cache", work / "modules.json")
    _, cold = build(*args)
    said, noop = build(*args)
    return cold, noop, said


def test_the_second_build_has_nothing_to_do(rebuilt: tuple[list[str], list[str], str]
                                            ) -> None:
    assert rebuilt[2].startswith("Unchanged ")


def test_a_no_op_rebuild_imports_none_of_the_heavy_libraries(
        rebuilt: tuple[list[str], list[str], str]) -> None:
    cold, noop, _ = rebuilt
    imported = [name for name in HEAVY if name in noop]
    assert imported == [], f"a no-op rebuild imported {imported}"
    # The list means something: the cold build did need them (bar the page, the
    # recognizer and captions' and the cover's libraries, which it may skip).
    assert {"numpy", "scipy", "ruamel", "voiceguide.parse", "mutagen", "imageio_ffmpeg",
            "voiceguide.export", "voiceguide.manifest", "babel", "num2words"} <= set(cold)


def test_a_lazy_module_is_imported_at_its_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide.lazy import LazyModule

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    colorsys = LazyModule("colorsys")
    assert "colorsys" not in sys.modules
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    with pytest.raises(AttributeError):
        colorsys.no_such_function  # noqa: B018 - the lookup is the test
