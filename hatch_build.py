"""Hatchling build hook: the seed library (scripts/) and the example client files
(clients/) go into the wheel and the sdist as git tracks them, never a file someone is
still writing. Hatchling itself only honours .gitignore, so an untracked file would be
packed; `git ls-files` names exactly what is committed or added. Outside a git checkout
(building the wheel from an sdist) the sdist's files are all tracked ones already."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# folder of the project -> where it goes in the wheel (the sdist keeps the same layout)
IN_WHEEL = {"scripts": "voiceguide/library", "clients": "voiceguide/clients"}


def tracked(root: Path, folder: str) -> list[str]:
    """The files under `folder` that git tracks, relative to root; every file when root is
    not the top of a git checkout (an unpacked sdist, even inside another checkout)."""
    if (root / ".git").exists():  # a folder, or a file in a worktree
        listed = subprocess.run(["git", "ls-files", "-z", "--", folder], cwd=root,
                                capture_output=True, check=True).stdout.decode()
        return sorted(name for name in listed.split("\0") if name)
    return sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*") if p.is_file())


class TrackedScripts(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":  # runs from the checkout: voiceguide finds scripts/ there
            return
        root = Path(self.root)
        for folder, packed in IN_WHEEL.items():
            where = packed if self.target_name == "wheel" else folder
            for name in tracked(root, folder):
                relative = Path(name).relative_to(folder)
                build_data["force_include"][str(root / name)] = f"{where}/{relative}"
