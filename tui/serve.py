"""`imageworks tui --serve`: the TUI in a browser (textual-serve), behind a secret token, as Jupyter has done since
4.3. Whoever can reach the port could otherwise open the page and connect the websocket, and textual-serve starts
the app, as us, for every websocket: our photos, our daemon, and `$EDITOR` a key away.

The token is made at start (or given), printed once in the URL to open, and compared in constant time; the page
and the websocket are refused (403) without it. The page hands the token on to the websocket it opens. Static
assets (the page's JavaScript, CSS, fonts) hold nothing of ours and stay open; a download's URL carries a key that
only the authenticated websocket ever learns.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server

TOKEN_BYTES = 24
"""A 32-character URL-safe token: 192 random bits."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens where this machine alone can connect (another local user still can: hence
    the token there too)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenServer(Server):
    """textual-serve's Server, answering only requests that carry ``token`` (``?token=…``)."""

    def __init__(self, command: str, *, host: str, port: int, token: str, title: str) -> None:
        if not token:
            raise ValueError("a served TUI needs a token")
        super().__init__(command, host=host, port=port, title=title)
        self.token = token

    @property
    def url(self) -> str:
        """What to open: the page, with the token."""
        return f"{self.public_url}/?token={quote(self.token)}"

    def authorized(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if not self.authorized(request):
            raise web.HTTPForbidden(text="this page needs its token: open the URL `imageworks tui --serve` printed\n")
        # the page's own context (textual-serve's template data), with the token handed on to its websocket; the
        # page's script appends "?width=…&height=…" to that URL, so the token's parameter ends with "&"
        context: dict[str, Any] = await Server.handle_index.__wrapped__(self, request)  # type: ignore[attr-defined]
        context["app_websocket_url"] += f"?token={quote(self.token)}&"
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if not self.authorized(request):
            raise web.HTTPForbidden(text="this websocket needs the page's token\n")
        return await super().handle_websocket(request)

    async def on_startup(self, app: web.Application) -> None:
        """Say where to open it, once (the token is not written anywhere else)."""
        print(f"ImageWorks in a browser: {self.url}", flush=True)
        if not is_loopback(self.host):
            print(
                "  this page travels unencrypted over http: on another machine, prefer `ssh -L` to a loopback port",
                flush=True,
            )
        print("  Ctrl+C stops it", flush=True)
