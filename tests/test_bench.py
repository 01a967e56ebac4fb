"""`make bench` is not run by the suite (it takes minutes and wants a quiet machine), so
what it depends on is checked here."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def test_every_stage_the_bench_times_is_still_called_by_the_pipeline() -> None:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    missing = [f"voiceguide.{module}.{name}" for module, name, _ in bench.STAGES
               if not hasattr(importlib.import_module(f"voiceguide.{module}"), name)]
    assert not missing, f"the bench's stage table times functions that are gone: {missing}"
