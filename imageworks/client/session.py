"""One client session per process: every Client/AsyncClient of a process shares its id, so the daemon lists a
running TUI or CLI once however many client objects it makes (or threads it runs them in).

The first request of a registering client says ``hello`` (name, pid) to each daemon boot; ``close()`` of the
process's last open client says ``bye``. A forked child is a new process, so it gets a new session.
"""

from __future__ import annotations

import os
import threading

from imageworks.protocol import new_id


class ProcessSession:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self.pid = os.getpid()
        self._id = f"{self.pid}-{new_id()[:12]}"
        self._open = 0
        self._greeted_boot: str | None = None

    def _current(self) -> ProcessSession:
        if os.getpid() != self.pid:
            self._start()
        return self

    @property
    def id(self) -> str:
        with self._lock:
            return self._current()._id

    def needs_hello(self, boot_id: str) -> bool:
        """True until a hello to this daemon boot was answered (a restarted daemon has not heard of us)."""
        with self._lock:
            return self._current()._greeted_boot != boot_id

    def greeted(self, boot_id: str | None) -> None:
        with self._lock:
            self._current()._greeted_boot = boot_id

    def opened(self) -> None:
        with self._lock:
            self._current()._open += 1

    def closed(self) -> bool:
        """One client closed; True when it was the last open one and the daemon knows us (so: say bye)."""
        with self._lock:
            self._current()._open = max(0, self._open - 1)
            last = self._open == 0 and self._greeted_boot is not None
            if last:
                self._greeted_boot = None
            return last


SESSION = ProcessSession()
