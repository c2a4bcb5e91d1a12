"""What a client hands a subscriber: an ``EventFeed`` (the events of one topic, put there by the client's one reader,
decoded once) and a ``Subscription`` (a typed stream read off a feed, e.g. ``events()`` or ``follow(job_id)``)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

from imageworks import protocol as P

T = TypeVar("T")

FEED_LIMIT = 10_000
"""Events a feed holds for a subscriber that does not read; beyond it new ones are dropped, as a SUB socket drops
at its high-water mark (readers that must not miss any re-read the daemon's state: the Clone pattern)."""


class EventFeed:
    """The events published on ``topic`` (and on every topic it is a prefix of, as ZeroMQ matches), in order, for
    one reader."""

    def __init__(self, topic: bytes, limit: int = FEED_LIMIT) -> None:
        self.topic = topic
        self.limit = limit
        self.dropped = 0
        self.closed = False
        self._items: deque[P.Message] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, msg: P.Message) -> None:
        if len(self._items) >= self.limit:
            self.dropped += 1
            return
        self._items.append(msg)
        self._wake()

    def close(self) -> None:
        """No more events: a reader waiting for one gets None at once."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> P.Message | None:
        """The next event; None when none came within ``timeout`` s (None: as long as it takes) or the feed closed."""
        if not self._items and not self.closed:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait((waiter,), timeout=None if timeout is None else max(0.0, timeout))
            finally:
                self._waiter = None
        return self._items.popleft() if self._items else None


class Subscription(Generic[T]):
    """A stream of what the daemon pushes, subscribed at the call that made it. ``aclose()`` unsubscribes even when
    the stream was never iterated (an async generator that never started skips its ``finally``): a caller that
    subscribes, then fails to read the state it subscribed for, leaves nothing subscribed."""

    def __init__(
        self, stream: AsyncGenerator[T, None], feed: EventFeed, unsubscribe: Callable[[EventFeed], None]
    ) -> None:
        self.stream = stream
        self.feed = feed
        self._unsubscribe = unsubscribe

    @property
    def closed(self) -> bool:
        return self.feed.closed

    def __aiter__(self) -> Subscription[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        return self.stream.__anext__()

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            self._unsubscribe(self.feed)
