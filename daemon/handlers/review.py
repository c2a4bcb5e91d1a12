"""review.*: drafts read, edited (optimistically, by version), undone and redone, counted, completed and committed.

Each change is published on the ``review`` topic with the changed drafts (``ReviewDesk.publish``). Reads and
single edits are quick SQLite work on the loop; a batch, undo or redo may touch thousands of drafts and runs in
a thread. ``review.commit`` starts a ``commit`` job (resumable, followed like any job, never loads a model).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import msgspec

from daemon.handlers import REQUEST_SESSION, Handler, Refused
from daemon.review import ReviewDesk
from imageworks import protocol as P
from imageworks.protocol.review import PAGE_LIMIT
from imageworks.review.edits import Approve, DraftEdit
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.model import Conflict, Draft, ReviewError, UnknownDraft
from imageworks.review.store import DAEMON


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
        """The review core's errors as the protocol's error codes; a conflict names the other client."""
        try:
            yield
        except Conflict as exc:
            raise Refused("conflict", exc.naming(self._who(exc.changed_by))) from None
        except UnknownDraft as exc:
            raise Refused("unknown_draft", str(exc)) from None
        except ReviewError as exc:
            raise Refused("bad_request", str(exc)) from None

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
            raise Refused("unknown_draft", f"{body.path}: no draft (tag it first)")
        return P.ReviewDraft(draft=draft, seq=draft.seq)

    def on_edit(self, body: P.ReviewEdit) -> P.ReviewEdited:
        edit = self._with_fingerprint(body.edit)
        with self._refusing():
            draft = self.store.apply(edit, body.base_version, by=REQUEST_SESSION.get())
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
            raise Refused("bad_request", f"{edit.path}: cannot read it ({exc.strerror})") from None

    async def on_batch(self, body: P.ReviewBatch) -> P.ReviewEdited:
        by = REQUEST_SESSION.get()
        with self._refusing():
            drafts = await asyncio.to_thread(self.store.apply_batch, body.edit, by=by)
        return self._changed(drafts, drafts[0].last_change if drafts else "", by=by)

    async def on_undo(self, body: P.ReviewUndo) -> P.ReviewEdited:
        return await self._travel(self.store.undo)

    async def on_redo(self, body: P.ReviewRedo) -> P.ReviewEdited:
        return await self._travel(self.store.redo)

    async def _travel(self, move: Callable[..., list[Draft]]) -> P.ReviewEdited:
        by = REQUEST_SESSION.get()
        with self._refusing():
            drafts = await asyncio.to_thread(move, by=by)
        return self._changed(drafts, drafts[0].last_change if drafts else "", by=by)

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
        params = {
            "mode": body.mode,
            "dry_run": body.dry_run,
            "include_pending": not body.approved_only,
            "hierarchy": library.hierarchical,
        }
        submitted = await self.submit_job(P.JobSubmit(kind="commit", items=items, params=params))
        return P.ReviewCommitReply(job=submitted.job, drafts=len(drafts), pending=pending)

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
