"""Jobs: the plan a run would follow, the gated submit, follow (journal first, then live), cancel, resume, a
finished job's results and the job list (kept current by the daemon's job events). Every request goes through the
App's one client (``DaemonLink.client``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from imageworks.errors import ImageWorksError

from ..state import ACTIVE_STATES, Counters, JobView, RunPlan, short_id
from .daemon import JOBS_LISTED, DaemonLink
from .messages import JobChanged, JobsListed, ResultsArrived
from .scan import ScanService
from .settings import Settings
from .workers import Workers

if TYPE_CHECKING:
    from imageworks import protocol as P

    from ..store import ResultStore

FLUSH_S = 0.5
"""Streamed results are handed to the UI at most this often (progress messages replace one another): two frames a
second read as live, and each costs a render of the progress, the stream and the header (bench/tui.py: CPU while
following a job)."""


class JobService:
    """Owns the followed job, the job list and the results held for the job-results screen."""

    def __init__(
        self, workers: Workers, settings: Settings, counters: Counters, daemon: DaemonLink, scanning: ScanService
    ) -> None:
        self.workers = workers
        self.settings = settings
        self.counters = counters
        self.daemon = daemon
        self.scanning = scanning
        self.current: JobView | None = None
        """The job this app follows (or followed last)."""
        self.listed: list[P.JobInfo] = []
        """The journal's jobs, as the daemon last listed them."""
        self._store: ResultStore | None = None
        self.submitting = False
        """True from the run key until the daemon has answered the submit (a second press is refused)."""
        self.speeds: dict[str, P.ItemSpeed] = {}
        """Each job's speed so far, as its last progress event said (kept once it ends)."""

    @property
    def store(self) -> ResultStore:
        """Results held for the job-results screen; ``tui.store`` is imported when the first results come (after the
        first paint)."""
        if self._store is None:
            from ..store import ResultStore

            self._store = ResultStore()
        return self._store

    def job_kind(self) -> str:
        from imageworks.jobs.kinds import KINDS

        return "tag" if "tag" in KINDS else "echo"

    def plan(self) -> RunPlan:
        """What a run would do with the current config (raises ImageWorksError if the filters are invalid)."""
        filters, skip_tagged = self.scanning.filters()
        kind = self.job_kind()
        config = self.settings.config
        params: dict[str, Any] = {}
        if kind == "tag":
            from imageworks.tagging.job import TagParams, params_from_config

            params = params_from_config(config.tagger)
            if "write" in TagParams.__struct_fields__:  # the tagger writes metadata per image as it goes
                params["write"] = config.tui.write_metadata
        return RunPlan(
            root=config.tui.library_root.strip(),
            kind=kind,
            filters=filters,
            skip_tagged=skip_tagged,
            model=config.model.name,
            batch_size=config.model.batch_size,
            params=params,
        )

    def jobs_listed(self, jobs: list[P.JobInfo], reattach: bool = False) -> None:
        """A job listing from the daemon; with ``reattach``, follow a job still running in it (started from here
        before, or from another terminal)."""
        self.listed = jobs
        self.workers.post(JobsListed(jobs))
        if reattach and not (self.current is not None and self.current.following):
            running = [j for j in jobs if j.state in ACTIVE_STATES and not self._cpu_kind(j.kind)]
            if running:
                job = max(running, key=lambda j: j.created)
                self.follow(job.job_id, announce=f"re-attached to job {short_id(job.job_id)} ({job.state})")

    @staticmethod
    def _cpu_kind(kind: str) -> bool:
        """A CPU job (a scan, a similarity search, a move) is followed by the mode that asked for it, not by Execute."""
        from imageworks.jobs.cpu import runs_on_cpu
        from imageworks.jobs.kinds import KINDS

        return kind in KINDS and runs_on_cpu(KINDS[kind])

    def job_changed(self, job: P.JobInfo) -> None:
        """A job's new state, pushed by the daemon: upserted into the listing by id (a new job comes first, as the
        journal lists them); the current job takes it too, unless its follow stream (which sees it as well) is
        running."""
        listed = list(self.listed)
        at = next((i for i, j in enumerate(listed) if j.job_id == job.job_id), None)
        if at is None:
            listed = [job, *listed][:JOBS_LISTED]
        elif job.seq >= listed[at].seq:  # an event queued before the listing was read is older than it
            listed[at] = job
        self.listed = listed
        if job.speed is not None:
            self.speeds[job.job_id] = job.speed
        self.workers.post(JobsListed(listed))
        current = self.current
        if current is not None and current.job.job_id == job.job_id and not current.following:
            if job.seq >= current.job.seq:
                self._set_current(msgspec.structs.replace(current, job=job))

    def run(self, plan: RunPlan) -> None:
        """The gated run key: query the cached listing, submit one job, follow it. Nothing else starts a job."""

        if self.submitting:
            return
        self.submitting = True

        def submitted() -> None:
            self.submitting = False
            self.workers.app.refresh_bindings()

        async def work() -> None:
            try:
                items = await asyncio.to_thread(self._items, plan)  # the scan cache's SQLite, off the event loop
                self.counters.runs_submitted += 1
                reply = await self.daemon.client.submit(
                    plan.kind, items, plan.params, model=plan.model, batch_size=max(0, plan.batch_size)
                )
            except BaseException:
                submitted()
                raise
            job_id = reply.job.job_id
            self._set_current(JobView(reply.job, following=True))
            # the gate opens once the App holds the job (its message is queued first), so a key pressed in between
            # finds the job running instead of nothing
            self.workers.app.call_later(submitted)
            self.follow(job_id, announce=f"job {short_id(job_id)} started: {len(items):,} images")

        self.workers.task(work, group="run", where="run")

    def _items(self, plan: RunPlan) -> list[dict[str, Any]]:
        """The job's items: the cached listing's images that the plan's filters select."""
        filters = plan.filters
        if plan.skip_tagged:
            filters = msgspec.structs.replace(filters, has_metadata=False)
        entries = self.scanning.scan_cache.query(plan.root, filters)
        if not entries:
            raise ImageWorksError("no images match the filters: nothing to run")
        if plan.kind == "tag":
            return [{"path": e.path, "size": e.size, "mtime_ns": e.mtime_ns} for e in entries]
        return [{"text": e.relpath, "image": e.path} for e in entries]

    def _set_current(self, view: JobView) -> None:
        self.current = view
        self.workers.post(JobChanged(view))

    def follow(self, job_id: str, *, announce: str = "") -> None:
        """Stream a job's results (journal first, then live; each once) into the store and the progress view."""
        store = self.store.get(job_id)

        async def work() -> None:
            from imageworks import protocol as P

            loop = asyncio.get_running_loop()
            buffer: list[P.ResultRecord] = []
            handle: list[asyncio.TimerHandle] = []
            ok = sum(1 for r in store.rows if r.status == "ok")
            tally = {"ok": ok, "bad": len(store.rows) - ok, "base": 0}
            state: dict[str, Any] = {"job": None, "current": ""}

            def flush() -> None:
                handle.clear()
                if buffer:
                    batch = buffer[:]
                    buffer.clear()
                    last = batch[-1].item
                    state["current"] = str(last.get("path") or last.get("image") or last.get("text") or "")
                    self.workers.post(ResultsArrived(job_id, batch))
                job: P.JobInfo | None = state["job"]
                if job is None:
                    return
                job = msgspec.structs.replace(
                    job, done=max(job.done, tally["ok"]), failed=max(job.failed, tally["bad"])
                )
                # the daemon's measure of this run (from the moment the model was ready: never its load), from
                # its progress events on the job list
                speed = self.speeds.get(job_id)
                rate = speed.per_second if speed is not None else 0.0
                left = max(0, job.total - job.done - job.failed)
                eta = left / rate if rate > 0 else None
                active = job.state in ACTIVE_STATES
                timed = speed.items if speed is not None else 0
                self._set_current(JobView(job, rate, eta, state["current"], following=active, timed=timed))

            c = self.daemon.client
            try:
                snap = await c.attach(job_id)
                state["job"] = snap.job
                tally["base"] = snap.job.done + snap.job.failed
                store.kind = snap.job.kind
                self._set_current(JobView(snap.job, following=snap.job.state in ACTIVE_STATES))
                if announce:
                    self.workers.notify(announce)
                async for event in c.follow(job_id, after_seq=store.last_seq):
                    if isinstance(event, P.ResultRecord):
                        buffer.append(event)
                        tally["ok" if event.status == "ok" else "bad"] += 1
                    elif isinstance(event, P.JobInfo):  # (progress events are not asked for)
                        state["job"] = event
                        if event.speed is not None:
                            self.speeds[job_id] = event.speed
                    if not handle:
                        handle.append(loop.call_later(FLUSH_S, flush))
                state["job"] = (await c.attach(job_id)).job
            finally:
                for h in handle:
                    h.cancel()
                flush()

        self.workers.task(work, group="follow", where="job")

    def cancel(self, job_id: str) -> None:
        async def work() -> None:
            info = await self.daemon.client.cancel(job_id)
            self.workers.notify(f"job {short_id(job_id)} {info.state}")

        self.workers.task(work, group="cancel", where="cancel")

    def resume(self, job_id: str) -> None:
        async def work() -> None:
            reply = await self.daemon.client.resume(job_id)
            self.counters.runs_submitted += 1
            self.follow(reply.job.job_id, announce=f"resumed job {short_id(reply.job.job_id)}")

        self.workers.task(work, group="run", where="resume")

    def load_results(self, job_id: str) -> None:
        """A finished job's results from the journal, page by page (the table fills as they come)."""
        store = self.store.get(job_id)

        async def work() -> None:
            c = self.daemon.client
            snap = await c.attach(job_id)
            store.kind = snap.job.kind
            while True:
                page = await c.results(job_id, store.last_seq, 5000)
                if page.results:
                    self.counters.results_loaded += len(page.results)
                    self.workers.post(ResultsArrived(job_id, page.results))
                    store.last_seq = max(store.last_seq, page.last_seq)
                if not page.more:
                    break

        self.workers.task(work, group="results", where="results")
