"""Finding or starting the daemon: ``daemon_alive`` (a probe, never listed as a client), ``spawn_daemon``,
``ensure_daemon``."""

from __future__ import annotations

import subprocess
import sys
import time

from imageworks import paths, runtime_record
from imageworks import protocol as P
from imageworks.client.connection import read_connection
from imageworks.client.sync import Client
from imageworks.errors import DaemonError

WAKE_WAIT_S = 3.0
"""How long a client waits for a daemon whose runtime files were removed to make them again when asked."""


def daemon_alive(timeout: float = 1.0) -> P.Pong | None:
    """Ping the daemon named by the connection file once; None if none answers. With no connection file, a daemon
    that runs but lost its runtime files (a logout removed the runtime dir) is asked to make them again first."""
    if read_connection() is None and not _woke_noted_daemon():
        return None
    client = Client("probe", timeout=timeout, retries=0, register=False)
    try:
        return client.ping()
    except DaemonError:
        return None
    finally:
        client.close()


def _woke_noted_daemon() -> bool:
    """Whether the daemon noted in the state dir (imageworks.runtime_record) runs and wrote its connection file
    again when asked."""
    if runtime_record.wake_noted_daemon() is None:
        return False
    deadline = time.monotonic() + WAKE_WAIT_S
    while read_connection() is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def spawn_daemon(model: str | None = None) -> subprocess.Popen[bytes]:
    """Start a detached daemon (own session: it outlives this process and its terminal)."""
    cmd = [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"]
    if model is not None:
        cmd += ["--model", model]
    log = (paths.log_dir() / "daemon-stdout.log").open("ab")
    try:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )
    finally:
        log.close()


def ensure_daemon(*, model: str | None = None, timeout: float = 30.0) -> P.Pong:
    """Return the running daemon's pong, starting one if none answers; DaemonError if it cannot start. A remote
    daemon (`imageworks --ssh HOST`) that does not answer is said so: none is started here in its place."""
    pong = daemon_alive()
    if pong is not None:
        return pong
    remote = (read_connection() or {}).get("remote")
    if remote:
        raise DaemonError(
            f"the daemon on {remote} does not answer through the ssh tunnel; is it running there? "
            f"(`ssh {remote} imageworks daemon status`)",
            code="not_running",
        )
    proc = spawn_daemon(model)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pong = daemon_alive(timeout=0.5)
        if pong is not None:
            return pong
        code = proc.poll()
        if code is not None:
            pong = daemon_alive(timeout=0.5)  # lost a start race to another client's daemon: fine
            if pong is not None:
                return pong
            raise DaemonError(
                f"the daemon exited at start (code {code}); see {paths.log_dir() / 'daemon-stdout.log'}",
                code="start_failed",
            )
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not answer within {timeout:g} s of starting", code="timeout")
