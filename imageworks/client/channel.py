"""The request/reply channel to the daemon, multiplexed: many requests in flight on one connection, from any number
of tasks, with no lock anywhere (``AsyncClient``, aio.py, builds one coroutine per request on it).

- A ``Link`` per daemon boot (link.py) holds the DEALER socket for requests, the SUB socket for events and ONE
  reader task, which routes what arrives: a reply to the future of the request it answers (by its ``parent_id``:
  replies come in any order), an event to every feed subscribed to its topic.
- Each request waits for its own reply. One that gets none in time is sent again (Lazy Pirate), after the
  connection file is looked at in case the daemon restarted: a lost reply costs that request a retry and the others
  nothing. After the retries a ``DaemonError`` says the daemon is not answering; nothing waits forever.
- While it waits, a request looks whether a local daemon's process still runs, so one killed mid-request is named at
  once. A daemon reached through a tunnel (`imageworks --ssh HOST`) is judged by its answers only.
- A connection file that changed (a restarted daemon) or went (a stopped one) is noticed at the next request: the
  link is replaced, requests waiting on the old one are sent again on the new one, and subscriptions move with it.
- A registering client says ``hello`` once per process session and daemon boot (concurrent first requests share
  that one hello); the process's last open client says ``bye`` on ``close()`` (session.py keeps the count).
- A client lives on the event loop it runs on; other threads use it through the blocking view of sync.py, which
  runs each call on that loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from imageworks import paths
from imageworks import protocol as P
from imageworks.client.connection import Connection, check_reply, file_stamp, read_connection
from imageworks.client.link import NO_ANSWER, Link, Pending
from imageworks.client.session import SESSION
from imageworks.client.streams import EventFeed
from imageworks.errors import DaemonError
from imageworks.system import pid_alive

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
GONE_CHECK_S = 0.5
"""While waiting for a reply, look this often whether a local daemon's process still runs."""
MAX_RESENDS = 3
"""Times one request follows a replaced daemon (each restart replaces the link) before it gives up."""


class _LinkClosed(Exception):
    """The link a request went out on was replaced or closed before its reply came: send it again."""


class _NoReply(Exception):
    """A request's reply did not come in time (the caller retries or gives up)."""


class Channel:
    """Requests and their replies, any number in flight. ``register=False`` makes a probe that is never listed among
    the daemon's clients."""

    def __init__(
        self,
        name: str = "client",
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        register: bool = True,
    ) -> None:
        self.name = name
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
        self.retries = retries
        self.register = register
        self._link: Link | None = None
        self._feeds: dict[bytes, set[EventFeed]] = {}
        self._waiting = 0
        self._counted = False
        self._probe_session = f"probe-{P.new_id()[:12]}"

    @property
    def session(self) -> str:
        """The process's session; a probe has its own, which the daemon never lists nor refreshes."""
        return SESSION.id if self.register else self._probe_session

    @property
    def boot_id(self) -> str:
        """The boot of the daemon this client is linked to now ("" before its first request)."""
        return self._link.conn.boot_id if self._link is not None else ""

    @property
    def remote(self) -> str:
        """The host of a daemon reached through a tunnel (`imageworks --ssh HOST`), "" for a local one."""
        link = self._link
        if link is None:
            info = read_connection() or {}
            return str(info.get("remote") or "")
        return link.conn.remote

    @property
    def in_flight(self) -> int:
        """Requests sent and waiting for their reply."""
        return self._waiting

    @property
    def topics(self) -> list[bytes]:
        """The topics this client's streams are subscribed to now."""
        return sorted(topic for topic, feeds in self._feeds.items() if feeds)

    # ---- the link ----------------------------------------------------------------------------------------------

    def _current_link(self) -> Link:
        """The link to the daemon the connection file names now: made on first use, and again when the file changed
        (a restarted daemon writes a new one); a file gone means the daemon stopped (``not_running``)."""
        link = self._link
        if link is not None and file_stamp(link.conn.path) == link.conn.stamp:
            if link.loop is asyncio.get_running_loop():
                return link
        if link is not None:
            try:
                conn = Connection()
            except DaemonError:
                self._drop_link()
                raise
            if conn.boot_id == link.conn.boot_id and link.loop is asyncio.get_running_loop():
                link.conn.stamp = conn.stamp  # the same daemon's file, written again
                return link
            self._drop_link()
            return self._open(conn)
        return self._open(Connection())

    def _open(self, conn: Connection) -> Link:
        self._link = Link(conn, self._feeds)
        if self.register and not self._counted:
            SESSION.opened()
            self._counted = True
        return self._link

    def _drop_link(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    def close(self) -> None:
        """Close the connection and end every stream; the process's last open client says ``bye`` so the daemon
        drops it at once. A request made later opens a new connection."""
        conn = self._link.conn if self._link is not None else None
        self._drop_link()
        for feeds in list(self._feeds.values()):
            for feed in feeds:
                feed.close()
        self._feeds.clear()
        if self._counted:
            self._counted = False
            if SESSION.closed() and conn is not None:
                conn.say_bye(self.session)

    # ---- the request/reply core --------------------------------------------------------------------------------

    async def call(self, type_: str, body: msgspec.Struct, *, timeout: float | None = None) -> Any:
        """Send one request and return the reply body; an ``Error`` reply raises DaemonError(code)."""
        timeout = self.timeout if timeout is None else timeout
        tries = resends = 0
        self._waiting += 1
        try:
            while tries <= self.retries:
                link = self._current_link()
                if self.register and type_ not in ("hello", "bye") and SESSION.needs_hello(link.conn.boot_id):
                    await self._greet(link)
                try:
                    return await self._exchange(link, type_, body, timeout)
                except _LinkClosed:
                    resends += 1  # the daemon was replaced meanwhile: ask the one that answers now
                    if resends > MAX_RESENDS:
                        tries += 1
                except _NoReply:
                    tries += 1  # Lazy Pirate: again, after looking at the connection file
            raise self._not_answering(type_)
        finally:
            self._waiting -= 1

    async def _exchange(self, link: Link, type_: str, body: msgspec.Struct, timeout: float) -> Any:
        loop = link.loop
        header, frames = link.conn.request(type_, body, self.session)
        request = Pending(loop)
        link.send(frames, header.msg_id, request)
        deadline = loop.time() + timeout
        try:
            while True:
                # woken by its answer, or by a timer to look at the daemon (cheaper than asyncio.wait per request)
                tick = loop.call_at(min(deadline, loop.time() + GONE_CHECK_S), request.wake)
                try:
                    await request.waiter
                finally:
                    tick.cancel()
                if request.answer is not NO_ANSWER:
                    return check_reply(request.answer)
                if request.closed:
                    raise _LinkClosed  # the daemon was replaced while we waited
                gone = self._gone(link, type_, body)
                if gone is not None:
                    raise gone
                if link.closed:
                    raise _LinkClosed  # the check above found a new daemon: send again
                if loop.time() >= deadline:
                    raise _NoReply
                request.waiter = loop.create_future()
        finally:
            link.pending.pop(header.msg_id, None)

    async def _greet(self, link: Link) -> None:
        """Say hello to this daemon boot once, however many requests are the first at once."""
        greeting = link.hello
        if greeting is None or greeting.done():  # only a hello still in flight is shared
            greeting = link.hello = link.loop.create_task(self.hello())
        await asyncio.shield(greeting)

    def _not_answering(self, type_: str) -> DaemonError:
        where = self._link.conn.info["requests"] if self._link is not None else paths.connection_file()
        return DaemonError(
            f"the daemon at {where} did not answer {type_!r} after {self.retries + 1} tries "
            f"({self.timeout:g} s each); is it running? (`imageworks daemon status`)",
            code="timeout",
        )

    def _gone(self, link: Link, type_: str, body: msgspec.Struct) -> DaemonError | None:
        """While a request waits: if another daemon took over (the connection file names a new boot), the link is
        replaced and the request goes to the new one (None); if the local daemon we asked no longer runs and none
        took its place, the error to raise. None while it runs, or when it is remote (its pid means nothing here:
        only an answer, or its absence, tells)."""
        stamp = file_stamp(link.conn.path)
        if stamp != link.conn.stamp:
            now = read_connection()
            if now is not None and now.get("boot_id") != link.conn.boot_id:
                if self._link is link:
                    self._drop_link()
                return None
            if now is not None:
                link.conn.stamp = stamp  # the same daemon's file, written again
        pid = link.conn.local_pid
        if not pid or pid_alive(pid):
            return None
        now = read_connection()
        if now is not None and now.get("boot_id") != link.conn.boot_id:
            if self._link is link:
                self._drop_link()
            return None
        job_id = getattr(body, "job_id", "") or getattr(body, "resume", "")
        then = "start it: `imageworks daemon start`"
        if job_id:
            then = f"continue the job with `imageworks jobs resume {job_id}`"
        return DaemonError(
            f"the daemon (pid {pid}) is gone: it stopped or was killed while answering {type_!r}; {then}",
            code="daemon_gone",
        )

    # ---- one method per request type ---------------------------------------------------------------------------

    async def hello(self) -> P.HelloReply:
        """Register this process's session with the daemon (the first request of a registering client does it)."""
        reply: P.HelloReply = await self.call("hello", P.Hello(client=self.name, pid=SESSION.pid))
        if self.register:
            SESSION.greeted(reply.boot_id)
        return reply

    async def bye(self) -> P.Ok:
        """Unregister this process's session now (``close()`` of the last client does it too)."""
        reply: P.Ok = await self.call("bye", P.Bye())
        SESSION.greeted(None)
        return reply

    # ---- subscriptions: feeds of the one SUB socket, filled by the reader ----------------------------------------

    def _subscribe(self, topic: bytes) -> EventFeed:
        link = self._current_link()
        feed = EventFeed(topic)
        self._feeds.setdefault(topic, set()).add(feed)
        link.sync_topics()
        return feed

    def _unsubscribe(self, feed: EventFeed) -> None:
        feed.close()
        feeds = self._feeds.get(feed.topic)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[feed.topic]
        if self._link is not None and not self._link.closed and not self._link.loop.is_closed():
            self._link.sync_topics()
