"""Which runner runs a job: the model's (``runner.py``: tag, echo, commit, one job at a time) or the CPU pool's
(``cpu_runner.py``: hash, scan, similar, move…, all at once, their items sharing the pool). The job handlers queue,
resume, cancel and share work through this one object, so a CPU job and a model job run side by side; the server
builds it once and stops it at shutdown (running jobs become ``interrupted``, the pool's processes end)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import Any

from imageworks import protocol as P
from imageworks.config import Config
from imageworks.jobs import kinds
from imageworks.jobs.cpu import runs_on_cpu
from imageworks.review.rounds import Recalled

from .cpu_pool import CpuPool
from .cpu_runner import CpuJobRunner
from .job_embeddings import embed_for_job
from .journal import Journal
from .runner import JobRunner
from .slots import ModelManager

POOL_CLOSE_S = 2.0
"""At shutdown, pool processes still busy after this long are killed."""


class JobLanes:
    def __init__(self, journal: Journal, model: JobRunner, cpu: CpuJobRunner) -> None:
        self.journal = journal
        self.model = model
        self.cpu = cpu

    @classmethod
    def build(
        cls,
        journal: Journal,
        models: ModelManager,
        config: Config,
        counters: P.Counters,
        *,
        on_result: Callable[[P.ResultRecord], None],
        on_state: Callable[[P.JobInfo], None],
        on_progress: Callable[[P.JobProgressEvent], None],
        recall: Callable[[str], Recalled] | None = None,
    ) -> JobLanes:
        """``recall``: the review desk's memory of what ImageWorks last wrote to a photo, which the model lane's
        writing kinds plan against."""
        model = JobRunner(journal, models, on_result=on_result, on_state=on_state, recall=recall)
        cpu = CpuJobRunner(
            journal,
            CpuPool(config.daemon.cpu_workers),
            on_result=on_result,
            on_state=on_state,
            on_progress=on_progress,
            embed=functools.partial(embed_for_job, models, counters),
        )
        return cls(journal, model, cpu)

    def cpu_status(self) -> P.CpuPoolStatus:
        return self.cpu.pool.status(self.cpu.running)

    def status_fields(self) -> dict[str, Any]:
        """What ``status`` says of the jobs: the queue, the model's running job with its speed, the CPU pool."""
        model, current = self.model, self.model.current
        return {
            "queue_depth": self.depth,
            "running_job": current or "",
            "running_job_info": model.with_speed(self.journal.job(current)) if current else None,
            "speeds": model.speeds.view(model.model_key()),
            "degraded": model.degraded,
            "cpu": self.cpu_status(),
        }

    async def stop(self) -> None:
        self.model.interrupt_current()
        self.cpu.interrupt_all()
        await self.cpu.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.cpu.pool.close(), POOL_CLOSE_S)
        self.cpu.pool.kill_now()

    @property
    def depth(self) -> int:
        """Jobs waiting or running beyond the model's current one (``daemon.max_queue`` bounds it)."""
        return self.model.depth + len(self.cpu.runs)

    def enqueue(self, job_id: str) -> None:
        if runs_on_cpu(kinds.get(self.journal.job(job_id).kind)):
            self.cpu.enqueue(job_id)
        else:
            self.model.enqueue(job_id)

    def cancel(self, job_id: str) -> P.JobInfo:
        info = self.cpu.cancel(job_id)
        return info if info is not None else self.model.cancel(job_id)

    def shared(self, kind: str, params: dict[str, object]) -> P.JobInfo | None:
        """The job already doing this work (same CPU kind, same ``share_key``), if one is queued or running."""
        job_kind = kinds.get(kind)
        if not runs_on_cpu(job_kind):
            return None
        key = job_kind.share_key(params)
        return self.cpu.find_shared(kind, key) if key else None
