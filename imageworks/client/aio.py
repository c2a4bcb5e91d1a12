"""The one client implementation: every request the daemon answers, written once, as coroutines, on the
request/reply channel (channel.py: Lazy Pirate retries, the session handshake, the I/O object that lets the
blocking ``Client`` of sync.py run these same coroutines without an event loop).

- ``follow(job_id)`` is the Clone pattern (follow.py); ``events()`` and ``wait_model`` listen on the daemon topic.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, Generic, TypeVar

from imageworks import protocol as P
from imageworks.client.channel import Channel
from imageworks.client.follow import FollowState
from imageworks.errors import DaemonError
from imageworks.review.edits import BatchEdit, DraftEdit
from imageworks.review.model import Draft
from imageworks.review.vocabulary import Suggestion

RESYNC_S = 1.0
"""Waits on events re-read the daemon's state this often, in case the PUB socket dropped the event awaited."""

DaemonEvent = P.JobStateEvent | P.ModelEvent
T = TypeVar("T")


class Subscription(Generic[T]):
    """A stream read off a SUB socket made at the call. ``aclose()`` closes the socket even when the stream was
    never iterated (an async generator that never started skips its ``finally``): a caller that subscribes, then
    fails to read the state it subscribed for, leaks nothing."""

    def __init__(self, stream: AsyncGenerator[T, None], sub: Any) -> None:
        self.stream = stream
        self.sub = sub

    def __aiter__(self) -> Subscription[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        return self.stream.__anext__()

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            self.sub.close(0)


class AsyncClient(Channel):
    """asyncio client (one per task; not shared between tasks sending at once). ``register=False`` makes a probe
    that is never listed among the daemon's clients."""

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
        sub = self._subscribe(P.DAEMON_TOPIC)  # before reading the state, so no change falls in between
        try:
            while True:
                status = await self.status()
                state = status.slots.get(slot, status.model if slot == "vlm" else P.ModelState(slot=slot))
                resync = min(deadline, time.monotonic() + RESYNC_S)
                while not _model_settled(state) and (left := resync - time.monotonic()) > 0:
                    if await self.io.poll(sub, left):
                        event = self.conn.decode_event(await self.io.recv(sub)) if self.conn else None
                        if event is not None and isinstance(event.body, P.ModelEvent) and event.body.model.slot == slot:
                            state = event.body.model
                if _model_settled(state):
                    if state.state != "loaded":
                        raise DaemonError(state.error or f"model is {state.state}", code="model_error")
                    return state
                if time.monotonic() >= deadline:
                    raise DaemonError(f"model {state.name!r} still {state.state} after {timeout:g} s", code="timeout")
        finally:
            sub.close(0)

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
        mode: str = "merge",
        dry_run: bool = False,
        approved_only: bool = True,
    ) -> P.ReviewCommitReply:
        """Start a ``commit`` job (follow it with ``follow(job_id)``: one ``CommitRecord`` per file); ``job`` is
        None when no selected draft is there to write (then nothing was queued)."""
        body = P.ReviewCommit(
            root=root, query=query, paths=paths or [], mode=mode, dry_run=dry_run, approved_only=approved_only
        )
        return await self.call("review.commit", body, timeout=max(self.timeout, 60))

    # ---- streams ---------------------------------------------------------------------------------------------

    def follow(
        self, job_id: str, *, after_seq: int = 0, resync_s: float = RESYNC_S
    ) -> Subscription[P.ResultRecord | P.JobInfo]:
        """Yield every result after ``after_seq`` exactly once, and job state changes, until the job ends."""
        sub = self._subscribe(P.job_topic(job_id))  # now, not at the first iteration: no event falls in between
        return Subscription(self._follow(sub, job_id, FollowState(after_seq), resync_s), sub)

    async def _follow(
        self, sub: Any, job_id: str, state: FollowState, resync_s: float
    ) -> AsyncIterator[P.ResultRecord | P.JobInfo]:
        try:
            while True:
                async for update in self._pull(job_id, state):
                    yield update
                if state.final is not None:
                    return
                deadline = time.monotonic() + resync_s
                while (left := deadline - time.monotonic()) > 0 and await self.io.poll(sub, left):
                    assert self.conn is not None
                    new, final = state.take_event(self.conn.decode_event(await self.io.recv(sub)))
                    for update in new:
                        yield update
                    if final:
                        break  # pull the rest from the journal, then stop
        finally:
            sub.close(0)

    async def _pull(self, job_id: str, state: FollowState) -> AsyncIterator[P.ResultRecord | P.JobInfo]:
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
        """The daemon's pushed events (every job state change, every model change), typed, as they come; ends
        after ``idle_timeout`` s without one (None: never). Subscribes at the call; as with any PUB/SUB, the
        subscription takes effect a moment later, so read the state (``status``, ``jobs``) after this call."""
        sub = self._subscribe(P.DAEMON_TOPIC)
        return Subscription(self._events(sub, idle_timeout, (P.JobStateEvent, P.ModelEvent)), sub)

    def review_events(self, *, idle_timeout: float | None = None) -> Subscription[P.ReviewEvent]:
        """Every change of a draft, by anyone (``events`` semantics). Subscribe, then read (``review_list``), then
        apply events whose drafts have a ``seq`` above the page's ``seq``."""
        sub = self._subscribe(P.REVIEW_TOPIC)
        return Subscription(self._events(sub, idle_timeout, (P.ReviewEvent,)), sub)

    async def _events(self, sub: Any, idle_timeout: float | None, types: tuple[type, ...]) -> AsyncGenerator[Any, None]:
        try:
            while True:
                if idle_timeout is None:
                    while not await self.io.poll(sub, 3600):
                        pass
                elif not await self.io.poll(sub, idle_timeout):
                    return
                assert self.conn is not None
                msg = self.conn.decode_event(await self.io.recv(sub))
                if msg is not None and isinstance(msg.body, types):
                    yield msg.body
        finally:
            sub.close(0)


def _model_settled(state: P.ModelState) -> bool:
    return state.state in ("loaded", "failed", "crashed", "none")
