"""The daemon's runtime files stay its own, or it stops.

The lock, the sockets and the connection file live in ``$XDG_RUNTIME_DIR/imageworks``. systemd-logind removes that
dir when a user's last session ends (an SSH logout, on a box without lingering), and a cleaner can remove files in
the ``/tmp`` fallback. The daemon goes on running a job meanwhile, but no client can find it: the next login would
start a second daemon (a second copy of the model on the GPU, both writing the one journal). So every
``daemon.runtime_check_s`` the daemon looks at its files, as gpg-agent looks at its socket:

- all there and the lock file is the one it holds: nothing to do;
- some gone: it makes them again where it can (the dir back at 0700, a new lock, the sockets bound again at their
  paths, the connection file rewritten with the same key and boot id), so the next client finds the same daemon
  and its running job; where it cannot yet (``/run/user/UID`` is made again only at the next login) it waits;
- the lock file at its path held by another process (a daemon started while the files were gone): this daemon
  stops, as ``daemon stop`` stops it (its job interrupted, resumable), and leaves that daemon's files alone.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

import zmq

from imageworks import paths
from imageworks.errors import DaemonError, ImageWorksError

from .lockfile import DaemonLock

log = logging.getLogger("imageworks.daemon")


def same_file(lock: DaemonLock) -> bool:
    """Whether the lock file at its path is the one ``lock`` holds."""
    assert lock.fd is not None
    try:
        st = os.stat(lock.path)
    except OSError:
        return False
    held = os.fstat(lock.fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def held_by_another(path: Path) -> bool:
    """Whether a process holds the lock file at ``path`` (this daemon's own lock is another file by then)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class RuntimeGuard:
    """Looks at the daemon's runtime files every ``check_s`` (on the loop) and makes them again, or stops it."""

    def __init__(
        self,
        lock: DaemonLock,
        binds: list[tuple[zmq.Socket, Path]],
        files: list[Path],
        write_files: Callable[[], None],
        stop: Callable[[str], None],
    ) -> None:
        self.lock = lock
        self.binds = binds
        """Each ipc socket and the path it is bound at."""
        self.files = files
        """The files written by ``write_files`` (the connection files)."""
        self.write_files = write_files
        self.stop = stop
        self._waiting = ""

    def intact(self) -> bool:
        """Whether the lock file at its path is the one this daemon holds and every file is there (a few ``stat``
        calls: cheap enough for the loop)."""
        return (
            same_file(self.lock)
            and all(path.exists() for _, path in self.binds)
            and all(path.exists() for path in self.files)
        )

    def owns(self) -> bool:
        """Whether the files at the runtime paths are this daemon's (at shutdown: only then does it remove them)."""
        return same_file(self.lock) or not held_by_another(self.lock.path)

    async def run(self, check_s: float) -> None:
        while True:
            await asyncio.sleep(check_s)
            if not self.check():
                return

    def check(self) -> bool:
        """Make the files again where some are gone; False once another daemon holds the lock (this one stops)."""
        if self.intact():
            return True
        try:
            self.restore()
        except DaemonError:  # the lock file at its path is held by another process: a daemon started meanwhile
            self.stop(f"another daemon (pid {self.lock.holder()}) holds {self.lock.path} now")
            return False
        except (OSError, ImageWorksError, zmq.ZMQError) as exc:  # the base dir is not back yet (logind makes it at
            # the next login), or it came back unsafe: look again next time
            if str(exc) != self._waiting:
                log.warning("the daemon's runtime files are gone and cannot be made again yet: %s", exc)
                self._waiting = str(exc)
        return True

    def restore(self) -> None:
        """The dir (0700), the lock, the sockets and the connection files, at their paths again."""
        paths.runtime_dir()  # (raises OSError while its base is gone, UnsafePathError if it is not private)
        if not same_file(self.lock):
            self.lock.take_again()
        old_umask = os.umask(0o077)  # sockets created 0600
        try:
            for sock, path in self.binds:
                if not path.exists():
                    sock.bind(f"ipc://{path}")  # clients connected through the old path stay connected
        finally:
            os.umask(old_umask)
        self.write_files()
        self._waiting = ""
        where = self.lock.path.parent
        log.warning("the daemon's runtime files were removed (a logout, a cleaner): made again in %s", where)
