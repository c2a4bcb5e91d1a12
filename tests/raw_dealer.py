"""A raw peer on the daemon's request socket: frames sent by hand (garbage, wrongly signed, replayed), replies
read and decoded as a client would."""

from __future__ import annotations

import zmq

from imageworks import client
from imageworks import protocol as P


def raw_dealer(ctx: zmq.Context) -> zmq.Socket:
    """A DEALER connected to the running daemon's request socket, as its connection file names it."""
    info = client.read_connection()
    assert info is not None  # the daemon is up
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(info["requests"])
    return sock


def recv_reply(sock: zmq.Socket, signer: P.Signer, timeout_ms: int = 2000) -> P.Message | None:
    """The next reply, decoded and checked; None when none comes within ``timeout_ms``."""
    if not sock.poll(timeout_ms):
        return None
    return P.decode(signer, sock.recv_multipart(), allowed=P.REPLY_TYPES)


def expect_reply(sock: zmq.Socket, signer: P.Signer) -> P.Message:
    """The daemon's reply to what was just sent, asserted to come (within recv_reply's default wait)."""
    reply = recv_reply(sock, signer)
    assert reply is not None, "no reply"
    return reply
