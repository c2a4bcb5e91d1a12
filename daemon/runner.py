"""The job runner: one job at a time, its items' requests batched together through the model worker.

For each job it keeps a window of active items (two batches' worth), asks each for its next round of
requests, hands the round to the batching queue with the job's batch size (the queue cuts the batches:
daemon/batching.py), feeds the results back and journals every item the moment it is done. A three-step tagging
job therefore shares batches across images. Cancel sets the worker's stop flag and is journaled at once; the
runner drops the in-flight batch's unfinished work.

The runner never dies: a journal that cannot be written (a full state disk) pauses the job as ``interrupted``
(another write error fails it), with the reason, and the state every read shows is that one even while it cannot
be written; followers are woken by the state event, ``degraded`` says why for ``daemon status``, and the runner
retries the journal every few seconds until it takes writes again, then carries on with the next job.
Each item's metadata write is journaled first (``daemon.intents``) and its result right after the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from imageworks.errors import DaemonError
from imageworks.inference import GenRequest, GenResult
from imageworks.jobs import kinds
from imageworks.jobs.base import ItemTask, JobKind
from imageworks.jobs.records import JobRecord
from imageworks.protocol import JobInfo, ResultRecord
from imageworks.review.rounds import Recalled

from .intents import IntentLog, reconcile
from .journal import Journal, JournalWriteError
from .slots import ModelManager
from .speeds import ItemSpeeds
from .workers.base import WorkerCrashed
from .workers.pool import paths_of

log = logging.getLogger("imageworks.daemon")

PAGE = 256
"""Items read from the journal at a time (and the most decoded in memory beyond the active window)."""
JOURNAL_RETRY_S = 2.0
"""While the journal cannot be written, try it again this often."""


@dataclass(eq=False)
class _Active:
    """One item in the window: its journal index, the item as journaled, and its task."""

    index: int
    item: dict[str, Any]
    task: ItemTask
    requests: int = 0
    """How many requests it has in the current round."""
    images: set[str] = field(default_factory=set)
    """The image files its requests named: forgotten by the model's workers when it finishes."""
    ahead: list[GenRequest] | None = None
    """Its first round's requests, asked before it entered the window (its images are decoded ahead)."""
    ahead_error: Exception | None = None
    """What asking them raised: raised again when its first round is collected."""


@dataclass
class _JobRun:
    """One run of one job: its kind and plan, and the items paged in from the journal and active."""

    job_id: str
    kind: JobKind[Any]
    plan: Any
    batch_size: int
    lanes: int = 1
    """Batches run at once: the model's serving workers when the job started."""
    pending: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    last_index: int = -1
    active: list[_Active] = field(default_factory=list)
    upcoming: deque[_Active] = field(default_factory=deque)
    """The next window's first batch of items: their first requests asked, their images hinted to the model."""
    hints: list[str] = field(default_factory=list)
    """Images of ``upcoming`` not yet hinted (they go with the next round)."""
    timed: Any = None
    """The run's entry in the runner's ``speeds`` (kinds that use the model), from the moment the model was ready."""

    @property
    def window(self) -> int:
        """Two batches' worth (or one per worker, when more): the next round's requests fill whole batches while
        some items finish, and every worker gets one."""
        return self.batch_size * max(2, self.lanes)


class JobRunner:
    def __init__(
        self,
        journal: Journal,
        models: ModelManager,
        *,
        on_result: Callable[[ResultRecord], None],
        on_state: Callable[[JobInfo], None],
        recall: Callable[[str], Recalled] | None = None,
    ) -> None:
        self.journal = journal
        self.models = models
        self.recall = recall
        """What ImageWorks last wrote into a file (the review desk's memory): a job's writes plan against it."""
        self.on_result = on_result
        self.on_state = on_state
        self.queue: deque[str] = deque()
        self.current: str | None = None
        self._cancelled: set[str] = set()
        self._wakeup = asyncio.Event()
        self.degraded = ""
        """Why the daemon cannot do its work right now (``daemon status``); empty when all is well."""
        self._side_db = journal.side_connection()
        """The finalize thread's own connection, for write intents."""
        self.speeds = ItemSpeeds()
        """How fast the loaded model does each kind's items (``status``: estimates that exclude the load)."""
        self._run: _JobRun | None = None
        """The running job's run (its speed so far)."""

    @property
    def depth(self) -> int:
        return len(self.queue)

    def enqueue(self, job_id: str) -> None:
        self.queue.append(job_id)
        self._wakeup.set()

    def _set_state(self, job_id: str, state: str, error: str = "") -> JobInfo:
        info = self.journal.set_state(job_id, state, error=error)
        self.on_state(self.with_speed(info))  # a job's last state says how fast its run went
        return info

    def _end(self, job_id: str, state: str, error: str) -> None:
        """A job's final state, published even when the journal cannot take it (reads show it regardless)."""
        try:
            self._set_state(job_id, state, error)
        except JournalWriteError as exc:
            self._journal_failed(exc)
            self.on_state(self.journal.keep_state(job_id, state, error))

    def _journal_failed(self, exc: JournalWriteError) -> None:
        if not self.degraded:
            log.error("%s", exc)
        what = "state disk full" if exc.disk_full else "job journal not writable"
        self.degraded = f"{what}: {exc}; jobs wait until it takes writes again"

    def _journal_back(self) -> bool:
        """Whether the journal takes writes again (states kept in memory are written then)."""
        try:
            self.journal.probe_write()
            self.journal.flush_unsaved()
        except JournalWriteError as exc:
            self._journal_failed(exc)
            return False
        if self.degraded:
            log.info("the job journal takes writes again")
        self.degraded = ""
        return True

    def cancel(self, job_id: str) -> JobInfo:
        """Always answers: on a full state disk the cancelled state is kept in memory until it can be written."""
        info = self.journal.job(job_id)
        if job_id in self.queue:
            self.queue.remove(job_id)
            state, error = "cancelled", "cancelled before it started"
        elif job_id == self.current:
            self._cancelled.add(job_id)
            self.models.request_stop()
            state, error = "cancelled", "cancelled by request"
        else:
            return info  # already final: cancel is idempotent
        self._end(job_id, state, error)
        return self.journal.job(job_id)

    async def run_forever(self) -> None:
        while True:
            if self.degraded and not self._journal_back():
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), JOURNAL_RETRY_S)
                continue
            if not self.queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            job_id = self.queue.popleft()
            self.current = job_id
            try:
                await self.run_job(job_id)
            except asyncio.CancelledError:
                raise
            except JournalWriteError as exc:  # paused (disk full: resumable) or failed, with the reason
                self._journal_failed(exc)
                if job_id not in self._cancelled:
                    hint = f"; resume it with `imageworks jobs resume {job_id}`" if exc.disk_full else ""
                    self._end(job_id, "interrupted" if exc.disk_full else "failed", f"{exc}{hint}")
            except Exception as exc:  # a bug in a job kind must not take the daemon down
                log.exception("job %s failed", job_id)
                if self.journal.job(job_id).state == "running":
                    self._end(job_id, "failed", f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.current = None
                self._run = None
                self.models.busy = False
                self._cancelled.discard(job_id)

    async def run_job(self, job_id: str) -> None:
        info = self.journal.job(job_id)
        kind = kinds.model_kind(info.kind)
        self._set_state(job_id, "running")
        for result in reconcile(self.journal, job_id):  # writes a stopped run made but could not journal
            self.on_result(result)
        self.models.busy = True
        try:
            model_info = await self.models.ensure_for_job(info.model) if kind.uses_model else {}
        except DaemonError as exc:  # the model cannot be had: the job fails with the reason
            self._set_state(job_id, "failed", str(exc))
            return
        self.models.clear_stop()
        batch_size = info.batch_size or self.models.batch_size  # submit refused more than the model's
        run = _JobRun(job_id, kind, kind.prepare(info.params, model_info), batch_size, lanes=self.models.width)
        if kind.uses_model:
            run.timed = self.speeds.start_run(info.kind, self.model_key())
        self._run = run
        crashed = ""
        while job_id not in self._cancelled and self._fill_window(run):
            round_items, requests = self._collect_round(run)
            results: list[GenResult] = []
            try:
                results = await self._run_requests(run, requests)
            except WorkerCrashed as exc:
                crashed = str(exc)
            if job_id in self._cancelled:
                break
            if crashed:
                for entry in round_items:
                    self._finish_error(run, entry, crashed)
                break
            self._feed_round(run, round_items, results)
            await self._complete_items(run, round_items)
        if job_id in self._cancelled:
            return  # state already journaled by cancel()
        self._set_state(job_id, "failed" if crashed else "done", crashed)

    def _fill_window(self, run: _JobRun) -> bool:
        """Page items in from the journal as the window needs them and start their tasks, and ask the next batch's
        worth beyond the window for their first requests (so their images are decoded before they enter it);
        False when the job has nothing left to do."""
        if len(run.pending) < run.window + run.batch_size:
            page = self.journal.pending_page(run.job_id, run.last_index, PAGE)
            if page:
                run.last_index = page[-1][0]
                run.pending.extend(page)
        while len(run.active) < run.window and (run.upcoming or run.pending):
            run.active.append(run.upcoming.popleft() if run.upcoming else self._admit(run, *run.pending.popleft()))
        while run.pending and len(run.upcoming) < run.batch_size and run.kind.uses_model:
            entry = self._admit(run, *run.pending.popleft())
            try:
                entry.ahead = entry.task.next_requests()
            except Exception as exc:  # said when its round comes, as if asked then
                entry.ahead_error = exc
            run.hints.extend(paths_of(entry.ahead or []))
            run.upcoming.append(entry)
        return bool(run.active)

    @staticmethod
    def _admit(run: _JobRun, index: int, item: dict[str, Any]) -> _Active:
        return _Active(index, item, run.kind.make_task(item, run.plan))

    def _collect_round(self, run: _JobRun) -> tuple[list[_Active], list[GenRequest]]:
        """One round: each active item's next requests, in item order. An item that fails to say what it
        needs is journaled as failed and left out."""
        round_items: list[_Active] = []
        requests: list[GenRequest] = []
        for entry in list(run.active):
            try:
                reqs = self._next_requests(entry)
            except Exception as exc:
                self._finish_error(run, entry, f"internal error preparing item: {exc}")
                continue
            entry.requests = len(reqs)
            entry.images.update(paths_of(reqs))
            if reqs:
                round_items.append(entry)
                requests.extend(reqs)
        return round_items, requests

    @staticmethod
    def _next_requests(entry: _Active) -> list[GenRequest]:
        if entry.ahead_error is not None:
            error, entry.ahead_error = entry.ahead_error, None
            raise error
        if entry.ahead is not None:
            ahead, entry.ahead = entry.ahead, None
            return ahead
        return [] if entry.task.done else entry.task.next_requests()

    async def _run_requests(self, run: _JobRun, requests: list[GenRequest]) -> list[GenResult]:
        """The round's requests through the batching queue, which cuts them into batches of at most the job's batch
        size (across items) and keeps every worker busy; stops early on cancel. Raises WorkerCrashed once every
        batch has ended."""
        if run.job_id in self._cancelled:
            return []
        hints, run.hints = run.hints, []
        return await self.models.generate(requests, run.batch_size, hints)

    def _feed_round(self, run: _JobRun, round_items: list[_Active], results: list[GenResult]) -> None:
        """Each item gets its own slice of the results, in the order its requests were sent."""
        offset = 0
        for entry in round_items:
            try:
                entry.task.feed(results[offset : offset + entry.requests])
            except Exception as exc:
                self._finish_error(run, entry, f"internal error reading model output: {exc}")
            offset += entry.requests

    async def _complete_items(self, run: _JobRun, round_items: list[_Active]) -> None:
        """Finalize (the kind's per-item I/O, off the event loop) and journal every item that is done, one at a
        time, so a file written is journaled at once; an item that is neither done nor asked for anything this
        round would never finish, so it fails."""
        asked = {id(entry) for entry in round_items}
        finalizes = getattr(run.kind, "finalizes", None)
        in_thread = finalizes is None or finalizes(run.plan)  # no I/O: no thread hop (see jobs/base.py)
        done: list[tuple[_Active, JobRecord]] = []
        for entry in list(run.active):
            if entry.task.done:
                record = entry.task.record()
                if in_thread:
                    record = await asyncio.to_thread(self._finalize, run, entry, record)
                    self._finish(run, entry, record)
                else:
                    done.append((entry, record))
            elif id(entry) not in asked:
                self._finish_error(run, entry, "internal error: item produced no requests")
        if done:
            self._finish_round(run, done)

    def _finalize(self, run: _JobRun, entry: _Active, record: JobRecord) -> JobRecord:
        intents = IntentLog(self.journal, self._side_db, run.job_id, entry.index, self.recall)
        try:
            return run.kind.finalize(record, run.plan, run.job_id, intents)
        except JournalWriteError:
            raise  # the journal is the problem, not the item: the job pauses
        except Exception as exc:  # the item's own result stays; the failure is noted on it
            return msgspec.structs.replace(record, notes=[*record.notes, f"finalize failed: {exc}"])

    def _finish(self, run: _JobRun, entry: _Active, record: JobRecord) -> None:
        """One item at once: an item whose file was written is journaled before the next is finalized."""
        self._finish_round(run, [(entry, record)])

    def _finish_round(self, run: _JobRun, done: list[tuple[_Active, JobRecord]]) -> None:
        """Journal the items' records in one transaction, publish them, and take the items out of the window (their
        images out of the model workers' keeping). A round's items that wrote nothing (no finalize I/O) come
        together: one commit per item held the event loop (and every ping waiting on it) for a few ms per round;
        nothing of the user's is lost if the daemon dies before that commit, the items are run again on resume."""
        images: set[str] = set()
        for entry, _record in done:
            run.active.remove(entry)
            images |= entry.images
        if images:
            self.models.forget(sorted(images))
        for result in self.journal.append_results(run.job_id, [(e.index, e.item, r) for e, r in done]):
            if run.timed is not None:
                self.speeds.item_done(run.timed)  # before it is published: the progress it sends counts it
            self.on_result(result)

    def with_speed(self, info: JobInfo) -> JobInfo:
        """``info`` with the speed of its run so far, while it runs (progress events and ``status`` show it)."""
        run = self._run
        if run is None or run.job_id != info.job_id or run.timed is None or not run.timed.items:
            return info
        return msgspec.structs.replace(info, speed=run.timed.speed())

    def model_key(self) -> tuple[str, int]:
        """The loaded vlm model as speeds know it: its name and load number (a reload is measured afresh)."""
        return (self.models.state.name, self.models.loads)

    def _finish_error(self, run: _JobRun, entry: _Active, error: str) -> None:
        self._finish(run, entry, run.kind.record_type(error=error))

    def interrupt_current(self) -> None:
        """At daemon shutdown: the running job becomes ``interrupted`` (resumable)."""
        if self.current is not None and self.journal.job(self.current).state == "running":
            self._end(self.current, "interrupted", "the daemon was stopped while this job ran")
