"""Parallel work gives the same result as serial work: speech said by several worker
processes at once, and tracks encoded at once, make the same files and manifest. With
the default voice (en-us+f3, whose breath noise comes from espeak-ng's random numbers),
as the README promises it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import REPO

from voiceguide.build import BuildOptions, build, open_library, plans_for
from voiceguide.cache import ClipCache
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.engines.worker import WorkerEngine
from voiceguide.render import blocks, utterances

pytestmark = pytest.mark.e2e

DEFAULT = VoiceSettings()
assert DEFAULT.voice == "en-us+f3"  # the breathy variant: its noise must not vary


OVERVIEW = "Today: 4 techniques, about 16 minutes."


def test_parallel_and_serial_builds_are_identical(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real_start = WorkerEngine.start

    def counting_start(self: WorkerEngine) -> None:
        if self._process is None:
            started.append(id(self))
        real_start(self)

    monkeypatch.setattr(WorkerEngine, "start", counting_start)
    library = open_library(REPO / "scripts")
    texts = utterances(plans_for(library, ["homework"]))
    assert len(blocks(texts)) >= 3  # so that two workers really speak at once
    folders = {}
    for jobs in (1, 2):
        started.clear()
        options = BuildOptions(chosen={}, jobs=jobs, out=tmp_path / f"out{jobs}",
                               cache=ClipCache(tmp_path / f"cache{jobs}"))
        (written,) = build(library, ["homework"], options)
        # a fresh worker for every block; the overview, guessed from the estimated
        # length, is said with the rest (not by one more worker after them)
        assert len(started) == len(blocks([*texts, OVERVIEW]))
        said = json.loads((written.folder / "manifest.json").read_text())["tracks"][0]
        assert OVERVIEW in [item.get("text") for item in said["items"]]
        folders[jobs] = written.folder
    serial, parallel = folders[1], folders[2]
    names = sorted(p.name for p in serial.iterdir())
    assert names == sorted(p.name for p in parallel.iterdir())
    for name in names:
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name
    assert json.loads((serial / "manifest.json").read_text())["tracks"]


def test_blocks_are_fixed_by_the_texts_alone() -> None:
    texts = [f"line {n}" for n in range(100)]
    shares = blocks(texts)
    assert [t for share in shares for t in share] == texts  # all, once, in order
    assert len(shares) == 4 and {len(s) for s in shares} == {25}
    assert blocks(texts[:30]) == [texts[:30]]  # a short remainder joins the block
    assert blocks(texts[:5]) == [texts[:5]]


@pytest.mark.parametrize("engine", ["pyttsx3", "espeak"])
def test_the_default_voice_is_the_same_in_every_worker_at_any_time(engine: str) -> None:
    """espeak_ng_Initialize seeds the noise generator from the clock (in whole seconds):
    two fresh workers started in different seconds must still make the same clips."""
    texts = ["Press gently, and breathe out slowly.", "Now the same on your left side."]
    said = []
    for _ in range(2):
        second = int(time.time())
        while int(time.time()) == second:  # the next second: another clock seed
            time.sleep(0.05)
        with make_engine(VoiceSettings(engine=engine)) as voice:
            said.append([voice.synthesize(text).pcm for text in texts])
    assert said[0] == said[1]
