"""One watched library root: its state for status, the counts its thread keeps, and how a root inside another
watched root shares that root's watch (daemon/watch.py runs them): the outer root's thread applies the changes under
the inner one to both listings, and walks the inner one once when it joins."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field

from imageworks import protocol as P


@dataclass(eq=False)
class RootWatch:
    root: str
    state: str = "starting"
    reason: str = ""
    directories: int = 0
    changes: int = 0
    walks: int = 0
    returned: int = 0
    """Batches (or quiet timeouts) watchfiles has handed over; ``applied`` of them are in the cache."""
    applied: int = 0
    waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    """``settle`` calls waiting for ``applied`` to reach a count."""
    since: float = 0.0
    """When the watch was set up (0: not yet): a walk begun after this leaves the rows current."""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    parent: RootWatch | None = None
    """A root inside another watched root shares its watch (no inotify instance of its own): the parent's thread
    applies the changes under it to its rows too, and walks it when it joins (``pending``)."""
    children: list[RootWatch] = field(default_factory=list)
    pending: list[RootWatch] = field(default_factory=list)

    def view(self) -> P.LibraryWatch:
        shared = self.parent is not None and self.state == "watching"
        return P.LibraryWatch(
            root=self.root,
            state=self.state,
            reason=f"inside the watched library {self.parent.root}" if shared and self.parent else self.reason,
            directories=self.directories,
            changes=self.changes,
            walks=self.walks,
        )

    @property
    def running(self) -> bool:
        if self.parent is not None:
            return self.parent.running and not self.stop.is_set()
        return self.thread is not None and self.thread.is_alive() and not self.stop.is_set()

    @property
    def owner(self) -> RootWatch:
        """The watch whose thread sees this root's changes (its parent's, for a root inside another)."""
        return self.parent if self.parent is not None else self


def settled(future: asyncio.Future[None]) -> None:
    """A ``settle`` call's future, resolved on the loop once its batch is applied."""
    if not future.done():  # (its waiter may have timed out)
        future.set_result(None)


def under(path: str, root: str) -> bool:
    """Whether ``path`` lies inside the folder ``root`` (not ``root`` itself)."""
    return path.startswith(root.rstrip(os.sep) + os.sep)
