"""The App's one client: an ``AsyncClient`` that every task of the App shares for the App's whole life, so the daemon
sees one session on one socket however many workers ask it things. Imported after the first paint (pyzmq)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from imageworks.client import AsyncClient, read_connection

if TYPE_CHECKING:
    from imageworks import protocol as P

T = TypeVar("T")


class SharedClient(AsyncClient):
    """Requests take turns: a reply is read off the one DEALER socket by the task that sent last, so two tasks must
    never wait on it at once (a plain ``AsyncClient`` is one per task). Streams (``events``, ``follow``) have
    sockets of their own and are not held back; only their requests take turns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    def forget_replaced_daemon(self) -> None:
        """Drop the socket to a daemon that stopped or was replaced, as the connection file tells (a file read, no
        request): the next request or subscription goes to the one it names now (or says none runs) at once,
        instead of waiting out a timeout on a socket nobody answers."""
        if self.conn is None:
            return
        info = read_connection()
        if info is None or info.get("boot_id") != self.conn.boot_id:
            self._drop_socket()
            self.conn = None

    async def call(self, type_: str, body: msgspec.Struct, *, timeout: float | None = None) -> Any:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # the hello a request says first to a new daemon boot: the turn is already this task's
            return await super().call(type_, body, timeout=timeout)
        async with self._turn:
            self._holder = task
            self.forget_replaced_daemon()
            try:
                return await super().call(type_, body, timeout=timeout)
            finally:
                self._holder = None


class SharedClientFromThread:
    """The App's one client for blocking code on a worker thread (the similarity search asks for embeddings as it
    goes): each request runs on the App's loop as the shared client's coroutine, and the thread waits for it; the UI
    does not. ``close`` leaves the client open: the App closes it."""

    def __init__(
        self, client: Callable[[], SharedClient], on_app: Callable[[Callable[[], Awaitable[Any]]], Any]
    ) -> None:
        self._client = client
        """Read on the App's loop (the App makes its client there, on first use)."""
        self._on_app = on_app
        """``App.call_from_thread``: runs a coroutine function on the App's loop, returns its result."""

    def _run(self, request: Callable[[SharedClient], Awaitable[T]]) -> T:
        return self._on_app(lambda: request(self._client()))

    def status(self) -> P.StatusReply:
        return self._run(lambda c: c.status())

    def load_model(self, name: str = "", *, slot: str = "vlm", wait: bool = False) -> P.ModelState:
        return self._run(lambda c: c.load_model(name, slot=slot, wait=wait))

    def wait_model(self, *, slot: str = "vlm") -> P.ModelState:
        return self._run(lambda c: c.wait_model(slot=slot))

    def embed(self, images: list[str], *, model: str = "") -> P.Embeddings:
        return self._run(lambda c: c.embed(images, model=model))

    def close(self) -> None:
        """Nothing to close: the client is the App's."""
