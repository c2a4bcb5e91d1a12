"""The runner of CPU job kinds (``imageworks.jobs.cpu``): their items go through the daemon's process pool, beside the
model's runner, so a similarity job and a tag job run at the same time.

Every CPU job starts as soon as it is queued (a scan need not wait behind a 100 000-photo hash); their items take
turns for the pool's workers. Per job: ``prepare`` the plan; for a job submitted without items, ``plan_items`` on a
thread and journal them; then page the pending items in (a resumed job skips those done), keep the pool busy, and
every ~0.1 s hand the finished ones to the kind's ``store`` (on a thread: the daemon is the one writer of the kind's
store) and journal them in one transaction, publishing each result and a progress event. When every item is done,
``conclude`` (a thread) may run a job-level step, whose outcome is kept on the job. Cancel is journaled at once; the
items in flight are told to stop, and any that finished anyway are journaled (a moved file did move). A worker that
dies fails its item alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from imageworks import protocol as P
from imageworks.errors import ImageWorksError
from imageworks.jobs import kinds
from imageworks.jobs.cpu import CpuKind, ItemCancelled
from imageworks.jobs.records import JobRecord

from .cpu_pool import CpuPool, ItemCrashed, ItemFailed
from .cpu_worker import decode_record
from .journal import Journal, JournalWriteError

log = logging.getLogger("imageworks.daemon")

PAGE = 512
"""Items read from the journal at a time."""
FLUSH_ITEMS = 128
FLUSH_S = 0.1
"""Finished items are stored and journaled in batches of up to FLUSH_ITEMS, at least this often."""
PROGRESS_S = 0.2
"""Progress events of one job at most this often."""

Embedder = Callable[[list[str], str, Callable[[str], None]], Any]
"""The coroutine function lending the embed slot to ``conclude``: ``(paths, model, on_load) -> (revision,
outcomes)``, ``on_load(model)`` told before it loads the model into the empty slot."""


@dataclass(eq=False)
class _CpuRun:
    job_id: str
    run: str
    """Unique per run: a resumed job is a new run (a cancel sent to the workers for the last one must not stop it)."""
    kind: CpuKind | None = None
    params: dict[str, Any] = field(default_factory=dict)
    plan: Any = None
    cancelled: bool = False
    finished: list[tuple[int, dict[str, Any], JobRecord]] = field(default_factory=list)
    last_progress: float = 0.0
    message: str = ""
    flushing: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One flush at a time: a kind's ``store`` is never called on two threads at once."""


class CpuJobRunner:
    def __init__(
        self,
        journal: Journal,
        pool: CpuPool,
        *,
        on_result: Callable[[P.ResultRecord], None],
        on_state: Callable[[P.JobInfo], None],
        on_progress: Callable[[P.JobProgressEvent], None],
        embed: Embedder | None = None,
    ) -> None:
        self.journal = journal
        self.pool = pool
        self.on_result = on_result
        self.on_state = on_state
        self.on_progress = on_progress
        self.embed = embed
        self.runs: dict[str, _CpuRun] = {}
        """Jobs queued or running."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_task: dict[str, asyncio.Task[None]] = {}
        """Each job's latest run: a resumed job waits for its cancelled run's items in flight, so none runs twice."""
        self._started = 0

    @property
    def running(self) -> list[str]:
        return list(self.runs)

    def enqueue(self, job_id: str) -> None:
        self._started += 1
        run = self.runs[job_id] = _CpuRun(job_id, f"{job_id}#{self._started}")
        task = asyncio.get_running_loop().create_task(self._run(run, self._last_task.get(job_id)))
        self._tasks.add(task)
        self._last_task[job_id] = task

        def forget(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if self._last_task.get(job_id) is task:
                del self._last_task[job_id]

        task.add_done_callback(forget)

    def find_shared(self, kind: str, key: str) -> P.JobInfo | None:
        """A queued or running job of ``kind`` doing the work ``key`` names (a second client asking for it)."""
        for job_id in self.runs:
            job = self.journal.job(job_id)
            if job.kind == kind and kinds.cpu_kind(kind).share_key(job.params) == key:
                return job
        return None

    def cancel(self, job_id: str) -> P.JobInfo | None:
        """None when the job is not this runner's; else its (final) state, journaled at once."""
        if job_id not in self.runs:
            return None
        run = self.runs[job_id]
        run.cancelled = True
        self.pool.cancel(run.run)
        self._end(job_id, "cancelled", "cancelled by request")
        return self.journal.job(job_id)

    def interrupt_all(self) -> None:
        """At daemon shutdown: every CPU job running becomes ``interrupted`` (resumable)."""
        for job_id, run in list(self.runs.items()):
            run.cancelled = True
            if self.journal.job(job_id).state in ("queued", "running"):
                self._end(job_id, "interrupted", "the daemon was stopped while this job ran")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _end(self, job_id: str, state: str, error: str) -> None:
        try:
            self.on_state(self.journal.set_state(job_id, state, error=error))
        except JournalWriteError as exc:
            log.error("%s", exc)
            self.on_state(self.journal.keep_state(job_id, state, error))

    # ---- one job -------------------------------------------------------------------------------------------------

    async def _run(self, run: _CpuRun, previous: asyncio.Task[None] | None) -> None:
        job_id = run.job_id
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await self._run_job(run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a kind must not take the daemon down
            log.exception("CPU job %s failed", job_id)
            with contextlib.suppress(Exception):
                if self.journal.job(job_id).state == "running":
                    why = f"internal error: {type(exc).__name__}: {exc}"
                    self._end(job_id, "failed", str(exc) if isinstance(exc, ImageWorksError) else why)
        finally:
            if self.runs.get(job_id) is run:  # (a resume may have started the job's next run meanwhile)
                del self.runs[job_id]

    async def _run_job(self, run: _CpuRun) -> None:
        job_id = run.job_id
        info = self.journal.job(job_id)
        kind = kinds.cpu_kind(info.kind)
        if run.cancelled:
            return
        self.on_state(self.journal.set_state(job_id, "running"))
        run.kind, run.params, run.plan = kind, info.params, kind.prepare(info.params)
        if info.total == 0:
            self._progress(run, "listing", force=True)
            items = await asyncio.to_thread(kind.plan_items, run.plan)
            if run.cancelled:
                return
            if items:
                self.on_state(await asyncio.to_thread(self.journal.add_items, job_id, items))
        await self._run_items(run)
        if run.cancelled:
            return  # the state was journaled by cancel()
        try:
            outcome = await asyncio.to_thread(kind.conclude, run.plan, job_id, _Context(self, run))
        except ItemCancelled:
            return  # cancelled during the job-level step: journaled by cancel()
        if run.cancelled:
            return
        if outcome is not None:
            self.journal.set_outcome(job_id, outcome)
        self._end(job_id, "done", "")

    async def _run_items(self, run: _CpuRun) -> None:
        """Keep one item per worker (and one more) in flight until none is pending; flush as they finish."""
        in_flight: set[asyncio.Task[None]] = set()
        done = asyncio.Event()
        flusher = asyncio.get_running_loop().create_task(self._flush_every(run, done))
        last_index = -1
        try:
            while not run.cancelled:
                page = self.journal.pending_page(run.job_id, last_index, PAGE)
                if not page:
                    break
                last_index = page[-1][0]
                for index, item in page:
                    while len(in_flight) > self.pool.size and not run.cancelled:
                        _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    if run.cancelled:
                        break
                    in_flight.add(asyncio.get_running_loop().create_task(self._one(run, index, item)))
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            done.set()  # not a cancel: a flush cut short would lose the batch it took
            await flusher
        await self._flush(run)

    async def _one(self, run: _CpuRun, index: int, item: dict[str, Any]) -> None:
        kind = run.kind
        assert kind is not None

        def progress(done: int, total: int, message: str) -> None:
            self._progress(run, message, done=done, total=total)

        try:
            data = await self.pool.run(run.job_id, run.run, kind.name, run.params, index, item, progress)
            record = decode_record(data, kind.record_type)
        except ItemFailed as exc:
            if exc.cancelled and run.cancelled:
                return  # not done: a resumed job runs it again
            record = kind.record_type(error=str(exc))
        except ItemCrashed as exc:
            record = kind.record_type(error=f"{exc} while on {item.get('path') or f'item {index}'}")
        run.finished.append((index, item, record))
        if len(run.finished) >= FLUSH_ITEMS:
            await self._flush(run)

    async def _flush_every(self, run: _CpuRun, done: asyncio.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_S)  # the batching period of journal writes
            await self._flush(run)

    async def _flush(self, run: _CpuRun) -> None:
        """Store, then journal and publish, the items finished since the last flush."""
        async with run.flushing:
            if run.finished:
                await self._flush_batch(run)

    async def _flush_batch(self, run: _CpuRun) -> None:
        batch, run.finished = run.finished, []
        pairs = [(item, record) for _, item, record in batch]
        assert run.kind is not None
        try:
            await asyncio.to_thread(run.kind.store, pairs, run.plan)
        except Exception as exc:  # the results stay; that they were not stored is said on each
            log.exception("storing the results of job %s failed", run.job_id)
            batch = [
                (i, item, msgspec.structs.replace(r, notes=[*r.notes, f"not stored: {exc}"])) for i, item, r in batch
            ]
        for result in self.journal.append_results(run.job_id, batch):
            self.on_result(result)
        self._progress(run, run.message or "working")

    def _progress(self, run: _CpuRun, message: str, *, done: int = 0, total: int = 0, force: bool = False) -> None:
        run.message = message
        now = time.monotonic()
        if not force and now - run.last_progress < PROGRESS_S:
            return
        run.last_progress = now
        with contextlib.suppress(KeyError):
            job = self.journal.job(run.job_id)
            self.on_progress(P.JobProgressEvent(job=job, message=message, done=done, total=total))


class _Context:
    """What ``conclude`` gets (it runs on a thread): progress events and the embed slot, both through the loop."""

    def __init__(self, runner: CpuJobRunner, run: _CpuRun) -> None:
        self.runner = runner
        self.run = run
        self.loop = asyncio.get_running_loop()

    def progress(self, done: int, total: int, message: str) -> None:
        if self.run.cancelled:
            raise ItemCancelled(f"job {self.run.job_id} cancelled")
        self.loop.call_soon_threadsafe(
            lambda: self.runner._progress(self.run, message, done=done, total=total, force=done in (0, total))
        )

    def embed(self, paths: list[str], model: str) -> tuple[str, list[tuple[bytes, str]]]:
        if self.runner.embed is None:
            raise ImageWorksError("this daemon has no embed slot")

        def on_load(name: str) -> None:
            self.runner._progress(self.run, f"loading the embedding model {name} (daemon's embed slot)", force=True)

        return asyncio.run_coroutine_threadsafe(self.runner.embed(paths, model, on_load), self.loop).result()
