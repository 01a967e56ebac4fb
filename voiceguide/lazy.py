"""A module imported when one of its names is first used, not when its importer loads.

A rebuild with nothing to do loads the modules that make audio (the meter, the cues,
the export) for their types and for the fingerprint, but never runs their numeric code;
importing numpy alone took about a fifth of such a rebuild. Those modules write

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = LazyModule("numpy")

so type checkers see numpy itself and the code reads as usual. Unlike the standard
library's importlib.util.LazyLoader, nothing here swaps a half-made module into
sys.modules: the first use imports numpy through the ordinary import system (which makes
any other thread that asks meanwhile wait until it is complete), and only then is the
module kept, so threads that start using it together are safe.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name`; imports it at the first attribute asked of it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"
