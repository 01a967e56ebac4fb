"""A rebuild with nothing to do stays light: it reads the scripts from the cache of parsed
files and decides from the fingerprint and the manifest, without importing the libraries
that make, measure, tag or share audio (each costs a noticeable part of a no-op's time).
And no build at the routine's own frame rate imports scipy (over a second): an edit
waited for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# What a no-op rebuild must never import: numpy (the meters, the cues, the beds), scipy
# (only resampling needs it), the YAML reader and the schemas (parsing), the tag
# writer, the cover, captions, the share page and its QR code, the recognizer of
# `check`, and the search for ffmpeg (imageio-ffmpeg): nothing is encoded; nor the
# export and the manifest's schemas (the files are checked from what was noted of
# them), the language libraries (what they said is kept), or rich (no terminal, no
# progress bars). pydantic is not on the list: typer itself uses it to read the command
# line.
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
def rebuilt(tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[list[str], list[str], str, list[str], str]:
    """The small library built cold, then again, then with one sentence edited: (cold's
    modules, no-op's, no-op's output, the edit's, the edit's output)."""
    from conftest import GOOD_ROUTINE, GOOD_TECHNIQUE, HELLO, write_library

    work = tmp_path_factory.mktemp("noop")
    scripts = write_library(work / "scripts", {"neck": GOOD_TECHNIQUE, "hello": HELLO},
                            {"daily": GOOD_ROUTINE})
    args = (scripts, work / "out", work / "cache", work / "modules.json")
    _, cold = build(*args)
    said, noop = build(*args)
    neck = scripts / "techniques" / "neck.yaml"
    neck.write_text(neck.read_text().replace("Sit tall.", "Sit tall, and breathe."))
    edit_said, edit = build(*args)
    return cold, noop, said, edit, edit_said


Rebuilt = tuple[list[str], list[str], str, list[str], str]


def test_the_second_build_has_nothing_to_do(rebuilt: Rebuilt) -> None:
    assert rebuilt[2].startswith("Unchanged ")


def test_a_no_op_rebuild_imports_none_of_the_heavy_libraries(rebuilt: Rebuilt) -> None:
    cold, noop, *_ = rebuilt
    imported = [name for name in HEAVY if name in noop]
    assert imported == [], f"a no-op rebuild imported {imported}"
    # The list means something: the cold build did need them (bar scipy, the page, the
    # recognizer and captions' and the cover's libraries, which it may skip).
    assert {"numpy", "ruamel", "voiceguide.parse", "mutagen", "imageio_ffmpeg",
            "voiceguide.export", "voiceguide.manifest", "babel", "num2words"} <= set(cold)


def test_no_build_at_the_routines_rate_imports_scipy(rebuilt: Rebuilt) -> None:
    """Cold, and after one sentence is edited: the voice speaks, the tracks are metered,
    normalized (the limiter too), encoded, decoded and measured; the cues are made cold.
    (The tone engine speaks at the routine's rate, as espeak-ng does; only a voice at
    another rate, such as a 16 kHz Piper voice, is resampled, with scipy.)"""
    cold, _, _, edit, said = rebuilt
    assert not said.startswith("Unchanged ")
    for modules in (cold, edit):
        assert {"voiceguide.render", "voiceguide.loudness", "voiceguide.encode"} <= set(modules)
        assert [m for m in modules if m.split(".")[0] in ("scipy", "pyloudnorm")] == []


def test_a_lazy_module_is_imported_at_its_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide.lazy import LazyModule

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    colorsys = LazyModule("colorsys")
    assert "colorsys" not in sys.modules
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    with pytest.raises(AttributeError):
        colorsys.no_such_function  # noqa: B018 - the lookup is the test
