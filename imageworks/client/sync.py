"""The blocking client, derived from the async one: each method runs the AsyncClient coroutine of the same name.

Why not jupyter_client's ``run_sync`` (an event loop per client)? The coroutines here await only the I/O object's
four operations; with ``BlockingIO`` none of them ever suspends, so a coroutine runs to its end in one
``send(None)``: no loop, no thread, nothing that breaks when called from inside a running loop (the TUI's
threads, pytest-asyncio) and no per-call cost beyond a few frames (bench/daemon_latency.py's sync row). One copy
of each request either way.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from imageworks.client.aio import AsyncClient
from imageworks.client.channel import DEFAULT_RETRIES
from imageworks.client.io import BlockingIO

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (it awaits only BlockingIO) to its result."""
    try:
        suspended_on = coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(f"blocking client: {coro.__qualname__} tried to suspend on {suspended_on!r}")


def iterate_blocking(stream: AsyncIterator[T]) -> Iterator[T]:
    """An async iterator over BlockingIO as a plain iterator; closing it closes the stream (and its socket)."""
    try:
        while True:
            try:
                item = run_blocking(stream.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
            yield item
    finally:
        run_blocking(stream.aclose())  # type: ignore[attr-defined]


def _blocking(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @functools.wraps(method)
    def run(self: Client, *args: Any, **kwargs: Any) -> T:
        return run_blocking(method(self.impl, *args, **kwargs))

    return run


def _blocking_stream(method: Callable[..., AsyncIterator[T]]) -> Callable[..., Iterator[T]]:
    @functools.wraps(method)
    def run(self: Client, *args: Any, **kwargs: Any) -> Iterator[T]:
        return iterate_blocking(method(self.impl, *args, **kwargs))  # subscribes now, as the async one does

    return run


class Client:
    """Blocking client. Not thread-safe: give each thread its own (they are cheap, and share the process session)."""

    def __init__(
        self,
        name: str = "client",
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        register: bool = True,
    ) -> None:
        self.impl = AsyncClient(name, timeout=timeout, retries=retries, register=register, io=BlockingIO)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.impl.name

    @property
    def timeout(self) -> float:
        return self.impl.timeout

    @property
    def session(self) -> str:
        return self.impl.session

    def close(self) -> None:
        self.impl.close()

    call = _blocking(AsyncClient.call)
    hello = _blocking(AsyncClient.hello)
    bye = _blocking(AsyncClient.bye)
    ping = _blocking(AsyncClient.ping)
    status = _blocking(AsyncClient.status)
    load_model = _blocking(AsyncClient.load_model)
    switch_model = _blocking(AsyncClient.switch_model)
    unload_model = _blocking(AsyncClient.unload_model)
    wait_model = _blocking(AsyncClient.wait_model)
    embed = _blocking(AsyncClient.embed)
    submit = _blocking(AsyncClient.submit)
    resume = _blocking(AsyncClient.resume)
    attach = _blocking(AsyncClient.attach)
    results = _blocking(AsyncClient.results)
    all_results = _blocking(AsyncClient.all_results)
    cancel = _blocking(AsyncClient.cancel)
    jobs = _blocking(AsyncClient.jobs)
    shutdown = _blocking(AsyncClient.shutdown)
    review_list = _blocking(AsyncClient.review_list)
    review_get = _blocking(AsyncClient.review_get)
    review_edit = _blocking(AsyncClient.review_edit)
    review_batch = _blocking(AsyncClient.review_batch)
    review_undo = _blocking(AsyncClient.review_undo)
    review_redo = _blocking(AsyncClient.review_redo)
    review_changes = _blocking(AsyncClient.review_changes)
    review_keywords = _blocking(AsyncClient.review_keywords)
    review_complete = _blocking(AsyncClient.review_complete)
    review_commit = _blocking(AsyncClient.review_commit)
    follow = _blocking_stream(AsyncClient.follow)
    events = _blocking_stream(AsyncClient.events)
    review_events = _blocking_stream(AsyncClient.review_events)
