"""The job half of the App's services: the plan a run would follow, the gated submit, follow (journal first,
then live), cancel, resume, a finished job's results, throughput for estimates.

A mixin of ``tui.services.Services`` (it uses its ``_post``/``_thread``/``_task`` plumbing and its messages)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import msgspec

from imageworks.errors import ImageWorksError
from tui.state import ACTIVE_STATES, JobView, RunPlan, short_id

if TYPE_CHECKING:
    from imageworks import protocol as P

FLUSH_S = 0.1
"""Streamed results are handed to the UI at most this often (progress messages replace one another)."""


class JobServices:
    # ---- jobs --------------------------------------------------------------------------------------------------

    def job_kind(self) -> str:
        from imageworks import jobkinds

        return "tag" if "tag" in jobkinds.names() else "echo"

    def plan(self) -> RunPlan:
        """What a run would do with the current config (raises ImageWorksError if the filters are invalid)."""
        filters, skip_tagged = self.filters()
        kind = self.job_kind()
        params: dict[str, Any] = {}
        if kind == "tag":
            from imageworks.tagging.job import TagParams, params_from_config

            params = params_from_config(self.config.tagger)
            if "write" in TagParams.__struct_fields__:  # the tagger writes metadata per image as it goes
                params["write"] = self.config.tui.write_metadata
        return RunPlan(
            root=self.config.tui.library_root.strip(),
            kind=kind,
            filters=filters,
            skip_tagged=skip_tagged,
            model=self.config.model.name,
            batch_size=self.config.model.batch_size,
            params=params,
        )

    def throughput(self, kind: str) -> tuple[float, int] | None:
        """(items per second, runs it is based on) from finished jobs of this kind in the journal."""
        if self._throughput is None:
            table: dict[str, tuple[float, int]] = {}
            for k in {j.kind for j in self.jobs}:
                done = [j for j in self.jobs if j.kind == k and j.state == "done" and j.started and j.finished]
                done = sorted(done, key=lambda j: j.created)[-5:]
                seconds = sum((j.finished or 0) - (j.started or 0) for j in done)
                items = sum(j.done + j.failed for j in done)
                if done and seconds > 0 and items:
                    table[k] = (items / seconds, len(done))
            self._throughput = table
        return self._throughput.get(kind)

    def _set_jobs(self, jobs: list[P.JobInfo]) -> None:
        self.jobs = jobs
        self._throughput = None
        self._post(self.JobsListed(jobs))

    def list_jobs(self) -> None:
        async def work() -> None:
            from imageworks import protocol as P

            c = self._client()
            try:
                reply = await c.call("job.list", P.JobList(limit=200))
            finally:
                c.close()
            self._set_jobs(reply.jobs)

        self._task(work, group="jobs", where="jobs")

    def run(self, plan: RunPlan) -> None:
        """The gated run key: query the cached listing, submit one job, follow it. Nothing else starts a job."""

        if self.submitting:
            return
        self.submitting = True

        def work() -> None:
            try:
                submit()
            finally:
                self.submitting = False
                self.app.call_from_thread(self.app.refresh_bindings)

        def submit() -> None:
            cache = self.scan_cache
            filters = plan.filters
            if plan.skip_tagged:
                filters = msgspec.structs.replace(filters, has_metadata=False)
            entries = cache.query(plan.root, filters)
            if not entries:
                raise ImageWorksError("no images match the filters: nothing to run")
            if plan.kind == "tag":
                items = [{"path": e.path, "size": e.size, "mtime_ns": e.mtime_ns} for e in entries]
            else:
                items = [{"text": e.relpath, "image": e.path} for e in entries]
            timeout = self.client_timeout or self.config.daemon.request_timeout_s
            with _client_module().Client("tui", timeout=max(timeout, 30), retries=1) as c:
                self.counters.runs_submitted += 1
                submitted = c.submit(
                    plan.kind, items, plan.params, model=plan.model, batch_size=max(0, plan.batch_size)
                )
            job_id = submitted.job.job_id
            self.app.call_from_thread(self._started, submitted.job)
            self.app.call_from_thread(
                self.follow, job_id, announce=f"job {short_id(job_id)} started: {len(items):,} images"
            )

        self._thread(work, group="run", where="run")

    def _started(self, job: P.JobInfo) -> None:
        self._set_current(JobView(job, following=True))

    def _set_current(self, view: JobView) -> None:
        self.current_job = view
        self._post(self.JobChanged(view))

    def follow(self, job_id: str, *, announce: str = "") -> None:
        """Stream a job's results (journal first, then live; each once) into the store and the progress view."""
        store = self.store.get(job_id)

        async def work() -> None:
            from imageworks import protocol as P

            loop = asyncio.get_running_loop()
            c = self._client()
            buffer: list[P.ResultRecord] = []
            handle: list[asyncio.TimerHandle] = []
            ok = sum(1 for r in store.rows if r.status == "ok")
            tally = {"ok": ok, "bad": len(store.rows) - ok, "base": 0, "t0": time.monotonic()}
            state: dict[str, Any] = {"job": None, "current": ""}

            def flush() -> None:
                handle.clear()
                if buffer:
                    batch = buffer[:]
                    buffer.clear()
                    last = batch[-1].item
                    state["current"] = str(last.get("path") or last.get("image") or last.get("text") or "")
                    self._post(self.ResultsArrived(job_id, batch))
                job: P.JobInfo | None = state["job"]
                if job is None:
                    return
                job = msgspec.structs.replace(
                    job, done=max(job.done, tally["ok"]), failed=max(job.failed, tally["bad"])
                )
                live = job.done + job.failed - tally["base"]
                elapsed = max(1e-6, time.monotonic() - tally["t0"])
                rate = live / elapsed if live > 0 else 0.0
                left = max(0, job.total - job.done - job.failed)
                eta = left / rate if rate > 0 else None
                active = job.state in ACTIVE_STATES
                self._set_current(JobView(job, rate, eta, state["current"], following=active))

            try:
                snap = await c.attach(job_id)
                state["job"] = snap.job
                tally["base"] = snap.job.done + snap.job.failed
                tally["t0"] = time.monotonic()
                store.kind = snap.job.kind
                self._set_current(JobView(snap.job, following=snap.job.state in ACTIVE_STATES))
                if announce:
                    self.app.notify(announce)
                async for event in c.follow(job_id, after_seq=store.last_seq, resync_s=0.5):
                    if isinstance(event, P.ResultRecord):
                        buffer.append(event)
                        tally["ok" if event.status == "ok" else "bad"] += 1
                    else:
                        state["job"] = event
                    if not handle:
                        handle.append(loop.call_later(FLUSH_S, flush))
                state["job"] = (await c.attach(job_id)).job
            finally:
                for h in handle:
                    h.cancel()
                c.close()
                flush()
            self.refresh_status()  # the job's end changed the daemon's counters and the journal

        self._task(work, group="follow", where="job")

    def cancel(self, job_id: str) -> None:
        async def work() -> None:
            c = self._client()
            try:
                info = await c.cancel(job_id)
            finally:
                c.close()
            self.app.notify(f"job {short_id(job_id)} {info.state}")

        self._task(work, group="cancel", where="cancel")

    def resume(self, job_id: str) -> None:
        async def work() -> None:
            from imageworks import protocol as P

            c = self._client()
            try:
                reply = await c.call("job.submit", P.JobSubmit(kind="", resume=job_id))
            finally:
                c.close()
            self.counters.runs_submitted += 1
            self.follow(reply.job.job_id, announce=f"resumed job {short_id(reply.job.job_id)}")

        self._task(work, group="run", where="resume")

    def load_results(self, job_id: str) -> None:
        """A finished job's results from the journal, page by page (the table fills as they come)."""
        store = self.store.get(job_id)

        async def work() -> None:
            c = self._client()
            try:
                snap = await c.attach(job_id)
                store.kind = snap.job.kind
                while True:
                    page = await c.results(job_id, store.last_seq, 5000)
                    if page.results:
                        self.counters.results_loaded += len(page.results)
                        self._post(self.ResultsArrived(job_id, page.results))
                        store.last_seq = max(store.last_seq, page.last_seq)
                    if not page.more:
                        break
            finally:
                c.close()

        self._task(work, group="results", where="results")


def _client_module() -> Any:
    from tui.services import iw_client

    return iw_client()
