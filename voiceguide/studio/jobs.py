"""One build or share at a time, in a thread, with progress the page polls.

A second request while one runs is refused with a message (the page says what is
running). Builds from the studio and the command line never mix in one folder: both
take the folder's lock (atomic.folder_lock), and the studio's build waits for the other,
saying so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from voiceguide.build import Progress
from voiceguide.errors import VoiceguideError
from voiceguide.library import shown_path

State = Literal["running", "done", "failed"]


class Busy(VoiceguideError):
    """Another build is running in the studio."""


@dataclass
class Job:
    number: int
    title: str  # "Build Maria's routine"
    routine: str  # the output folder's name (the routine's id)
    state: State = "running"
    said: int = 0
    to_say: int = 0
    written: int = 0
    to_write: int = 0
    note: str = ""  # "Waiting for another voiceguide ..."
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Work = Callable[[Progress], dict[str, Any]]


class Jobs:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._last: Job | None = None
        self._count = 0

    @property
    def last(self) -> Job | None:
        return self._last

    def start(self, title: str, routine: str, work: Work) -> Job:
        """Run `work` in a thread; Busy when a job is running."""
        with self._guard:
            running = self._last
            if running is not None and running.state == "running":
                raise Busy(f"a build is running: {running.title}",
                           "wait for it to finish, then try again")
            self._count += 1
            job = self._last = Job(self._count, title, routine)
        threading.Thread(target=self._run, args=(job, work), daemon=True,
                         name=f"studio-job-{job.number}").start()
        return job

    def _run(self, job: Job, work: Work) -> None:
        count = threading.Lock()

        def started(utterances: int, files: int) -> None:
            with count:
                job.to_say += utterances
                job.to_write += files

        def spoke(_: str) -> None:
            with count:
                job.said += 1

        def wrote(_: Path) -> None:
            with count:
                job.written += 1

        def waiting(folder: Path) -> None:
            job.note = (f"Waiting for another voiceguide to finish writing "
                        f"{shown_path(folder)}/ ...")

        try:
            job.result = work(Progress(started, spoke, wrote, waiting))
            job.note = ""
            job.state = "done"
        except VoiceguideError as exc:
            job.error = exc.render()
            job.state = "failed"
        except Exception as exc:  # a bug: said in the page, the studio keeps running
            job.error = f"internal error: {type(exc).__name__}: {exc}"
            job.state = "failed"
