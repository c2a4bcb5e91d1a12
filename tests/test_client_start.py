"""Start-on-demand: ensure_daemon() spawns a detached daemon that outlives its client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from imageworks import client
from imageworks.client import Client


def test_ensure_daemon_starts_one_and_reuses_it():
    assert client.daemon_alive(timeout=0.2) is None
    pong = client.ensure_daemon(timeout=30)
    info = client.read_connection()
    assert info is not None  # ensure_daemon() returned: it wrote its connection file
    pid = info["pid"]
    try:
        assert client.ensure_daemon().boot_id == pong.boot_id  # reused, not a second one
        # started from a client process that then exits: the daemon lives on (own session)
        code = "from imageworks import client; print(client.ensure_daemon().boot_id)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == pong.boot_id
        assert os.getsid(pid) == pid
    finally:
        with Client("t") as c:
            c.shutdown()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
