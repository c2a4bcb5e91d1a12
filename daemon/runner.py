"""The job runner: one job at a time, its items' requests batched together through the model worker.

For each job it keeps a window of active items (two batches' worth), asks each for its next round of
requests, runs them in batches of ``batch_size``, feeds the results back and journals every item the moment
it is done. A three-step tagging job therefore shares batches across images. Cancel sets the worker's stop
flag and is journaled at once; the runner drops the in-flight batch's unfinished work.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from daemon.jobs import Journal
from daemon.models import ModelManager, ModelRefused
from daemon.workers.base import WorkerCrashed
from imageworks import jobkinds
from imageworks.inference import GenRequest
from imageworks.protocol import JobInfo, ResultRecord

log = logging.getLogger("imageworks.daemon")

PAGE = 256
"""Items read from the journal at a time (and the most decoded in memory beyond the active window)."""


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

    def cancel(self, job_id: str) -> JobInfo:
        info = self.journal.job(job_id)
        if job_id in self.queue:
            self.queue.remove(job_id)
            return self._set_state(job_id, "cancelled", "cancelled before it started")
        if job_id == self.current:
            self._cancelled.add(job_id)
            self.models.request_stop()
            return self._set_state(job_id, "cancelled", "cancelled by request")
        return info  # already final: cancel is idempotent

    async def run_forever(self) -> None:
        while True:
            while not self.queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            job_id = self.queue.popleft()
            self.current = job_id
            try:
                await self.run_job(job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in a job kind must not take the daemon down
                log.exception("job %s failed", job_id)
                if self.journal.job(job_id).state == "running":
                    self._set_state(job_id, "failed", f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.current = None
                self.models.busy = False
                self._cancelled.discard(job_id)

    async def run_job(self, job_id: str) -> None:
        info = self.journal.job(job_id)
        kind = jobkinds.get(info.kind)
        self._set_state(job_id, "running")
        self.models.busy = True
        try:
            model_info = await self.models.ensure_for_job(info.model)
        except ModelRefused as exc:
            self._set_state(job_id, "failed", str(exc))
            return
        self.models.clear_stop()
        batch_size = max(1, info.batch_size or self.default_batch_size)
        pending: deque[tuple[int, dict[str, Any]]] = deque()
        last_index = -1
        active: list[tuple[int, Any]] = []
        window = batch_size * 2
        crashed = ""
        while job_id not in self._cancelled:
            if len(pending) < window:  # page items in as the window needs them
                page = self.journal.pending_page(job_id, last_index, PAGE)
                if page:
                    last_index = page[-1][0]
                    pending.extend(page)
            if not pending and not active:
                break
            while pending and len(active) < window:
                index, item = pending.popleft()
                active.append((index, kind.make_task(item, info.params, model_info)))
            requests: list[GenRequest] = []
            owners: list[tuple[int, Any, int]] = []
            for index, task in active:
                try:
                    reqs = [] if task.done else task.next_requests()
                except Exception as exc:
                    self._finish_error(job_id, index, f"internal error preparing item: {exc}")
                    owners.append((index, None, 0))
                    continue
                if reqs:
                    owners.append((index, task, len(reqs)))
                    requests.extend(reqs)
            results = []
            try:
                for start in range(0, len(requests), batch_size):
                    if job_id in self._cancelled:
                        break
                    results.extend(await self.models.generate(requests[start : start + batch_size]))
            except WorkerCrashed as exc:
                crashed = str(exc)
            if job_id in self._cancelled:
                break
            if crashed:
                for index, task, _ in owners:
                    if task is not None:
                        self._finish_error(job_id, index, crashed)
                break
            offset = 0
            for index, task, count in owners:
                if task is None:
                    continue
                try:
                    task.feed(results[offset : offset + count])
                except Exception as exc:
                    self._finish_error(job_id, index, f"internal error reading model output: {exc}")
                    task = None
                offset += count
            still: list[tuple[int, Any]] = []
            finished = {i for i, t, _ in owners if t is None}
            completed: list[tuple[int, dict[str, Any]]] = []
            for index, task in active:
                if index in finished:
                    continue
                if task.done:
                    completed.append((index, task.record()))
                elif not any(o[0] == index for o in owners):
                    self._finish_error(job_id, index, "internal error: item produced no requests")
                else:
                    still.append((index, task))
            active = still
            if completed and hasattr(kind, "finalize"):
                # per-item I/O (e.g. writing metadata) off the event loop, before the item counts as done
                completed = await asyncio.to_thread(self._finalize_all, kind, job_id, info.params, completed)
            for index, record in completed:
                self._finish(job_id, index, record)
        if job_id in self._cancelled:
            return  # state already journaled by cancel()
        if crashed:
            self._set_state(job_id, "failed", crashed)
        else:
            self._set_state(job_id, "done")

    @staticmethod
    def _finalize_all(
        kind: Any, job_id: str, params: dict[str, Any], completed: list[tuple[int, dict[str, Any]]]
    ) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for index, record in completed:
            try:
                record = kind.finalize(record, params, job_id)
            except Exception as exc:  # the item's own result stays; the failure is noted on it
                record = {**record, "notes": [*record.get("notes", []), f"finalize failed: {exc}"]}
            out.append((index, record))
        return out

    def _finish(self, job_id: str, index: int, record: dict[str, Any]) -> None:
        status = "ok" if record.get("status") == "ok" else "error"
        self.on_result(self.journal.append_result(job_id, index, status, record))

    def _finish_error(self, job_id: str, index: int, error: str) -> None:
        self._finish(job_id, index, {"status": "error", "error": error})

    def interrupt_current(self) -> None:
        """At daemon shutdown: the running job becomes ``interrupted`` (resumable)."""
        if self.current is not None and self.journal.job(self.current).state == "running":
            self._set_state(self.current, "interrupted", "the daemon was stopped while this job ran")
