"""The library listing: the scan cache, the explicit scan key, live filter counts, clearing the cache.

Typing never scans: counts read the cached listing (SQL, milliseconds) and a walk happens only on the scan keys."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec

from imageworks.errors import ImageWorksError
from tui.services.messages import Failed, FiltersCounted, ScanChanged
from tui.services.settings import Settings
from tui.services.workers import Workers, current_worker_cancelled
from tui.state import Counters, FilterCounts, ScanView

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from imageworks.scan import ScanCache, ScanFilter


_OPEN_LOCK = threading.Lock()


class ScanService:
    """``scan_db``: the cache file (default: the XDG cache dir's)."""

    def __init__(self, workers: Workers, settings: Settings, counters: Counters, scan_db: Path | None = None) -> None:
        self.workers = workers
        self.settings = settings
        self.counters = counters
        self.scan_db = scan_db
        self._scan_cache: ScanCache | None = None
        self._count_seq = 0
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
        """One cache per app, opened on first use by whichever worker thread comes first (the others wait)."""
        if self._scan_cache is None:
            with _OPEN_LOCK:
                if self._scan_cache is None:
                    from imageworks.scan import ScanCache

                    self._scan_cache = ScanCache(self.scan_db, config=self.settings.config.scan)
        return self._scan_cache

    def cache_counters(self) -> dict[str, int]:
        if self._scan_cache is None:
            return {"scans_run": 0, "cache_hits": 0, "files_probed": 0}
        return self._scan_cache.counters()

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
        """The explicit scan key: the cached listing when fresh (a cache hit), else a walk; then the counts."""
        root = self.root
        if not root:
            self.workers.post(Failed("set a library root first", where="scan"))
            return

        def work() -> None:
            from imageworks.scan import ScanError

            worker_cancelled = current_worker_cancelled()
            self.workers.post(ScanChanged(ScanView("scanning", root, "scanning…")))
            last = [0.0]

            def progress(p: Any) -> None:
                if worker_cancelled():
                    raise ScanError("scan cancelled")
                now = time.monotonic()
                if now - last[0] > 0.2:
                    last[0] = now
                    self.workers.post(ScanChanged(ScanView("scanning", root, f"scanning… {p.files:,} images so far")))

            try:
                result = self.scan_cache.scan(root, refresh=refresh, progress=progress)
                filters, skip_tagged = self.filters()
                note = ""
                if skip_tagged:
                    probe = self.scan_cache.ensure_metadata_flags(root, self.scan_cache.query(root, filters))
                    note = f"; checked {probe.probed:,} files for tags"
            except ImageWorksError as exc:
                self.workers.post(ScanChanged(ScanView("error", root, str(exc))))
                self._count_now(root)
                return
            how = "from the cache" if result.from_cache else f"scanned in {result.seconds:.2f} s"
            text = f"{result.files:,} images {how}{note}"
            if result.error_count:
                text += f" ({result.error_count} unreadable)"
            self.workers.post(ScanChanged(ScanView("done", root, text)))
            self._count_now(root)

        self.workers.thread(work, group="scan", where="scan")

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
        """Forget every root's cached listing, then run ``also`` (more to forget; it returns what to add to the toast).
        Behind the confirmation modal (the caller asks)."""

        def work() -> None:
            roots = self.scan_cache.clear()
            text = f"scan cache cleared ({roots} cached listing{'s' * (roots != 1)})"
            if also is not None:
                text += also()
            self.workers.post(ScanChanged(ScanView("idle", "", "scan cache cleared: ctrl+s scans again")))
            self._count_now(self.root)
            self.workers.from_thread(self.workers.notify, text)

        self.workers.thread(work, group="clear", where="clear caches")
