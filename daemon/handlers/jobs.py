"""job.submit / job.attach / job.results / job.cancel / job.list. Every job state change is published by the
runner or here (submit, resume), on the job's topic and the daemon topic."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable

import msgspec

from daemon.handlers import Handler, Refused
from daemon.journal import Journal
from daemon.models import ModelManager
from daemon.runner import JobRunner
from imageworks import protocol as P
from imageworks.config import DaemonConfig
from imageworks.jobs import kinds


class JobHandlers:
    def __init__(
        self,
        journal: Journal,
        runner: JobRunner,
        models: ModelManager,
        config: DaemonConfig,
        *,
        boot_id: str,
        counters: P.Counters,
        publish_state: Callable[[P.JobInfo], None],
    ) -> None:
        self.journal = journal
        self.runner = runner
        self.models = models
        self.config = config
        self.boot_id = boot_id
        self.counters = counters
        self.publish_state = publish_state

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
            raise Refused(
                "overloaded",
                f"{self.runner.depth} jobs are queued (limit {self.config.max_queue}); try again later",
            )
        if body.batch_size < 0:
            raise Refused("bad_request", "batch_size must be 0 (default) or positive")
        if body.resume:
            return self._resume(body.resume)
        kind = kinds.get(body.kind)
        params = kind.validate(body.items, body.params)
        if body.model and self.models.state.loaded and self.models.resolve(body.model) != self.models.state.name:
            raise Refused(
                "model_mismatch",
                f"job asks for {body.model!r} but {self.models.state.name!r} is loaded; "
                "switch models explicitly (`imageworks models switch`)",
            )
        # a big job (100k paths) takes a while to insert: off the loop, so pings and events keep flowing
        create = functools.partial(
            self.journal.create_job,
            kind=kind.name,
            model=body.model,
            params=params,
            items=body.items,
            batch_size=body.batch_size,
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
            raise Refused("bad_request", f"job {job_id} is already done; nothing to resume")
        job = self.journal.set_state(job_id, "queued", boot_id=self.boot_id)
        self.counters.jobs += 1
        self.runner.enqueue(job_id)
        self.publish_state(job)
        return P.JobSubmitted(job=job, created=True)

    def _job(self, job_id: str) -> P.JobInfo:
        try:
            return self.journal.job(job_id)
        except KeyError:
            raise Refused("unknown_job", f"no job {job_id!r} in the journal") from None

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
