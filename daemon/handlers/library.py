"""scan.clear, similar.groups, similar.mark: the library stores the daemon alone writes (the scan cache, the similarity
cache, the keep/reject marks), asked by clients that read the caches read-only. Each is quick SQLite work, run off
the loop all the same (a cleared cache is vacuumed; a stored search of 100 000 images takes a moment to read)."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from imageworks import protocol as P
from imageworks.errors import DaemonError
from imageworks.jobs.records import SimilarOutcome
from imageworks.scan import ScanCache, ScanError, root_key

from ..journal import Journal
from . import Handler

if TYPE_CHECKING:
    from imageworks.similarity.marks import MarkStore

    from ..watch import LibraryWatches


class LibraryHandlers:
    def __init__(self, journal: Journal, watches: LibraryWatches | None = None) -> None:
        """``watches``: the library watchers, told when a listing is cleared, stopped at ``close``."""
        self.journal = journal
        self.watches = watches
        self._marks: MarkStore | None = None
        self._marks_lock = threading.Lock()

    def table(self) -> dict[str, Handler]:
        return {
            "scan.clear": self.on_scan_clear,
            "similar.groups": self.on_similar_groups,
            "similar.mark": self.on_similar_mark,
        }

    @property
    def marks(self) -> MarkStore:
        """The keep/reject marks (state dir), opened on first use; its one connection used under the lock."""
        if self._marks is None:
            from imageworks.similarity.marks import MarkStore

            self._marks = MarkStore()
        return self._marks

    def close(self) -> None:
        if self.watches is not None:
            self.watches.stop()
        if self._marks is not None:
            self._marks.close()

    async def on_scan_clear(self, body: P.ScanClear) -> P.ScanCleared:
        def clear() -> P.ScanCleared:
            with ScanCache() as cache:
                return P.ScanCleared(roots=cache.clear(body.root or None), warnings=list(cache.warnings))

        try:
            cleared = await asyncio.to_thread(clear)
        except ScanError as exc:
            raise DaemonError(str(exc), code="bad_request") from None
        if self.watches is not None:
            self.watches.forget(root_key(body.root) if body.root else None)
        return cleared

    async def on_similar_groups(self, body: P.SimilarGroups) -> P.SimilarGroupsReply:
        try:
            job = self.journal.job(body.job_id)
        except KeyError:
            raise DaemonError(f"no job {body.job_id!r} in the journal", code="unknown_job") from None
        outcome = job.outcome
        if job.kind != "similar" or not isinstance(outcome, SimilarOutcome):
            raise DaemonError(
                f"job {body.job_id} is a {job.kind} job in state {job.state}: no search yet", code="bad_request"
            )
        if body.threshold < outcome.floor - 1e-9:
            raise DaemonError(
                f"threshold {body.threshold:.2f} is below the {outcome.floor:.2f} the search ran at: search again",
                code="bad_request",
            )
        from imageworks.similarity.quality import REFERENCE_RULES

        if body.reference not in REFERENCE_RULES:
            why = f"unknown reference rule {body.reference!r} (one of {', '.join(REFERENCE_RULES)})"
            raise DaemonError(why, code="bad_request")
        return await asyncio.to_thread(self._groups, job, outcome, body.threshold, body.reference)

    def _groups(self, job: P.JobInfo, outcome: SimilarOutcome, threshold: float, rule: str) -> P.SimilarGroupsReply:
        from imageworks.similarity import SimilarityCache
        from imageworks.similarity.groups import Bands, groups_from_links, links_of
        from imageworks.similarity.jobs import SimilarKind, threshold_step
        from imageworks.similarity.quality import REFERENCE_RULES

        settings = SimilarKind().prepare(job.params).settings
        with SimilarityCache() as cache:
            stored = cache.load_search(outcome.search_key, None)
        if stored is None:
            why = f"the search of job {job.job_id} is no longer stored: search again"
            raise DaemonError(why, code="bad_request")
        bands = Bands(duplicate=settings.duplicate, similar=settings.similar)
        links = links_of(stored.paths, stored.neighbours, threshold, stored.quality)
        with self._marks_lock:
            marks = self.marks.marks_of(links.ranked)  # of every linked image: a client re-groups from the links
        return P.SimilarGroupsReply(
            job_id=job.job_id,
            method=outcome.method,
            threshold=threshold,
            floor=stored.min_score,
            images=len(stored.paths),
            groups=groups_from_links(links, threshold, bands, rule=rule),
            skipped=[P.SkippedImage(path=p, problem=why) for p, why in sorted(stored.skipped.items())],
            marks=[P.PathMark(path=p, mark=m) for p, m in marks.items()],
            bands={"duplicate": bands.duplicate, "similar": bands.similar},
            links=links,
            reference_rule=REFERENCE_RULES[rule],
            reference=rule,
            step=threshold_step(outcome.method, settings.hash_size),
        )

    async def on_similar_mark(self, body: P.SimilarMark) -> P.SimilarMarks:
        from imageworks.similarity.marks import MARKS

        if body.mark is not None and body.mark not in MARKS:
            raise DaemonError(
                f"unknown mark {body.mark!r} (one of {', '.join(MARKS)}, or null to clear)", code="bad_request"
            )

        def mark() -> P.SimilarMarks:
            with self._marks_lock:
                for path in body.paths:
                    self.marks.set(path, body.mark)  # type: ignore[arg-type]
                now = self.marks.marks_of(body.paths)
            return P.SimilarMarks(marks=[P.PathMark(path=p, mark=m) for p, m in now.items()])

        return await asyncio.to_thread(mark)
