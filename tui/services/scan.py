"""The library listing: the scan cache (read-only: the daemon writes it), the explicit scan key (a ``scan`` job in the
daemon), live filter counts, clearing the cache (a request).

Typing never scans: counts read the cached listing (SQL, milliseconds) and a walk happens only on the scan keys."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import msgspec

from imageworks.errors import ImageWorksError

from ..state import Counters, FilterCounts, ScanView
from .daemon import DaemonLink
from .messages import Failed, FiltersCounted, ScanChanged
from .settings import Settings
from .workers import Workers

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from imageworks import protocol as P
    from imageworks.scan import ScanCache, ScanFilter, ScanResult


_OPEN_LOCK = threading.Lock()


class ScanService:
    """``scan_db``: the cache file read (default: the XDG cache dir's, which the daemon writes)."""

    def __init__(
        self,
        workers: Workers,
        settings: Settings,
        counters: Counters,
        daemon: DaemonLink,
        scan_db: Path | None = None,
    ) -> None:
        self.workers = workers
        self.settings = settings
        self.counters = counters
        self.daemon = daemon
        self.scan_db = scan_db
        self._scan_cache: ScanCache | None = None
        self.scans_run = 0
        """Walks the daemon ran for this app (cache hits not counted)."""
        self.cache_hits = 0
        self.files_probed = 0
        self._count_seq = 0
        self.library_events = 0
        """Changes to this library the daemon's watcher reported (each re-read the counts)."""
        self._count_lock = threading.Lock()

    @property
    def root(self) -> str:
        return self.settings.config.tui.library_root.strip()

    def config_changed(self) -> None:
        """The scan section changed: the open cache keeps using the new settings (its TTL, say)."""
        if self._scan_cache is not None:
            self._scan_cache.config = self.settings.config.scan

    @property
    def scan_cache(self) -> ScanCache:
        """The cache read-only (``mode=ro``: the daemon alone writes it), one per app, opened on first use by whichever
        worker thread comes first (the others wait)."""
        if self._scan_cache is None:
            with _OPEN_LOCK:
                if self._scan_cache is None:
                    from imageworks.scan import ScanCache

                    self._scan_cache = ScanCache(self.scan_db, config=self.settings.config.scan, read_only=True)
        return self._scan_cache

    def cache_counters(self) -> dict[str, int]:
        return {"scans_run": self.scans_run, "cache_hits": self.cache_hits, "files_probed": self.files_probed}

    def filters(self) -> tuple[ScanFilter, bool]:
        """The config's filters as a ScanFilter (without skip-tagged) and the skip-tagged flag."""
        from imageworks.scan import ScanFilter, parse_extensions, parse_size

        tui = self.settings.config.tui
        return (
            ScanFilter(
                min_size=parse_size(tui.min_size) if tui.min_size.strip() else None,
                extensions=parse_extensions(tui.extensions) if tui.extensions.strip() else (),
            ),
            tui.skip_tagged,
        )

    def scan(self, *, refresh: bool = False) -> None:
        """The explicit scan key: the cached listing when fresh (a cache hit, read here), else the daemon walks it (a
        ``scan`` job: the daemon is the cache's one writer; its progress comes as events); then the counts. With
        skip-tagged on, the daemon also reads the "already tagged?" flag of the files the filters select."""
        root = self.root
        if not root:
            self.workers.post(Failed("set a library root first", where="scan"))
            return
        self.workers.post(ScanChanged(ScanView("scanning", root, "scanning…")))
        self.workers.task(lambda: self._scan(root, refresh), group="scan", where="scan")

    async def _scan(self, root: str, refresh: bool) -> None:
        from imageworks.scan.roots import check_root

        try:
            filters, skip_tagged = self.filters()
            key = await asyncio.to_thread(check_root, root)
            cached = None if refresh or skip_tagged else await asyncio.to_thread(self._fresh, key)
            if cached is not None:
                self.cache_hits += 1
                text = f"{cached.files:,} images from the cache"
            else:
                text = await self._scan_in_daemon(key, refresh, filters if skip_tagged else None)
        except ImageWorksError as exc:
            self.workers.post(ScanChanged(ScanView("error", root, str(exc))))
            await asyncio.to_thread(self._count_now, root)
            return
        self.workers.post(ScanChanged(ScanView("done", root, text)))
        await asyncio.to_thread(self._count_now, root)

    def _fresh(self, key: str) -> ScanResult | None:
        return self.scan_cache.fresh(key)

    async def fresh_listing(self, root: str) -> str:
        """For another mode's work: ``root``'s listing as the cache holds it when fresh, else walked by the daemon
        first (joining a walk of it already running); its key, for queries on ``scan_cache``."""
        from imageworks.scan.roots import check_root

        key = await asyncio.to_thread(check_root, root)
        if await asyncio.to_thread(self._fresh, key) is None:
            await self._scan_in_daemon(key, False, None)
        return key

    async def _scan_in_daemon(self, key: str, refresh: bool, probe: ScanFilter | None) -> str:
        """A ``scan`` job (one the daemon already runs for this root is joined), followed to its record."""
        from imageworks import protocol as P
        from imageworks.jobs.records import ScanRecord
        from imageworks.scan import ScanError
        from imageworks.scan.job import scan_params

        scan = self.settings.config.scan
        params = scan_params(
            key, ttl=scan.ttl_seconds, refresh=refresh, follow_symlinks=scan.follow_symlinks, probe=probe
        )
        client = self.daemon.client
        job = (await client.submit("scan", [], params)).job
        record: ScanRecord | None = None
        stream = client.follow(job.job_id, progress=True)
        try:
            async for event in stream:
                if isinstance(event, P.JobProgressEvent):
                    self._progress(key, event)
                elif isinstance(event, P.ResultRecord) and isinstance(event.record, ScanRecord):
                    record = event.record
                elif isinstance(event, P.JobInfo):
                    job = event
        finally:
            await stream.aclose()
        if record is None:
            raise ScanError(f"the scan job ended {job.state} {job.error}".strip())
        if record.status != "ok":
            raise ScanError(record.error or "cannot scan")
        self.scans_run += not record.from_cache
        self.cache_hits += record.from_cache
        self.files_probed += record.probed or 0
        how = "from the cache" if record.from_cache else f"scanned in {record.seconds:.2f} s"
        text = f"{record.files:,} images {how}"
        if record.probed is not None:
            text += f"; checked {record.probed:,} files for tags"
        if record.error_count:
            text += f" ({record.error_count} unreadable)"
        return text

    def _progress(self, root: str, event: P.JobProgressEvent) -> None:
        if event.total:
            text = f"checking for tags… {event.done:,}/{event.total:,}"
        else:
            text = f"scanning… {event.done:,} images so far"
        self.workers.post(ScanChanged(ScanView("scanning", root, text)))

    def library_changed(self, event: P.LibraryChanged) -> None:
        """The daemon's watcher changed the cached listing of ``event.root``: when it is this library, its counts are
        read again from the cache (SQL, no scan)."""
        from imageworks.scan import root_key

        if self.root and root_key(self.root) == event.root:
            self.library_events += 1
            self.count()

    def count(self) -> None:
        """Live counts for the current filters, from the cached listing only (SQL; milliseconds)."""
        root = self.root
        seq = self._next_count()
        self.workers.thread(lambda: self._count_now(root, seq), group="count", where="count")

    def _next_count(self) -> int:
        with self._count_lock:
            self._count_seq += 1
            return self._count_seq

    def _count_now(self, root: str, seq: int | None = None) -> None:
        """Count and post, unless a newer count was asked for meanwhile (typing outruns the thread)."""

        seq = self._next_count() if seq is None else seq
        self.counters.count_queries += 1
        self._post_counts(seq, self._counts(root))

    def _post_counts(self, seq: int, counts: FilterCounts) -> None:
        with self._count_lock:
            if seq != self._count_seq:
                return
        self.workers.post(FiltersCounted(counts))

    def _counts(self, root: str) -> FilterCounts:
        from imageworks.scan import ScanError

        if not root:
            return FilterCounts(error="no library root set: type a folder above")
        try:
            filters, skip_tagged = self.filters()
        except ImageWorksError as exc:
            return FilterCounts(root=root, error=str(exc))
        cache = self.scan_cache
        try:
            total = cache.count(root)
            matched = cache.count(root, filters)
            unprobed = 0
            if skip_tagged:
                tagged = cache.count(root, msgspec.structs.replace(filters, has_metadata=True))
                untagged = cache.count(root, msgspec.structs.replace(filters, has_metadata=False))
                unprobed = matched - tagged - untagged
                matched = untagged
        except ScanError:
            return FilterCounts(root=root, scanned=False)
        return FilterCounts(root, True, total, matched, unprobed)

    def clear(self, *, also: Callable[[], str] | None = None) -> None:
        """Forget every root's cached listing (the daemon does it: it writes the cache), then run ``also`` (more to
        forget, on a thread; it returns what to add to the toast). Behind the confirmation modal (the caller asks)."""

        async def work() -> None:
            cleared = await self.daemon.client.scan_clear()
            text = f"scan cache cleared ({cleared.roots} cached listing{'s' * (cleared.roots != 1)})"
            if also is not None:
                text += await asyncio.to_thread(also)
            again = f"scan cache cleared: {self.workers.key_for('configure.scan')} scans again"
            self.workers.post(ScanChanged(ScanView("idle", "", again)))
            await asyncio.to_thread(self._count_now, self.root)
            self.workers.notify(text)

        self.workers.task(work, group="clear", where="clear caches")
