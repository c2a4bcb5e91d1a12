"""review.*: drafts read, edited (optimistically, by version), undone and redone, counted, completed, imported,
committed, and moved back after a restore.

Each change is published on the ``review`` topic with the changed drafts (``ReviewDesk.publish``). Reads and
single edits are quick SQLite work on the loop; a batch, an import, undo or redo may touch thousands of drafts and
runs in a thread. ``review.commit`` starts a ``commit`` job (resumable, followed like any job, never loads a
model); its write becomes the asking session's undo step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import msgspec

from imageworks import protocol as P
from imageworks.errors import DaemonError
from imageworks.protocol.review import PAGE_LIMIT
from imageworks.review.drafts import Conflict, Draft
from imageworks.review.edits import Approve, DraftEdit
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.store import DAEMON, LineRefused, Travel, VersionedEdit

from ..review import ReviewDesk
from . import REQUEST_SESSION, Handler


class ReviewHandlers:
    def __init__(
        self,
        desk: ReviewDesk,
        submit_job: Callable[[P.JobSubmit], Awaitable[P.JobSubmitted]],
        describe_client: Callable[[str], str | None],
    ) -> None:
        self.desk = desk
        self.store = desk.store
        self.submit_job = submit_job
        self.describe_client = describe_client
        """A session as ``daemon status`` lists it (``tui (pid 1234)``), None when this daemon never met it."""

    @contextmanager
    def _refusing(self) -> Iterator[None]:
        """A conflict names the other client as a person knows it; the review core's other errors reach the reply
        with their own codes (``unknown_draft``, ``bad_request``)."""
        try:
            yield
        except Conflict as exc:  # other review errors carry their code to the reply as they are
            raise DaemonError(exc.naming(self._who(exc.changed_by)), code=exc.code) from None

    def _named(self, session: str) -> str:
        """A session as a person knows it, kept with its undo steps (the daemon may be restarted before an undo)."""
        return self.describe_client(session) or ""

    def _who(self, session: str) -> str:
        """Who a draft's ``changed_by`` is, for a person: a client's name and pid, the daemon, or (a client of an
        earlier daemon run) its session id."""
        if session == DAEMON:
            return "the daemon"
        if not session:  # a draft no client has changed yet
            return ""
        return self.describe_client(session) or f"a client no longer connected (session {session})"

    def table(self) -> dict[str, Handler]:
        return {
            "review.list": self.on_list,
            "review.get": self.on_get,
            "review.edit": self.on_edit,
            "review.batch": self.on_batch,
            "review.undo": self.on_undo,
            "review.redo": self.on_redo,
            "review.changes": self.on_changes,
            "review.keywords": self.on_keywords,
            "review.complete": self.on_complete,
            "review.commit": self.on_commit,
            "review.import": self.on_import,
            "review.restored": self.on_restored,
            "review.recall": self.on_recall,
            "review.written": self.on_written,
        }

    def on_list(self, body: P.ReviewList) -> P.ReviewPage:
        seq = self.store.last_seq()  # before reading: a change made meanwhile is caught up, never missed
        with self._refusing():
            page = self.store.list_drafts(body.root, body.query, after=body.after, limit=_limit(body.limit))
        return P.ReviewPage(
            drafts=page.drafts,
            total=page.total,
            next_after=page.next_after,
            seq=seq,
            history=self.store.history_state(),
        )

    def on_get(self, body: P.ReviewGet) -> P.ReviewDraft:
        draft = self.store.get(body.path)
        if draft is None:
            raise DaemonError(f"{body.path}: no draft (tag it first)", code="unknown_draft")
        return P.ReviewDraft(draft=draft, seq=draft.seq)

    def on_edit(self, body: P.ReviewEdit) -> P.ReviewEdited:
        edit = self._with_fingerprint(body.edit)
        by = REQUEST_SESSION.get()
        with self._refusing():
            draft = self.store.apply(edit, body.base_version, by=by, who=self._named(by))
        changed = [draft] if draft.version != body.base_version else []  # the same version: it changed nothing
        return self._changed(changed, draft.last_change if changed else "")

    def _with_fingerprint(self, edit: DraftEdit) -> DraftEdit:
        """Approving a stale draft again approves the file as it is now: the daemon reads it, not the client."""
        if not isinstance(edit, Approve) or edit.fingerprint is not None:
            return edit
        draft = self.store.get(edit.path)
        if draft is None or draft.status != "stale":
            return edit
        try:
            return msgspec.structs.replace(edit, fingerprint=file_fingerprint(edit.path))
        except OSError as exc:
            raise DaemonError(f"{edit.path}: cannot read it ({exc.strerror})", code="bad_request") from None

    async def on_batch(self, body: P.ReviewBatch) -> P.ReviewEdited:
        by = REQUEST_SESSION.get()
        with self._refusing():
            drafts = await asyncio.to_thread(self.store.apply_batch, body.edit, by=by, who=self._named(by))
        return self._changed(drafts, drafts[0].last_change if drafts else "", by=by)

    async def on_undo(self, body: P.ReviewUndo) -> P.ReviewEdited:
        return await self._travel(self.store.undo, "undo")

    async def on_redo(self, body: P.ReviewRedo) -> P.ReviewEdited:
        return await self._travel(self.store.redo, "redo")

    async def _travel(self, move: Callable[..., Travel], what: str) -> P.ReviewEdited:
        """Undo or redo; the reply names the step moved and whose it was (another terminal's, the daemon's)."""
        by = REQUEST_SESSION.get()
        with self._refusing():
            moved = await asyncio.to_thread(move, by=by)
        if not moved.label:
            return self._changed([], "", by=by)
        label = f"{what} {moved.label}"
        reply = self._changed(moved.drafts, label, by=by)
        reply.step_by = moved.by
        reply.step_who = moved.who or self._who(moved.by)
        reply.step_paths = moved.paths
        return reply

    def _changed(self, drafts: list[Draft], label: str, *, by: str | None = None) -> P.ReviewEdited:
        """Publish a person's change and answer it; approvals and renames feed the vocabulary."""
        by = REQUEST_SESSION.get() if by is None else by
        history = self.store.history_state()
        if drafts:
            self.desk.vocabulary_changed()
            self.desk.publish(drafts, by=by, label=label, history=history)
        seq = max((d.seq for d in drafts), default=self.store.last_seq())
        return P.ReviewEdited(drafts=drafts, seq=seq, history=history, label=label)

    def on_changes(self, body: P.ReviewChanges) -> P.ReviewChangesPage:
        limit = _limit(body.limit)
        drafts = self.store.changes_since(body.after_seq, limit + 1)
        more = len(drafts) > limit
        drafts = drafts[:limit]
        last = drafts[-1].seq if drafts else max(body.after_seq, 0)
        return P.ReviewChangesPage(drafts=drafts, last_seq=last, more=more)

    async def on_keywords(self, body: P.ReviewKeywords) -> P.ReviewKeywordList:
        with self._refusing():
            counts, drafts = await asyncio.to_thread(self._count_keywords, body.root, body.query)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))
        if body.limit > 0:
            ranked = ranked[: body.limit]
        return P.ReviewKeywordList(keywords=[P.KeywordCount(keyword=k, count=n) for k, n in ranked], drafts=drafts)

    def _count_keywords(self, root: str, query: str) -> tuple[dict[str, int], int]:
        return dict(self.store.keyword_counts(root, query)), self.store.count(root, query)

    async def on_complete(self, body: P.ReviewComplete) -> P.ReviewCompletions:
        vocabulary = await asyncio.to_thread(self.desk.vocabulary)
        return P.ReviewCompletions(suggestions=vocabulary.complete(body.prefix, max(1, min(body.limit, 100))))

    async def on_commit(self, body: P.ReviewCommit) -> P.ReviewCommitReply:
        """Queue a ``commit`` job for the selected drafts; with none to write, queue nothing and say so."""
        with self._refusing():
            drafts, pending = await asyncio.to_thread(self._to_commit, body)
        if not drafts:
            return P.ReviewCommitReply(job=None, drafts=0, pending=pending)
        library = await asyncio.to_thread(self.desk.library)
        items = [{"path": d.path, "version": d.version, "draft": msgspec.to_builtins(d)} for d in drafts]
        params: dict[str, object] = {
            "mode": body.mode,
            "dry_run": body.dry_run,
            "include_pending": not body.approved_only,
            "hierarchy": library.hierarchical,
        }
        by = REQUEST_SESSION.get()
        params.update(by=by, who=self._named(by))
        submitted = await self.submit_job(P.JobSubmit(kind="commit", items=items, params=params))
        return P.ReviewCommitReply(job=submitted.job, drafts=len(drafts), pending=pending)

    async def on_import(self, body: P.ReviewImport) -> P.ReviewImported:
        """Every line against its version, as one step: a refused line is named; with any, nothing is applied
        unless ``partial``."""
        by = REQUEST_SESSION.get()
        lines = [VersionedEdit(line=n.line, edit=n.edit, base_version=n.base_version) for n in body.lines]
        drafts, refused = await asyncio.to_thread(
            self.store.apply_lines,
            lines,
            partial=body.partial and not body.check_only,
            check_only=body.check_only,
            by=by,
            who=self._named(by),
        )
        changed = self._changed(drafts, "import", by=by)
        applied = len(lines) - len(refused)
        return P.ReviewImported(
            drafts=drafts,
            refused=[self._refusal(r) for r in refused],
            unchanged=0 if body.check_only or (refused and not body.partial) else applied - len(drafts),
            seq=changed.seq,
            history=changed.history,
        )

    def _refusal(self, refused: LineRefused) -> P.LineRefusal:
        error = refused.error
        if isinstance(error, Conflict):
            then = "--force applies the line anyway"
            message = error.naming(self._who(error.changed_by), since="this export", had="the line has", then=then)
            return P.LineRefusal(line=refused.line, path=refused.path, code="conflict", message=message)
        return P.LineRefusal(line=refused.line, path=refused.path, code=error.code, message=str(error))

    async def on_restored(self, body: P.ReviewRestored) -> P.ReviewEdited:
        """Files put back by ``metadata restore``: their drafts are approved-not-written again."""
        drafts = await asyncio.to_thread(self.desk.restored, body.paths)
        return self._changed(drafts, "restored", by=DAEMON)

    async def on_recall(self, body: P.ReviewRecall) -> P.ReviewRecalled:
        """What ImageWorks last wrote into each file, for a writer outside the daemon (``metadata write``)."""
        files = await asyncio.to_thread(lambda: [self.desk.recall(path) for path in body.paths])
        return P.ReviewRecalled(files=files)

    async def on_written(self, body: P.ReviewWritten) -> P.ReviewEdited:
        """That writer's writes: each draft shows what its file holds now; one undo step for the asking session."""
        by = REQUEST_SESSION.get()
        drafts = await asyncio.to_thread(self.desk.record_written, body.files, job=body.job, by=by, who=self._named(by))
        return self._changed(drafts, "written by metadata write", by=DAEMON)

    def _to_commit(self, body: P.ReviewCommit) -> tuple[list[Draft], int]:
        """The selected drafts a commit writes: approved ones (and pending ones unless ``approved_only``); and how
        many pending ones of the selection ``approved_only`` leaves out."""
        statuses = ("approved",) if body.approved_only else ("approved", "pending")
        if body.paths:
            found = [d for d in (self.store.get(path) for path in dict.fromkeys(body.paths)) if d is not None]
            left_out = sum(d.status == "pending" for d in found) if body.approved_only else 0
            return [d for d in found if d.status in statuses], left_out
        drafts = self.store.list_drafts(body.root, _with_status(body.query, statuses), limit=1 << 62).drafts
        left_out = self.store.count(body.root, _with_status(body.query, ("pending",))) if body.approved_only else 0
        return drafts, left_out


def _with_status(query: str, statuses: tuple[str, ...]) -> str:
    """``query`` narrowed to drafts with one of ``statuses``."""
    wanted = " OR ".join(f"status:{status}" for status in statuses)
    return f"({query}) ({wanted})" if query.strip() else wanted


def _limit(limit: int) -> int:
    return max(1, min(limit, PAGE_LIMIT))
