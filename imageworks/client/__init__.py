"""Client library: ``AsyncClient`` (the one implementation, aio.py), the blocking ``Client`` derived from it
(sync.py), and finding or starting the daemon (launch.py). All clients of a process share one session
(session.py), so the daemon lists a running TUI or CLI once."""

from imageworks.client.aio import AsyncClient, DaemonEvent
from imageworks.client.channel import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from imageworks.client.connection import read_connection
from imageworks.client.launch import daemon_alive, ensure_daemon, spawn_daemon
from imageworks.client.sync import Client

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "AsyncClient",
    "Client",
    "DaemonEvent",
    "daemon_alive",
    "ensure_daemon",
    "read_connection",
    "spawn_daemon",
]
