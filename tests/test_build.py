"""The Python API with the fast, deterministic tone engine: layout, manifest, atomic
writes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from conftest import Writer

from voiceguide import export
from voiceguide.assemble import assemble_routine, frame_rate_of, planned_samples
from voiceguide.build import BuildOptions, build, plans_for
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import EngineError
from voiceguide.library import load_library
from voiceguide.model import Silence
from voiceguide.render import render, utterances
from voiceguide.settings import Settings
from voiceguide.sounds import load_cues

TONE = BuildOptions(chosen={"engine": "tone"}, jobs=2)
TONE_VOICE = VoiceSettings(engine="tone")


def options(out: Path) -> BuildOptions:
    return BuildOptions(chosen=TONE.chosen, jobs=2, out=out)


@pytest.mark.parametrize("frame", [1, 576])
def test_planned_length_is_the_assembled_length(scripts: Path, frame: int) -> None:
    """Fitting to --minutes and the overview read planned_samples; it must agree with
    assembly to the sample, MP3 frame alignment included."""
    plans = plans_for(load_library(scripts), ["daily"])
    with make_engine(TONE_VOICE) as engine:
        clips = render(utterances(plans), engine)
    cues = load_cues("bowl", frame_rate_of(clips))
    assembled = assemble_routine(plans[0], clips, cues, frame=frame)
    assert planned_samples(plans[0], clips, cues, frame=frame) == assembled.samples
    assert all(t.clip.samples % frame == 0 for t in assembled.tracks[:-1])


def test_pauses_and_holds_are_sample_exact(scripts: Path) -> None:
    library = load_library(scripts)
    plans = plans_for(library, ["daily"])
    with make_engine(TONE_VOICE) as engine:
        clips = render(utterances(plans), engine)
    neck = assemble_routine(plans[0], clips, load_cues("bowl", frame_rate_of(clips))
                            ).tracks[1]
    rate = neck.clip.frame_rate
    for placed in neck.placed:
        if isinstance(placed.item, Silence):
            assert placed.end - placed.start == placed.item.ms * rate // 1000
            assert neck.clip.pcm[placed.start * 2:placed.end * 2] == bytes(
                2 * (placed.end - placed.start))
    assert neck.placed[-1].end == neck.clip.samples


def test_manifest_describes_every_item(scripts: Path, tmp_path: Path) -> None:
    (written,) = build(load_library(scripts), [], options(tmp_path))
    manifest = json.loads(written.manifest.read_text())
    assert manifest["routine"]["file"] == "daily.mp3"
    assert [t["file"] for t in manifest["tracks"]] == ["01-hello.mp3", "02-neck.mp3"]
    neck = manifest["tracks"][1]
    assert neck["start_ms"] == manifest["tracks"][0]["duration_ms"]
    kinds = [(i["kind"], i.get("reason") or i.get("text") or i.get("cue"))
             for i in neck["items"]]
    assert kinds[:8] == [("silence", "gap"), ("cue", "bell"), ("silence", "gap"),
                         ("speech", "Relieve Tension in the Neck."), ("silence", "gap"),
                         ("speech", "You'll need a chair."), ("silence", "pause"),
                         ("speech", "Sit tall.")]
    at = kinds.index(("speech", "Press and hold."))
    assert kinds[at:at + 5] == [("speech", "Press and hold."), ("cue", "hold_start"),
                                ("silence", "hold"), ("cue", "hold_end"),
                                ("speech", "And release.")]
    hold = neck["items"][at + 2]
    assert (hold["reason"], hold["end_ms"] - hold["start_ms"]) == ("hold", 3000)
    assert hold["source"] == "techniques/neck.yaml:9"
    assert manifest["settings"]["engine"] == "tone"
    assert set(manifest["settings"]) == {f.name for f in fields(Settings)} - {
        "minutes", "background", "bitrate"}  # None is left out
    assert set(manifest["build"]) >= {"engine_version", "pacing", "lexicon_digest"}


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_a_failed_encode_leaves_the_previous_build_untouched(
        scripts: Path, write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = load_library(scripts)
    (first,) = build(library, [], options(tmp_path))
    before = hashes(first.folder)
    write("techniques/hello.yaml", "id: hello\ntitle: Hello\nsummary: S\nsteps:\n"
          "  - say: Welcome back, this text is new.\n")
    real = export.write_joined
    calls: list[object] = []

    def flaky(*args):  # type: ignore[no-untyped-def]
        # the changed track is encoded; then joining the full routine fails
        calls.append(args)
        raise EngineError("encoder crashed")

    monkeypatch.setattr(export, "write_joined", flaky)
    with pytest.raises(EngineError):
        build(load_library(scripts), [], BuildOptions(chosen=TONE.chosen, jobs=1, out=tmp_path))
    assert calls and real is not flaky
    assert hashes(first.folder) == before  # no half-new routine, no temp files


def test_tracks_no_longer_in_the_routine_are_removed(scripts: Path, write: Writer,
                                                     tmp_path: Path) -> None:
    build(load_library(scripts), [], options(tmp_path))
    write("routines/daily.yaml", "id: daily\ntitle: D\nsummary: S\ntechniques: [neck]\n")
    (written,) = build(load_library(scripts), [], options(tmp_path))
    assert sorted(p.name for p in written.folder.iterdir()) == [
        "01-neck.mp3", "01-neck.vtt", "daily.m3u8", "daily.mp3", "daily.vtt", "manifest.json"]



def test_a_wrong_guess_of_the_overview_is_said_again_right(
        scripts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview ("Today: ...") is said with the other sentences from the estimated
    length; when the real length says otherwise, the right one is said after them."""
    import voiceguide.build as build_module

    calls: list[list[str]] = []
    real_render = build_module.render

    def counted(texts: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(texts))
        return real_render(calls[-1], *args, **kwargs)

    monkeypatch.setattr(build_module, "render", counted)
    library = load_library(scripts)
    (right,) = build(library, [], options(tmp_path / "right"))
    assert len(calls) == 1  # the guess was right: no second call to the voice
    overview = next(t for t in calls[0] if t.startswith("Today: "))
    assert overview in (right.folder / "daily.vtt").read_text()

    calls.clear()
    monkeypatch.setattr(build_module, "_overview_guess",
                        lambda *_: "Today: 9 techniques, about 99 minutes.")
    (wrong,) = build(library, [], options(tmp_path / "wrong"))
    assert len(calls) == 2 and calls[1] == [overview]
    assert "99 minutes" not in (wrong.folder / "daily.vtt").read_text()
    assert overview in (wrong.folder / "daily.vtt").read_text()
