"""Client library: ``AsyncClient`` (the one implementation, aio.py: many requests in flight on one connection), the
blocking ``Client`` and ``BlockingClient`` views derived from it (sync.py), and finding or starting the daemon
(launch.py). All clients of a process share one session (session.py), so the daemon lists a running TUI or CLI
once."""

from imageworks.client.aio import AsyncClient, DaemonEvent
from imageworks.client.channel import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from imageworks.client.connection import read_connection
from imageworks.client.launch import daemon_alive, ensure_daemon, spawn_daemon
from imageworks.client.streams import Subscription
from imageworks.client.sync import BlockingClient, Client

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "AsyncClient",
    "BlockingClient",
    "Client",
    "DaemonEvent",
    "Subscription",
    "daemon_alive",
    "ensure_daemon",
    "read_connection",
    "spawn_daemon",
]
