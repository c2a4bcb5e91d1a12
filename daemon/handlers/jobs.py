"""job.submit / job.attach / job.results / job.cancel / job.list. Every job state change is published by the
runner or here (submit, resume), on the job's topic and the daemon topic."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Callable

import msgspec

from imageworks import protocol as P
from imageworks.config import DaemonConfig
from imageworks.errors import DaemonError
from imageworks.jobs import kinds
from imageworks.jobs.cpu import runs_on_cpu
from imageworks.scan.rows import root_key

from ..journal import Journal
from ..lanes import JobLanes
from ..move_undo import undo_plan
from ..slots import ModelManager
from . import Handler

LISTS_ROOTS = ("scan", "similar")
"""Kinds that list their roots from the scan cache: a watched root's rows are trusted, once its watch settled."""


class JobHandlers:
    def __init__(
        self,
        journal: Journal,
        runner: JobLanes,
        models: ModelManager,
        config: DaemonConfig,
        *,
        boot_id: str,
        counters: P.Counters,
        publish_state: Callable[[P.JobInfo], None],
        settle: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """``settle(root)``: returns once the library watcher of ``root`` (if any) has applied the changes made
        before the call (``daemon/watch.py``)."""
        self.journal = journal
        self.runner = runner
        self.models = models
        self.config = config
        self.boot_id = boot_id
        self.counters = counters
        self.publish_state = publish_state
        self.settle = settle

    def table(self) -> dict[str, Handler]:
        return {
            "job.submit": self.on_job_submit,
            "job.attach": self.on_job_attach,
            "job.results": self.on_job_results,
            "job.cancel": self.on_job_cancel,
            "job.list": self.on_job_list,
        }

    async def on_job_submit(self, body: P.JobSubmit) -> P.JobSubmitted:
        if body.idempotency_key:
            existing = self.journal.job_by_key(body.idempotency_key)
            if existing is not None:
                return P.JobSubmitted(job=existing, created=False)
        if self.runner.depth >= self.config.max_queue:
            raise DaemonError(
                f"{self.runner.depth} jobs are queued (limit {self.config.max_queue}); try again later",
                code="overloaded",
            )
        if body.batch_size < 0:
            raise DaemonError("batch_size must be 0 (default) or positive", code="bad_request")
        if body.resume:
            return self._resume(body.resume)
        kind = kinds.get(body.kind)
        items, params = body.items, body.params
        if kind.name == "move" and "undo" in params:  # a move back: the daemon makes the items from its journal
            items, params = undo_plan(self.journal, params["undo"])
        params = kind.validate(items, params)
        batch_size = body.batch_size or self.models.batch_size
        if not runs_on_cpu(kind) and kind.uses_model and batch_size > self.models.batch_size:
            raise DaemonError(
                f"batch size {batch_size} is larger than the model's {self.models.batch_size} (model.batch_size "
                f"when the daemon started): ask for at most {self.models.batch_size}, or restart the daemon with "
                f"model.batch_size = {batch_size}",
                code="bad_request",
            )
        if kind.name in LISTS_ROOTS and self.settle is not None:  # a watched root's listing comes from the cache:
            for key in ("root", "against"):  # what changed just before this request is in it first
                if params.get(key):
                    await self.settle(root_key(params[key]))
        if (shared := self.runner.shared(kind.name, params)) is not None:
            return P.JobSubmitted(job=shared, created=False)  # a second client asking for the same work joins it
        loaded = self.models.state
        if not runs_on_cpu(kind) and body.model and loaded.loaded and self.models.resolve(body.model) != loaded.name:
            raise DaemonError(
                f"job asks for {body.model!r} but {loaded.name!r} is loaded; "
                "switch models explicitly (`imageworks models switch`)",
                code="model_mismatch",
            )
        # a big job (100k paths) takes a while to insert: off the loop, so pings and events keep flowing
        create = functools.partial(
            self.journal.create_job,
            kind=kind.name,
            model=body.model,
            params=params,
            items=items,
            batch_size=batch_size,
            boot_id=self.boot_id,
            idempotency_key=body.idempotency_key,
        )
        try:
            job_id = await asyncio.to_thread(create)
        except sqlite3.IntegrityError:  # the same idempotency key raced us: that submit won
            existing = self.journal.job_by_key(body.idempotency_key)
            if existing is None:
                raise
            return P.JobSubmitted(job=existing, created=False)
        job = self.journal.job(job_id)
        self.counters.jobs += 1
        self.runner.enqueue(job.job_id)
        self.publish_state(job)
        return P.JobSubmitted(job=job, created=True)

    def _resume(self, job_id: str) -> P.JobSubmitted:
        job = self._job(job_id)
        if job.state in ("queued", "running"):
            return P.JobSubmitted(job=job, created=False)
        if job.state == "done" and job.failed == 0:
            raise DaemonError(f"job {job_id} is already done; nothing to resume", code="bad_request")
        resumed = kinds.get(job.kind)
        if not runs_on_cpu(resumed) and resumed.uses_model and job.batch_size > self.models.batch_size:
            raise DaemonError(
                f"job {job_id} runs batches of {job.batch_size} but this daemon's model takes at most "
                f"{self.models.batch_size} (model.batch_size): restart the daemon with model.batch_size = "
                f"{job.batch_size} to resume it",
                code="bad_request",
            )
        job = self.journal.set_state(job_id, "queued", boot_id=self.boot_id)
        self.counters.jobs += 1
        self.runner.enqueue(job_id)
        self.publish_state(job)
        return P.JobSubmitted(job=job, created=True)

    def _job(self, job_id: str) -> P.JobInfo:
        try:
            return self.journal.job(job_id)
        except KeyError:
            raise DaemonError(f"no job {job_id!r} in the journal", code="unknown_job") from None

    def on_job_attach(self, body: P.JobAttach) -> msgspec.Struct:
        job = self._job(body.job_id)
        return P.JobSnapshot(job=job, seq=job.seq)

    def on_job_results(self, body: P.JobResults) -> msgspec.Struct:
        self._job(body.job_id)
        limit = max(1, min(body.limit, 5000))
        results, more = self.journal.results_after(body.job_id, body.after_seq, limit)
        last = results[-1].seq if results else body.after_seq
        return P.JobResultsPage(job_id=body.job_id, results=results, last_seq=last, more=more)

    def on_job_cancel(self, body: P.JobCancel) -> msgspec.Struct:
        self._job(body.job_id)
        return self.runner.cancel(body.job_id)

    def on_job_list(self, body: P.JobList) -> msgspec.Struct:
        return P.JobListReply(jobs=self.journal.list_jobs(max(1, min(body.limit, 1000))))
