"""One connection to one daemon boot: the DEALER socket for requests, the SUB socket for events (made at the first
subscription), and ONE reader task that routes what arrives. A reply goes to the future of the request it answers
(by its ``parent_id``), an event to every feed subscribed to its topic. The channel (channel.py) makes a new link
when the daemon is replaced; the feeds are the client's and move to it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import zmq

from imageworks.client.connection import Connection
from imageworks.client.streams import EventFeed
from imageworks.errors import ProtocolError
from imageworks.protocol.frames import recv_frames, send_frames

_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)  # plain ints: pyzmq's enum members cost ~1 µs a use
log = logging.getLogger("imageworks.client")

DRAIN_BATCH = 1000
"""Messages the reader takes off one socket before it lets other tasks run."""


NO_ANSWER: Any = object()


class Pending:
    """A request sent and not yet answered: the reader puts its answer here and wakes its caller, whose waiter a
    timer also wakes now and then (to look at the daemon). The answer is kept here, not in the waiter, so one that
    comes just as the timer fires is not lost."""

    __slots__ = ("answer", "closed", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answer: Any = NO_ANSWER
        self.closed = False
        self.waiter: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:
        if not self.waiter.done():
            self.waiter.set_result(None)


class Link:
    """One connection to one daemon boot, on the running event loop."""

    def __init__(self, conn: Connection, feeds: dict[bytes, set[EventFeed]]) -> None:
        self.conn = conn
        self.loop = asyncio.get_running_loop()
        self.feeds = feeds
        """The client's feeds by topic (the client's, not the link's: they outlive a replaced link)."""
        self.pending: dict[str, Pending] = {}
        """Each request sent and not yet answered, by its msg_id."""
        self.hello: asyncio.Task[Any] | None = None
        self.closed = False
        self.dealer = conn.dealer(zmq.Context.instance())
        self.sub: Any = None
        self.topics: set[bytes] = set()
        self._kicked = asyncio.Event()
        self.loop.add_reader(self.dealer.FD, self._kicked.set)
        self.reader = self.loop.create_task(self._read())
        self.sync_topics()

    def send(self, frames: list[bytes], msg_id: str, request: Pending) -> None:
        self.pending[msg_id] = request
        try:
            send_frames(self.dealer, frames)
        except zmq.Again:
            pass  # no peer takes messages now: the request's retry sends it again
        self._kicked.set()  # ZeroMQ's FD is edge-triggered and a send can consume the edge: look again

    def sync_topics(self) -> None:
        """Subscribe the SUB socket to the topics the client's feeds want now (and drop the others)."""
        wanted = {topic for topic, feeds in self.feeds.items() if feeds}
        if wanted and self.sub is None:
            self.sub = self.conn.subscriber(zmq.Context.instance())
            self.loop.add_reader(self.sub.FD, self._kicked.set)
        if self.sub is None:
            return
        for topic in wanted - self.topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, topic)
        for topic in self.topics - wanted:
            self.sub.setsockopt(zmq.UNSUBSCRIBE, topic)
        self.topics = wanted
        self._kicked.set()

    async def _read(self) -> None:
        """The one reader: drain both sockets whenever either may hold something."""
        while True:
            self._kicked.clear()
            more = self._drain(self.dealer, self._route_reply)
            if self.sub is not None:
                more = self._drain(self.sub, self._route_event) or more
            if more:
                await asyncio.sleep(0)
            else:
                await self._kicked.wait()

    @staticmethod
    def _drain(sock: Any, route: Callable[[list[bytes]], None]) -> bool:
        """Route what is queued on ``sock`` (up to DRAIN_BATCH messages); True when more may be waiting."""
        for _ in range(DRAIN_BATCH):
            if not sock.getsockopt(_EVENTS) & _POLLIN:
                return False
            try:
                frames = recv_frames(sock)
            except zmq.Again:
                return False
            try:
                route(frames)
            except Exception:  # a bug in routing one message must not stop the reader for every request
                log.exception("client: routing a message failed")
        return True

    def _route_reply(self, frames: list[bytes]) -> None:
        try:
            msg = self.conn.decode_reply(frames)
        except ProtocolError:
            return  # a stray or corrupted frame: the request it was meant for is retried
        request = self.pending.pop(msg.header.parent_id or "", None)
        if request is not None:
            request.answer = msg.body
            request.wake()

    def _route_event(self, frames: list[bytes]) -> None:
        topic = frames[0] if frames else b""
        feeds = [feed for prefix, feeds in self.feeds.items() if topic.startswith(prefix) for feed in feeds]
        if not feeds:
            return
        msg = self.conn.decode_event(frames)
        if msg is not None:
            for feed in feeds:
                feed.put(msg)

    def close(self) -> None:
        """Close the sockets and stop the reader; requests still waiting on this link are told to send again."""
        if self.closed:
            return
        self.closed = True
        loop_runs = not self.loop.is_closed()
        for sock in (self.dealer, self.sub):
            if sock is not None:
                if loop_runs:
                    self.loop.remove_reader(sock.FD)
                sock.close(0)
        if loop_runs:
            self.reader.cancel()
        for request in self.pending.values():
            request.closed = True
            request.wake()
        self.pending.clear()
