"""Blocking views of the one async client, derived from it (as jupyter_client's ``run_sync`` derives its blocking
client): every public method of ``AsyncClient`` runs as its coroutine on the loop that owns the client, and the
calling thread waits for the result. No method list is kept here: the table is built from ``AsyncClient`` itself,
so a request added there is here at once.

- ``Client``: its own ``AsyncClient`` on the process's client loop (one thread, started on first use). Callable from
  any thread, inside or outside a running event loop; threads sharing one ``Client`` have their requests in flight
  at once on its one connection.
- ``BlockingClient(client, run)``: the same view over a client that lives on another loop, with that loop's
  ``run`` (the TUI's thread workers use the App's client through ``App.call_from_thread``).
- A stream (``events``, ``follow``, ``review_events``) comes back as a plain iterator; closing it unsubscribes.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from imageworks.client.aio import AsyncClient
from imageworks.client.channel import DEFAULT_RETRIES
from imageworks.client.streams import Subscription

T = TypeVar("T")
RunOnLoop = Callable[[Callable[[], Any]], Any]
"""Runs a function on the client's loop (awaiting what it returns, if awaitable) and returns its result."""

_loop_lock = threading.Lock()
_client_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def client_loop() -> asyncio.AbstractEventLoop:
    """The process's client loop, running in a daemon thread of its own (a forked child starts its own)."""
    global _client_loop
    with _loop_lock:
        if _client_loop is None or _client_loop[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="imageworks-client", daemon=True).start()
            _client_loop = (os.getpid(), loop)
        return _client_loop[1]


async def _invoke(fn: Callable[[], Any]) -> Any:
    result = fn()
    return await result if inspect.isawaitable(result) else result


def on_loop(loop: asyncio.AbstractEventLoop) -> RunOnLoop:
    """A ``RunOnLoop`` for ``loop``, called from any other thread."""

    def run(fn: Callable[[], Any]) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("a blocking client call on its own loop would wait forever: await the AsyncClient")
        return asyncio.run_coroutine_threadsafe(_invoke(fn), loop).result()

    return run


class BlockingStream(Iterator[T]):
    """A ``Subscription`` read from another thread; it unsubscribes when it ends, on ``close()``, or when its client
    closes (a stream left early and never closed stays subscribed until then)."""

    def __init__(self, stream: Subscription[T], run: RunOnLoop) -> None:
        self.stream = stream
        self._run = run
        self._done = False

    def __iter__(self) -> BlockingStream[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        try:
            return self._run(self.stream.__anext__)
        except StopAsyncIteration:
            self.close()
            raise StopIteration from None

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._run(self.stream.aclose)


class BlockingClient:
    """The blocking view of an ``AsyncClient`` that lives on another loop: ``client()`` gives it (read on that loop),
    ``run`` runs a call there. ``owned``: whether ``close()`` closes the client (a view of someone else's client
    leaves it open)."""

    def __init__(self, client: Callable[[], AsyncClient], run: RunOnLoop, *, owned: bool = False) -> None:
        self._client = client
        self._run = run
        self._owned = owned

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = self._run(lambda: getattr(self._client(), name)(*args, **kwargs))
        return BlockingStream(result, self._run) if isinstance(result, Subscription) else result

    def close(self) -> None:
        if self._owned:
            self._run(lambda: self._client().close())

    def __getattr__(self, name: str) -> Any:
        """Attributes of the client that are not methods (``name``, ``timeout``, ``session``, ``boot_id``…). The
        methods are set on the class below, from ``AsyncClient``'s table; type checkers see them through this."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._client(), name)


def _derived(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def blocking(self: BlockingClient, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    return blocking


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """Every public method of ``cls`` (inherited ones included), by name: the table the blocking views are built
    from."""
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in vars(BlockingClient)
    }


for _name, _method in public_methods(AsyncClient).items():
    setattr(BlockingClient, _name, _derived(_name, _method))


class Client(BlockingClient):
    """Blocking client, on the process's client loop. Share one between threads freely; it is cheap to make more
    (all of a process's clients share its session, so the daemon lists the process once)."""

    def __init__(
        self,
        name: str = "client",
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        register: bool = True,
    ) -> None:
        impl = AsyncClient(name, timeout=timeout, retries=retries, register=register)
        super().__init__(lambda: impl, on_loop(client_loop()), owned=True)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
