"""Run a speech backend in its own process, with a timeout on every request.

Both espeak-based engines go through here: a native library that hangs or crashes
must not take the build with it, and a stuck utterance must end in an error rather
than a build that never finishes.

The worker is a fresh Python process (never a fork: forking a process that has
initialised pyttsx3 hangs the child), started with subprocess rather than
multiprocessing's `spawn`, which re-runs the caller's main script in the child: a
script without an `if __name__ == "__main__"` guard, or code typed into a REPL, would
break. The two talk through a socket pair with multiprocessing's Connection.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from voiceguide.engines.base import Engine, VoiceInfo, VoiceSettings
from voiceguide.errors import EngineError, SettingsError, VoiceguideError
from voiceguide.model import Clip
from voiceguide.text import count_words, preview

# multiprocessing's connection (and socket) only where a worker is started or served: a
# rebuild with nothing to do starts none.
if TYPE_CHECKING:
    from multiprocessing.connection import Connection


class Backend(Protocol):
    """The part of an engine that runs inside the worker process."""

    def synthesize(self, text: str) -> Clip: ...

    def voices(self) -> list[VoiceInfo]: ...

    def version(self) -> str: ...


class Resettable(Protocol):
    """A backend that can start afresh without a new process (see WorkerEngine.reset)."""

    def reset(self) -> None: ...


class BackendFactory(Protocol):
    """Builds the backend in the worker; a module-level class, so spawn can pickle it.
    `scratch` is a private folder for files, removed by the parent even if the worker
    is killed. Raises SettingsError for a bad voice, EngineError for a missing library."""

    def __call__(self, settings: VoiceSettings, scratch: Path) -> Backend: ...


# Errors cross the process boundary by name: VoiceguideError's hint is not in its args.
_ERRORS: dict[str, type[VoiceguideError]] = {"SettingsError": SettingsError}

# Reply tags.
_OK, _ERR = "ok", "error"


def _silence_stdout() -> None:
    """pyttsx3 prints "Audio saved to ..." for every file: keep the user's terminal clean,
    at the fd level too in case the native library writes there."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 - lives as long as the worker


def _error_reply(exc: BaseException) -> tuple[str, str, str, str]:
    if isinstance(exc, VoiceguideError):
        return (_ERR, type(exc).__name__, exc.message, exc.hint)
    return (_ERR, "EngineError", f"{type(exc).__name__}: {exc}", "")


def serve(
    conn: Connection, factory: BackendFactory, settings: VoiceSettings, scratch: Path
) -> None:
    """Worker main loop: ("synthesize", text) / ("voices", None) in, (tag, ...) out,
    None to stop."""
    _silence_stdout()
    # Ctrl-C reaches the whole process group: the parent handles it and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        backend = factory(settings, scratch)
    except BaseException as exc:  # reported to the parent, which raises it
        conn.send(_error_reply(exc))
        return
    conn.send((_OK, backend.version()))
    with contextlib.suppress(EOFError):  # EOF: the parent went away
        while (request := conn.recv()) is not None:
            op, arg = request
            try:
                if op == "synthesize":
                    result: Any = backend.synthesize(arg)
                elif op == "reset":
                    cast(Resettable, backend).reset()
                    result = None
                else:
                    result = backend.voices()
                conn.send((_OK, result))
            except Exception as exc:  # the parent decides what it means
                conn.send(_error_reply(exc))


def child_main(fd: int) -> None:
    """Entry point of the worker process: read what to build, then serve."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    factory, settings, scratch = conn.recv()
    serve(conn, factory, settings, scratch)


class WorkerEngine(Engine):
    """An Engine whose backend runs in one spawn worker process per instance.

    The worker starts in `__enter__` (or at first use) and stops in `close()`. Timeouts
    are class attributes so tests can shrink them.
    """

    factory: ClassVar[BackendFactory]
    # The Python packages whose versions decide the sound (for the render cache's key).
    packages: ClassVar[tuple[str, ...]] = ("espeakng-loader",)
    start_timeout_s: ClassVar[float] = 60.0
    timeout_s: ClassVar[float] = 20.0
    timeout_per_10_words_s: ClassVar[float] = 1.0
    # True: the backend's reset() puts it in the state a fresh worker starts in, so one
    # worker may say many blocks. False (espeak-ng: its sound depends on everything its
    # process said before): each block gets a fresh process.
    resettable: ClassVar[bool] = False

    def __init__(self, settings: VoiceSettings) -> None:
        super().__init__(settings)
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._scratch: Path | None = None
        self._version = ""

    def __enter__(self) -> WorkerEngine:
        self.start()
        return self

    def start(self) -> None:
        """Start the worker and check the voice: SettingsError for a bad one."""
        if self._process is not None:
            return
        import socket
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        self._scratch = Path(tempfile.mkdtemp(prefix=f"voiceguide-{self.name}-"))
        # The child imports what this process can: same interpreter, same sys.path.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen(
            [sys.executable, "-c", "from voiceguide.engines.worker import child_main; "
             f"child_main({theirs.fileno()})"],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
        )
        theirs.close()  # so the parent sees EOF if the worker dies
        conn = Connection(ours.detach())
        self._process, self._conn = process, conn
        with contextlib.suppress(OSError):  # it died at once: _call below reports it
            conn.send((type(self).factory, self.worker_settings(), self._scratch))
        self._version = str(self._call(None, self.start_timeout_s, "starting up"))

    def worker_settings(self) -> VoiceSettings:
        """The settings the backend is built with: by default the engine's own."""
        return self.settings

    def close(self) -> None:
        self._stop(ask_first=True)

    def reset(self) -> None:
        """The next block starts as in a fresh worker: a resettable backend is told so (the
        worker and its loaded voice are kept), any other worker is stopped."""
        if not self.resettable:
            self.close()
        elif self._process is not None:
            self._call(("reset", None), self.timeout_s, "starting afresh")

    def _synthesize(self, text: str) -> Clip:
        self.start()
        timeout = self.timeout_s + self.timeout_per_10_words_s * count_words(text) / 10
        clip = self._call(("synthesize", text), timeout, f"saying {preview(text)}")
        if not isinstance(clip, Clip):
            raise EngineError(f"the {self.name} voice sent {type(clip).__name__}, not audio")
        return clip

    def voices(self) -> list[VoiceInfo]:
        self.start()
        found = self._call(("voices", None), self.timeout_s, "listing voices")
        return list(found)

    def version(self) -> str:
        self.start()
        return self._version

    def identity(self) -> str:
        return f"{self.name}: {_versions(self.packages)}"

    def _call(self, request: tuple[str, str | None] | None, timeout: float, doing: str) -> Any:
        """Send `request` (None: just read the start-up reply) and wait for the reply.
        On timeout or death the worker is killed; the next call starts a fresh one."""
        from multiprocessing.connection import wait

        process, conn = self._process, self._conn
        assert process is not None and conn is not None
        try:
            if request is not None:
                conn.send(request)
            # A worker that dies closes its end: the socket turns readable, recv sees EOF.
            if not wait([conn], timeout):
                self._kill()
                raise EngineError(
                    f"the {self.name} voice took longer than {timeout:g} s while {doing}",
                    hint="it was stopped; split the line, or report it if it repeats",
                )
            reply = conn.recv()
        except (EOFError, OSError):
            self._kill()
            raise EngineError(
                f"the {self.name} voice stopped (exit code {process.returncode}) while {doing}",
                hint="report it if it repeats",
            ) from None
        if reply[0] == _OK:
            return reply[1]
        if request is None:
            self._kill()  # start-up failed: nothing worth keeping
        _, kind, message, hint = reply
        raise _ERRORS.get(kind, EngineError)(message, hint=hint)

    def _kill(self) -> None:
        self._stop(ask_first=False)

    def _stop(self, ask_first: bool) -> None:
        process, conn, scratch = self._process, self._conn, self._scratch
        self._process, self._conn, self._scratch = None, None, None
        if process is not None and conn is not None:
            if ask_first:
                with contextlib.suppress(OSError):  # already gone
                    conn.send(None)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=2)
            if process.poll() is None:
                process.kill()
            process.wait()
            conn.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@functools.cache
def _versions(packages: tuple[str, ...]) -> str:
    """'pyttsx3 2.99, espeakng-loader 0.2.4': looked up once (each lookup reads the
    installed metadata; a build asks for it more than once)."""
    found = []
    for package in packages:
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} (system library)")
    return ", ".join(found)
