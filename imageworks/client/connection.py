"""What every client shares: the connection file, the sockets to the daemon, signing and decoding."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import zmq

from imageworks import paths
from imageworks import protocol as P
from imageworks.errors import DaemonError, ProtocolError

BYE_TIMEOUT_S = 0.5
"""close() waits this long at most for the daemon to acknowledge ``bye`` (best effort: expiry covers a miss)."""


def read_connection() -> dict[str, Any] | None:
    """The running daemon's connection file, or None if there is none (or it is unreadable); UnsafePathError if
    another user could have written it (we never send signed requests to whoever planted it)."""
    try:
        data = paths.read_private(paths.connection_file())
        return None if data is None else json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, NotADirectoryError):
        return None


def file_stamp(path: Path) -> tuple[int, int] | None:
    """Which file stands at ``path`` now (inode, mtime), None if none: a daemon writes its connection file by
    rename, so a restarted one leaves another stamp."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def check_reply(body: Any) -> Any:
    if isinstance(body, P.Error):
        raise DaemonError(f"{body.code}: {body.message}", code=body.code)
    return body


class Connection:
    """The daemon named by the connection file: endpoints, key, and the sockets made from them."""

    def __init__(self) -> None:
        self.path = paths.connection_file()
        self.stamp = file_stamp(self.path)  # before reading: a file replaced meanwhile shows as changed next time
        info = read_connection()
        if info is None:
            raise DaemonError(
                f"no daemon is running (no {self.path}); start one with `imageworks daemon start`",
                code="not_running",
            )
        self.info = info
        self.boot_id: str = info.get("boot_id", "")
        self.signer = P.Signer(info["key"].encode())

    @property
    def remote(self) -> str:
        """The host the daemon runs on when it is reached through a tunnel (`imageworks --ssh HOST`), else "": its
        pid means nothing here, so only its answers (a heartbeat) say whether it lives."""
        return str(self.info.get("remote") or "")

    @property
    def local_pid(self) -> int:
        """The daemon's pid when it runs on this machine (ipc endpoints, not tunnelled), else 0."""
        if self.remote or not str(self.info.get("requests", "")).startswith("ipc://"):
            return 0
        return int(self.info.get("pid") or 0)

    def dealer(self, ctx: zmq.Context) -> Any:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        self._secure(sock)
        sock.connect(self.info["requests"])
        return sock

    def subscriber(self, ctx: zmq.Context) -> Any:
        """A SUB socket to the daemon's events, subscribed to nothing yet (the client adds topics as it needs them)."""
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        self._secure(sub)
        sub.connect(self.info["events"])
        return sub

    def _secure(self, sock: zmq.Socket) -> None:
        """TCP endpoints are CURVE-encrypted: an ephemeral client keypair against the daemon's public key."""
        server_key = self.info.get("curve_server_key")
        if server_key:
            public, secret = zmq.curve_keypair()
            sock.curve_serverkey = server_key.encode()
            sock.curve_publickey = public
            sock.curve_secretkey = secret

    def request(self, type_: str, body: Any, session: str) -> tuple[P.Header, list[bytes]]:
        header = P.make_header(type_, session)
        return header, P.encode(self.signer, header, body)

    def decode_reply(self, frames: list[bytes]) -> P.Message:
        return P.decode(self.signer, frames, allowed=P.REPLY_TYPES)

    def decode_event(self, frames: list[bytes]) -> P.Message | None:
        """An event off a SUB socket (topic + 3 frames), or None for anything unreadable (dropped, not fatal)."""
        if len(frames) != 4:
            return None
        try:
            return P.decode(self.signer, frames[1:], allowed=P.EVENT_TYPES)
        except ProtocolError:
            return None

    def say_bye(self, session: str) -> None:
        """Best effort, from a plain blocking socket so that any close() (sync or inside an event loop) can send it."""
        sock = self.dealer(zmq.Context.instance())
        try:
            sock.send_multipart(self.request("bye", P.Bye(), session)[1], zmq.NOBLOCK)
            sock.poll(int(BYE_TIMEOUT_S * 1000), zmq.POLLIN)  # the reply itself does not matter, only delivery
        except zmq.ZMQError:
            pass
        finally:
            sock.close(0)
