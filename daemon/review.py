"""The daemon's review desk: its one DraftStore, the vocabulary, and the draft changes nobody asked for by request.

Every finished tag result becomes a draft (mapped onto the photographer's vocabulary first). That work reads files
(the generation fingerprint hashes up to 2 MiB; the library's keywords once per job) and writes SQLite, so it runs
on one thread of its own, in arrival order, and hands what changed back to the event loop, which publishes it on the
``review`` topic: the loop keeps answering requests meanwhile, and only the loop touches the PUB socket. Every
``commit`` job result is recorded on its draft (``committed`` with its backup link, or ``stale``) at once, on the
loop: one small write, and a finished commit job then has every draft it wrote marked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from imageworks import protocol as P
from imageworks.jobs.records import CommitRecord, TagRecord
from imageworks.review.fingerprint import generation_fingerprint
from imageworks.review.history import HistoryState
from imageworks.review.model import (
    BackupLink,
    Conflict,
    Draft,
    DraftKeyword,
    FileFingerprint,
    Generated,
    Origin,
    ReviewError,
    Values,
)
from imageworks.review.store import DAEMON, DraftStore
from imageworks.review.vocabulary import Vocabulary
from imageworks.scan.cache import ScanCache
from imageworks.scan.keywords import LibraryKeywords

log = logging.getLogger("imageworks.daemon")

EVENT_DRAFTS = 500
"""The most drafts one review event carries (a batch over 20 000 drafts goes out as several)."""
APPROVED = "status:approved OR status:committed"
CHECKPOINT_S = 2.0
"""How often the drafts' WAL is checkpointed, on the desk's thread (the store's own checkpoint is off)."""


class ReviewDesk:
    def __init__(
        self,
        store: DraftStore,
        publish: Callable[[P.ReviewEvent], None],
        library: Callable[[], LibraryKeywords],
        read_library_of: Callable[[str], int],
    ) -> None:
        self.store = store
        self._publish = publish
        self.library = library
        """The library's own keywords (the scan cache's), read when the vocabulary is rebuilt."""
        self._read_library_of = read_library_of
        self._jobs_seen: set[str] = set()
        """Tag jobs whose libraries' keywords were brought up to date (once per job, on its first result)."""
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_lock = threading.Lock()
        self._background = ThreadPoolExecutor(1, thread_name_prefix="review")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checkpoint_timer: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        assert self._loop is not None

        def checkpoint() -> None:
            self._background.submit(self._guarded, self.store.checkpoint)
            self._checkpoint_soon()

        self._checkpoint_timer = self._loop.call_later(CHECKPOINT_S, checkpoint)

    def close(self) -> None:
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()
        self._background.shutdown(wait=True)
        self.store.close()

    # ---- the vocabulary ----------------------------------------------------------------------------------------

    def vocabulary(self) -> Vocabulary:
        """The library's keywords plus approved ones and the rename memory; rebuilt after a change made it old."""
        with self._vocabulary_lock:
            if self._vocabulary is None:
                library = self.library()
                self._vocabulary = Vocabulary.build(
                    library=library.flat,
                    hierarchical=library.hierarchical,
                    approved=self.store.keyword_counts(filter=APPROVED),
                    renames=self.store.renames(),
                )
            return self._vocabulary

    def vocabulary_changed(self) -> None:
        with self._vocabulary_lock:
            self._vocabulary = None

    # ---- publishing ------------------------------------------------------------------------------------------

    def publish(self, drafts: list[Draft], *, by: str, label: str, history: HistoryState | None = None) -> None:
        """On the event loop: the changed drafts on the ``review`` topic, in events of at most EVENT_DRAFTS."""
        for start in range(0, len(drafts), EVENT_DRAFTS):
            chunk = drafts[start : start + EVENT_DRAFTS]
            self._publish(
                P.ReviewEvent(drafts=chunk, seq=max(d.seq for d in chunk), by=by, label=label, history=history)
            )

    def _publish_from_thread(self, drafts: list[Draft], label: str) -> None:
        if drafts and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: self.publish(drafts, by=DAEMON, label=label))

    # ---- job results -----------------------------------------------------------------------------------------

    def on_result(self, result: P.ResultRecord) -> None:
        """From the runner, on the loop: a tag result becomes a draft, a commit result lands on its draft."""
        record = result.record
        if isinstance(record, TagRecord) and record.status == "ok" and record.path:
            origin = Origin(
                job_id=result.job_id,
                item=result.index,
                model=record.model.name,
                profile=record.profile.name,
                profile_version=str(record.profile.version),
            )
            self._background.submit(self._guarded, self._draft_from_tag, record, origin)
        elif isinstance(record, CommitRecord) and not record.dry_run:
            # at once (one small SQLite write): when the commit job ends, every draft it wrote says so
            self._guarded(self._record_commit, record, result.job_id)

    def _guarded(self, work: Callable[..., None], *args: object) -> None:
        try:
            work(*args)
        except Exception:  # a draft that cannot be saved must not stop the next ones
            log.exception("review: %s failed", work.__name__)

    def _draft_from_tag(self, record: TagRecord, origin: Origin) -> None:
        if origin.job_id not in self._jobs_seen:
            self._jobs_seen.add(origin.job_id)
            try:
                if self._read_library_of(record.path):  # files new or changed since their keywords were read
                    self.vocabulary_changed()
            except Exception:  # no library keywords is a poorer vocabulary, not a lost draft
                log.exception("review: the library's keywords were not read")
        values = Values(
            caption=record.caption,
            description=record.description,
            keywords=tuple(DraftKeyword(keyword=k.keyword, score=k.score) for k in record.keywords if k.keyword),
        )
        fingerprint = generation_fingerprint(record.path, record.fingerprint.size, record.fingerprint.mtime_ns)
        generated = Generated(path=record.path, origin=origin, values=values, fingerprint=fingerprint)
        draft = self.store.upsert_generated(generated, self.vocabulary())
        self._publish_from_thread([draft], draft.last_change)

    def _record_commit(self, record: CommitRecord, job_id: str) -> None:
        try:
            if record.action in ("written", "unchanged"):
                backup = None
                if record.backup_target:
                    backup = BackupLink(
                        backup_id=record.backup_id, target=record.backup_target, job_id=job_id, at=record.at
                    )
                draft = self.store.record_commit(
                    record.path,
                    record.version,
                    backup,
                    FileFingerprint(size=record.size, mtime_ns=record.mtime_ns, head_tail=record.head_tail),
                )
            elif record.action == "stale":
                draft = self.store.mark_stale(record.path, record.reason)
            else:
                return
        except Conflict as exc:  # edited while the commit ran: the new version waits for its own approval
            log.info("review: commit of %s not recorded: %s", record.path, exc)
            return
        except ReviewError as exc:
            log.info("review: commit of %s not recorded: %s", record.path, exc)
            return
        self.vocabulary_changed()
        self.publish([draft], by=DAEMON, label=draft.last_change)


def library_keywords() -> LibraryKeywords:
    """Every library's keywords as the scan cache holds them now (the vocabulary's library part)."""
    with ScanCache() as cache:
        return cache.library_keywords()


def read_library_of(path: str) -> int:
    """Read (once) the keywords of the cached libraries ``path`` lies in; how many files were read."""
    with ScanCache() as cache:
        return sum(cache.ensure_keywords(root) for root in cache.roots_holding(path))
