"""Library watchers feeding the scan cache (the daemon is its one writer).

Every root scanned while the daemon runs is watched (watchfiles: inotify here, recursive), one thread per root. A
batch of changes (grouped for up to ``DEBOUNCE_MS``) updates the cache rows of exactly those files: a new image is
added, one rewritten in place has its row updated and its lazy probe results dropped, one removed or renamed away is
removed; a folder added, removed or renamed brings the files under it. Then a ``library`` event tells the clients.

A watched root is marked in the cache (``roots.watched``) once its rows are known to be current, so that the
daemon's scan job answers it from the cache without a walk (a refresh costs a query, not a walk), once ``settle``
saw the watch apply what changed before the request (``job.submit`` awaits it). That needs the
watch to have been set up before the last walk began: a root scanned before its watch existed gets one catch-up walk
(a refresh) right after; a root the cache knew when the daemon started may have changed while nobody watched, so it
waits for its next scan's walk (``refresh needed``). Where a root cannot be watched (more folders than
``scan.max_watches``, the system's inotify limit reached, a network filesystem whose remote changes inotify never
sees, a listing that follows symlinks, ``MAX_ROOTS`` watched already, ``scan.watch_libraries`` off) it is
``not watched``: every refresh walks it, and status says why. inotify's queue overflow, which watchfiles does not
report, is covered by a walk after any burst big enough to have caused one (``BURST_PATHS``). A root inside
another watched root shares that root's watch (``RootWatch.parent``, daemon/watch_root.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from imageworks import paths
from imageworks import protocol as P
from imageworks.config import ScanConfig
from imageworks.jobs.records import ScanRecord
from imageworks.scan import ScanCache, ScanError
from imageworks.scan.records import image_ext_ids

from .watch_checks import count_dirs, undecodable_name, why_it_failed, why_not_watched
from .watch_root import RootWatch, settled, under

log = logging.getLogger("imageworks.daemon")
logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every batch at INFO: the daemon's log is no diary

DEBOUNCE_MS = 200
"""The longest a batch of changes is held before it is applied (so a burst of 10 000 files is a few batches)."""
STEP_MS = 50
"""A batch is applied once no new change came for this long."""
IDLE_MS = 200
"""How long a watch waits for a change before it says it is idle: what a quiet root's ``settle`` costs at most, and the
quiet that ends a burst."""
STOP_S = 2.0
"""The longest shutdown waits for the watch threads, and a scan for its root's watch to settle."""
BURST_PATHS = 4096
"""A burst of changes (batches with less than ``IDLE_MS`` between them) naming this many paths may have overflowed
the kernel's event queue (``fs.inotify.max_queued_events``, 16384 by default), whose losses watchfiles drops
silently: once it is over, the watch walks the root (a refresh) to be sure."""
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
"""A watch that watchfiles gives up on (an event on a name that is not UTF-8) is set up again, with a walk, at most
``MAX_RESTARTS`` times in ``RESTART_WINDOW_S``; past that (such a file rewritten again and again) refreshes walk."""
MAX_ROOTS = 32
"""Roots watched at once: each holds one inotify instance, of the 128 a user has by default
(``fs.inotify.max_user_instances``), which other programs need too."""
NOT_WATCHED = "not watched"


class LibraryWatches:
    """The daemon's watchers, by root: made at daemon start (on the loop); ``on_result`` with each job result;
    ``forget`` when listings are cleared; ``views`` for status; ``stop`` at shutdown."""

    def __init__(
        self, config: ScanConfig, publish: Callable[[P.LibraryChanged], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        """Starts watching the roots the cache knows (on a thread), each ``refresh needed`` until a walk.
        ``publish`` is called on ``loop``."""
        self.config = config
        self.publish = publish
        self.watches: dict[str, RootWatch] = {}
        self._lock = threading.Lock()
        self._loop = loop
        self._image_ext = image_ext_ids()
        if config.watch_libraries and paths.scan_db(create=False).exists():
            threading.Thread(target=self._resume, name="library-watch-start", daemon=True).start()

    def _resume(self) -> None:
        with ScanCache(config=self.config) as cache:
            cache.set_watched(None, False)  # nobody watched while the daemon was down
            roots = cache.cached_roots()
        for root, follow in sorted(roots, key=lambda r: len(r[0])):  # a library before the folders inside it
            with self._lock:
                known = root in self.watches  # a scan of it finished first: that watch catches up itself
            if os.path.isdir(root) and not known:
                self._begin(root, follow, catch_up=False)

    def on_result(self, result: P.ResultRecord) -> None:
        """Every job result (on the loop): a scan's record starts or confirms the watch of its root."""
        if isinstance(result.record, ScanRecord):
            self.scanned(result.record)

    def scanned(self, record: ScanRecord) -> None:
        """A scan job's record: watch the root, or trust a watch that was set up before this walk."""
        if record.status != "ok" or not record.root:
            return
        with self._lock:
            watch = self.watches.get(record.root)
        if watch is None or not watch.running:
            self._begin(record.root, record.follow_symlinks, catch_up=True)
        elif record.follow_symlinks:  # (that walk ended the cache's trust in the watch already)
            why = "its listing follows symlinks, which a watch does not; refreshes rescan"
            threading.Thread(target=self._end, args=(watch, NOT_WATCHED, why), daemon=True).start()
        elif watch.state == "refresh needed" and not record.from_cache and 0 < watch.since <= record.scanned_at:
            threading.Thread(target=self._trust, args=(watch,), name="library-watch-trust", daemon=True).start()

    async def settle(self, root: str) -> None:
        """Return once the watcher of ``root`` has applied every change made before this call: a batch that watchfiles
        hands over after now must be in the cache (at most ``IDLE_MS`` plus the batch's work). At once for a root not
        watched, or not trusted (its scan walks), and at most ``STOP_S`` (a stuck watch must not hold a scan)."""
        with self._lock:
            watch = self.watches.get(root)
        if watch is None or not watch.running or watch.state != "watching":
            return
        watch = watch.owner
        done = asyncio.get_running_loop().create_future()
        with self._lock:
            watch.waiters.append((watch.returned + 1, done))
        self._wake(watch)  # (it may have got there meanwhile)
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(done, STOP_S)

    def _wake(self, watch: RootWatch) -> None:
        """Resolve the ``settle`` calls whose batch is applied (from any thread)."""
        with self._lock:
            ready = [f for target, f in watch.waiters if watch.applied >= target or not watch.running]
            watch.waiters = [(t, f) for t, f in watch.waiters if f not in ready]
        for future in ready:
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown)
                self._loop.call_soon_threadsafe(settled, future)

    def forget(self, root: str | None) -> None:
        """The cached listing of ``root`` (None: of every root) was cleared: stop watching it."""
        with self._lock:
            gone = [w for r, w in self.watches.items() if root is None or r == root]
            for w in gone:
                del self.watches[w.root]
        for w in gone:
            w.stop.set()

    def views(self) -> list[P.LibraryWatch]:
        with self._lock:
            return [w.view() for _, w in sorted(self.watches.items())]

    def stop(self) -> None:
        with self._lock:
            watches = list(self.watches.values())
        for w in watches:
            w.stop.set()
        deadline = time.monotonic() + STOP_S
        for w in watches:
            if w.thread is not None:
                w.thread.join(max(0.0, deadline - time.monotonic()))
        if paths.scan_db(create=False).exists():
            with contextlib.suppress(ScanError), ScanCache(config=self.config) as cache:
                cache.set_watched(None, False)

    # ---- one root ----------------------------------------------------------------------------------------------

    def _begin(self, root: str, follow_symlinks: bool, *, catch_up: bool) -> None:
        watch = RootWatch(root)
        with self._lock:
            old = self.watches.get(root)
            if old is not None:
                old.stop.set()
                if old.state == NOT_WATCHED:  # status keeps saying why while this try looks again (no flicker)
                    watch.state, watch.reason = old.state, old.reason
            self.watches[root] = watch
            running = sum(w.running and w.parent is None for w in self.watches.values())
            parent = None if follow_symlinks else self._covering(root)
            if parent is not None and self.config.watch_libraries:
                watch.parent, watch.since = parent, parent.since
                parent.children.append(watch)
                if catch_up:
                    parent.pending.append(watch)  # its thread walks it, between two batches: then it is trusted
                else:  # known at start: trusted after its next scan's walk, as a root of its own would be
                    watch.state = "refresh needed"
                return
        # (no DB write in these two: this may run on the loop, and the root is not marked)
        if not self.config.watch_libraries:
            watch.state, watch.reason = NOT_WATCHED, "scan.watch_libraries is off; refreshes rescan"
            return
        if running >= MAX_ROOTS:
            watch.state = NOT_WATCHED
            watch.reason = f"the daemon watches {MAX_ROOTS} libraries already (each holds one of the user's inotify "
            watch.reason += "instances); refreshes rescan"
            return
        watch.thread = threading.Thread(
            target=self._run, args=(watch, follow_symlinks, catch_up), name="library-watch", daemon=True
        )
        watch.thread.start()

    def _end(self, watch: RootWatch, state: str, reason: str) -> None:
        watch.state, watch.reason = state, reason
        watch.stop.set()
        log.info("library %s: %s: %s", watch.root, state, reason)
        with contextlib.suppress(ScanError), ScanCache(config=self.config) as cache:
            cache.set_watched(watch.root, False)

    def _trust(self, watch: RootWatch) -> None:
        with ScanCache(config=self.config) as cache:
            if not watch.stop.is_set() and cache.set_watched(watch.root, True):
                watch.state, watch.reason = "watching", ""

    def _run(self, watch: RootWatch, follow_symlinks: bool, catch_up: bool) -> None:
        restarts: list[float] = []
        try:
            reason = why_not_watched(watch.root, follow_symlinks, self.config.max_watches)
            if reason:
                self._end(watch, NOT_WATCHED, reason + "; refreshes rescan")
                return
            while True:
                try:
                    self._watch(watch, catch_up)
                    return
                except Exception as exc:
                    # watchfiles gives up the whole watch on the first event for a name that is not UTF-8: watch
                    # again, and walk once (the walker reads such names) for what that event and the gap held
                    now = time.monotonic()
                    restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
                    if not undecodable_name(exc) or watch.stop.is_set() or len(restarts) > MAX_RESTARTS:
                        raise
                    log.info("library %s: %s; watching again after a walk", watch.root, exc)
                    with ScanCache(config=self.config) as cache:
                        cache.set_watched(watch.root, False)  # not trusted until that walk
                    watch.since, catch_up = 0.0, True
        except ScanError as exc:  # its listing was cleared, or the cache cannot be written
            self._end(watch, NOT_WATCHED, f"{exc}; refreshes rescan")
        except Exception as exc:  # an OSError at set-up, watchfiles' errors later, a bug: never the daemon's end
            if not isinstance(exc, OSError):
                log.exception("library watch of %s failed", watch.root)
            self._end(watch, NOT_WATCHED, why_it_failed(exc) + "; refreshes rescan")
        finally:
            watch.stop.set()
            self._wake(watch)  # no settle waits on a watch that ended
            for child in watch.children:  # the folders inside it watched through it: each on its own now
                with self._lock:
                    current = self.watches.get(child.root) is child and not child.stop.is_set()
                if current:
                    self._begin(child.root, False, catch_up=True)

    def _watch(self, watch: RootWatch, catch_up: bool) -> None:
        """Watch until stopped; each batch of changes is applied to the cache (a burst: one walk)."""
        import watchfiles

        changes = watchfiles.watch(
            watch.root,
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=watch.stop,
            rust_timeout=IDLE_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
            recursive=True,
            ignore_permission_denied=False,  # True would hide every error of the set-up, the limit's too
        )
        burst = 0  # paths in the batches since the last quiet moment
        with ScanCache(config=self.config) as cache:
            for batch in changes:
                watch.returned += 1
                if not watch.since:  # the first answer: the watch is set up
                    self._established(watch, cache, catch_up)
                if batch:
                    self._apply(watch, cache, {path for _change, path in batch})
                    burst += len(batch)
                elif burst:  # quiet for IDLE_MS: the burst is over
                    if burst >= BURST_PATHS and not watch.stop.is_set():
                        for each in (watch, *self._inside(watch)):
                            self._walk(each, cache)
                    burst = 0
                if watch.pending:
                    self._join(watch, cache)
                watch.applied += 1
                self._wake(watch)

    def _established(self, watch: RootWatch, cache: ScanCache, catch_up: bool) -> None:
        watch.since = time.time()
        for child in self._inside(watch):
            child.since = child.since or watch.since
        with self._lock:  # roots inside this one watched on their own until now: they join it
            inside = [w for w in self.watches.values() if w.parent is None and w.running and under(w.root, watch.root)]
        for other in inside:
            self._adopt(watch, other, cache)
        watch.directories = count_dirs(watch.root, 10**9)
        if not catch_up:
            watch.state = "refresh needed"
            watch.reason = "files may have changed while the daemon was not watching: the next scan walks it"
            return
        self._walk(watch, cache)  # what changed between the scan's walk and the watch's set-up

    def _walk(self, watch: RootWatch, cache: ScanCache) -> None:
        """A refresh walk (the root untrusted meanwhile), then the root is trusted: its rows are current."""
        cache.set_watched(watch.root, False)
        result = cache.scan(watch.root, refresh=True, follow_symlinks=False)
        watch.walks += 1
        if result.added or result.changed or result.removed:
            watch.changes += result.added + result.changed + result.removed
            self._announce(
                P.LibraryChanged(root=watch.root, added=result.added, changed=result.changed, removed=result.removed)
            )
        if not watch.stop.is_set() and cache.set_watched(watch.root, True):
            watch.state, watch.reason = "watching", ""

    def _apply(self, watch: RootWatch, cache: ScanCache, changed: set[str]) -> None:
        """Bring the rows of these paths (files, or folders: the files under them) in line with the disk."""
        root = watch.root
        prefix = root.rstrip(os.sep) + os.sep
        if not os.path.isdir(root):
            self._end(watch, NOT_WATCHED, "the folder is gone; its next scan says so")
            return
        rels: set[str] = set()
        for path in changed:
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix) :]
            rels.add(rel)
            if os.path.isdir(path) and not os.path.islink(path):  # a folder came (or was renamed here)
                for where, _dirs, files in os.walk(path):
                    base = where[len(prefix) :]
                    rels.update(f"{base}/{name}" for name in files)
            elif not os.path.lexists(path):  # a file or a folder went: the rows under it go too
                rels.update(cache.relpaths_under(root, rel))
        added, updated, removed = cache.refresh_paths(root, rels)
        if added or updated or removed:
            watch.changes += added + updated + removed
            images = sorted(prefix + r for r in rels if r.rpartition(".")[2].lower() in self._image_ext)
            shown = images[: P.CHANGED_PATHS_SHOWN]
            event = P.LibraryChanged(
                root=root, added=added, changed=updated, removed=removed, paths=shown, more=len(images) > len(shown)
            )
            self._announce(event)
        for child in self._inside(watch):  # the same changes, for the rows of the roots inside this one
            mine = {path for path in changed if path == child.root or under(path, child.root)}
            if mine:
                self._apply(child, cache, mine)

    # ---- roots inside a watched root -----------------------------------------------------------------------------

    def _covering(self, root: str) -> RootWatch | None:
        """The running watch of its own whose root holds ``root`` (the nearest), if any; under ``_lock``."""
        holders = [w for w in self.watches.values() if w.parent is None and w.running and under(root, w.root)]
        return max(holders, key=lambda w: len(w.root), default=None)

    def _inside(self, watch: RootWatch) -> list[RootWatch]:
        with self._lock:
            return [child for child in watch.children if not child.stop.is_set()]

    def _adopt(self, watch: RootWatch, other: RootWatch, cache: ScanCache) -> None:
        """``other``, a root inside ``watch`` that had a watch of its own, shares ``watch``'s from now on: its own
        stops, and it is walked once by ``watch``'s thread (untrusted meanwhile) unless it waits for a scan."""
        child = RootWatch(other.root, parent=watch, since=watch.since, directories=other.directories)
        child.changes, child.walks = other.changes, other.walks
        with self._lock:
            if self.watches.get(other.root) is not other:
                return
            self.watches[other.root] = child
            watch.children.append(child)
            other.stop.set()
        if other.state == "watching":
            cache.set_watched(other.root, False)
            with self._lock:
                watch.pending.append(child)
        else:
            child.state, child.reason = other.state, other.reason
        if other.thread is not None:
            other.thread.join(STOP_S)  # its last batch applied before this thread walks the root

    def _join(self, watch: RootWatch, cache: ScanCache) -> None:
        """Walk the roots that joined ``watch`` since its last batch (on its thread, between batches, so that no
        change under them is applied while they are walked): then they are trusted as it is."""
        with self._lock:
            joining, watch.pending = watch.pending, []
        for child in joining:
            if not child.stop.is_set() and not watch.stop.is_set():
                child.directories = count_dirs(child.root, 10**9)
                self._walk(child, cache)

    def _announce(self, event: P.LibraryChanged) -> None:
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                self._loop.call_soon_threadsafe(self.publish, event)
