"""The daemon's files in the 0700 runtime dir: the lock that keeps a second daemon out, and 0600 files written
atomically (the connection file with the HMAC key)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from imageworks.errors import DaemonError


class DaemonLock:
    """fcntl lock on the runtime dir's lock file: released by the kernel when the process dies, however."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DaemonError(
                f"another imageworks daemon is already running (pid {holder}); "
                "use `imageworks daemon status` or `imageworks daemon stop`",
                code="already_running",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def write_private(path: Path, data: str) -> None:
    """Write a 0600 file atomically (never a moment where it exists with wider permissions)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
