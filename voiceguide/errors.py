"""The errors a user may see. The CLI catches these (and only these) and prints them
as one line naming the place and the fix; anything else is a bug and shows a traceback
with --debug."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    INTERNAL = 1  # a bug in voiceguide: please report it
    USAGE = 2  # a bad command-line option (typer/click's own code)
    INVALID_SCRIPT = 3  # a technique, routine or setting is wrong: nothing was written
    ENGINE = 4  # the voice or the encoder is missing or failed: nothing was written
    OUTPUT = 5  # the output folder could not be written
    CHECK_FAILED = 6  # `voiceguide check` found the audio is not what the manifest says


@dataclass(frozen=True)
class Problem:
    """One thing wrong at one place in one file."""

    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file
    column: int  # 1-based; 0 when unknown
    message: str
    source_line: str = ""  # the offending line, shown with a caret

    def location(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def render(self) -> str:
        head = f"{self.location()}: {self.message}"
        if not self.source_line or self.line <= 0:
            return head
        caret = " " * max(self.column - 1, 0) + "^"
        return f"{head}\n    {self.source_line}\n    {caret}"


class VoiceguideError(Exception):
    """An error meant for the user: what is wrong and how to fix it."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ScriptError(VoiceguideError):
    """One or more problems in technique or routine files, all reported at once."""

    exit_code = ExitCode.INVALID_SCRIPT

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(p.location() + ": " + p.message for p in self.problems))

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class SettingsError(VoiceguideError):
    """A bad setting (unknown voice, engine, ...), found before anything is written."""

    exit_code = ExitCode.INVALID_SCRIPT


class EngineError(VoiceguideError):
    """The speech engine or the encoder is missing or failed."""

    exit_code = ExitCode.ENGINE


class OutputError(VoiceguideError):
    """The output could not be written."""

    exit_code = ExitCode.OUTPUT
