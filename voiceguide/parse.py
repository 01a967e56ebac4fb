"""Script files -> model. Every problem carries its file, line and column, and all the
problems of a file are reported together.

YAML is read with ruamel.yaml (it keeps the line and column of every node) and checked
with pydantic (the schema below). pydantic's errors come back as paths such as
`('steps', 3, 'hold', 'for')`; `_Positions` turns a path into the place in the file, and
`_explain` turns an error into words a therapist understands.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from voiceguide.errors import Problem, ScriptError
from voiceguide.messages import DEFAULT_RELEASE, DEFAULT_SWITCH
from voiceguide.model import (
    ROUTINE_WORDS,
    Chime,
    Client,
    Clinic,
    ClinicWords,
    Hold,
    Override,
    Pause,
    Repeat,
    Routine,
    Say,
    Sides,
    Source,
    Step,
    Technique,
)
from voiceguide.settings import LIMITS, MIN_COUNTDOWN_S
from voiceguide.text import (
    did_you_mean,
    language_problem,
    normal_language,
    spoken_problem,
    unknown,
)

MAX_SILENCE_MS = 10 * 60 * 1000  # a pause or hold over 10 minutes is a typo, not a plan
MAX_REPEATS = 20
MIN_COUNTDOWN_MS = MIN_COUNTDOWN_S * 1000
SIDE_NAMES = ("right", "left")

Loc = tuple[str | int, ...]

# --------------------------------------------------------------------------- values


def _fail(message: str) -> PydanticCustomError:
    # One error type for every message written here, so _explain passes it through as is.
    return PydanticCustomError("voiceguide", message)


_DURATION = re.compile(r"^(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+(?:\.\d+)?)\s*s)?$")
_UNIT = re.compile(r"[a-zA-Z]+")


def parse_duration(value: object) -> int:
    """`5s`, `1m`, `1m30s`, `2.5s` -> milliseconds, for pauses and holds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail("is not a duration: write it like 5s, 1m or 1m30s")
    if isinstance(value, int | float):
        raise _fail(f"add a unit: write {value}s for {value} seconds (or {value}m for minutes)")
    text = value.strip().lower()
    if text.startswith("-"):
        raise _fail(f"a duration can't be negative ('{value}'); write e.g. 5s")
    match = _DURATION.match(text)
    if not match or not text:
        units = [u for u in _UNIT.findall(text) if u not in ("m", "s")]
        if units:
            raise _fail(f"unknown duration unit '{units[0]}' (use s, m, or 1m30s)")
        raise _fail(f"'{value}' is not a duration: write it like 5s, 1m or 1m30s")
    ms = int(match["m"] or 0) * 60_000 + round(float(match["s"] or 0) * 1000)
    if ms <= 0:
        raise _fail("a duration must be longer than zero (e.g. 5s); to skip it, remove the step")
    if ms > MAX_SILENCE_MS:
        raise _fail(f"'{value}' is too long: at most 10m (check for a typo, or split it)")
    return ms


def check_text(value: object, language: str | None = None) -> str:
    """Text: non-empty, no markup (a summary may be shown and read out by a player), and
    with a language, for text the voice says, letters its voice can read (see
    voiceguide.text.spoken_problem)."""
    if value is None:
        raise _fail("is empty: write the text, or remove the line")
    if not isinstance(value, str):
        raise _fail("must be text (put it in quotes if it starts with a number or symbol)")
    text = " ".join(value.split())
    problem = spoken_problem(text, language)
    if problem:
        raise _fail(problem)
    return text


def _language(info: ValidationInfo) -> str | None:
    """The narration's language, given to the schema as validation context."""
    context = info.context if isinstance(info.context, dict) else {}
    language = context.get("language")
    return language if isinstance(language, str) else None


def _spoken(value: object, info: ValidationInfo) -> str:
    return check_text(value, _language(info))


def _optional_spoken(value: object, info: ValidationInfo) -> str:
    """Spoken text that may be left out (a contact line, a note): '' or spoken text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    return check_text(value, _language(info))


_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_id(value: object) -> str:
    """Ids name output files, so they must be safe as a file name on every system."""
    if not isinstance(value, str) or not value.strip():
        raise _fail("is empty: give a short name such as neck or back-tennis-ball")
    if not _ID.match(value) or len(value) > 60:
        raise _fail(f"can only use lowercase letters, digits and single dashes, e.g. "
                    f"neck-stretch ('{value}' would not be a safe file name)")
    return value


Text = Annotated[str, BeforeValidator(_spoken)]  # said by the voice
OptionalText = Annotated[str, BeforeValidator(_optional_spoken)]
Shown = Annotated[str, BeforeValidator(check_text)]  # written, not said: any letters
Duration = Annotated[int, BeforeValidator(parse_duration)]
Id = Annotated[str, BeforeValidator(check_id)]
def check_side_name(value: object) -> str:
    """A side as the voice will say it ("your {side} hand"): a misspelt right or left is
    caught here; other names are allowed when a script gives both sides."""
    if not isinstance(value, str) or not value.strip():
        raise _fail("must name a side, e.g. right or left")
    side = value.strip().lower()
    if side not in SIDE_NAMES:
        guess = did_you_mean(side, SIDE_NAMES)
        if guess:
            raise _fail(f"'{value}' is not a side the voice can say ({guess})")
    return side


Side = Annotated[str, BeforeValidator(check_side_name)]

# --------------------------------------------------------------------------- schema


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SayStep(_Schema):
    say: Text


class PauseStep(_Schema):
    pause: Duration


class ChimeStep(_Schema):
    chime: None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_word(cls, data: object) -> object:
        return {} if data == "chime" else data


def countdown_sayable(ms: int) -> bool:
    """Whether a countdown of `ms` can be said: whole seconds, at least 3 (0 is none)."""
    return ms == 0 or (ms % 1000 == 0 and ms >= MIN_COUNTDOWN_MS)


def parse_countdown(value: object) -> int:
    """`countdown: 10s` (say "10 more seconds" when 10 s remain) or `countdown: off`."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return 0
    ms = parse_duration(value)
    if not ms or not countdown_sayable(ms):
        raise _fail("a countdown is said in whole seconds, at least 3 (e.g. 10s), or off")
    return ms


Countdown = Annotated[int, BeforeValidator(parse_countdown)]


class HoldSpec(_Schema):
    say: Text
    for_: Duration = Field(alias="for")
    release: Text = DEFAULT_RELEASE
    countdown: Countdown | None = None

    @model_validator(mode="after")
    def _countdown_inside(self) -> HoldSpec:
        if self.countdown and self.countdown >= self.for_:
            raise _fail("'countdown' must be shorter than the hold (e.g. 10s for a 30s "
                        "hold), or off")
        return self


class HoldStep(_Schema):
    hold: HoldSpec


class RepeatSpec(_Schema):
    times: int = Field(ge=1, le=MAX_REPEATS)
    least: int | None = Field(None, alias="min", ge=1, le=MAX_REPEATS)
    most: int | None = Field(None, alias="max", ge=1, le=MAX_REPEATS)
    steps: list[StepSchema] = Field(min_length=1)

    @model_validator(mode="after")
    def _times_within_bounds(self) -> RepeatSpec:
        if not (self.least or self.times) <= self.times <= (self.most or self.times):
            raise _fail("'times' must lie between 'min' and 'max' (e.g. min: 2, times: 3, "
                        "max: 5)")
        return self


class RepeatStep(_Schema):
    repeat: RepeatSpec


class SidesSpec(_Schema):
    first: Side = "right"
    second: Side | None = None
    switch: Text = DEFAULT_SWITCH
    steps: list[StepSchema] = Field(min_length=1)

    @model_validator(mode="after")
    def _two_different_sides(self) -> SidesSpec:
        if self.second is None and self.first not in SIDE_NAMES:
            raise _fail(f"'first' is '{self.first}': the other side is known only for "
                        "right and left (write right or left, or give 'second' too)")
        if self.first == (self.second or _other_side(self.first)):
            raise _fail("'first' and 'second' must name two different sides")
        return self

    def sides(self) -> tuple[str, str]:
        return self.first, self.second or _other_side(self.first)


class SidesStep(_Schema):
    sides: SidesSpec


def _other_side(side: str) -> str:
    if side in SIDE_NAMES:
        return SIDE_NAMES[1 - SIDE_NAMES.index(side)]
    return "other"


# Each step kind and its schema, in the order messages list them.
_STEP_MODELS: dict[str, type[BaseModel]] = {
    "say": SayStep, "pause": PauseStep, "hold": HoldStep,
    "repeat": RepeatStep, "sides": SidesStep, "chime": ChimeStep,
}
STEP_KINDS = tuple(_STEP_MODELS)


def _step_kind(value: Any) -> str | None:
    if value == "chime":
        return "chime"
    if isinstance(value, dict):
        kinds = [k for k in STEP_KINDS if k in value]
        if len(kinds) == 1:
            return kinds[0]
    return None  # explained by _explain_step_kind, which sees the input


StepSchema = Annotated[
    Annotated[SayStep, Tag("say")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[HoldStep, Tag("hold")]
    | Annotated[RepeatStep, Tag("repeat")]
    | Annotated[SidesStep, Tag("sides")]
    | Annotated[ChimeStep, Tag("chime")],
    Discriminator(_step_kind, custom_error_type="step_kind", custom_error_message="bad step"),
]
RepeatSpec.model_rebuild()
SidesSpec.model_rebuild()


def check_language(value: object) -> str:
    if not isinstance(value, str):
        raise _fail("must be a language code such as en or en-US")
    problem = language_problem(value)
    if problem:
        raise _fail(problem)
    return value.strip()


Language = Annotated[str, BeforeValidator(check_language)]


class TechniqueSchema(_Schema):
    id: Id
    title: Text
    summary: Shown
    language: Language | None = None
    equipment: list[Text] = []
    steps: list[StepSchema] = Field(min_length=1)


class RoutineSchema(_Schema):
    id: Id
    title: Shown
    summary: Shown
    language: Language | None = None
    default: bool = False
    intro: Id | None = None
    techniques: list[Id] = Field(min_length=1)
    outro: Id | None = None


class TranslationSchema(_Schema):
    """The clinic's lines and framing techniques for routines in one language."""

    contact: OptionalText | None = None
    safety: OptionalText | None = None
    intro: Id | None = None
    outro: Id | None = None


class ClinicSchema(_Schema):
    name: Shown
    website: str = ""
    contact: OptionalText = ""
    cover: str | None = None
    language: Language | None = None
    safety: OptionalText = ""
    intro: Id | None = None
    outro: Id | None = None
    engine: str | None = None
    voice: str | None = None
    rate: Rate | None = None
    share_url: str = ""  # where the studio's shares go: <share_url><client-id>/
    bundled: bool = True  # False: the clinic's scripts folder is the whole library
    translations: dict[Language, TranslationSchema] = {}


def check_side(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in (*SIDE_NAMES, "both"):
        raise _fail("must be right, left or both")
    return value.strip().lower()


class OverrideSchema(_Schema):
    repeats: int | None = Field(None, ge=1, le=MAX_REPEATS)
    hold: Duration | None = None
    sides: Annotated[str, BeforeValidator(check_side)] = "both"


def _within(name: str, whole: bool = False) -> BeforeValidator:
    """A numeric setting checked against its LIMITS entry."""

    def check(value: object) -> object:
        problem = LIMITS[name].problem(value)
        if problem is None and whole and not isinstance(value, int):
            problem = f"must be a whole number of {LIMITS[name].unit}"
        if problem:
            raise _fail(problem)
        return value

    return BeforeValidator(check)


Rate = Annotated[int, _within("rate", whole=True)]
Pace = Annotated[float, _within("pace")]
Minutes = Annotated[float, _within("minutes")]


def _check_cues(value: object) -> str:
    from voiceguide.sounds import cue_style_problem  # numpy: only when a file sets it

    problem = cue_style_problem(value) if isinstance(value, str) else "must be a name"
    if problem:
        raise _fail(problem)
    return str(value)


def _check_bed(value: object) -> str:
    from voiceguide.background import BEDS  # numpy: only when a file sets it

    if value not in BEDS:
        raise _fail(f"must be one of {', '.join(BEDS)} (a music file can only be given when "
                    "building, not in a client file)")
    return str(value)


class ClientSchema(_Schema):
    id: Id
    name: Text
    say_name: OptionalText = ""
    title: str = ""
    techniques: list[Id] = Field(min_length=1)
    note: OptionalText = ""
    overrides: dict[str, OverrideSchema] = {}
    engine: str | None = None
    voice: str | None = None
    rate: Rate | None = None
    pace: Pace | None = None
    minutes: Minutes | None = None
    language: Language | None = None
    cues: Annotated[str, BeforeValidator(_check_cues)] | None = None
    background: Annotated[str, BeforeValidator(_check_bed)] | None = None


# How to fix a missing field, in the therapist's words.
_EXAMPLES: dict[str, str] = {
    "id": "id: neck",
    "title": "title: Relieve Tension in the Neck",
    "summary": "summary: One sentence about what this does.",
    "steps": "steps: followed by a list of '- say: ...' lines",
    "say": "say: what the voice says",
    "for": "for: 30s",
    "times": "times: 3",
    "techniques": "techniques: [neck, back]",
    "name": "name: Maria",
}

# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Document:
    file: str  # as shown to the user
    lines: list[str]
    data: Any  # ruamel round-trip nodes: they remember their line and column


def _read(path: Path, shown: str) -> _Document:
    """Read and load one YAML file; raise ScriptError with every problem found."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScriptError([Problem(shown, 0, 0, f"can't be read ({exc.strerror})")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    if (not text and raw) or "\x00" in text:
        raise ScriptError([Problem(shown, 0, 0, "is not a text file (save it as plain "
                                   "UTF-8 text, e.g. from a text editor)")])
    lines = text.splitlines()
    tabs = [
        Problem(shown, n, len(line) - len(line.lstrip(" \t")), "a tab is used for indentation; "
                "YAML needs spaces (replace each tab with two spaces)", line)
        for n, line in enumerate(lines, 1)
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))]
    ]
    if tabs:
        raise ScriptError(tabs)
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = (exc.problem or "malformed YAML").strip()
        message = _explain_yaml(problem)
        shown_line = lines[line - 1] if 0 < line <= len(lines) else ""
        raise ScriptError([Problem(shown, line, col, message, shown_line)]) from None
    except YAMLError as exc:
        raise ScriptError([Problem(shown, 0, 0, f"malformed YAML: {exc}")]) from None
    if not isinstance(data, CommentedMap):
        raise ScriptError([Problem(shown, 1 if lines else 0, 1, "should be a list of fields "
                                   "such as 'id: neck' and 'title: ...' (see the README)")])
    return _Document(shown, lines, data)


def _explain_yaml(problem: str) -> str:
    if "found duplicate key" in problem:
        key = re.search(r'key "?([^"]*)"?', problem)
        name = key.group(1) if key else "a field"
        return f"'{name}' appears twice here (keep one)"
    if "mapping values are not allowed" in problem:
        return ("malformed YAML: a ':' where a new field can't start (put the text in "
                "quotes if it contains ': ', or check the indentation)")
    if "could not find expected ':'" in problem:
        return "malformed YAML: a field is missing its ':' (write e.g. 'say: text')"
    if "expected <block end>" in problem or "did not find expected" in problem:
        return ("malformed YAML: the indentation doesn't line up (indent each level with "
                "two spaces, and start every step with '- ')")
    return f"malformed YAML: {problem} (check the indentation and quotes on this line)"


class _Positions:
    """Finds where a pydantic error path points in the loaded YAML."""

    def __init__(self, doc: _Document) -> None:
        self.doc = doc

    def find(self, loc: Loc, at_value: bool = False) -> tuple[int, int]:
        """1-based line and column of the key a path names (or of its value)."""
        node: Any = self.doc.data
        line, col = 0, 0
        path = list(_strip_tags(loc))
        for i, key in enumerate(path):
            if isinstance(node, CommentedMap) and key in node:
                last = i == len(path) - 1
                # ruamel places an empty value at the next token: point at its key instead
                by_key = (last and not at_value) or node[key] is None
                line, col = node.lc.key(key) if by_key else node.lc.value(key)
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line, col = node.lc.item(key)
                node = node[key]
            else:
                break  # a missing field: point at the mapping that lacks it
        return line + 1, col + 1

    def problem(self, loc: Loc, message: str, at_value: bool = False) -> Problem:
        line, col = self.find(loc, at_value)
        lines = self.doc.lines
        return Problem(self.doc.file, line, col, message,
                       lines[line - 1] if 0 < line <= len(lines) else "")


def _strip_tags(loc: Loc) -> Iterator[str | int]:
    """pydantic puts the union tag after each step's index: ('steps', 2, 'hold', 'hold')."""
    skip = False
    for i, part in enumerate(loc):
        if skip:
            skip = False
            continue
        yield part
        if isinstance(part, int) and i > 0 and loc[i - 1] == "steps":
            skip = True


def _field_name(loc: Loc) -> str:
    names = [p for p in _strip_tags(loc) if isinstance(p, str)]
    return names[-1] if names else ""  # pydantic reports fields by alias ('for')


def _allowed_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _schema_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The schema class that the mapping holding loc[-1] was checked against."""
    model: type[BaseModel] | None = root
    parts = list(loc[:-1])
    i = 0
    while i < len(parts) and model is not None:
        part = parts[i]
        if isinstance(part, int):  # a step: the union's tag follows its index
            model = _STEP_MODELS.get(str(parts[i + 1])) if i + 1 < len(parts) else None
            i += 2
            continue
        if part != "steps":  # a list of steps keeps the model until the index
            field = model.model_fields.get(str(part))
            annotation = field.annotation if field else None
            model = annotation if isinstance(annotation, type) and issubclass(
                annotation, BaseModel) else None
        i += 1
    return model



def _explain(error: Any, root: type[BaseModel]) -> str:
    kind = error["type"]
    loc: Loc = tuple(error["loc"])
    field = _field_name(loc)
    if kind == "voiceguide":
        return _with_field(field, error["msg"])
    if kind == "step_kind":
        return _explain_step_kind(error["input"])
    if kind == "missing":
        example = _EXAMPLES.get(field, f"{field}: ...")
        return f"missing required field '{field}' (add a line '{example}')"
    if kind == "extra_forbidden":
        parent = _schema_at(root, loc)
        allowed = _allowed_fields(parent) if parent else []
        return unknown(str(loc[-1]), allowed, "field")
    if kind in ("too_short",) and field == "steps":
        return "'steps' is empty: add at least one step, e.g. '- say: ...'"
    if kind in ("too_short",):
        return f"'{field}' is empty: add at least one entry"
    if kind in ("greater_than_equal", "less_than_equal", "int_parsing", "int_type",
                "int_from_float"):
        return f"'{field}' must be a whole number from 1 to {MAX_REPEATS}"
    if kind in ("list_type",):
        return f"'{field}' must be a list: one '- ' line per entry, or [a, b]"
    if kind in ("bool_type", "bool_parsing"):
        return f"'{field}' must be true or false"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"'{field}' must hold fields on the lines below it, indented by two spaces"
    if kind in ("none_required",):
        return "'chime' takes no value: write just '- chime'"
    return f"'{field}': {error['msg']}"


def _with_field(field: str, message: str) -> str:
    """"'pause': unknown duration unit ..." or "'title' is empty ..." ."""
    if not field:
        return message
    verb = message.startswith(("is ", "contains ", "can ", "must ", "uses ", "has "))
    return f"'{field}' {message}" if verb else f"'{field}': {message}"


def _explain_step_kind(value: Any) -> str:
    kinds = ", ".join(STEP_KINDS)
    if isinstance(value, dict):
        present = [k for k in STEP_KINDS if k in value]
        if len(present) > 1:
            return (f"one step holds both '{present[0]}' and '{present[1]}': start each "
                    "step on its own line with '- '")
        key = str(next(iter(value), ""))
        return unknown(key, list(STEP_KINDS), "step")
    if isinstance(value, str):
        return unknown(value, list(STEP_KINDS), "step") + " (write e.g. '- say: ...')"
    return f"a step must be one of: {kinds} (write e.g. '- say: ...')"


M = TypeVar("M", bound=BaseModel)


def _validate(doc: _Document, schema: type[M], language: str | None = None) -> M:
    positions = _Positions(doc)
    try:
        return schema.model_validate(doc.data, context={"language": language})
    except ValidationError as exc:
        errors = _without_misspelt_missing(exc.errors())
        problems = [positions.problem(tuple(e["loc"]), _explain(e, schema),
                                      at_value=e["type"] not in ("missing", "extra_forbidden"))
                    for e in errors]
        raise ScriptError(_unique(problems)) from None


def _without_misspelt_missing(errors: list[Any]) -> list[Any]:
    """'titel' is both an unknown field and a missing 'title': say it once, as a typo."""
    extra = {(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors
             if e["type"] == "extra_forbidden"}

    def misspelt(e: Any) -> bool:
        parent, name = tuple(e["loc"][:-1]), _field_name(tuple(e["loc"]))
        return any(p == parent and difflib.get_close_matches(name, [k], cutoff=0.6)
                   for p, k in extra)

    return [e for e in errors if not (e["type"] == "missing" and misspelt(e))]


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[int, int, str], Problem] = {}
    for p in problems:
        seen.setdefault((p.line, p.column, p.message), p)
    return list(seen.values())


# --------------------------------------------------------------------------- to the model


_SIDE_WORDS = ("side", "other_side")
_PLACEHOLDERS = ("{side}", "{other_side}", *(f"{{{name}}}" for name in ROUTINE_WORDS))


def _placeholder_problem(text: str, in_sides: bool) -> str | None:
    if "{{" in text or "}}" in text:
        return ("has doubled braces: the voice would read them (placeholders are written "
                "like {side} or {equipment})")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError:
        return ("has an unmatched '{' or '}' (placeholders are written like {side} or "
                "{equipment}; remove stray braces)")
    for name in names:
        if name in ROUTINE_WORDS:
            continue
        if name not in _SIDE_WORDS:
            return unknown("{" + name + "}", _PLACEHOLDERS, "placeholder")
        if not in_sides:
            return (f"uses {{{name}}} outside a 'sides' block (only steps inside "
                    "'sides:' know which side is meant)")
    return None


class _Converter:
    """Checked schema + YAML nodes -> model steps with their source positions."""

    def __init__(self, doc: _Document) -> None:
        self.doc = doc
        self.positions = _Positions(doc)
        self.problems: list[Problem] = []

    def source(self, seq: CommentedSeq, index: int) -> Source:
        line, col = seq.lc.item(index)
        return Source(self.doc.file, line + 1, col + 1)

    def text(self, value: str, loc: Loc, in_sides: bool) -> str:
        problem = _placeholder_problem(value, in_sides)
        if problem:
            field = _field_name(loc)
            self.problems.append(self.positions.problem(loc, _with_field(field, problem),
                                                        at_value=True))
        return value

    def steps(self, specs: Sequence[Any], nodes: CommentedSeq, loc: Loc,
              in_sides: bool) -> tuple[Step, ...]:
        out: list[Step] = []
        for i, spec in enumerate(specs):
            src = self.source(nodes, i)
            at: Loc = (*loc, "steps", i)
            node = nodes[i]
            if isinstance(spec, SayStep):
                out.append(Say(self.text(spec.say, (*at, "say", "say"), in_sides), src))
            elif isinstance(spec, PauseStep):
                out.append(Pause(spec.pause, src))
            elif isinstance(spec, ChimeStep):
                out.append(Chime(src))
            elif isinstance(spec, HoldStep):
                h = spec.hold
                hat: Loc = (*at, "hold", "hold")
                out.append(Hold(self.text(h.say, (*hat, "say"), in_sides), h.for_,
                                self.text(h.release, (*hat, "release"), in_sides), src,
                                h.countdown))
            elif isinstance(spec, RepeatStep):
                inner = self.steps(spec.repeat.steps, node["repeat"]["steps"],
                                   (*at, "repeat", "repeat"), in_sides)
                r = spec.repeat
                out.append(Repeat(r.times, inner, src, r.least or 0, r.most or 0))
            elif isinstance(spec, SidesStep):
                sat: Loc = (*at, "sides", "sides")
                first, second = spec.sides.sides()
                inner = self.steps(spec.sides.steps, node["sides"]["steps"], sat, True)
                switch = self.text(spec.sides.switch, (*sat, "switch"), True)
                out.append(Sides(first, second, switch, inner, src))
        return tuple(out)


def kind_of(path: Path, data: Any) -> str:
    """'technique', 'routine' or 'client': by the folder a script is in, else by its
    fields (a client file has a name; a routine a title; a technique steps)."""
    folder = path.parent.name
    if folder in ("techniques", "routines"):
        return folder[:-1]
    if isinstance(data, dict) and "steps" not in data and "techniques" in data:
        return "client" if "name" in data and "summary" not in data else "routine"
    return "technique"


def file_kind(path: Path) -> str:
    """kind_of for a file on disk ('technique' when it can't be read: its own parse
    reports why)."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return "technique"
    return kind_of(path, data)


def parse_file(path: Path, shown: str | None = None, language: str | None = None
               ) -> Technique | Routine:
    """Read one technique or routine file (told apart by its folder, else by its fields)."""
    doc = _read(path, shown or str(path))
    if kind_of(path, doc.data) == "routine":
        return _routine(doc)
    return _technique(doc, language)


def parse_technique(path: Path, shown: str | None = None, language: str | None = None
                    ) -> Technique:
    """A technique; with `language`, its spoken text must be in that language's letters."""
    return _technique(_read(path, shown or str(path)), language)


def parse_routine(path: Path, shown: str | None = None) -> Routine:
    return _routine(_read(path, shown or str(path)))


def _technique(doc: _Document, language: str | None = None) -> Technique:
    schema = _validate(doc, TechniqueSchema, _language_of(doc, language))
    convert = _Converter(doc)
    steps = convert.steps(schema.steps, doc.data["steps"], (), in_sides=False)
    if convert.problems:
        raise ScriptError(convert.problems)
    return Technique(id=schema.id, title=schema.title, summary=schema.summary, steps=steps,
                     equipment=tuple(schema.equipment), file=doc.file,
                     source=_at(doc, ("id",)), language=schema.language)


def _routine(doc: _Document) -> Routine:
    schema = _validate(doc, RoutineSchema)
    refs: list[Loc] = [("intro",)] if schema.intro else []
    refs += [("techniques", i) for i in range(len(schema.techniques))]
    refs += [("outro",)] if schema.outro else []
    return Routine(id=schema.id, title=schema.title, summary=schema.summary,
                   techniques=tuple(schema.techniques), intro=schema.intro,
                   outro=schema.outro, default=schema.default, file=doc.file,
                   source=_at(doc, ("id",)), track_sources=tuple(_at(doc, r) for r in refs),
                   language=schema.language)


def _at(doc: _Document, loc: Loc) -> Source:
    line, col = _Positions(doc).find(loc, at_value=True)
    return Source(doc.file, line, col)


def _language_of(doc: _Document, default: str | None = "en") -> str | None:
    """A file's own language, for checking its spoken lines: `default` when it names
    none, None when it is not a language code (its own check reports that)."""
    value = doc.data.get("language", default)
    return value if isinstance(value, str) and not language_problem(value) else None


def parse_clinic(path: Path, shown: str | None = None) -> Clinic:
    """The clinic profile. A cover image is checked here, so a missing or unreadable one
    stops the build before anything is written."""
    from voiceguide.parsed import check_cover  # parsed imports this module on a miss

    return check_cover(read_clinic(path, shown), path)


def read_clinic(path: Path, shown: str | None = None) -> Clinic:
    """The clinic profile as written: its cover is the file name it gives, unchecked."""
    doc = _read(path, shown or str(path))
    schema = _validate(doc, ClinicSchema, _language_of(doc))
    return Clinic(name=schema.name, website=schema.website.strip(), contact=schema.contact,
                  cover=schema.cover or None, language=schema.language,
                  safety=schema.safety, intro=schema.intro, outro=schema.outro,
                  engine=schema.engine, voice=schema.voice, rate=schema.rate, file=doc.file,
                  share_url=schema.share_url.strip(), bundled=schema.bundled,
                  translations=tuple((normal_language(code), ClinicWords(**words.model_dump()))
                                     for code, words in schema.translations.items()))


def problem_at(path: Path, shown: str, loc: Loc, message: str) -> Problem:
    """A problem at the value of a field of a file that parsed (e.g. a cover image
    that can't be read), with its line."""
    return _Positions(_read(path, shown)).problem(loc, message, at_value=True)


def parse_client(path: Path, shown: str | None = None, language: str | None = None
                 ) -> Client:
    """A client's personal routine. Whether its techniques exist is checked against the
    library (library.load_client), which knows them."""
    doc = _read(path, shown or str(path))
    schema = _validate(doc, ClientSchema, _language_of(doc, language))
    positions = _Positions(doc)
    overrides = tuple((tid, Override(o.repeats, o.hold,
                                     None if o.sides == "both" else o.sides))
                      for tid, o in schema.overrides.items())
    return Client(
        id=schema.id, name=schema.name, techniques=tuple(schema.techniques),
        title=schema.title.strip(), note=schema.note, overrides=overrides,
        say_name=schema.say_name,
        engine=schema.engine, voice=schema.voice, rate=schema.rate, pace=schema.pace,
        minutes=schema.minutes, language=schema.language, cues=schema.cues,
        background=schema.background,
        file=doc.file,
        technique_sources=tuple(_at(doc, ("techniques", i))
                                for i in range(len(schema.techniques))),
        override_sources=tuple(Source(doc.file, *positions.find(("overrides", tid)))
                               for tid, _ in overrides),
    )
