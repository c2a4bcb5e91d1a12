"""The review service: the drafts of the library on screen, kept current from the daemon's ``review`` events, and
every edit, batch, undo, redo and commit sent as a request (drafts are written by the daemon only).

Clone pattern: subscribe to the ``review`` topic first, then read the list page by page, then apply each pushed
change whose ``seq`` is newer than what the book holds, so nothing is missed between the two and nothing applied
twice. A second TUI on the same library sees every edit of this one as it lands. An edit names the version it was
made against; a stale one comes back as ``conflict``, which the person is told; the draft is read again and the edit
kept, for the review screen to offer on the fresh version (``take_conflict``). An undo or redo says what it moved and
whose step that was.

What a file holds now (the detail pane's "in the file now") is read in a thread and kept with the file's stat: it is
read again when the daemon changed the draft (a commit, a restore) and when the file changed on disk
(``file_changed``). Every outcome reaches the App as a ``ReviewChanged`` message (the App bumps ``review_version``,
the review screen repaints from the book)."""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from textual.message import Message
from textual.notifications import SeverityLevel

from imageworks.errors import DaemonError
from imageworks.review.edits import BatchEdit, DraftEdit

from ..review_book import ReviewBook
from .daemon import DaemonLink
from .workers import Workers

if TYPE_CHECKING:
    from imageworks import protocol as P
    from imageworks.metadata import Existing
    from imageworks.review.vocabulary import Suggestion

FIRST_PAGE = 500
"""The first page is small, so the list paints at once; the rest follows in pages of ``PAGE``."""
PAGE = 2000
EVENTS_GROUP = "review-events"
"""The worker that reads the list and then follows its changes for as long as the list is open (never ends)."""
EXISTING_CACHE = 256
"""How many files' existing metadata the detail pane keeps read."""


class ReviewChanged(Message):
    """The book changed (the review screen repaints from it). ``note`` is what to tell the person (a conflict,
    another terminal's edit, undo of what), ``severity`` how loudly."""

    def __init__(self, *, note: str = "", severity: SeverityLevel = "information") -> None:
        super().__init__()
        self.note = note
        self.severity = severity


class ExistingRead(Message):
    """A file's existing metadata was read (``ReviewService.existing[path]``: an ``Existing`` or why not)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


@dataclass(frozen=True)
class Refused:
    """An edit the daemon refused as a conflict: kept, so the person can apply it to the fresh version."""

    edit: DraftEdit
    note: str


def stat_key(path: str) -> tuple[int, int, int] | None:
    """What tells a file changed on disk (size, mtime, inode: an atomic replace makes a new one); None if gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


class ReviewService:
    Changed: TypeAlias = ReviewChanged
    ExistingRead: TypeAlias = ExistingRead

    def __init__(self, workers: Workers, daemon: DaemonLink) -> None:
        self.workers = workers
        self.daemon = daemon
        self.book = ReviewBook()
        self._sending = asyncio.Lock()
        """Edits, batches, undo and redo go out one at a time, in the order the person made them."""
        self._own: dict[str, dict[int, int]] = {}
        """Per draft: version → the version this client's own edit made of it (for rebasing quick successive edits)."""
        self.existing: OrderedDict[str, Existing | str] = OrderedDict()
        """Files' metadata as read for the detail pane (a string: why it could not be read), latest last."""
        self._read_at: dict[str, tuple[int, int, int] | None] = {}
        """The file's stat when ``existing`` was read."""
        self.refused: list[Refused] = []
        """Conflicting edits waiting for the person's word (``take_conflict``)."""
        self.opened = False

    # ---- the list ----------------------------------------------------------------------------------------------

    def open(self, root: str, filter: str = "") -> None:
        """Read the drafts under ``root`` matching ``filter`` and follow their changes (replaces any earlier list).
        Raises ``QueryError`` for a bad filter, before anything changes."""
        self.book.reset(root, filter)
        self.opened = True
        book = self.book

        async def follow() -> None:
            async with self.daemon.using() as c:
                events = c.review_events()  # subscribe before the snapshot: no change falls between the two
                after: str | None = None
                limit = FIRST_PAGE
                while True:
                    page = await c.review_list(root, filter, after=after, limit=limit)
                    book.history = page.history
                    book.add_page(page.drafts, total=page.total, seq=page.seq, last=page.next_after is None)
                    self.workers.post(ReviewChanged())
                    if page.next_after is None:
                        break
                    after, limit = page.next_after, PAGE
                async for event in events:
                    self._take_event(event)

        self.workers.task(follow, group=EVENTS_GROUP, where="review")

    def _take_event(self, event: P.ReviewEvent) -> None:
        if event.history is not None:
            self.book.history = event.history
        changed = self.book.apply(event.drafts)
        if event.by == "daemon":  # a commit or a restore: the files changed too
            self._read_again([d.path for d in event.drafts])
        if not changed and event.history is None:
            return
        note = ""
        if event.by and event.by != self._session() and event.by != "daemon" and changed:
            note = f"{event.label or 'edit'} ({len(changed)} draft{'s' * (len(changed) != 1)}) from another client"
        self.workers.post(ReviewChanged(note=note))

    @staticmethod
    def _session() -> str:
        from imageworks.client.session import SESSION

        return SESSION.id

    # ---- edits -------------------------------------------------------------------------------------------------

    def edit(self, edit: DraftEdit, base_version: int) -> None:
        """One edit of one draft, made against the version the person saw. Edits go out one at a time, in the
        order made; one made against a version this client's own earlier edit replaced is rebased onto the result
        (two quick keys on one draft are one person's sequence, not a conflict)."""

        async def work() -> None:
            async with self._sending, self.daemon.using() as c:
                own = self._own.setdefault(edit.path, {})
                base = base_version
                while base in own:
                    base = own[base]
                try:
                    reply = await c.review_edit(edit, base)
                except DaemonError as exc:
                    if exc.code != "conflict":
                        raise
                    self.refused.append(Refused(edit, str(exc).removeprefix("conflict: ")))
                    await self._reload(c, edit.path, str(exc))
                    return
                for saved in reply.drafts:
                    own[base] = saved.version
            self._edited(reply)

        self.workers.task(work, group="review-edit", exclusive=False, where="review")

    async def _reload(self, c: Any, path: str, note: str) -> None:
        """After a conflict: read the draft as it is now, and say what happened."""
        draft = await c.review_get(path)
        self.book.apply([draft])
        self.workers.post(ReviewChanged(note=note, severity="warning"))

    def batch(self, edit: BatchEdit) -> None:
        self._step(lambda c: c.review_batch(edit))

    def undo(self) -> None:
        self._step(lambda c: c.review_undo(), nothing="nothing to undo")

    def redo(self) -> None:
        self._step(lambda c: c.review_redo(), nothing="nothing to redo")

    def _step(self, call: Callable[[Any], Any], *, nothing: str = "") -> None:
        async def work() -> None:
            async with self._sending, self.daemon.using() as c:
                reply = await call(c)
            self._edited(reply, nothing=nothing)

        self.workers.task(work, group="review-edit", exclusive=False, where="review")

    def _edited(self, reply: P.ReviewEdited, *, nothing: str = "") -> None:
        self.book.history = reply.history
        self.book.apply(reply.drafts)
        note = nothing if not reply.drafts and not reply.label else ""
        if reply.label.startswith(("undo ", "redo ")):
            note = self._moved(reply)
        self.workers.post(ReviewChanged(note=note))

    def _moved(self, reply: P.ReviewEdited) -> str:
        """``undid set caption on horse.jpg — from tui (pid 4242)``: what an undo or redo moved, and whose step."""
        what, label = reply.label.split(" ", 1)
        paths = reply.step_paths or [d.path for d in reply.drafts]
        on = os.path.basename(paths[0]) if len(paths) == 1 else f"{len(paths):,} drafts"
        whose = "your step" if reply.step_by == self._session() else f"from {reply.step_who or 'another client'}"
        return f"{'undid' if what == 'undo' else 'redid'} {label} on {on} — {whose}"

    def take_conflict(self) -> Refused | None:
        """The oldest edit refused as a conflict and not yet offered again (the review screen asks the person)."""
        return self.refused.pop(0) if self.refused else None

    # ---- keywords, commit --------------------------------------------------------------------------------------

    async def complete(self, prefix: str, limit: int = 8) -> list[Suggestion]:
        """Autocomplete, ranked by use in this library (awaited by the keyword entry)."""
        async with self.daemon.using() as c:
            return await c.review_complete(prefix, limit)

    async def keyword_counts(self) -> P.ReviewKeywordList:
        """The all-keywords pane: every kept keyword of the list's drafts, with counts."""
        async with self.daemon.using() as c:
            return await c.review_keywords(self.book.root, self.book.filter)

    def commit(self, paths: list[str], mode: P.WriteMode, done: Callable[[P.ReviewCommitReply], None]) -> None:
        """Write ``paths`` (approved drafts) into their files as a commit job; ``done(reply)`` once the daemon
        answered (``reply.job`` None: none of them is approved any more, so nothing was queued)."""

        async def work() -> None:
            async with self.daemon.using() as c:
                reply = await c.review_commit(paths=paths, mode=mode)
            done(reply)

        self.workers.task(work, group="review-commit", where="commit")

    # ---- the file's existing metadata --------------------------------------------------------------------------

    def read_existing(self, path: str, *, again: bool = False) -> None:
        """Read what the file holds now, for the detail pane (cached while the file is unchanged on disk, unless
        ``again``; read in a thread: pyexiv2 blocks)."""
        if path in self.existing and not again and stat_key(path) == self._read_at.get(path):
            self.existing.move_to_end(path)
            return

        def work() -> None:
            from imageworks import metadata

            found: Existing | str
            seen = stat_key(path)
            try:
                found = metadata.read(path)
            except (metadata.MetadataError, OSError) as exc:
                found = str(exc)
            self.workers.from_thread(self._remember_existing, path, found, seen)

        self.workers.thread(work, group="review-existing", exclusive=False, where="review")

    def file_changed(self, path: str) -> bool:
        """Whether ``path`` changed on disk since its metadata was read (then it is read again)."""
        if path not in self.existing or stat_key(path) == self._read_at.get(path):
            return False
        self.read_existing(path, again=True)
        return True

    def _read_again(self, paths: list[str]) -> None:
        for path in paths:
            if path in self.existing:
                self.read_existing(path, again=True)

    def _remember_existing(self, path: str, found: Existing | str, seen: tuple[int, int, int] | None) -> None:
        self.existing[path] = found
        self._read_at[path] = seen
        while len(self.existing) > EXISTING_CACHE:
            self._read_at.pop(self.existing.popitem(last=False)[0], None)
        self.workers.post(ExistingRead(path))
