"""The daemon's lock in the 0700 runtime dir: it keeps a second daemon out (0600 files are written by
``imageworks.paths.write_private``)."""

from __future__ import annotations

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
            os.close(fd)
            raise DaemonError(
                f"another imageworks daemon is already running (pid {self.holder()}); "
                "use `imageworks daemon status` or `imageworks daemon stop`",
                code="already_running",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def holder(self) -> str:
        """The pid the lock file names (its holder's, while one holds it), or "?"."""
        try:
            return self.path.read_text(errors="replace").strip()[:64] or "?"
        except OSError:
            return "?"

    def take_again(self) -> None:
        """The lock file was removed under this daemon (its runtime dir with it): take a new one at the same path,
        then let the old one go. DaemonError (and the old one kept) if another process holds the new one."""
        old, self.fd = self.fd, None
        try:
            self.acquire()
        except BaseException:
            self.fd = old
            raise
        if old is not None:
            os.close(old)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
