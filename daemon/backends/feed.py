"""Feeding the model: each photo decoded once per job, ahead of the batch that needs it, by a few threads.

A backend reads its requests' images through an ``ImageFeed``. ``prefetch(paths)`` (the daemon's hint: a coming
batch holds them) queues their preparation on the feed's threads, as many as the CPUs this process may use (Pillow
releases the GIL while it decodes). ``take(sources)`` (a batch reaching the model) returns each image prepared —
decoded, upright, RGB, shrunk to the model's pixel cap, plus what the backend adds (the VLM's processor outputs) —
and waits only for those not ready yet: it moves them to the front of the queue and prepares them itself too; that
wait is the model waiting for its inputs (``FeedStats.input_wait_s``).

What was prepared is kept for the item's later rounds (three-step tagging asks about a photo three times) until
``forget(paths)`` (its item finished) or until the byte budget needs room (least recently used first, and only
images a batch has used); prefetching pauses while the budget is full, so memory stays bounded. A file that changed
on disk is prepared again; one that cannot be read keeps its error, so each round of its item fails at once with
the same line. Images given as bytes (the OpenAI endpoint's) are prepared on the spot and not kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from imageworks.protocol import FeedStats

from .images import ImageReadError

MAX_THREADS = 8
"""Feed threads at most, however many CPUs: a batch of 16 photos needs no more to be ready in time."""


@dataclass
class Prepared:
    """One image as the model takes it."""

    image: Any
    """The upright RGB PIL image within the pixel cap (a backend may attach its processor outputs to it)."""
    nbytes: int
    """What keeping it costs: its pixels and whatever the backend attached."""
    note: str = ""
    """Anything else the backend wants of the file (the echo backend: the file's own size and mode)."""


Prepare = Callable[[str | bytes], Prepared]
"""Decode and prepare one image (a path or a file's bytes); raises ImageReadError for that image alone."""


def feed_threads() -> int:
    """How many threads prepare images: the CPUs this process may use (its affinity: `taskset`, cgroups' cpusets)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cpus))


class _Entry:
    __slots__ = ("error", "identity", "nbytes", "pins", "prefetch", "state", "used", "value")

    def __init__(self, identity: tuple[int, int] | None, prefetch: bool) -> None:
        self.identity = identity
        self.state = "queued"
        """queued, running, ready."""
        self.value: Prepared | None = None
        self.error: ImageReadError | None = None
        self.nbytes = 0
        self.pins = 0
        """Batches waiting for it now: it is urgent, and not evicted."""
        self.used = 0
        self.prefetch = prefetch


def _outcome(value: Prepared | None, error: ImageReadError | None) -> Prepared | ImageReadError:
    if error is not None:
        return error
    assert value is not None  # a preparation gives a value or an error
    return value


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # preparing it says why, in the item's error
    return st.st_size, st.st_mtime_ns


class ImageFeed:
    def __init__(self, prepare: Prepare, *, budget_bytes: int, threads: int | None = None) -> None:
        self._prepare = prepare
        self.budget = max(0, budget_bytes)
        self.threads = threads or feed_threads()
        self._cond = threading.Condition()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        """By path, least recently used first."""
        self._queue: deque[str] = deque()
        """Paths to prepare, the most urgent first."""
        self._kept = 0
        self._workers: list[threading.Thread] = []
        self._closed = False
        self.stats = FeedStats()

    # ---- the backend's side ---------------------------------------------------------------------------------

    def prefetch(self, paths: Iterable[str]) -> None:
        """Queue these images' preparation (a hint: returns at once)."""
        known = [(path, _identity(path)) for path in paths]
        with self._cond:
            for path, identity in known:
                if self._current(path, identity) is None:
                    self._add(path, identity, prefetch=True)
            self._start_threads()
            self._cond.notify_all()

    def take(self, sources: list[str | bytes]) -> list[Prepared | ImageReadError]:
        """Each source prepared (or its error), in order; the time this takes is the model waiting for inputs."""
        start = time.perf_counter()
        known = [(source, _identity(source) if isinstance(source, str) else None) for source in sources]
        entries: list[_Entry | None] = []
        with self._cond:
            for source, identity in known:
                if not isinstance(source, str):
                    entries.append(None)
                    continue
                entry: _Entry | None = self._current(source, identity) or self._add(source, identity, prefetch=False)
                assert entry is not None
                entry.pins += 1
                if entry.state == "queued":  # urgent: ahead of hints for later batches
                    self._queue.remove(source)
                    self._queue.appendleft(source)
                entries.append(entry)
            self._cond.notify_all()
        try:
            out = [self._obtain(source, entry) for (source, _), entry in zip(known, entries, strict=True)]
        finally:
            with self._cond:
                for entry in entries:
                    if entry is not None:
                        entry.pins -= 1
                self._evict()  # what this batch used may go now, if the budget needs the room
                self.stats.input_wait_s += time.perf_counter() - start
        return out

    def forget(self, paths: Iterable[str]) -> None:
        """These images' items finished: drop what was kept of them."""
        with self._cond:
            for path in paths:
                self._drop(path)

    def note_busy(self, seconds: float) -> None:
        """A batch spent this long in the worker (its wait for inputs included)."""
        with self._cond:
            self.stats.busy_s += seconds

    def snapshot(self) -> FeedStats:
        with self._cond:
            return msgspec.structs.replace(self.stats, kept_bytes=self._kept)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._entries.clear()
            self._queue.clear()
            self._kept = 0
            self._cond.notify_all()

    # ---- inside ---------------------------------------------------------------------------------------------

    def _current(self, path: str, identity: tuple[int, int] | None) -> _Entry | None:
        """The entry for ``path`` if it is of the file as it is now (a changed file is prepared again)."""
        entry = self._entries.get(path)
        if entry is not None and (entry.identity != identity or identity is None):
            self._drop(path)
            return None
        return entry

    def _add(self, path: str, identity: tuple[int, int] | None, *, prefetch: bool) -> _Entry:
        entry = self._entries[path] = _Entry(identity, prefetch)
        self._queue.append(path)
        return entry

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is None:
            return
        if entry.state == "queued":
            self._queue.remove(path)
        elif entry.state == "ready":
            self._kept -= entry.nbytes
        # a running one finishes into an entry nobody holds any more

    def _obtain(self, source: str | bytes, entry: _Entry | None) -> Prepared | ImageReadError:
        if entry is None:  # bytes: prepared here, not kept
            value, error, _ = self._run(source)
            return _outcome(value, error)
        assert isinstance(source, str)
        with self._cond:
            while entry.state != "ready":
                if entry.state == "queued":  # nobody started it: this thread does
                    self._queue.remove(source)
                    entry.state = "running"
                    break
                self._cond.wait()
            else:
                return self._use(source, entry, reused=True)
        value, error, nbytes = self._run(source)
        with self._cond:
            self._finish(source, entry, value, error, nbytes)
            return self._use(source, entry, reused=entry.used > 0)

    def _use(self, path: str, entry: _Entry, *, reused: bool) -> Prepared | ImageReadError:
        if reused:
            self.stats.reused += 1
        entry.used += 1
        if self._entries.get(path) is entry:
            self._entries.move_to_end(path)
        return _outcome(entry.value, entry.error)

    def _run(self, source: str | bytes) -> tuple[Prepared | None, ImageReadError | None, int]:
        start = time.perf_counter()
        value: Prepared | None
        error: ImageReadError | None
        try:
            value = self._prepare(source)
        except ImageReadError as exc:
            value, error = None, exc
        except Exception as exc:  # a bug or a library's surprise: this image fails, the worker goes on
            value, error = None, ImageReadError(f"cannot prepare image: {type(exc).__name__}: {exc}")
        else:
            error = None
        with self._cond:
            self.stats.decodes += 1
            self.stats.decode_s += time.perf_counter() - start
        return value, error, value.nbytes if value is not None else 0

    def _finish(
        self, path: str, entry: _Entry, value: Prepared | None, error: ImageReadError | None, nbytes: int
    ) -> None:
        entry.value, entry.error, entry.nbytes, entry.state = value, error, nbytes, "ready"
        if self._entries.get(path) is entry:
            self._kept += nbytes
            self._evict()
        self._cond.notify_all()

    def _evict(self) -> None:
        """Least recently used first, only images a batch has used and none is waiting for."""
        for path, entry in list(self._entries.items()):
            if self._kept <= self.budget:
                return
            if entry.state == "ready" and entry.used and not entry.pins:
                self._drop(path)

    def _start_threads(self) -> None:
        while len(self._workers) < self.threads:
            worker = threading.Thread(target=self._work, name=f"image-feed-{len(self._workers)}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _can_start(self) -> bool:
        if not self._queue:
            return False
        head = self._entries[self._queue[0]]
        return bool(head.pins) or self._kept < self.budget  # hints wait while the budget is full; batches never

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._can_start():
                    self._cond.wait()
                if self._closed:
                    return
                path = self._queue.popleft()
                entry = self._entries[path]
                entry.state = "running"
            value, error, nbytes = self._run(path)
            with self._cond:
                if not entry.pins and entry.prefetch:
                    self.stats.prefetched += 1
                self._finish(path, entry, value, error, nbytes)
