"""voiceguide studio: a local web app to make, hear and share routines without a
terminal. It reads and writes the same scripts, client files and output folders as the
command line, through the same Python API."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from voiceguide.cache import ClipCache, default_cache_dir
from voiceguide.errors import OutputError
from voiceguide.studio.app import Studio, create_app, warm_voice_list
from voiceguide.studio.security import TOKEN_PARAMETER, new_token

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    token: str

    @property
    def every_address(self) -> bool:
        return self.host in ("0.0.0.0", "::")

    @property
    def base(self) -> str:
        """The address a browser on this computer opens (every address: loopback)."""
        host = LOOPBACK if self.every_address else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def start_url(self) -> str:
        """The address to open: it carries the token (as Jupyter's does)."""
        return f"{self.base}/?{TOKEN_PARAMETER}={self.token}"

    def hosts(self) -> set[str]:
        """The Host headers accepted: this address, and localhost on loopback."""
        names = {self.base.removeprefix("http://")}
        if self.host == LOOPBACK or self.every_address:
            names.add(f"localhost:{self.port}")
        return names


def open_socket(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one); OutputError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OutputError(f"can't listen on {host}:{port}: {exc.strerror or exc}",
                          "another program uses that port: choose another port"
                          ) from None
    sock.listen(64)
    return sock


def exposed(host: str) -> bool:
    """Whether other computers may reach `host` (anything but a loopback address)."""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


@contextlib.contextmanager
def running(scripts: Path, clients: Path, out: Path, host: str = LOOPBACK, port: int = 0,
            cache: ClipCache | None = None, jobs: int = 2) -> Iterator[Address]:
    """The studio served in a thread of this process until the block ends (tests, and
    `serve`)."""
    sock = open_socket(host, port)
    address = Address(host, sock.getsockname()[1], new_token())
    studio = Studio(scripts.resolve(), clients.resolve(), out.resolve(),
                    default_cache_dir() / "studio-say", cache or ClipCache(default_cache_dir()),
                    jobs)
    app = create_app(studio, address.token, address.port, address.hosts(),
                     address.every_address)
    # No proxy sits in front of it: X-Forwarded-* headers are not believed.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           proxy_headers=False, server_header=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="studio-server")
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.02)
        yield address
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def serve(scripts: Path, clients: Path, out: Path, host: str | None = None, port: int = 8765,
          open_browser: bool = True, jobs: int = 2) -> None:
    """Serve until Ctrl+C, opening the browser at the start-up address."""
    chosen = host or LOOPBACK
    if exposed(chosen):
        print(f"Warning: --host {chosen} lets other computers reach the studio: anyone "
              "with the address and its token can read and change your scripts and "
              "client files. Use it only on a network you trust.", file=sys.stderr)
    # espeak-ng's voice list takes a second or two: made while the browser opens
    threading.Thread(target=warm_voice_list, args=(scripts,), daemon=True).start()
    with running(scripts, clients, out, chosen, port, jobs=jobs) as address:
        print(f"voiceguide studio is running at {address.start_url}\n"
              "Open that address in your browser (it carries the studio's key). "
              "Press Ctrl+C to stop.", flush=True)
        if open_browser:
            webbrowser.open(address.start_url)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
