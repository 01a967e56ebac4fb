"""`voiceguide check`: listen back to a built routine before it is sent to a client.

Every audio file the manifest names (the tracks and the full routine) is decoded with the
bundled ffmpeg and compared with what the manifest says it holds:

- speech: every speech span is recognised by pocketsphinx (offline, the English model in
  its wheel) against a grammar made of the file's own sentences, and must be heard as the
  sentence the manifest places there. The same spans decoded without a grammar give the
  open-vocabulary word error rate, a figure of how clear the voice is (not a pass/fail);
- silences: every pause and hold is silent (or, under a background bed, well below the
  voice);
- loudness: integrated loudness and true peak as the settings asked;
- chapters: the full routine's ID3 chapters are the manifest's, to the millisecond.

Pure functions: `check_folder` returns a CheckReport, the CLI prints it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voiceguide.encode import decode
from voiceguide.errors import SettingsError
from voiceguide.library import shown_path
from voiceguide.loudness import measure
from voiceguide.manifest import MANIFEST, ChapterEntry, ItemEntry, Manifest, read_manifest

if TYPE_CHECKING:
    from pocketsphinx import Decoder

RATE = 16_000  # what pocketsphinx's bundled English model expects
MARGIN_MS = 150  # each speech span is cut this much wider on both sides
FRAME_MS = 10  # silence is judged in windows this long
SILENT_DBFS = -50.0  # every window of a pause or hold is below this (RMS)
EDGE_MS = 30  # ...except this much at each edge, where the lossy codec smears the sound
BED_BELOW_DB = 18.0  # under a background bed: a pause is this far below the voice
LOUDNESS_LU = 0.5  # integrated loudness within this of the target
LENGTH_MS = 20  # a file may be this much shorter or longer than the manifest says
CHECKED_SILENCES = ("pause", "hold")
ENGLISH_ONLY = "speech not checked: recognition is English only"


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (a script's file:line as the user sees it, else the audio
    file's name) and what."""

    where: str
    message: str

    def render(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class FileReport:
    """What was found in one audio file."""

    file: str
    sentences: int  # speech items checked (0 when speech was not checked)
    heard: int  # of those, heard as their own sentence
    words: int  # words of the expected texts (the WER's denominator)
    word_errors: int  # substitutions, deletions and insertions of open recognition
    silences: int  # pauses and holds checked
    silent: int  # of those, silent (or quiet enough under a bed)
    lufs: float
    true_peak: float
    loudness_ok: bool
    chapters_ok: bool | None  # None: the file has no chapters to check
    problems: tuple[Problem, ...]
    speech_checked: bool = True

    @property
    def wer(self) -> float | None:
        return self.word_errors / self.words if self.words else None


@dataclass(frozen=True)
class CheckReport:
    routine: str
    folder: Path
    speech_checked: bool
    files: tuple[FileReport, ...]
    routine_file: str = ""
    notes: tuple[str, ...] = ()

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def wer(self) -> float | None:
        """Over every file but the full routine (which repeats the tracks' words)."""
        files = [f for f in self.files if f.file != self.routine_file] or self.files
        words = sum(f.words for f in files)
        return sum(f.word_errors for f in files) / words if words else None


def read_built(folder: Path, build_hint: str) -> Manifest:
    """The manifest of a built routine; SettingsError (exit 3) when there is none."""
    manifest = read_manifest(folder)
    if manifest is None:
        state = "can't be read" if (folder / MANIFEST).exists() else "is missing"
        raise SettingsError(f"{shown_path(folder / MANIFEST)} {state}: the routine was never "
                            "built here", f"build it first: {build_hint}")
    return manifest


# --------------------------------------------------------------------------- text

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
         "ninety")


def number_words(n: int) -> str:
    """12 -> 'twelve', 45 -> 'forty five', 300 -> 'three hundred'; as said in English."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        return f"{number_words(thousands)} thousand" + (f" {number_words(rest)}"
                                                         if rest else "")
    return " ".join(_ONES[int(d)] for d in str(n))


def normalise(text: str) -> str:
    """Lower case words, digits as words, punctuation gone: 'Hold 10 more seconds.' ->
    'hold ten more seconds'."""
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m[0]))} ", text.lower())
    return " ".join(re.findall(r"[a-z']+", text.replace("-", " "))).replace(" '", " ")


def in_dictionary(sentence: str, decoder: Decoder) -> str:
    """The words the model's dictionary has. A few of the scripts' words are not in it
    (trapezius, masseter): a grammar naming them is refused, so they are left out of both
    the grammar and the expected sentence; the rest still tell the sentences apart."""
    return " ".join(w for w in sentence.split() if decoder.lookup_word(w) is not None)


def grammar(sentences: Iterable[str]) -> str:
    alternatives = " | ".join(f"( {s} )" for s in sorted(set(sentences)) if s)
    return f"#JSGF V1.0;\ngrammar script;\npublic <sentence> = {alternatives};\n"


# --------------------------------------------------------------------------- recognition


@dataclass
class Recognizers:
    """Two pocketsphinx decoders, made once per check (loading the model takes a second).

    The grammar decoder (lm=None) only picks among the file's sentences. bestpath=False:
    the second pass would rescore a lattice without the grammar's final state and can
    return a cut-off sentence. The beams are wider than the defaults because espeak's
    voice is far from the model's training speech (the defaults once pruned the right
    path of a long sentence). The open decoder uses the bundled language model."""

    grammar: Decoder
    open: Decoder

    @classmethod
    def load(cls) -> Recognizers:
        from pocketsphinx import Decoder

        return cls(Decoder(samprate=RATE, lm=None, bestpath=False, beam=1e-80, wbeam=1e-60,
                           pbeam=1e-80, loglevel="FATAL"),
                   Decoder(samprate=RATE, loglevel="FATAL"))


def _hypothesis(decoder: Decoder, pcm: bytes) -> str:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return " ".join(hyp.hypstr.split()) if hyp else ""


@dataclass(frozen=True)
class Heard:
    item: ItemEntry
    start_ms: int  # in the file
    end_ms: int
    expected: str  # normalised, dictionary words only
    heard: str  # the grammar sentence picked ("" for none)
    reference: str  # normalised, every word
    transcript: str  # open recognition


def recognise(samples: np.ndarray, spans: Sequence[tuple[ItemEntry, int]],
              recognizers: Recognizers, openly: bool = True) -> list[Heard]:
    """Each speech item (with its offset in the file) recognised at its span in 16 kHz
    mono samples, against the grammar of the spans' own sentences, and openly (without
    a grammar: twenty times slower) when `openly`."""
    references = [normalise(item.text or "") for item, _ in spans]
    expected = [in_dictionary(r, recognizers.grammar) for r in references]
    decoder = recognizers.grammar
    if any(expected):
        decoder.add_jsgf_string("script", grammar(expected))
        decoder.activate_search("script")
    per_ms = RATE // 1000
    found = []
    for (item, offset), reference, want in zip(spans, references, expected, strict=True):
        start, end = item.start_ms + offset, item.end_ms + offset
        cut = samples[max(0, start - MARGIN_MS) * per_ms:(end + MARGIN_MS) * per_ms]
        pcm = cut.tobytes()
        heard = _hypothesis(decoder, pcm) if want and cut.size else ""
        transcript = _hypothesis(recognizers.open, pcm) if openly and cut.size else ""
        found.append(Heard(item, start, end, want, heard, reference, transcript))
    return found


def word_errors(references: list[str], transcripts: list[str]) -> tuple[int, int]:
    """(errors, reference words) of transcripts against references, by jiwer."""
    pairs = [(r, t) for r, t in zip(references, transcripts, strict=True) if r]
    if not pairs:
        return 0, 0
    import jiwer

    out = jiwer.process_words([r for r, _ in pairs], [t for _, t in pairs])
    words = out.hits + out.substitutions + out.deletions
    return out.substitutions + out.deletions + out.insertions, words


# --------------------------------------------------------------------------- levels


def _windows_dbfs(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS of each whole FRAME_MS window, in dBFS."""
    size = rate * FRAME_MS // 1000
    count = samples.size // size
    if not count:
        return np.empty(0)
    frames = samples[:count * size].astype(np.float64).reshape(count, size) / 32768
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    return np.asarray(20 * np.log10(np.maximum(rms, 1e-9)))


def _span(samples: np.ndarray, rate: int, start_ms: int, end_ms: int) -> np.ndarray:
    return samples[start_ms * rate // 1000:end_ms * rate // 1000]


def _level_dbfs(samples: np.ndarray) -> float:
    if not samples.size:
        return -math.inf
    rms = float(np.sqrt(np.mean((samples.astype(np.float64) / 32768) ** 2)))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


# --------------------------------------------------------------------------- chapters


def read_chapters(path: Path) -> list[ChapterEntry] | None:
    """The ID3 chapters (CHAP frames) of an MP3 or WAV file in time order; None for a
    format without ID3 tags."""
    import mutagen
    from mutagen.id3 import ID3

    if path.suffix not in (".mp3", ".wav"):
        return None
    audio = mutagen.File(str(path))
    tags = getattr(audio, "tags", None)
    if not isinstance(tags, ID3):
        return []
    found = []
    for frame in tags.getall("CHAP"):
        titles = [str(t) for sub in frame.sub_frames.getall("TIT2") for t in sub.text]
        found.append(ChapterEntry(title=titles[0] if titles else "",
                                  start_ms=frame.start_time, end_ms=frame.end_time))
    return sorted(found, key=lambda c: (c.start_ms, c.end_ms))


# --------------------------------------------------------------------------- one file


def clock_ms(ms: int) -> str:
    """62345 -> '1:02.3'."""
    minutes, rest = divmod(max(ms, 0), 60_000)
    return f"{minutes}:{rest / 1000:04.1f}"


@dataclass(frozen=True)
class Where:
    """Turns an item's source ('techniques/neck.yaml:14') into a path as the user sees
    it, under the first scripts folder that has it (the clinic's own, then the bundled
    library)."""

    scripts: Sequence[Path]
    file: str

    def __call__(self, item: ItemEntry | None) -> str:
        if item is None or not item.source:
            return self.file
        name, _, line = item.source.rpartition(":")
        found = next((f / name for f in self.scripts if (f / name).is_file()), None)
        return f"{shown_path(found)}:{line}" if found else item.source


@dataclass
class _Found:
    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))


def check_file(path: Path, items: Sequence[tuple[ItemEntry, int]], duration_ms: int,
               manifest: Manifest, recognizers: Recognizers | None, where: Where,
               chapters: Sequence[ChapterEntry] | None = None, wer: bool = True
               ) -> FileReport:
    """Check one audio file against the manifest's items (each with its offset in this
    file). recognizers None: speech is not checked. chapters: the ones the file must
    have (None: none checked). wer: also measure the open-vocabulary word error rate."""
    settings = manifest.settings
    found = _Found()
    rate = manifest.routine.frame_rate
    clip = decode(path, rate)
    samples = np.frombuffer(clip.pcm, dtype="<i2")
    if abs(clip.ms - duration_ms) > LENGTH_MS:
        found.add(path.name, f"the file is {clock_ms(clip.ms)} long, the manifest says "
                  f"{clock_ms(duration_ms)} (cut short, or not the file that was built)")

    # speech
    speech = [(i, o) for i, o in items if i.kind == "speech"]
    heard_count = words = errors = 0
    if recognizers is not None and speech:
        pcm = np.frombuffer(decode(path, RATE).pcm, dtype="<i2")
        # each track's sentences against its own grammar, in the full routine too: one
        # grammar of every sentence of the routine confuses short ones ("And flex." was
        # heard as "And release." from another track)
        heard = [h for offset in dict.fromkeys(o for _, o in speech)
                 for h in recognise(pcm, [s for s in speech if s[1] == offset],
                                    recognizers, wer)]
        for h in heard:
            if h.heard == h.expected:
                heard_count += 1
                continue
            said = f"(heard: '{h.heard}')" if h.heard else "(heard nothing of the script)"
            found.add(where(h.item), f"the voice at {clock_ms(h.start_ms)}-"
                      f"{clock_ms(h.end_ms)} does not say '{h.item.text}' {said}")
        if wer:
            errors, words = word_errors([h.reference for h in heard],
                                        [h.transcript for h in heard])

    # silences
    silences = [(i, o) for i, o in items
                if i.kind == "silence" and i.reason in CHECKED_SILENCES]
    bed = settings.background is not None
    voice_db = _level_dbfs(np.concatenate(
        [_span(samples, rate, i.start_ms + o, i.end_ms + o) for i, o in speech]
        or [np.empty(0, dtype="<i2")])) if bed else -math.inf
    silent = 0
    for item, offset in silences:
        start, end = item.start_ms + offset, item.end_ms + offset
        inner = _span(samples, rate, start + EDGE_MS, end - EDGE_MS)
        if end > clip.ms + LENGTH_MS:
            problem = "is missing from the file"
        elif bed:
            level = _level_dbfs(inner)
            problem = "" if level <= voice_db - BED_BELOW_DB else (
                f"is only {voice_db - level:.0f} dB below the voice (at least "
                f"{BED_BELOW_DB:.0f} dB expected under a background)")
        else:
            loud = _windows_dbfs(inner, rate)
            worst = float(loud.max()) if loud.size else -math.inf
            problem = "" if worst < SILENT_DBFS else (
                f"is not silent (up to {worst:.0f} dBFS at "
                f"{clock_ms(start + EDGE_MS + int(np.argmax(loud)) * FRAME_MS)})")
        if problem:
            found.add(where(item), f"the {item.reason} at {clock_ms(start)}-{clock_ms(end)} "
                      + problem)
        else:
            silent += 1

    # loudness
    measured = measure(clip)
    loudness_ok = (math.isfinite(measured.lufs)
                   and abs(measured.lufs - settings.loudness) <= LOUDNESS_LU
                   and measured.true_peak_db < settings.true_peak)
    if not loudness_ok:
        found.add(path.name, f"loudness {measured.lufs:.1f} LUFS, true peak "
                  f"{measured.true_peak_db:.1f} dBTP (asked: {settings.loudness:g} LUFS "
                  f"within {LOUDNESS_LU} LU, true peak under {settings.true_peak:g} dBTP)")

    # chapters
    chapters_ok: bool | None = None
    if chapters is not None:
        tagged = read_chapters(path)
        if tagged is not None:
            expected = sorted(chapters, key=lambda c: (c.start_ms, c.end_ms))
            chapters_ok = tagged == expected
            if not chapters_ok:
                found.add(path.name, _chapter_difference(expected, tagged))

    return FileReport(path.name, len(speech) if recognizers else 0, heard_count, words,
                      errors, len(silences), silent, measured.lufs, measured.true_peak_db,
                      loudness_ok, chapters_ok, tuple(found.problems), recognizers is not None)


def _chapter_difference(expected: Sequence[ChapterEntry], tagged: Sequence[ChapterEntry]
                        ) -> str:
    if len(expected) != len(tagged):
        return f"the file has {len(tagged)} chapters, the manifest {len(expected)}"
    for want, got in zip(expected, tagged, strict=True):
        if want != got:
            return (f"chapter '{got.title}' {got.start_ms}-{got.end_ms} ms in the file, "
                    f"'{want.title}' {want.start_ms}-{want.end_ms} ms in the manifest")
    return "the chapters differ from the manifest's"  # pragma: no cover


# --------------------------------------------------------------------------- a folder


def english(language: str) -> bool:
    return language.lower().startswith("en")


def check_folder(folder: Path, scripts: Sequence[Path] = (), build_hint: str = "voiceguide "
                 "build", only: Sequence[str] = (), wer: bool = True,
                 done: Callable[[FileReport], Any] | None = None) -> CheckReport:
    """Check every audio file of the routine built into `folder` (or only the files named
    in `only`). `scripts`: the scripts folders, to name problems by file:line. wer: measure
    the open-vocabulary word error rate of the tracks (the full routine repeats their
    words: it is measured there only when it is the only file, a technique built alone).
    `done` is called with each file's report as soon as it is ready."""
    manifest = read_built(folder, build_hint)
    names = manifest.audio_files()
    unknown = [n for n in only if n not in names]
    if unknown:
        raise SettingsError(f"{', '.join(unknown)} is not a file of "
                            f"{manifest.routine.id}", f"choose among {', '.join(names)}")
    speech_checked = english(manifest.settings.language)
    recognizers = Recognizers.load() if speech_checked else None
    routine = manifest.routine
    whole = [(item, track.start_ms) for track in manifest.tracks for item in track.items]
    reports = []
    for name in names:
        if only and name not in only:
            continue
        path = folder / name
        if not path.is_file():
            report = FileReport(name, 0, 0, 0, 0, 0, 0, -math.inf, -math.inf, False, None,
                                (Problem(name, "the file is missing"),))
        elif name == routine.file:
            report = check_file(path, whole, routine.duration_ms, manifest, recognizers,
                                Where(scripts, name), routine.chapters,
                                wer and len(names) == 1)
        else:
            track = next(t for t in manifest.tracks if t.file == name)
            report = check_file(path, [(i, 0) for i in track.items], track.duration_ms,
                                manifest, recognizers, Where(scripts, name), wer=wer)
        reports.append(report)
        if done is not None:
            done(report)
    notes = () if speech_checked else (ENGLISH_ONLY,)
    return CheckReport(routine.id, folder, speech_checked, tuple(reports), routine.file,
                       notes)
