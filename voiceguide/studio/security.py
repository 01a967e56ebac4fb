"""What keeps the studio to the person who started it, as Jupyter does: a secret token
from the start-up address on every request (kept in a cookie after the first), Host and
Origin headers checked (so neither a page on another site nor a DNS name rebound to
127.0.0.1 can drive it), and file access confined to the studio's own folders."""

from __future__ import annotations

import ipaddress
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voiceguide.errors import VoiceguideError

TOKEN_PARAMETER = "token"
SAFE_METHODS = ("GET", "HEAD")
POLICY = ("default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; "
          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class Refused(VoiceguideError):
    """A request the studio will not serve (a path outside its folders)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def confined(root: Path, relative: str) -> Path:
    """`root/relative`, resolved (symbolic links followed), or Refused when that is not
    inside `root`: '../' and links out of the folder are refused alike."""
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or "\x00" in relative:
        raise Refused(f"'{relative}' is outside the studio's folders",
                      "open files from the studio's own pages")
    return path


class Guard:
    """ASGI middleware: every HTTP request must come with the right Host, an Origin (if
    any; required for anything but GET) of the studio itself, and the token."""

    def __init__(self, app: ASGIApp, token: str, port: int, hosts: set[str],
                 any_address: bool = False) -> None:
        self.app = app
        self.token = token
        self.port = port
        self.hosts = hosts  # "127.0.0.1:8765", "localhost:8765"
        # Listening on every address (--host 0.0.0.0): any IP address is a right Host
        # too. A DNS rebinding attack needs a name, and names stay refused.
        self.any_address = any_address
        # Cookies are not kept apart by port: one cookie name per studio port.
        self.cookie = f"voiceguide-studio-{port}"

    def right_host(self, host: str) -> bool:
        if host in self.hosts:
            return True
        name, _, port = host.rpartition(":")
        if not self.any_address or port != str(self.port):
            return False
        try:
            ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = self.refusal(scope)
        if response is not None:
            await response(scope, receive, send)
            return
        # The studio's own pages may not be framed by another page (clickjacking) and
        # load nothing from elsewhere; a shared page under /out/ keeps its own policy.
        own = not scope["path"].startswith("/out/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                if own:
                    headers["Content-Security-Policy"] = POLICY
            await send(message)

        await self.app(scope, receive, with_headers)

    def refusal(self, scope: Scope) -> Response | None:
        """None for a request to serve; else the answer that refuses it, or the redirect
        that swaps the start-up address's token for a cookie."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.right_host(host):
            return _refuse("unknown Host: open the studio at the address it printed")
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return _refuse("requests from other web sites are refused")
        if origin is None and scope["method"] not in SAFE_METHODS:
            return _refuse("a change must come from the studio's own page")
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        given = dict(query).get(TOKEN_PARAMETER)
        if given is not None:
            if not secrets.compare_digest(given, self.token):
                return _refuse("wrong token: open the studio at the address it printed")
            if scope["method"] in SAFE_METHODS:
                # Keep the token out of the address bar and history, as Jupyter does.
                rest = urlencode([(k, v) for k, v in query if k != TOKEN_PARAMETER])
                redirect = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""),
                                            status_code=303)
                redirect.set_cookie(self.cookie, self.token, httponly=True,
                                    samesite="strict")
                return redirect
            return None
        cookies = SimpleCookie(headers.get("cookie", ""))
        kept = cookies.get(self.cookie)
        if kept is None or not secrets.compare_digest(kept.value, self.token):
            return _refuse("no token: open the studio at the address it printed when it "
                           "started (with ?token=...)")
        return None


def _refuse(why: str) -> Response:
    return PlainTextResponse(f"Refused: {why}.", status_code=403)
