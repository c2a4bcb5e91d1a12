"""Request handlers, one module per request family; each exposes ``table()``: request type -> handler.

A handler takes the decoded request body and returns the reply body (a coroutine for slow ones, which the
server runs as their own task). A handler refuses by raising an ``ImageWorksError`` (``DaemonError(message,
code=...)``, or a core error carrying its own code): the server answers ``Error`` with that code and message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import msgspec

REQUEST_SESSION: ContextVar[str] = ContextVar("request_session", default="")
"""The session of the request being handled: set before each dispatch; a slow handler's task keeps its own copy."""

Handler = Callable[[Any], msgspec.Struct | Awaitable[msgspec.Struct]]
