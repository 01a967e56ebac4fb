"""What num2words and Babel said (numbers in words, lists in a language's pattern), kept
in the cache folder between runs, so that planning a routine whose words were said
before loads neither library (see voiceguide.messages: `learn`, `said`).

The answers are kept under a key made of the installed versions of both libraries (the
names of their installed metadata): another version's answers are never used. Like
everything in the cache folder, a missing or damaged file only costs the time to ask
the libraries again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from voiceguide import messages
from voiceguide.cache import SAID, installed, write_entry

_LIBRARIES = ("babel", "num2words")


@functools.cache
def _key() -> str:
    return hashlib.sha256("\n".join(
        ["1", *(name for library in _LIBRARIES for name in installed(library))]
    ).encode()).hexdigest()


def recall(root: Path) -> None:
    """Hand voiceguide.messages the answers kept in the cache folder `root`."""
    try:
        kept = json.loads((root / SAID).read_bytes())
        if kept["key"] == _key() and isinstance(kept["said"], dict):
            messages.learn({str(k): str(v) for k, v in kept["said"].items()})
    except (OSError, ValueError, KeyError, TypeError):
        pass


def keep(root: Path) -> None:
    """Keep every answer given so far in the cache folder `root`, when there is a new
    one."""
    answers = messages.said()
    try:
        kept = json.loads((root / SAID).read_bytes())
        if kept["key"] == _key() and kept["said"] == answers:
            return
    except (OSError, ValueError, KeyError, TypeError):
        pass
    write_entry(root / SAID, json.dumps({"key": _key(), "said": answers},
                                        ensure_ascii=False, sort_keys=True).encode("utf-8"))
