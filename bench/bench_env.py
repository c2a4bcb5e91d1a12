"""Benchmarks run under their own temp XDG dirs (never the user's daemon, config or caches), with a daemon of
this checkout started in the foreground there."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def isolated_xdg(prefix: str, **env: str) -> Path:
    """Make ``run/cache/state/config`` (0700) in a new temp dir, point the XDG variables at them, set ``env``."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    for name in ("run", "cache", "state", "config"):
        (root / name).mkdir(mode=0o700)
    os.environ.update(
        XDG_RUNTIME_DIR=str(root / "run"),
        XDG_CACHE_HOME=str(root / "cache"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
        **env,
    )
    return root


@contextlib.contextmanager
def foreground_daemon(wait_s: float = 10) -> Iterator[subprocess.Popen[bytes]]:
    """This checkout's daemon in the foreground (under the XDG dirs ``isolated_xdg`` set), once it answers. On the way
    out it is waited for (the bench asked it to shut down) or, after ``wait_s`` (a run that failed), terminated."""
    from imageworks import client

    daemon = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while client.daemon_alive(0.5) is None:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited at start (status {daemon.returncode})")
            time.sleep(0.05)
        yield daemon
    finally:
        try:
            daemon.wait(wait_s)
        except subprocess.TimeoutExpired:
            daemon.terminate()
            daemon.wait(wait_s)
