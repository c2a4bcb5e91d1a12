"""hello / bye / ping / status / shutdown, and the table of live client sessions (one per client process)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from imageworks import __version__
from imageworks import protocol as P
from imageworks.errors import DaemonError

from . import REQUEST_SESSION, Handler

KNOWN_SESSIONS_CAP = 10_000
"""Sessions remembered (listed or expired); beyond it the longest silent are forgotten."""
DEPARTED_CAP = 1_000
"""Sessions that said ``bye`` whose names are still remembered (a draft they changed names them)."""


class ClientTable:
    """Sessions that said hello. One is *live* (listed by ``status``) while it keeps sending: silent for
    ``expiry_s`` it drops out of the list, and comes back with its next request (a suspended TUI resumed);
    ``bye`` drops it from the list at once (its name is kept a while, for ``describe``). Sessions that never said
    hello (probes) are never listed."""

    def __init__(self, expiry_s: float) -> None:
        self.expiry_s = expiry_s
        self.registered = 0
        self._known: dict[str, P.ClientInfo] = {}
        self._departed: dict[str, P.ClientInfo] = {}
        """Said bye, oldest first: a CLI that edited a draft and exited is still named by a later conflict."""

    def hello(self, session: str, name: str, pid: int) -> None:
        now = time.time()
        info = self._known.get(session)
        if info is None:
            self._departed.pop(session, None)
            self.registered += 1
            self._known[session] = P.ClientInfo(
                name=name, pid=pid, session=session, first_seen=now, last_seen=now, requests=1
            )
            self._forget_oldest()
        else:
            info.name, info.pid = name, pid

    def seen(self, session: str) -> None:
        info = self._known.get(session)
        if info is not None:
            info.last_seen = time.time()
            info.requests += 1

    def bye(self, session: str) -> None:
        info = self._known.pop(session, None)
        if info is not None:
            self._departed[session] = info
            if len(self._departed) > DEPARTED_CAP:
                del self._departed[next(iter(self._departed))]

    def describe(self, session: str) -> str | None:
        """The session as a person knows it: the name it gave at hello and its pid (``tui (pid 1234)``), as
        ``daemon status`` lists clients; None for a session this daemon never met (it said hello to an earlier one)."""
        info = self._known.get(session) or self._departed.get(session)
        return None if info is None else f"{info.name} (pid {info.pid})"

    def live(self) -> list[P.ClientInfo]:
        horizon = time.time() - self.expiry_s
        return [info for info in self._known.values() if info.last_seen >= horizon]

    def _forget_oldest(self) -> None:
        if len(self._known) > KNOWN_SESSIONS_CAP:
            oldest = sorted(self._known.values(), key=lambda info: info.last_seen)
            for info in oldest[: len(self._known) - KNOWN_SESSIONS_CAP]:
                del self._known[info.session]


class SessionHandlers:
    def __init__(
        self,
        clients: ClientTable,
        boot_id: str,
        status: Callable[[], P.StatusReply],
        stop: Callable[[], None],
    ) -> None:
        self.clients = clients
        self.boot_id = boot_id
        self.status = status
        self.stop = stop

    def table(self) -> dict[str, Handler]:
        return {
            "hello": self.on_hello,
            "bye": self.on_bye,
            "ping": self.on_ping,
            "status": self.on_status,
            "shutdown": self.on_shutdown,
        }

    def on_hello(self, body: P.Hello) -> P.HelloReply:
        if body.protocol_version != P.PROTOCOL_VERSION:
            raise DaemonError(
                f"client speaks protocol {body.protocol_version}, daemon {P.PROTOCOL_VERSION}: "
                "restart the daemon with this version (`imageworks daemon stop`)",
                code="version_mismatch",
            )
        self.clients.hello(REQUEST_SESSION.get(), body.client, body.pid)
        return P.HelloReply(
            daemon_version=__version__,
            protocol_version=P.PROTOCOL_VERSION,
            boot_id=self.boot_id,
            pid=os.getpid(),
        )

    def on_bye(self, body: P.Bye) -> P.Ok:
        self.clients.bye(REQUEST_SESSION.get())
        return P.Ok(message="bye")

    def on_ping(self, body: P.Ping) -> P.Pong:
        return P.Pong(boot_id=self.boot_id, time=time.time())

    def on_status(self, body: P.StatusRequest) -> P.StatusReply:
        return self.status()

    def on_shutdown(self, body: P.Shutdown) -> P.Ok:
        self.stop()
        return P.Ok(message="shutting down")
