"""The job runner: one job at a time, its items' requests batched together through the model worker.

For each job it keeps a window of active items (two batches' worth), asks each for its next round of
requests, runs them in batches of ``batch_size``, feeds the results back and journals every item the moment
it is done. A three-step tagging job therefore shares batches across images. Cancel sets the worker's stop
flag and is journaled at once; the runner drops the in-flight batch's unfinished work.

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

from daemon.intents import IntentLog, reconcile
from daemon.journal import Journal, JournalWriteError
from daemon.models import ModelManager, ModelRefused
from daemon.workers.base import WorkerCrashed
from imageworks.inference import GenRequest, GenResult
from imageworks.jobs import kinds
from imageworks.jobs.base import ItemTask, JobKind
from imageworks.jobs.records import JobRecord
from imageworks.protocol import JobInfo, ResultRecord

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
        default_batch_size: int,
        on_result: Callable[[ResultRecord], None],
        on_state: Callable[[JobInfo], None],
    ) -> None:
        self.journal = journal
        self.models = models
        self.default_batch_size = default_batch_size
        self.on_result = on_result
        self.on_state = on_state
        self.queue: deque[str] = deque()
        self.current: str | None = None
        self._cancelled: set[str] = set()
        self._wakeup = asyncio.Event()
        self.degraded = ""
        """Why the daemon cannot do its work right now (``daemon status``); empty when all is well."""
        self._side_db = journal.connect()
        """The finalize thread's own connection, for write intents."""

    @property
    def depth(self) -> int:
        return len(self.queue)

    def enqueue(self, job_id: str) -> None:
        self.queue.append(job_id)
        self._wakeup.set()

    def _set_state(self, job_id: str, state: str, error: str = "") -> JobInfo:
        info = self.journal.set_state(job_id, state, error=error)
        self.on_state(info)
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
                self.models.busy = False
                self._cancelled.discard(job_id)

    async def run_job(self, job_id: str) -> None:
        info = self.journal.job(job_id)
        kind = kinds.get(info.kind)
        self._set_state(job_id, "running")
        for result in reconcile(self.journal, job_id):  # writes a stopped run made but could not journal
            self.on_result(result)
        self.models.busy = True
        try:
            model_info = await self.models.ensure_for_job(info.model) if kind.uses_model else {}
        except ModelRefused as exc:
            self._set_state(job_id, "failed", str(exc))
            return
        self.models.clear_stop()
        batch_size = max(1, info.batch_size or self.default_batch_size)
        run = _JobRun(job_id, kind, kind.prepare(info.params, model_info), batch_size, lanes=self.models.width)
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
        """Page items in from the journal as the window needs them and start their tasks; False when the
        job has nothing left to do."""
        if len(run.pending) < run.window:
            page = self.journal.pending_page(run.job_id, run.last_index, PAGE)
            if page:
                run.last_index = page[-1][0]
                run.pending.extend(page)
        while run.pending and len(run.active) < run.window:
            index, item = run.pending.popleft()
            run.active.append(_Active(index, item, run.kind.make_task(item, run.plan)))
        return bool(run.active)

    def _collect_round(self, run: _JobRun) -> tuple[list[_Active], list[GenRequest]]:
        """One round: each active item's next requests, in item order. An item that fails to say what it
        needs is journaled as failed and left out."""
        round_items: list[_Active] = []
        requests: list[GenRequest] = []
        for entry in list(run.active):
            try:
                reqs = [] if entry.task.done else entry.task.next_requests()
            except Exception as exc:
                self._finish_error(run, entry, f"internal error preparing item: {exc}")
                continue
            entry.requests = len(reqs)
            if reqs:
                round_items.append(entry)
                requests.extend(reqs)
        return round_items, requests

    async def _run_requests(self, run: _JobRun, requests: list[GenRequest]) -> list[GenResult]:
        """The round's requests through the model in batches of ``batch_size`` (across items), ``run.lanes`` batches
        at once (one per worker) and one more queued (a worker finds its next batch waiting, and a batch that
        endpoint requests made room in goes on into it: daemon/batching.py); stops early on cancel. Raises
        WorkerCrashed once every batch has ended."""
        lanes = asyncio.Semaphore(run.lanes + 1)

        async def one(batch: list[GenRequest]) -> list[GenResult]:
            async with lanes:
                if run.job_id in self._cancelled:
                    return []
                return await self.models.generate(batch)

        batches = [requests[start : start + run.batch_size] for start in range(0, len(requests), run.batch_size)]
        outcomes = await asyncio.gather(*(one(batch) for batch in batches), return_exceptions=True)
        results: list[GenResult] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            results.extend(outcome)
        return results

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
        for entry in list(run.active):
            if entry.task.done:
                record = await asyncio.to_thread(self._finalize, run, entry, entry.task.record())
                self._finish(run, entry, record)
            elif id(entry) not in asked:
                self._finish_error(run, entry, "internal error: item produced no requests")

    def _finalize(self, run: _JobRun, entry: _Active, record: JobRecord) -> JobRecord:
        intents = IntentLog(self.journal, self._side_db, run.job_id, entry.index)
        try:
            return run.kind.finalize(record, run.plan, run.job_id, intents)
        except JournalWriteError:
            raise  # the journal is the problem, not the item: the job pauses
        except Exception as exc:  # the item's own result stays; the failure is noted on it
            return msgspec.structs.replace(record, notes=[*record.notes, f"finalize failed: {exc}"])

    def _finish(self, run: _JobRun, entry: _Active, record: JobRecord) -> None:
        """Journal the item's record, publish it, and take the item out of the window."""
        run.active.remove(entry)
        self.on_result(self.journal.append_result(run.job_id, entry.index, entry.item, record))

    def _finish_error(self, run: _JobRun, entry: _Active, error: str) -> None:
        self._finish(run, entry, run.kind.record_type(error=error))

    def interrupt_current(self) -> None:
        """At daemon shutdown: the running job becomes ``interrupted`` (resumable)."""
        if self.current is not None and self.journal.job(self.current).state == "running":
            self._end(self.current, "interrupted", "the daemon was stopped while this job ran")
