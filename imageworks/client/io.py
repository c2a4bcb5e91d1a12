"""The socket operations a client needs, awaitable in two flavours.

``AsyncIO`` suspends on the event loop (zmq.asyncio). ``BlockingIO`` blocks the calling thread and never
suspends, so a coroutine written against it runs to completion in one ``send(None)`` (see sync.py): that is how
the blocking client reuses the async implementation without an event loop of its own.
"""

from __future__ import annotations

from typing import Any

import zmq
import zmq.asyncio


class AsyncIO:
    @staticmethod
    def context() -> zmq.Context:
        return zmq.asyncio.Context.instance()

    @staticmethod
    async def send(sock: Any, frames: list[bytes]) -> None:
        await sock.send_multipart(frames)

    @staticmethod
    async def poll(sock: Any, timeout_s: float) -> bool:
        return bool(await sock.poll(int(timeout_s * 1000) + 1, zmq.POLLIN))

    @staticmethod
    async def recv(sock: Any) -> list[bytes]:
        return await sock.recv_multipart()


class BlockingIO:
    @staticmethod
    def context() -> zmq.Context:
        return zmq.Context.instance()

    @staticmethod
    async def send(sock: Any, frames: list[bytes]) -> None:
        sock.send_multipart(frames)

    @staticmethod
    async def poll(sock: Any, timeout_s: float) -> bool:
        return bool(sock.poll(int(timeout_s * 1000) + 1, zmq.POLLIN))

    @staticmethod
    async def recv(sock: Any) -> list[bytes]:
        return sock.recv_multipart()
