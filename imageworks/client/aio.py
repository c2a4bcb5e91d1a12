"""The one client implementation: every request the daemon answers, written once, as a coroutine, on the
multiplexed channel (channel.py: many requests in flight on one connection, Lazy Pirate retries, the daemon-gone
check, hello/bye). The blocking ``Client`` and the TUI's view for threads are derived from it (sync.py).

- ``follow(job_id)`` is the Clone pattern (follow.py); ``events()`` and ``wait_model`` listen on the daemon topic;
  every stream is a feed of the client's one SUB socket, which its one reader fills.
- To add a request: one coroutine here, ``return await self.call("type", Body(...))``; the blocking client and
  the thread view have it at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

from imageworks import protocol as P
from imageworks.client.channel import Channel
from imageworks.client.follow import FollowState
from imageworks.client.streams import EventFeed, Subscription
from imageworks.errors import DaemonError
from imageworks.review.drafts import Draft
from imageworks.review.edits import BatchEdit, DraftEdit
from imageworks.review.rounds import FileWritten
from imageworks.review.vocabulary import Suggestion

RESYNC_S = 1.0
"""Waits on events re-read the daemon's state this often, in case the PUB socket dropped the event awaited."""

DaemonEvent = P.JobStateEvent | P.JobProgressEvent | P.ModelEvent


class AsyncClient(Channel):
    """asyncio client: share one among every task of a program (requests from all of them are in flight at once on
    its one connection). ``register=False`` makes a probe that is never listed among the daemon's clients."""

    # ---- one method per request type -------------------------------------------------------------------------

    async def ping(self, timeout: float | None = None) -> P.Pong:
        return await self.call("ping", P.Ping(), timeout=timeout)

    async def status(self) -> P.StatusReply:
        return await self.call("status", P.StatusRequest())

    async def load_model(
        self, name: str = "", *, slot: str = "vlm", wait: bool = False, timeout: float = 600
    ) -> P.ModelState:
        state = await self.call("model.load", P.ModelLoad(name=name, slot=slot))
        return await self.wait_model(timeout, slot=slot) if wait else state

    async def switch_model(
        self, name: str, *, slot: str = "vlm", wait: bool = False, timeout: float = 600
    ) -> P.ModelState:
        state = await self.call("model.switch", P.ModelSwitch(name=name, slot=slot), timeout=max(self.timeout, 15))
        return await self.wait_model(timeout, slot=slot) if wait else state

    async def unload_model(self, *, slot: str = "vlm") -> P.ModelState:
        return await self.call("model.unload", P.ModelUnload(slot=slot), timeout=max(self.timeout, 15))

    async def embed(self, images: list[str], *, model: str = "", timeout: float = 300) -> P.Embeddings:
        """Vectors of ``images`` (paths on the daemon's machine) from the embed slot's model, which must be loaded
        (``load_model(name, slot="embed")``): the daemon never loads one for this request. ``model`` given, another
        loaded model is refused (``model_mismatch``). Send batches of tens of images: a batch is one reply."""
        return await self.call("model.embed", P.ModelEmbed(images=images, model=model), timeout=timeout)

    async def wait_model(self, timeout: float = 600, *, slot: str = "vlm") -> P.ModelState:
        """Wait for a slot's model to be loaded, on model events (raises DaemonError with the error if it fails)."""
        deadline = time.monotonic() + timeout
        feed = self._subscribe(P.DAEMON_TOPIC)  # before reading the state, so no change falls in between
        try:
            while True:
                status = await self.status()
                state = status.slots.get(slot, status.model if slot == "vlm" else P.ModelState(slot=slot))
                resync = min(deadline, time.monotonic() + RESYNC_S)
                while not _model_settled(state) and (left := resync - time.monotonic()) > 0:
                    msg = await feed.get(left)
                    if msg is not None and isinstance(msg.body, P.ModelEvent) and msg.body.model.slot == slot:
                        state = msg.body.model
                if _model_settled(state):
                    if state.state != "loaded":
                        raise DaemonError(state.error or f"model is {state.state}", code="model_error")
                    return state
                if time.monotonic() >= deadline:
                    raise DaemonError(f"model {state.name!r} still {state.state} after {timeout:g} s", code="timeout")
        finally:
            self._unsubscribe(feed)

    async def submit(
        self,
        kind: str,
        items: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        model: str = "",
        batch_size: int = 0,
        idempotency_key: str = "",
    ) -> P.JobSubmitted:
        body = P.JobSubmit(
            kind=kind,
            items=items,
            params=params or {},
            model=model,
            batch_size=batch_size,
            idempotency_key=idempotency_key or P.new_id(),  # makes Lazy Pirate's resend safe
        )
        return await self.call("job.submit", body)

    async def resume(self, job_id: str) -> P.JobSubmitted:
        return await self.call("job.submit", P.JobSubmit(kind="", resume=job_id))

    async def attach(self, job_id: str) -> P.JobSnapshot:
        return await self.call("job.attach", P.JobAttach(job_id=job_id))

    async def results(self, job_id: str, after_seq: int = 0, limit: int = 500) -> P.JobResultsPage:
        return await self.call("job.results", P.JobResults(job_id=job_id, after_seq=after_seq, limit=limit))

    async def all_results(self, job_id: str) -> list[P.ResultRecord]:
        out: list[P.ResultRecord] = []
        after = 0
        while True:
            page = await self.results(job_id, after, 5000)
            out.extend(page.results)
            after = page.last_seq
            if not page.more:
                return out

    async def cancel(self, job_id: str) -> P.JobInfo:
        return await self.call("job.cancel", P.JobCancel(job_id=job_id))

    async def jobs(self, limit: int = 50) -> list[P.JobInfo]:
        return (await self.call("job.list", P.JobList(limit=limit))).jobs

    async def shutdown(self) -> None:
        await self.call("shutdown", P.Shutdown())

    # ---- review (drafts live in the daemon; see imageworks.protocol.review) ------------------------------------

    async def review_list(
        self, root: str = "", query: str = "", *, after: str | None = None, limit: int = 200
    ) -> P.ReviewPage:
        return await self.call("review.list", P.ReviewList(root=root, query=query, after=after, limit=limit))

    async def review_get(self, path: str) -> Draft:
        """The draft of ``path``; DaemonError(code="unknown_draft") when it has none."""
        return (await self.call("review.get", P.ReviewGet(path=path))).draft

    async def review_edit(self, edit: DraftEdit, base_version: int) -> P.ReviewEdited:
        """Apply ``edit`` made against ``base_version``; DaemonError(code="conflict") if the draft moved on."""
        return await self.call("review.edit", P.ReviewEdit(edit=edit, base_version=base_version))

    async def review_batch(self, edit: BatchEdit) -> P.ReviewEdited:
        return await self.call("review.batch", P.ReviewBatch(edit=edit), timeout=max(self.timeout, 60))

    async def review_undo(self) -> P.ReviewEdited:
        return await self.call("review.undo", P.ReviewUndo(), timeout=max(self.timeout, 60))

    async def review_redo(self) -> P.ReviewEdited:
        return await self.call("review.redo", P.ReviewRedo(), timeout=max(self.timeout, 60))

    async def review_changes(self, after_seq: int, limit: int = 1000) -> P.ReviewChangesPage:
        return await self.call("review.changes", P.ReviewChanges(after_seq=after_seq, limit=limit))

    async def review_keywords(self, root: str = "", query: str = "", *, limit: int = 0) -> P.ReviewKeywordList:
        return await self.call("review.keywords", P.ReviewKeywords(root=root, query=query, limit=limit))

    async def review_complete(self, prefix: str, limit: int = 10) -> list[Suggestion]:
        return (await self.call("review.complete", P.ReviewComplete(prefix=prefix, limit=limit))).suggestions

    async def review_commit(
        self,
        root: str = "",
        query: str = "",
        *,
        paths: list[str] | None = None,
        mode: P.WriteMode = "merge",
        dry_run: bool = False,
        approved_only: bool = True,
    ) -> P.ReviewCommitReply:
        """Start a ``commit`` job (follow it with ``follow(job_id)``: one ``CommitRecord`` per file); ``job`` is
        None when no selected draft is there to write (then nothing was queued)."""
        body = P.ReviewCommit(
            root=root, query=query, paths=paths or [], mode=mode, dry_run=dry_run, approved_only=approved_only
        )
        return await self.call("review.commit", body, timeout=max(self.timeout, 60))

    # ---- the library stores (the scan cache, similarity; the daemon writes them, clients read them read-only) -----

    async def scan_clear(self, root: str = "") -> P.ScanCleared:
        """Forget the cached listing of ``root`` ("" = every root); walks are ``scan`` jobs."""
        return await self.call("scan.clear", P.ScanClear(root=root), timeout=max(self.timeout, 60))

    async def similar_groups(self, job_id: str, threshold: float, reference: str = "largest") -> P.SimilarGroupsReply:
        """The groups of a finished ``similar`` job at ``threshold`` (at or above its search's floor), each around a
        reference chosen by ``reference`` (a rule's name), with the marks of their images: from the stored
        neighbours, in milliseconds."""
        body = P.SimilarGroups(job_id=job_id, threshold=threshold, reference=reference)
        return await self.call("similar.groups", body)

    async def similar_mark(self, paths: list[str], mark: str | None) -> P.SimilarMarks:
        """Mark ``paths`` keep or reject (None clears their marks); the daemon keeps them for every client."""
        return await self.call("similar.mark", P.SimilarMark(paths=paths, mark=mark))

    async def review_import(
        self, lines: list[P.ImportLine], *, partial: bool = False, check_only: bool = False
    ) -> P.ReviewImported:
        """Apply an import's lines as one step; refused lines come back (with any, nothing applied unless
        ``partial``; with ``check_only``, nothing in any case)."""
        body = P.ReviewImport(lines=lines, partial=partial, check_only=check_only)
        return await self.call("review.import", body, timeout=max(self.timeout, 60))

    async def review_restored(self, paths: list[str]) -> P.ReviewEdited:
        """Tell the daemon ``metadata restore`` put these files back: their drafts are approved-not-written again."""
        return await self.call("review.restored", P.ReviewRestored(paths=paths), timeout=max(self.timeout, 60))

    async def review_recall(self, paths: list[str]) -> P.ReviewRecalled:
        """What ImageWorks last wrote into these files (a writer outside the daemon plans against it)."""
        return await self.call("review.recall", P.ReviewRecall(paths=paths), timeout=max(self.timeout, 60))

    async def review_written(self, files: list[FileWritten], job: str = "") -> P.ReviewEdited:
        """Tell the daemon what a write outside it did: the files' drafts then show what the files hold."""
        return await self.call("review.written", P.ReviewWritten(files=files, job=job), timeout=max(self.timeout, 60))

    # ---- images ----------------------------------------------------------------------------------------------

    async def thumbnail(self, path: str, max_px: int = 512) -> P.Thumbnail:
        """A JPEG of ``path`` (a photo on the daemon's machine), its longer side at most ``max_px`` (16-1024):
        previews for a client that cannot read the photos itself. DaemonError(code="bad_image") when it cannot
        be read."""
        return await self.call("image.thumbnail", P.ImageThumbnail(path=path, max_px=max_px))

    # ---- streams ---------------------------------------------------------------------------------------------

    def follow(
        self, job_id: str, *, after_seq: int = 0, resync_s: float = RESYNC_S, progress: bool = False
    ) -> Subscription[P.ResultRecord | P.JobInfo | P.JobProgressEvent]:
        """Yield every result after ``after_seq`` exactly once, and job state changes, until the job ends; with
        ``progress``, the job's progress events too (``JobProgressEvent``: a walk's count, a search's step)."""
        feed = self._subscribe(P.job_topic(job_id))  # now, not at the first iteration: no event falls in between
        state = FollowState(after_seq, progress=progress)
        return Subscription(self._follow(feed, job_id, state, resync_s), feed, self._unsubscribe)

    async def _follow(
        self, feed: EventFeed, job_id: str, state: FollowState, resync_s: float
    ) -> AsyncGenerator[P.ResultRecord | P.JobInfo | P.JobProgressEvent, None]:
        try:
            while True:
                async for update in self._pull(job_id, state):
                    yield update
                if state.final is not None:
                    return
                deadline = time.monotonic() + resync_s
                while (left := deadline - time.monotonic()) > 0 and (msg := await feed.get(left)) is not None:
                    new, final = state.take_event(msg)
                    for event in new:
                        yield event
                    if final:
                        break  # pull the rest from the journal, then stop
                if feed.closed:
                    return  # the client closed
        finally:
            self._unsubscribe(feed)

    async def _pull(self, job_id: str, state: FollowState) -> AsyncGenerator[P.ResultRecord | P.JobInfo, None]:
        snap = await self.attach(job_id)
        while True:
            page = await self.results(job_id, state.pulled, 1000)
            for result in page.results:
                if state.take_result(result):
                    yield result
            state.pulled = page.last_seq
            if not page.more:
                break
        if state.take_state(snap.job):
            yield snap.job

    def events(self, *, idle_timeout: float | None = None) -> Subscription[DaemonEvent]:
        """The daemon's pushed events (every job state change, a running job's counts, every model change), typed, as
        they come; ends after ``idle_timeout`` s without one (None: never) or when the client closes. Subscribes at
        the call; as with any PUB/SUB, the subscription takes effect a moment later, so read the state (``status``,
        ``jobs``) after this call."""
        feed = self._subscribe(P.DAEMON_TOPIC)
        types = (P.JobStateEvent, P.JobProgressEvent, P.ModelEvent)
        return Subscription(self._events(feed, idle_timeout, types), feed, self._unsubscribe)

    def review_events(self, *, idle_timeout: float | None = None) -> Subscription[P.ReviewEvent]:
        """Every change of a draft, by anyone (``events`` semantics). Subscribe, then read (``review_list``), then
        apply events whose drafts have a ``seq`` above the page's ``seq``."""
        feed = self._subscribe(P.REVIEW_TOPIC)
        return Subscription(self._events(feed, idle_timeout, (P.ReviewEvent,)), feed, self._unsubscribe)

    def library_events(self, *, idle_timeout: float | None = None) -> Subscription[P.LibraryChanged]:
        """Every change the daemon's library watchers applied to the scan cache (``events`` semantics): a client
        showing a root's listing re-reads it from the cache on an event for that root."""
        feed = self._subscribe(P.LIBRARY_TOPIC)
        return Subscription(self._events(feed, idle_timeout, (P.LibraryChanged,)), feed, self._unsubscribe)

    async def _events(
        self, feed: EventFeed, idle_timeout: float | None, types: tuple[type, ...]
    ) -> AsyncGenerator[Any, None]:
        try:
            while True:
                msg = await feed.get(idle_timeout)
                if msg is None:
                    if feed.closed or idle_timeout is not None:
                        return
                    continue
                if isinstance(msg.body, types):
                    yield msg.body
        finally:
            self._unsubscribe(feed)


def _model_settled(state: P.ModelState) -> bool:
    return state.state in ("loaded", "failed", "crashed", "none")
