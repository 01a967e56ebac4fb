"""Settings: one precedence, one table of limits, the same audio whichever way a build is
asked for; the manifest as one type; imports that flow one way."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from voiceguide.build import BuildOptions, batch, build
from voiceguide.cache import ClipCache
from voiceguide.errors import ExitCode, SettingsError
from voiceguide.library import load_client, load_library
from voiceguide.manifest import MANIFEST, Manifest, read_manifest
from voiceguide.model import Client, Clinic, Clip
from voiceguide.settings import SLOW, Choices, Settings, resolve
from voiceguide.share import share

REPO = Path(__file__).resolve().parent.parent
VOICEGUIDE = str(Path(sys.executable).with_name("voiceguide"))

CLIENT = Client(id="zoe", name="Zoe", techniques=("neck",), voice="en-gb", rate=110,
                pace=1.2, minutes=12)
CLINIC = Clinic(name="C", voice="en-us", rate=150, language="en-GB", engine="espeak")


@pytest.mark.parametrize(("flags", "client", "clinic", "slow", "expected"), [
    # nothing given: the defaults
    ({}, None, None, False, {"engine": "pyttsx3", "voice": "en-us+f3", "rate": 140,
                             "pace": 1.0, "minutes": None, "language": "en"}),
    # the clinic over the defaults
    ({}, None, CLINIC, False, {"engine": "espeak", "voice": "en-us", "rate": 150,
                               "language": "en-GB"}),
    # the client over the clinic (the clinic's language stays: a client sets none)
    ({}, CLIENT, CLINIC, False, {"engine": "espeak", "voice": "en-gb", "rate": 110,
                                 "pace": 1.2, "minutes": 12, "language": "en-GB"}),
    # --slow under everything that is given
    ({}, None, None, True, {"rate": SLOW["rate"], "pace": SLOW["pace"]}),
    ({}, None, CLINIC, True, {"rate": 150, "pace": SLOW["pace"]}),
    ({}, CLIENT, None, True, {"rate": 110, "pace": 1.2}),
    # a flag over everything
    ({"rate": 200, "voice": "en-us", "engine": "tone"}, CLIENT, CLINIC, True,
     {"rate": 200, "voice": "en-us", "engine": "tone", "pace": 1.2}),
])
def test_precedence_flag_client_clinic_preset_default(
        flags: Choices, client: Client | None, clinic: Clinic | None, slow: bool,
        expected: dict[str, object]) -> None:
    settings = resolve(flags, client=client, clinic=clinic, slow=slow)
    assert {k: getattr(settings, k) for k in expected} == expected


def test_the_last_build_sits_under_the_flags_and_over_the_client() -> None:
    last = Settings(rate=125, voice="en-us", format="ogg")
    settings = resolve({"format": "wav"}, last_built=last, client=CLIENT, clinic=CLINIC)
    assert (settings.rate, settings.voice, settings.format) == (125, "en-us", "wav")


def test_settings_round_trip_through_json() -> None:
    settings = Settings(engine="tone", rate=123, pace=1.3, minutes=9.5, countdown=10,
                        background="rain", bitrate="48k", loudness=-18, step_chapters=True)
    assert Settings.from_json(json.loads(json.dumps(settings.to_json()))) == settings
    with pytest.raises(ValueError, match="can't be read"):
        Settings.from_json({"rate": 9999})


@pytest.mark.parametrize(("choices", "message"), [
    ({"rate": 70}, "the speech rate 70 is out of range (words per minute, from 80 to 300"),
    ({"pace": 2.5}, "the pace 2.5 is out of range (a factor, from 0.5 to 2"),
    ({"countdown": 2}, "the countdown is said in whole seconds, at least 3"),
])
def test_the_python_api_checks_the_same_limits(choices: Choices, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        resolve(choices)
    assert caught.value.render().startswith(message)


# --------------------------------------------------------------------------- the same audio


ZOE = """\
id: zoe
name: Zoe
techniques: [neck]
rate: 190
pace: 1.5
"""


def _audio(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.mp3"))}


def test_cli_batch_share_and_the_api_make_the_same_audio_from_a_client_file(
        scripts: Path, tmp_path: Path) -> None:
    """The client's rate and pace reach the audio whichever way the build is asked for."""
    clients = tmp_path / "clients"
    clients.mkdir()
    path = clients / "zoe.yaml"
    path.write_text(ZOE)
    (scripts / "clinic.yaml").write_text("name: C\nengine: tone\n")
    library = load_library(scripts)
    client = load_client(path, library)
    cache = ClipCache(tmp_path / "cache")
    env = {**os.environ, "VOICEGUIDE_CACHE": str(tmp_path / "cache")}

    (api,) = build(library, (), BuildOptions(out=tmp_path / "api", cache=cache, jobs=2),
                   client=client)
    subprocess.run([VOICEGUIDE, "build", "--client", str(path), "--scripts", str(scripts),
                    "--out", str(tmp_path / "cli")], check=True, env=env, capture_output=True)
    (batched,) = batch(library, [path], BuildOptions(out=tmp_path / "batch", cache=cache))
    shared = share(library, options=BuildOptions(out=tmp_path / "share", cache=cache),
                   client=client)

    manifest = read_manifest(api.folder)
    assert manifest is not None
    assert (manifest.settings.rate, manifest.settings.pace) == (190, 1.5)
    assert manifest.settings.engine == "tone"  # from the clinic profile
    expected = _audio(api.folder)
    assert expected
    for folder in (tmp_path / "cli" / "zoe", batched.folder, shared.built.folder):
        assert folder is not None
        assert _audio(folder) == expected


def test_the_clinic_chooses_the_voice_once_and_a_flag_overrides_it(
        scripts: Path, tmp_path: Path) -> None:
    """engine, voice and rate from clinic.yaml reach a build given no flags, and the
    manifest; a flag wins over them."""
    (scripts / "clinic.yaml").write_text("name: C\nengine: tone\nvoice: tone\nrate: 170\n")
    env = {**os.environ, "VOICEGUIDE_CACHE": str(tmp_path / "cache")}
    common = ["--scripts", str(scripts)]
    for out, flags in (("clinic", []), ("flags", ["--rate", "130", "--voice", "en-us+f3"])):
        result = subprocess.run([VOICEGUIDE, "build", *common, "--out", str(tmp_path / out),
                                 *flags], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    clinic = read_manifest(tmp_path / "clinic" / "daily")
    flags = read_manifest(tmp_path / "flags" / "daily")
    assert clinic is not None and flags is not None
    assert (clinic.settings.engine, clinic.settings.voice, clinic.settings.rate) == \
        ("tone", "tone", 170)
    assert (clinic.build.voice, clinic.build.voice_licence) == ("tone (tone)", "test tone")
    assert (flags.settings.engine, flags.settings.voice, flags.settings.rate) == \
        ("tone", "en-us+f3", 130)
    assert flags.build.voice == "en-us+f3 (tone)"
    # the rate reached the voice: the same words take longer at 130 wpm
    assert flags.routine.duration_ms > clinic.routine.duration_ms


# --------------------------------------------------------------------------- the manifest


def test_an_older_manifest_means_a_rebuild_never_a_crash(scripts: Path, tmp_path: Path
                                                         ) -> None:
    options = BuildOptions(chosen={"engine": "tone"}, out=tmp_path, jobs=2,
                           cache=ClipCache(tmp_path / "cache"))
    (first,) = build(load_library(scripts), [], options)
    data = json.loads(first.manifest.read_text())
    assert Manifest.from_json(first.manifest.read_bytes()).to_json() == \
        first.manifest.read_text()  # one type, read and written the same
    del data["build"]  # as format 3 had it: no "build" part
    data["format"] = 3
    first.manifest.write_text(json.dumps(data))
    assert read_manifest(first.folder) is None
    (again,) = build(load_library(scripts), [], options)
    assert not again.unchanged
    assert read_manifest(again.folder) is not None


def test_the_manifest_is_strict_json(scripts: Path, tmp_path: Path) -> None:
    (written,) = build(load_library(scripts), [], BuildOptions(
        chosen={"engine": "tone"}, out=tmp_path, jobs=2))
    json.loads((written.folder / MANIFEST).read_text(),
               parse_constant=lambda name: pytest.fail(f"{name} in the manifest"))


# --------------------------------------------------------------------------- signal


def test_resampling_filters_out_what_would_alias() -> None:
    """16 kHz -> 22.05 kHz keeps a 1 kHz tone; 22.05 kHz -> 16 kHz removes a 10 kHz tone
    (above the new Nyquist frequency) instead of folding it down to 6 kHz."""
    from voiceguide.pcm import resample

    def tone(hz: float, rate: int) -> Clip:
        t = np.arange(rate) / rate
        return Clip((np.sin(2 * np.pi * hz * t) * 16000).astype("<i2").tobytes(), rate)

    up = resample(tone(1000, 16000), 22050)
    assert up.frame_rate == 22050 and abs(up.samples - 22050) <= 1
    x = np.frombuffer(up.pcm, dtype="<i2").astype(float)
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) * 22050 / x.size - 1000) < 5
    down = resample(tone(10000, 22050), 16000)
    y = np.frombuffer(down.pcm, dtype="<i2").astype(float)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) < 0.02 * 16000 / np.sqrt(2)  # -34 dB


def test_pydub_silences_are_exact_at_any_rate() -> None:
    from voiceguide.assemble import silence

    for rate in (16000, 22050, 44100):
        for samples in (0, 1, 441, 12345, rate * 30):
            assert len(silence(samples, rate).raw_data) == 2 * samples


# --------------------------------------------------------------------------- structure


def _module_imports(path: Path) -> set[str]:
    """voiceguide modules imported at the top level (not under TYPE_CHECKING, not inside
    functions: those run late, on purpose)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("voiceguide"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("voiceguide"))
    return found


def test_imports_flow_one_way() -> None:
    package = REPO / "voiceguide"
    modules = {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
        for p in package.rglob("*.py")}
    graph = {name: {m for m in _module_imports(path) if m in modules}
             for name, path in modules.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, f"import cycle: {' -> '.join([*visiting, name])}"
        visiting.append(name)
        for other in graph[name]:
            if other != name:
                visit(other)
        visiting.pop()
        done.add(name)

    for name in graph:
        visit(name)


def test_planning_is_pure() -> None:
    """Planning needs neither the sounds (synthesis) nor the loudness libraries."""
    program = textwrap.dedent("""
        import sys
        import voiceguide.plan, voiceguide.parse, voiceguide.settings, voiceguide.text
        heavy = [m for m in ("voiceguide.sounds", "voiceguide.engines", "scipy",
                             "pyloudnorm", "voiceguide.native") if m in sys.modules]
        print(heavy)
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_debug_from_the_environment_shows_the_traceback(tmp_path: Path) -> None:
    run = [VOICEGUIDE, "build", "--scripts", str(tmp_path / "missing")]
    plain = subprocess.run(run, capture_output=True, text=True)
    debug = subprocess.run(run, capture_output=True, text=True,
                           env={**os.environ, "VOICEGUIDE_DEBUG": "1"})
    assert plain.returncode == ExitCode.INVALID_SCRIPT
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "SettingsError" in debug.stderr


def test_a_short_track_is_about_one_minute() -> None:
    from voiceguide.cover import routine_cover
    from voiceguide.messages import ENGLISH

    assert ENGLISH.about_minutes(20_000) == "about 1 minute"
    cover, mime = routine_cover(None, "Short", "Clinic", 1, 20_000)
    assert mime == "image/png" and cover  # drawn with "about 1 minute", never 0


def test_library_errors_name_no_command_line_flags() -> None:
    """The Python API and the studio show these messages too: no '--flag' in them."""
    for path in (REPO / "voiceguide").rglob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith("Error"):
                texts = [n.value for arg in node.args for n in ast.walk(arg)
                         if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                flags = [t for t in texts if " --" in f" {t}" and "--debug" not in t]
                assert not flags, f"{path.name}:{node.lineno}: {flags}"
