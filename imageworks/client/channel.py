"""The request/reply channel to the daemon, on which ``AsyncClient`` (aio.py) builds one method per request.

- Requests go over a DEALER socket; a reply is matched by ``parent_id``. A request that gets no reply in time is
  retried on a fresh socket (Lazy Pirate), re-reading the connection file in case the daemon restarted; after
  the retries a ``DaemonError`` says the daemon is not answering. Nothing waits forever.
- While it waits, it looks whether the daemon's process still runs: a daemon killed mid-request is named at once.
- A registering client says ``hello`` before its first request to each daemon boot, and the process's last open
  client says ``bye`` on ``close()`` (session.py keeps the count).
- The socket operations come from an I/O object (io.py): ``AsyncIO`` for the async client, ``BlockingIO`` for the
  blocking ``Client`` (sync.py), which runs the same coroutines without an event loop.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from imageworks import paths
from imageworks import protocol as P
from imageworks.client.connection import Connection, check_reply, read_connection
from imageworks.client.io import AsyncIO, BlockingIO
from imageworks.client.session import SESSION
from imageworks.errors import DaemonError, ProtocolError
from imageworks.system import pid_alive

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
GONE_CHECK_S = 0.5
"""While waiting for a reply, look this often whether the daemon's process still runs."""


class Channel:
    """Requests and their replies, one at a time (one channel per task; not shared between tasks sending at once).
    ``register=False`` makes a probe that is never listed among the daemon's clients."""

    def __init__(
        self,
        name: str = "client",
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        register: bool = True,
        io: type[AsyncIO] | type[BlockingIO] = AsyncIO,
    ) -> None:
        self.name = name
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
        self.retries = retries
        self.register = register
        self.io = io
        self.conn: Connection | None = None
        self.sock: Any = None
        """The DEALER socket to the daemon, made on first use."""
        self._counted = False
        self._probe_session = f"probe-{P.new_id()[:12]}"

    @property
    def session(self) -> str:
        """The process's session; a probe has its own, which the daemon never lists nor refreshes."""
        return SESSION.id if self.register else self._probe_session

    def _connect(self) -> Any:
        self.conn = Connection()
        self.sock = self.conn.dealer(self.io.context())
        if self.register and not self._counted:
            SESSION.opened()
            self._counted = True
        return self.sock

    def _drop_socket(self) -> None:
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def close(self) -> None:
        """Close the socket; the process's last open client says ``bye`` so the daemon drops it at once."""
        self._drop_socket()
        if self._counted:
            self._counted = False
            if SESSION.closed() and self.conn is not None:
                self.conn.say_bye(self.session)

    def _not_answering(self, type_: str) -> DaemonError:
        where = self.conn.info["requests"] if self.conn else paths.connection_file()
        return DaemonError(
            f"the daemon at {where} did not answer {type_!r} after {self.retries + 1} tries "
            f"({self.timeout:g} s each); is it running? (`imageworks daemon status`)",
            code="timeout",
        )

    def _gone(self, type_: str, body: msgspec.Struct) -> DaemonError | None:
        """The error to raise when the daemon we asked no longer runs (killed or stopped) and none took its place;
        None while it runs, or when it is remote (its pid means nothing here)."""
        info = self.conn.info if self.conn is not None else {}
        pid = int(info.get("pid") or 0)
        if not pid or not str(info.get("requests", "")).startswith("ipc://") or pid_alive(pid):
            return None
        now = read_connection()
        if now is not None and now.get("boot_id") != info.get("boot_id"):
            return None  # a new daemon took over: the retry reaches it
        job_id = getattr(body, "job_id", "") or getattr(body, "resume", "")
        then = "start it: `imageworks daemon start`"
        if job_id:
            then = f"continue the job with `imageworks jobs resume {job_id}`"
        return DaemonError(
            f"the daemon (pid {pid}) is gone: it stopped or was killed while answering {type_!r}; {then}",
            code="daemon_gone",
        )

    # ---- the request/reply core ------------------------------------------------------------------------------

    async def call(self, type_: str, body: msgspec.Struct, *, timeout: float | None = None) -> Any:
        """Send one request and return the reply body; an ``Error`` reply raises DaemonError(code)."""
        timeout = self.timeout if timeout is None else timeout
        for _attempt in range(self.retries + 1):
            sock = self.sock or self._connect()
            assert self.conn is not None
            if self.register and type_ not in ("hello", "bye") and SESSION.needs_hello(self.conn.boot_id):
                await self.hello()
            header, frames = self.conn.request(type_, body, self.session)
            await self.io.send(sock, frames)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not await self.io.poll(sock, min(left, GONE_CHECK_S)):
                    gone = self._gone(type_, body)
                    if gone is not None:
                        self._drop_socket()
                        raise gone
                    continue
                try:
                    msg = self.conn.decode_reply(await self.io.recv(sock))
                except ProtocolError:
                    continue  # a stray or corrupted frame: keep waiting for ours
                if msg.header.parent_id == header.msg_id:
                    return check_reply(msg.body)
            self._drop_socket()  # Lazy Pirate: a fresh socket, and re-read the connection file
        raise self._not_answering(type_)

    # ---- one method per request type -------------------------------------------------------------------------

    async def hello(self) -> P.HelloReply:
        """Register this process's session with the daemon (done by the first request of a registering client)."""
        reply: P.HelloReply = await self.call("hello", P.Hello(client=self.name, pid=SESSION.pid))
        if self.register:
            SESSION.greeted(reply.boot_id)
        return reply

    async def bye(self) -> P.Ok:
        """Unregister this process's session now (``close()`` of the last client does it too)."""
        reply: P.Ok = await self.call("bye", P.Bye())
        SESSION.greeted(None)
        return reply

    # ---- subscriptions (a SUB socket per stream, on the same connection) ---------------------------------------

    def _subscribe(self, topic: bytes) -> Any:
        if self.conn is None:
            self._connect()
        assert self.conn is not None
        return self.conn.subscriber(self.io.context(), topic)
