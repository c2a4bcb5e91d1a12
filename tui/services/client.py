"""The App's one client: an ``AsyncClient`` that every task of the App shares for the App's whole life, so the daemon
sees one session on one socket however many workers ask it things. Imported after the first paint (pyzmq)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from imageworks.client import AsyncClient, read_connection


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
