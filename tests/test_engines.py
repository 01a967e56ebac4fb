"""Speech engines: the tone test engine, the checks, voice names, and (e2e) the real
pyttsx3 and direct espeak-ng engines running in their worker processes."""

from __future__ import annotations

import ctypes.util
import math
import os
import re
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiceguide import native
from voiceguide.engines import engine_names, make_engine
from voiceguide.engines.base import Engine, VoiceInfo, VoiceSettings
from voiceguide.engines.check import check_clip, check_text, peak_dbfs
from voiceguide.engines.espeak_engine import EspeakEngine, EspeakVoice, resolve_voice
from voiceguide.engines.pyttsx3_engine import Pyttsx3Engine
from voiceguide.engines.tone import FRAME_RATE, ToneEngine
from voiceguide.engines.worker import WorkerEngine
from voiceguide.errors import EngineError, SettingsError
from voiceguide.model import Clip

SENTENCE = "Breathe in slowly through your nose, and let your shoulders soften."  # 11 words
OTHER = "Rest."
RATE = 140


def expected_s(words: int, rate: int = RATE) -> float:
    return words * 60 / rate


def tone(text: str, rate: int = RATE) -> Clip:
    return ToneEngine(VoiceSettings(engine="tone", voice="tone", rate=rate)).synthesize(text)


# --------------------------------------------------------------------------- tone engine


def test_tone_is_deterministic_and_as_long_as_its_words() -> None:
    first, again = tone(SENTENCE), tone(SENTENCE)
    assert first.pcm == again.pcm
    assert first.frame_rate == FRAME_RATE
    assert first.ms == round(expected_s(11) * 1000)
    assert tone(SENTENCE, rate=280).ms == round(expected_s(11, 280) * 1000)
    assert tone("Go.", rate=300).ms == 300  # the floor for very short lines
    assert -13 < peak_dbfs(first) < -11


def test_tone_accepts_only_its_own_voice_and_the_default() -> None:
    assert ToneEngine(VoiceSettings(engine="tone")).voices()[0].id == "tone"
    with pytest.raises(SettingsError, match="unknown voice 'en-gb'"):
        ToneEngine(VoiceSettings(engine="tone", voice="en-gb"))


# --------------------------------------------------------------------------- registry


def test_registry_names_the_engines_with_pyttsx3_first() -> None:
    assert engine_names() == ("pyttsx3", "espeak", "tone", "piper")
    assert isinstance(make_engine(VoiceSettings(engine="tone")), ToneEngine)
    assert isinstance(make_engine(VoiceSettings()), Pyttsx3Engine)  # not started: no worker


def test_unknown_engine_names_the_choices_and_the_closest() -> None:
    with pytest.raises(SettingsError) as caught:
        make_engine(VoiceSettings(engine="pyttsx"))
    text = caught.value.render()
    assert "unknown engine 'pyttsx'" in text
    assert "pyttsx3, espeak, tone, piper" in text
    assert "did you mean 'pyttsx3'?" in text


@pytest.mark.parametrize(("rate", "volume"), [(20, 1.0), (900, 1.0), (140, 0.0), (140, 1.5)])
def test_rate_and_volume_out_of_range_are_settings_errors(rate: int, volume: float) -> None:
    for engine in engine_names():
        with pytest.raises(SettingsError, match="out of range"):
            make_engine(VoiceSettings(engine=engine, voice="tone", rate=rate, volume=volume))


# --------------------------------------------------------------------------- checks


def test_check_clip_accepts_a_plausible_clip() -> None:
    check_clip(SENTENCE, tone(SENTENCE), RATE)
    # Numbers are read out in words: "1990" takes far longer than one word.
    check_clip("Count 1234567890.", Clip(tone("a " * 20).pcm, FRAME_RATE), RATE)


def test_every_engine_is_checked_by_the_interface() -> None:
    """A new engine gets the checks without writing them: the base class checks the
    settings, the text and the audio around the engine's own _synthesize."""

    class Mute(Engine):
        name = "mute"

        def _synthesize(self, text: str) -> Clip:
            return Clip(bytes(44_100), FRAME_RATE)

        def voices(self) -> list[VoiceInfo]:
            return []

    with pytest.raises(SettingsError, match="rate"):
        Mute(VoiceSettings(rate=10))
    with pytest.raises(EngineError, match="silence"):
        Mute(VoiceSettings()).synthesize(SENTENCE)
    with pytest.raises(EngineError):
        Mute(VoiceSettings()).synthesize("<speak>hello</speak>")


@pytest.mark.parametrize(
    ("clip", "error"),
    [
        (Clip(b"", FRAME_RATE), "no audio"),
        (Clip(tone(SENTENCE).pcm + b"\x00", FRAME_RATE), "odd byte count"),
        (Clip(tone(SENTENCE).pcm, 1234), "1234 Hz"),
        (Clip(bytes(len(tone(SENTENCE).pcm)), FRAME_RATE), "silence"),
        (Clip(array("h", [100, -100] * 40_000).tobytes(), FRAME_RATE), "silence"),  # -50 dBFS
        (tone("one two"), r"expected about 4\.71 s"),  # far too short for 11 words
        (tone("word " * 60), r"expected about 4\.71 s"),  # far too long
    ],
)
def test_check_clip_rejects(clip: Clip, error: str) -> None:
    with pytest.raises(EngineError, match=error):
        check_clip(SENTENCE, clip, RATE)


@pytest.mark.parametrize(
    ("text", "error"),
    [("", "nothing to say"), (" ... ", "nothing to say"), ("<break/> Hi", "markup")],
)
def test_check_text_rejects_wordless_text_and_markup(text: str, error: str) -> None:
    with pytest.raises(EngineError, match=error):
        check_text(text)
    with pytest.raises(EngineError, match=error):
        tone(text)


# --------------------------------------------------------------------------- voice names

VOICES = [
    EspeakVoice("gmw/en", "English (Great Britain)", ((2, "en-gb"), (2, "en"))),
    EspeakVoice("gmw/en-US", "English (America)", ((2, "en-us"), (3, "en"))),
    EspeakVoice("gmw/en-GB-x-rp", "English (Received Pronunciation)", ((4, "en-gb"),)),
]
VARIANTS = [EspeakVoice("!v/f3", "female3", ()), EspeakVoice("!v/Alex", "Alex", ())]


@pytest.mark.parametrize(
    ("spec", "resolved"),
    [
        ("en-us", "gmw/en-US"),
        ("gmw/en-us", "gmw/en-US"),
        ("English (America)", "gmw/en-US"),
        ("en-gb", "gmw/en"),  # by language, the voice that prefers it most
        ("en-us+f3", "gmw/en-US+f3"),
        ("EN-US+ALEX", "gmw/en-US+Alex"),  # variant files are found by their exact name
        ("en-us+female3", "gmw/en-US+f3"),
    ],
)
def test_resolve_voice_accepts_ids_names_languages_and_variants(spec: str, resolved: str) -> None:
    assert resolve_voice(spec, VOICES, VARIANTS) == resolved


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("en-uss", r"unknown voice 'en-uss' \(run `voiceguide voices`.*did you mean 'en-us'\?"),
        ("en-us+f33", r"unknown voice variant 'f33' in 'en-us\+f33'.*did you mean 'f3'\?"),
        ("+f3", "unknown voice '\\+f3'"),
    ],
)
def test_resolve_voice_rejects_unknown_names_with_a_hint(spec: str, error: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve_voice(spec, VOICES, VARIANTS)
    assert re.search(error, caught.value.render())


# --------------------------------------------------------------------------- bundled parts


def test_load_espeak_is_idempotent_and_points_at_the_wheel_data() -> None:
    assert native.load_espeak() is native.load_espeak()
    assert Path(os.environ["ESPEAK_DATA_PATH"], "phontab").is_file()


def test_missing_espeak_and_ffmpeg_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_espeak", None)
    monkeypatch.setattr(native, "_SYSTEM_ESPEAK", ("libno-such-espeak.so.1",))
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(EngineError) as caught:
        native.load_espeak()
    assert "pip install espeakng-loader" in caught.value.render()
    with pytest.raises(EngineError) as caught:
        native.ffmpeg_exe()
    assert "pip install imageio-ffmpeg" in caught.value.render()


def test_import_pydub_is_quiet_and_uses_the_bundled_ffmpeg() -> None:
    # A fresh interpreter with warnings as errors and no ffmpeg on PATH: pydub's
    # import-time warnings would otherwise fail every test that imports it.
    code = (
        "from voiceguide.native import ffmpeg_exe, import_pydub\n"
        "assert import_pydub().AudioSegment.converter == ffmpeg_exe()\n"
    )
    env = {**os.environ, "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(native.ffmpeg_exe()).is_file()


# --------------------------------------------------------------------------- real engines


@pytest.fixture(scope="module")
def pyttsx3_engine() -> Iterator[WorkerEngine]:
    with Pyttsx3Engine(VoiceSettings(rate=RATE)) as engine:
        yield engine


def assert_speech(clip: Clip, words: int) -> None:
    assert clip.frame_rate == 22050  # what libespeak-ng reports for every bundled voice
    assert 0.7 * expected_s(words) < clip.samples / clip.frame_rate < 1.5 * expected_s(words)
    assert peak_dbfs(clip) > -20


@pytest.mark.e2e
def test_pyttsx3_first_utterance_is_whole_and_nothing_is_printed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A worker of its own, started under capfd so it inherits the captured stdout. The
    # first utterance is long: unprimed, pyttsx3 returns ~10 ms after starting it.
    with Pyttsx3Engine(VoiceSettings(rate=RATE)) as engine:
        clip = engine.synthesize(" ".join([SENTENCE] * 6))
    assert_speech(clip, 66)
    out, _ = capfd.readouterr()
    assert out == ""


@pytest.mark.e2e
def test_pyttsx3_back_to_back_sentences_are_each_right(pyttsx3_engine: WorkerEngine) -> None:
    # Traps: an early-returning first runAndWait, and only the last of two files written.
    first = pyttsx3_engine.synthesize(SENTENCE)
    second = pyttsx3_engine.synthesize(OTHER)
    again = pyttsx3_engine.synthesize(SENTENCE)
    assert_speech(first, 11)
    assert second.samples < first.samples / 3
    assert abs(again.samples - first.samples) < 0.05 * first.samples


@pytest.mark.e2e
def test_pyttsx3_lists_voices_and_versions(pyttsx3_engine: WorkerEngine) -> None:
    voices = pyttsx3_engine.voices()
    ids = {voice.id for voice in voices}
    assert len([v for v in voices if v.languages != ("variant",)]) > 100
    assert {"gmw/en-us", "+f3"} <= ids
    assert "pyttsx3 2.99" in pyttsx3_engine.version()
    assert "espeak-ng 1." in pyttsx3_engine.version()


@pytest.mark.e2e
@pytest.mark.parametrize("engine", [Pyttsx3Engine, EspeakEngine])
@pytest.mark.parametrize(
    ("voice", "error"),
    [("xx", "unknown voice 'xx' (run `voiceguide voices`"), ("en-us+zz", "variant 'zz'")],
)
def test_unknown_voice_fails_at_start(engine: type[WorkerEngine], voice: str, error: str) -> None:
    with pytest.raises(SettingsError) as caught, engine(VoiceSettings(voice=voice)):
        pytest.fail("started with an unknown voice")
    assert error in caught.value.render()


@pytest.mark.e2e
def test_espeak_direct_matches_pyttsx3(pyttsx3_engine: WorkerEngine) -> None:
    with EspeakEngine(VoiceSettings(engine="espeak", rate=RATE)) as engine:
        direct = engine.synthesize(SENTENCE)
        assert "espeak-ng 1." in engine.version()
    assert_speech(direct, 11)
    via_pyttsx3 = pyttsx3_engine.synthesize(SENTENCE)
    assert direct.frame_rate == via_pyttsx3.frame_rate
    assert math.isclose(direct.samples, via_pyttsx3.samples, rel_tol=0.2)


@pytest.mark.e2e
def test_a_stuck_utterance_times_out_and_the_next_one_works(
    pyttsx3_engine: WorkerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Pyttsx3Engine, "timeout_s", 0.001)
    monkeypatch.setattr(Pyttsx3Engine, "timeout_per_10_words_s", 0.0)
    started = time.monotonic()
    with pytest.raises(EngineError, match=r"took longer than 0\.001 s while saying 'Breathe in"):
        pyttsx3_engine.synthesize(" ".join([SENTENCE] * 30))
    assert time.monotonic() - started < 2
    monkeypatch.undo()
    assert_speech(pyttsx3_engine.synthesize(SENTENCE), 11)  # a fresh worker


@pytest.mark.e2e
def test_a_dead_worker_is_an_engine_error(pyttsx3_engine: WorkerEngine) -> None:
    pyttsx3_engine.synthesize(OTHER)
    process = pyttsx3_engine._process
    assert process is not None
    process.kill()
    process.wait()
    with pytest.raises(EngineError, match=r"stopped \(exit code -9\) while saying 'Rest.'"):
        pyttsx3_engine.synthesize(OTHER)


@pytest.mark.e2e
def test_engine_works_from_a_script_without_a_main_guard(tmp_path: Path) -> None:
    """The worker must not re-run the caller's script (multiprocessing's spawn does)."""
    script = ("from voiceguide.engines import make_engine\n"
              "from voiceguide.engines.base import VoiceSettings\n"
              "with make_engine(VoiceSettings()) as engine:\n"
              "    print(engine.synthesize('Hello there.').samples > 0)\n")
    result = subprocess.run([sys.executable, "-"], input=script, capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True\n"


@pytest.mark.e2e
def test_pyttsx3_under_cpu_load_speaks_every_sentence_whole_at_the_set_rate() -> None:
    """Under load pyttsx3's loop ends before libespeak-ng's thread is done: the next
    utterance was cancelled ("no audio") or spoken at the default 200 wpm. Both cores are
    kept busy while fresh engines speak; every clip must be the same, full length."""
    hogs = [subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\n"
                              "while time.time() < end: pass"]) for _ in range(2)]
    try:
        lengths = set()
        for _ in range(12):  # before the fix, about one engine in four failed
            with Pyttsx3Engine(VoiceSettings(rate=RATE)) as engine:
                lengths.add(engine.synthesize(SENTENCE).samples)
                lengths.add(engine.synthesize(SENTENCE).samples)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert max(lengths) - min(lengths) < 0.01 * max(lengths)
    assert 0.7 * expected_s(11) < min(lengths) / 22050 < 1.5 * expected_s(11)
