"""`voiceguide init`: a copy of the bundled library for a clinic to make its own."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from voiceguide.atomic import staged, write_atomic
from voiceguide.errors import OutputError
from voiceguide.library import bundled, bundled_scripts, script_files, shown_path

SCRIPTS = "scripts"
CLIENTS = "clients"  # where the README keeps client files (voiceguide batch clients)


def bundled_clients() -> Path:
    """The example client files (clients/)."""
    return bundled(CLIENTS, CLIENTS)


@dataclass(frozen=True)
class Started:
    """What `init` made: the scripts folder and the example client files."""

    scripts: Path
    techniques: tuple[str, ...]  # file names, as copied
    routines: tuple[str, ...]
    others: tuple[str, ...]  # the clinic profile, a lexicon: files beside the folders
    clients: tuple[Path, ...]


def start_library(folder: Path) -> Started:
    """Copy the bundled library into folder/scripts and the example clients into
    folder/clients. Refuses (OutputError, nothing written) when folder/scripts or one of
    the client files is already there: a clinic's edits are never overwritten. The
    scripts folder appears whole or not at all (made beside it, then renamed)."""
    scripts = folder / SCRIPTS
    examples = script_files(bundled_clients())
    clients = [folder / CLIENTS / p.name for p in examples]
    taken = [p for p in (scripts, *clients) if p.exists()]
    if taken:
        raise OutputError(f"{shown_path(taken[0])} is already there; nothing was written",
                          "init never overwrites a library: give another folder, "
                          "voiceguide init DIR, or move this one away first")
    source = bundled_scripts()
    with staged(scripts) as stage:
        shutil.rmtree(stage)
        shutil.copytree(source, stage, ignore=shutil.ignore_patterns(
            "__pycache__", ".*", "voices"))
    try:
        for example, target in zip(examples, clients, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, example.read_bytes())
    except OSError as exc:
        raise OutputError(f"can't write {shown_path(folder / CLIENTS)}: "
                          f"{exc.strerror or exc}", "check the folder's permissions") from None
    return Started(scripts, _names(scripts / "techniques"), _names(scripts / "routines"),
                   tuple(p.name for p in sorted(scripts.iterdir()) if p.is_file()),
                   tuple(clients))


def _names(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in script_files(folder)))  # by name: neck before neck-es
