"""The daemon's sockets (the channel layer): a ROUTER for requests and a PUB for events, on ``ipc://`` in the
runtime dir, and optionally on TCP, where both are always CURVE-encrypted."""

from __future__ import annotations

import zmq

from imageworks.errors import DaemonError


def socket_pair(
    ctx: zmq.Context, max_message_bytes: int, curve_secret: bytes | None = None
) -> tuple[zmq.Socket, zmq.Socket]:
    """A request ROUTER (a peer sending more than ``max_message_bytes`` is disconnected) and an event PUB."""
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.ROUTER_HANDOVER, 1)
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, 100_000)
    if curve_secret is not None:
        for sock in (router, pub):
            sock.curve_secretkey = curve_secret
            sock.curve_server = True
    return router, pub


def bind_tcp(ctx: zmq.Context, max_message_bytes: int, endpoint: str) -> tuple[zmq.Socket, zmq.Socket, dict[str, str]]:
    """The TCP listener, always encrypted with CURVE (requests on PORT, events on PORT+1), and the connection info
    that differs from the ipc one (endpoints, the server's public key). Clients still need the HMAC key; they get
    both from connection-tcp.json (0600), which the user copies to the remote."""
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit():
        raise DaemonError(f"daemon.tcp_endpoint must look like tcp://HOST:PORT, got {endpoint!r}")
    public, secret = zmq.curve_keypair()
    router, pub = socket_pair(ctx, max_message_bytes, curve_secret=secret)
    try:
        router.bind(f"tcp://{host}:{port}")
        pub.bind(f"tcp://{host}:{int(port) + 1}")
    except zmq.ZMQError as exc:
        raise DaemonError(f"cannot listen on {endpoint}: {exc}") from exc
    fields = {
        "requests": f"tcp://{host}:{port}",
        "events": f"tcp://{host}:{int(port) + 1}",
        "curve_server_key": public.decode(),
    }
    return router, pub, fields
