"""The daemon's review desk: its one DraftStore, the vocabulary, and the draft changes nobody asked for by request.

Every finished tag result becomes a draft (mapped onto the photographer's vocabulary first). That work reads files
(the pixel fingerprint hashes up to 2 MiB, the metadata snapshot reads the file's tags; the library's keywords once
per job) and writes SQLite, so it runs on one thread of its own, in arrival order, and hands what changed back to
the event loop, which publishes it on the ``review`` topic: the loop keeps answering requests meanwhile, and only
the loop touches the PUB socket. Every ``commit`` job result is recorded on its draft (what the file now holds of
ours; ``committed`` when every value reached it, or ``stale``) at once, on the loop: one small write, and a finished
commit job then has every draft it wrote marked. Files put back by ``metadata restore`` move their drafts back to
approved (told by the CLI, or found at start when the daemon was not running then). A photo a
``move`` job moved takes its draft along, on the loop too (its path changes, its history stays).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from imageworks import protocol as P
from imageworks.jobs.records import CommitRecord, MonoWriteRecord, MoveRecord, TagRecord
from imageworks.mono.job import KEYWORD_PREFIX
from imageworks.review.commit import file_holds
from imageworks.review.drafts import (
    BackupLink,
    Draft,
    DraftKeyword,
    FileFingerprint,
    FileWrite,
    Generated,
    Origin,
    ReviewError,
    Values,
)
from imageworks.review.fingerprint import file_fingerprint, generation_fingerprint
from imageworks.review.history import HistoryState
from imageworks.review.memory import adopted
from imageworks.review.rounds import Asked, FileWritten, Recalled
from imageworks.review.store import DAEMON, DraftStore
from imageworks.review.vocabulary import Vocabulary
from imageworks.scan.keywords import LibraryKeywords

from .review_files import meta_of, mono_tells_draft, now_or_unhashed, tells_draft

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
        self._background.submit(self._guarded, self._restored_while_away)

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
        elif isinstance(record, MonoWriteRecord) and mono_tells_draft(record):
            self._background.submit(self._guarded, self._record_mono_write, record, result.job_id)
        elif isinstance(record, CommitRecord) and not record.dry_run:
            # at once (one small SQLite write): when the commit job ends, every draft it wrote says so
            self._guarded(self._record_commit, record, result.job_id)
        elif isinstance(record, MoveRecord) and record.status == "ok":
            self._guarded(self._draft_moved, record)  # at once, too: a commit right after the move finds it there

    def _draft_moved(self, record: MoveRecord) -> None:
        """A photo the daemon moved (a ``move`` job): its draft follows it, history and all."""
        if self.store.get(record.path) is None:
            return  # never tagged: no draft to move
        try:
            draft = self.store.rename_path(record.path, record.to)
        except ReviewError as exc:
            log.info("review: the draft of %s did not follow it: %s", record.path, exc)
            return
        self.publish([draft], by=DAEMON, label=draft.last_change)

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
        write = record.write
        wrote = write is not None and write.written
        if wrote:  # `tag --write` wrote it after checking it was the file tagged: a write never changes the pixels
            fingerprint = now_or_unhashed(record.path, record.fingerprint.size, record.fingerprint.mtime_ns)
        else:
            fingerprint = generation_fingerprint(record.path, record.fingerprint.size, record.fingerprint.mtime_ns)
        file_meta = meta_of(record.path, fingerprint)
        generated = Generated(
            path=record.path, origin=origin, values=values, fingerprint=fingerprint, file_meta=file_meta
        )
        vocabulary = self.vocabulary()
        if write is None or not tells_draft(write):
            draft = self.store.upsert_generated(generated, vocabulary)
        else:  # the file holds this result (or names what it kept out): the draft says so, as after a commit
            backup = None
            if write.backup_id is not None:
                backup = BackupLink(
                    backup_id=write.backup_id, target=write.target, job_id=origin.job_id, at=time.time()
                )
            facts = FileWrite(
                fingerprint=fingerprint,
                backup=backup,
                written=write.last,
                file_meta=file_meta,
                not_written=tuple(write.not_written),
            )
            told = FileWritten(path=record.path, version=write.version, write=facts)
            saved = self.store.record_write(
                told,
                lambda d: file_holds(d, vocabulary),
                generated=generated,
                vocabulary=vocabulary,
                job=origin.job_id,
                who=f"tag job {origin.job_id}",
                label="written by tag",
            )
            assert saved is not None  # a tag result always makes (or updates) its draft
            draft = saved
            self.vocabulary_changed()
        self._publish_from_thread([draft], draft.last_change)

    # ---- every writer's memory of our writes (review.rounds) -----------------------------------------------------

    def recall(self, path: str) -> Recalled:
        """What ImageWorks last wrote into ``path``, for a writer about to write it (from any thread but the
        desk's and the loop's): read on the desk's thread, after every draft change queued before it."""
        return self._background.submit(self._recall, path).result()

    def _recall(self, path: str) -> Recalled:
        draft = self.store.get(path)
        if draft is None:
            return Recalled(path=path)
        if draft.written is not None:
            return Recalled(path=path, version=draft.version, last=draft.written)
        committed = self.store.last_committed(path)  # written before the memory existed: adopted if still there
        last = adopted(committed) if committed is not None else None
        return Recalled(path=path, version=draft.version, last=last, adopted=last is not None)

    def record_written(
        self, files: list[FileWritten], *, job: str, by: str, who: str, label: str = "metadata write"
    ) -> list[Draft]:
        """Writes with values of their own (``metadata write`` outside the daemon, ``mono --write``): each draft
        shows what its file holds now."""
        vocabulary = self.vocabulary()
        out = []
        for told in files:
            saved = self.store.record_write(
                told, lambda d: file_holds(d, vocabulary), job=job, by=by, who=who, label=f"written by {label}"
            )
            if saved is not None:
                out.append(saved)
        if out:
            self.vocabulary_changed()
        return out

    def _record_mono_write(self, record: MonoWriteRecord, job_id: str) -> None:
        """A ``mono --write`` of a photo with a draft: the draft takes the verdict keyword (replacing its old one)
        and the narration as the file did, and shows what the file holds."""
        assert record.write is not None
        write = record.write
        try:
            fingerprint = file_fingerprint(record.path)
        except OSError:
            return  # gone since the write: the draft finds it stale on its own
        backup = None
        if write.backup_id is not None:
            backup = BackupLink(backup_id=write.backup_id, target=write.target, job_id=job_id, at=time.time())
        facts = FileWrite(
            fingerprint=fingerprint,
            backup=backup,
            written=write.last,
            file_meta=meta_of(record.path, fingerprint),
            not_written=tuple(write.not_written),
        )
        asked = Asked(keywords=[record.keyword], description=record.narration or None, own_prefix=KEYWORD_PREFIX)
        told = FileWritten(path=record.path, version=write.version, write=facts, asked=asked)
        saved = self.record_written([told], job=job_id, by=DAEMON, who=f"mono-write job {job_id}", label="mono")
        self._publish_from_thread(saved, "written by mono")

    def _record_commit(self, record: CommitRecord, job_id: str) -> None:
        try:
            if record.action in ("written", "partly_written", "unchanged", "kept"):
                backup = None
                if record.backup_target:
                    backup = BackupLink(
                        backup_id=record.backup_id, target=record.backup_target, job_id=job_id, at=record.at
                    )
                left = FileFingerprint(
                    size=record.size, mtime_ns=record.mtime_ns, head_tail=record.head_tail, pixels=record.pixels
                )
                if not record.size:  # journaled from its write intent by a restarted daemon: read the file now
                    left = file_fingerprint(record.path)
                write = FileWrite(
                    fingerprint=left,
                    backup=backup,
                    written=record.written,
                    file_meta=record.meta,
                    not_written=tuple(record.not_written),
                )
                draft = self.store.record_commit(
                    record.path, record.version, write, job=job_id, by=record.by, who=record.who
                )
            elif record.action == "stale":
                draft = self.store.mark_stale(record.path, record.reason)
            else:
                return
        except (ReviewError, OSError) as exc:
            log.info("review: commit of %s not recorded: %s", record.path, exc)
            return
        self.vocabulary_changed()
        self.publish([draft], by=DAEMON, label=draft.last_change, history=self.store.history_state())

    # ---- files put back by `metadata restore` -------------------------------------------------------------------

    def restored(self, paths: list[str] | None = None) -> list[Draft]:
        """Drafts of ``paths`` (None: every written one) whose last write's backup was restored: approved-not-written
        again (a committed one), with the file read anew (its fingerprint, its metadata), nothing in it ours any
        more, and the backup consumed."""
        from imageworks import metadata as md

        backups = md.BackupStore()
        if not backups.root.exists():
            return []
        entries = backups.entries(include_restored=True)
        restored_ids = {e.id for e in entries if e.restored_ns is not None}
        if paths is None:  # a partly written draft stays approved, and has a backup link too
            drafts = self.store.list_drafts(filter="status:committed OR status:approved", limit=1 << 62).drafts
        else:
            drafts = [d for d in (self.store.get(p) for p in paths) if d is not None]
        out = []
        for draft in drafts:
            link = draft.backup
            if link is None or link.backup_id not in restored_ids:
                continue
            older = [e for e in entries if e.photo == draft.path and e.restored_ns is None]
            left = None
            if older:  # `restore --job` of a later write: the file holds an earlier one, whose backup still counts
                last = older[-1]
                left = BackupLink(backup_id=last.id, target=last.target, job_id=last.job_id, at=last.created_ns / 1e9)
            try:
                fingerprint = file_fingerprint(draft.path)
            except OSError as exc:
                log.info("review: restored %s not read: %s", draft.path, exc)
                continue
            moved = self.store.record_restore(draft.path, fingerprint, left, meta_of(draft.path, fingerprint))
            if moved is not None:
                out.append(moved)
        return out

    def _restored_while_away(self) -> None:
        """At start: files restored while no daemon ran move their drafts back, as ``review.restored`` does."""
        self._publish_from_thread(self.restored(), "restored")
