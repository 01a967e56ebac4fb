"""Client files as the studio's form edits them: the form's fields -> the YAML text of
`clients/<id>.yaml`, in the format the command line reads (and back); the estimated
length and the reachable range of a client's routine; when a client's audio is out of
date."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from voiceguide.build import (
    client_target,
    fit_pacing,
    overview_text,
    pacing_of,
    plan_target,
)
from voiceguide.errors import ScriptError, SettingsError
from voiceguide.library import CLINIC_FILE, LEXICON_FILE, load_client
from voiceguide.manifest import read_manifest
from voiceguide.model import Client, Hold, Library, Repeat, RoutinePlan, Sides, Technique, walk
from voiceguide.plan import estimate_ms
from voiceguide.settings import LIMITS, resolve


class ChosenTechnique(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    repeats: int | None = None  # every repeated block, this many times
    hold: float | None = None  # seconds, every hold
    sides: str = "both"


class ClientForm(BaseModel):
    """What the page sends: every field as typed, empty ones None or ""."""

    model_config = ConfigDict(extra="forbid")

    id: str = ""
    name: str = ""
    say_name: str = ""
    title: str = ""
    note: str = ""
    techniques: list[ChosenTechnique] = Field(default_factory=list)
    voice: str = ""  # "engine:voice"; "" for the clinic's
    rate: int | None = None
    pace: float | None = None
    minutes: float | None = None
    cues: str = ""
    background: str = ""

    def to_yaml(self) -> str:
        """The client file, as the README describes it; what is left empty is left out,
        so the clinic profile's and the defaults apply as they do on the command line."""
        data = CommentedMap()
        data["id"] = self.id.strip()
        data["name"] = self.name.strip()
        for key in ("say_name", "title"):
            if getattr(self, key).strip():
                data[key] = getattr(self, key).strip()
        chosen = CommentedSeq(t.id for t in self.techniques)
        chosen.fa.set_flow_style()
        data["techniques"] = chosen
        if self.note.strip():
            data["note"] = " ".join(self.note.split())
        if self.voice:
            engine, _, voice = self.voice.partition(":")
            data["engine"], data["voice"] = engine, voice
        for key in ("rate", "pace", "minutes"):
            value = getattr(self, key)
            if value is not None:
                data[key] = int(value) if value == int(value) else value  # 10, not 10.0
        for key in ("cues", "background"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        overrides = CommentedMap()
        for t in self.techniques:
            override = CommentedMap()
            if t.hold is not None:
                override["hold"] = f"{t.hold:g}s"
            if t.repeats is not None:
                override["repeats"] = t.repeats
            if t.sides != "both":
                override["sides"] = t.sides
            if override:
                overrides[t.id] = override
        if overrides:
            data["overrides"] = overrides
        data.yaml_set_start_comment(
            f"A personal routine, made in voiceguide studio: voiceguide build --client "
            f"clients/{self.id.strip()}.yaml builds it too.")
        text = io.StringIO()
        yaml = YAML()  # round-trip dumper: plain data only, no Python tags
        yaml.width = 100
        yaml.dump(data, text)
        return text.getvalue()

    @classmethod
    def of(cls, client: Client) -> ClientForm:
        overrides = dict(client.overrides)
        chosen = []
        for tid in client.techniques:
            o = overrides.get(tid)
            chosen.append(ChosenTechnique(
                id=tid, repeats=o.repeats if o else None,
                hold=o.hold_ms / 1000 if o and o.hold_ms else None,
                sides=(o.side or "both") if o else "both"))
        return cls(id=client.id, name=client.name, say_name=client.say_name,
                   title=client.title, note=client.note, techniques=chosen,
                   voice=f"{client.engine}:{client.voice}" if client.engine and client.voice
                   else "", rate=client.rate, pace=client.pace, minutes=client.minutes,
                   cues=client.cues or "", background=client.background or "")


def read_form(text: str, library: Library, shown: str) -> Client:
    """The client a client file's text describes, checked as `build --client` checks
    it (ScriptError naming `shown` and the line of every problem)."""
    with tempfile.TemporaryDirectory(prefix="voiceguide-studio-") as folder:
        path = Path(folder) / "client.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            client = load_client(path, library)
        except ScriptError as exc:
            raise ScriptError([replace(p, file=shown) for p in exc.problems]) from None
    return replace(client, file=shown)


@dataclass(frozen=True)
class Estimate:
    total_ms: int  # as it would be built (fitted to `minutes` when that is set)
    shortest_ms: int  # fewest repeats, pauses halved
    longest_ms: int  # most repeats, pauses doubled
    problem: str = ""  # why `minutes` can't be reached


def estimate(library: Library, client: Client) -> Estimate:
    """The routine's length at the voice's estimated pace, without synthesizing, as
    `show` estimates it; the range `minutes` may ask for."""
    target = client_target(library, client)
    settings = resolve(client=client, clinic=library.clinic)
    rate = settings.rate

    def length(plan: RoutinePlan) -> int:
        return sum(estimate_ms(t, rate) for t in plan.tracks)

    pacing = pacing_of(settings)
    pace = LIMITS["pace"]
    shortest = length(plan_target(target, library, replace(pacing, repeat_level=0,
                                                           pace=pace.low)))
    longest = length(plan_target(target, library, replace(pacing, repeat_level=1,
                                                          pace=pace.high)))
    problem = ""
    if settings.minutes is not None:
        try:
            pacing = fit_pacing(target, library, pacing, settings.minutes, length)
        except SettingsError as exc:
            problem = exc.render()
    first = length(plan_target(target, library, pacing))
    total = length(plan_target(target, library, pacing, overview_text(target, first)))
    return Estimate(total, shortest, longest, problem)


@dataclass(frozen=True)
class Adjustable:
    """What a technique lets a client's file change, for the form."""

    id: str
    title: str
    hold_s: float | None  # its first hold's length; None: no hold to change
    repeats: int | None  # its first repeat's count; None: nothing repeated
    sides: bool


def adjustable(technique: Technique) -> Adjustable:
    steps = list(walk(technique.steps))
    holds = [s.ms / 1000 for s in steps if isinstance(s, Hold)]
    repeats = [s.times for s in steps if isinstance(s, Repeat)]
    return Adjustable(technique.id, technique.title, holds[0] if holds else None,
                      repeats[0] if repeats else None,
                      any(isinstance(s, Sides) for s in steps))


def out_of_date(client: Client, client_file: Path, library: Library, folder: Path,
                checked: float = 0) -> bool | None:
    """None when never built; else whether anything the audio is made of (the client
    file, its techniques, the clinic profile, the lexicon) changed after its last build.
    Judged by the files' times: a build that finds nothing changed writes nothing, so a
    Rebuild of a routine shown out of date by a touched file costs a second."""
    manifest_path = folder / "manifest.json"
    if read_manifest(folder) is None:
        return None
    built = max(manifest_path.stat().st_mtime, checked)
    root = Path(library.root)
    target = client_target(library, client)
    sources = [client_file, root / CLINIC_FILE, root / LEXICON_FILE,
               *(Path(library.techniques[t].file) for t in target.routine.track_ids())]
    return any(p.is_file() and p.stat().st_mtime > built for p in sources)
