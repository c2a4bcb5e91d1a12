"""The Mono mode's service: the gated check (the library's cached listing → a ``mono`` job in the daemon's CPU pool,
followed as its results stream in), narration of the failing photos (a ``narrate`` job through the model's queue)
and writing the verdicts (a ``mono-write`` job, after the confirmation modal). It runs no check itself: the daemon
does, and every client sees the same jobs and the same cached results.

Work runs in App-owned workers (switching modes never stops it); each change is a new ``MonoView`` posted to the
App, which every screen watching ``app.mono`` renders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from textual.message import Message

from imageworks.jobs.records import MonoRecord, MonoWriteRecord, NarrateRecord

from .messages import Failed
from .scan import ScanService
from .workers import Workers

if TYPE_CHECKING:
    from imageworks import protocol as P

    from .daemon import DaemonLink

FILTERS = ("all", "failing", "not_mono", "query", "toned_mono", "neutral_mono")
"""What the filter key cycles through (``failing``: not_mono and query)."""
RULES = ("fiap", "psa")
FIELDS = ("none", "description")
"""Where the write key puts the narration, besides the ``mono:*`` keyword."""
BUSY = ("listing", "checking", "narrating", "writing")
FLUSH_S = 0.1
"""Streamed results reach the screen at most this often (progress messages replace one another)."""


class MonoView(msgspec.Struct, frozen=True, kw_only=True):
    """What the Mono mode shows; a new value per change."""

    state: str = "idle"
    """idle, listing, checking, narrating, writing, done, error."""
    message: str = ""
    root: str = ""
    rules: str = "fiap"
    filter: str = "all"
    field: str = "none"
    job_id: str = ""
    done: int = 0
    total: int = 0
    records: tuple[MonoRecord, ...] = ()
    narrations: dict[str, NarrateRecord] = msgspec.field(default_factory=dict)
    writes: dict[str, MonoWriteRecord] = msgspec.field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.state in BUSY

    @property
    def shown(self) -> list[MonoRecord]:
        """The records the filter keeps, in path order."""
        if self.filter == "all":
            return list(self.records)
        wanted = ("not_mono", "query") if self.filter == "failing" else (self.filter,)
        return [r for r in self.records if r.verdict in wanted]

    @property
    def failing(self) -> list[MonoRecord]:
        return [r for r in self.records if r.status == "ok" and r.verdict in ("not_mono", "query")]


class MonoService:
    """One per App; all state changes happen on the App's loop."""

    class Changed(Message):
        def __init__(self, view: MonoView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, workers: Workers, scanning: ScanService, daemon: DaemonLink) -> None:
        self.workers = workers
        self.scanning = scanning
        self.daemon = daemon
        self.view = MonoView()
        self.checks = 0
        """Check jobs submitted from this App (for the Debug panel)."""

    def counters(self) -> dict[str, int]:
        return {"mono checks": self.checks}

    def _publish(self, **changes: Any) -> None:
        self.view = msgspec.structs.replace(self.view, **changes)
        self.workers.post(self.Changed(self.view))

    # ---- gates ---------------------------------------------------------------------------------------------------

    def blocked(self) -> str:
        """Why the check key would start nothing ("" when it may run)."""
        if not self.scanning.root:
            return f"set a library root first (Configure, {self.workers.key_for('app.mode.configure')})"
        if not self.daemon.view.up:
            return f"the daemon is not running (Daemon mode, {self.workers.key_for('app.mode.daemon')})"
        if self.view.busy:
            return f"already {self.view.state}"
        return ""

    def can_narrate(self) -> bool:
        from imageworks.mono.outcomes import narrate_items

        return self.daemon.view.up and not self.view.busy and bool(narrate_items(self.view.failing))

    def can_write(self) -> bool:
        return self.daemon.view.up and not self.view.busy and any(r.status == "ok" for r in self.view.records)

    # ---- settings ------------------------------------------------------------------------------------------------

    def cycle(self, what: str) -> None:
        """The filter, rules and narration-field keys: the next choice (rules take effect at the next check)."""
        choices = {"filter": FILTERS, "rules": RULES, "field": FIELDS}[what]
        current = getattr(self.view, what)
        self._publish(**{what: choices[(choices.index(current) + 1) % len(choices)]})

    # ---- the gated check -----------------------------------------------------------------------------------------

    def check(self) -> None:
        if why := self.blocked():
            self.workers.post(Failed(why, where="mono"))
            return
        root = str(Path(self.scanning.root).expanduser().resolve())
        self._publish(state="listing", message="listing the library…", root=root, narrations={}, writes={})

        async def work() -> None:
            key = await self.scanning.fresh_listing(root)  # the daemon walks a stale listing: the cache's one writer
            paths = await asyncio.to_thread(self._listing, key)
            if not paths:
                self._publish(state="done", message="no images under the library root", records=())
                return
            self.checks += 1
            client = self.daemon.client
            job = (await client.submit("mono", [{"path": p} for p in paths], {"rules": self.view.rules})).job
            self._publish(state="checking", message="", job_id=job.job_id, done=0, total=job.total, records=())
            final = await self._follow(job.job_id, self._took_checks)
            results = await client.all_results(job.job_id)
            records = sorted((r.record for r in results if isinstance(r.record, MonoRecord)), key=lambda r: r.path)
            self._publish(
                state="done" if final.state == "done" else "error",
                message=_ended("checked", final),
                records=tuple(records),
                done=final.done + final.failed,
            )

        self._run(work, "check")

    def _listing(self, root: str) -> list[str]:
        filters, _ = self.scanning.filters()
        return [e.path for e in self.scanning.scan_cache.query(root, filters) if not e.is_raw]

    def _took_checks(self, batch: list[P.ResultRecord]) -> None:
        known = {r.path: r for r in self.view.records}
        known.update({r.record.path: r.record for r in batch if isinstance(r.record, MonoRecord)})
        self._publish(records=tuple(sorted(known.values(), key=lambda r: r.path)), done=len(known))

    # ---- narration and writing -----------------------------------------------------------------------------------

    def narrate(self) -> None:
        from imageworks.mono.outcomes import narrate_items

        items = narrate_items(self.view.failing)
        if not items or self.view.busy:
            return

        async def work() -> None:
            client = self.daemon.client
            job = (await client.submit("narrate", items)).job
            self._publish(state="narrating", message="", job_id=job.job_id, done=0, total=job.total)
            final = await self._follow(job.job_id, self._took_narrations)
            self._publish(state="done" if final.state == "done" else "error", message=_ended("narrated", final))

        self._run(work, "narrate")

    def _took_narrations(self, batch: list[P.ResultRecord]) -> None:
        narrations = dict(self.view.narrations)
        narrations.update({r.record.path: r.record for r in batch if isinstance(r.record, NarrateRecord)})
        self._publish(narrations=narrations, done=len(narrations))

    def write(self) -> None:
        """After the confirmation modal: the verdicts (and the narration, into ``field``) into the files, merge."""
        from imageworks.mono.outcomes import tally, write_items

        items = write_items(self.view.records, self.view.narrations, self.view.field)
        if not items or self.view.busy:
            return

        async def work() -> None:
            client = self.daemon.client
            job = (await client.submit("mono-write", items, {"field": self.view.field})).job
            self._publish(state="writing", message="", job_id=job.job_id, done=0, total=job.total, writes={})
            final = await self._follow(job.job_id, self._took_writes)
            out = tally((), (), self.view.writes.values())  # counted as the CLI counts them
            self._publish(
                state="done" if final.state == "done" else "error",
                message=f"written {out.written}, unchanged {out.unchanged}, not written {len(out.not_written)}"
                + (f", partly written {len(out.partly_written)}" if out.partly_written else ""),
            )

        self._run(work, "write")

    def _took_writes(self, batch: list[P.ResultRecord]) -> None:
        writes = dict(self.view.writes)
        writes.update({r.record.path: r.record for r in batch if isinstance(r.record, MonoWriteRecord)})
        self._publish(writes=writes, done=len(writes))

    # ---- plumbing ------------------------------------------------------------------------------------------------

    def _run(self, work: Callable[[], Any], what: str) -> None:
        async def guarded() -> None:
            try:
                await work()
            except Exception:
                self._publish(state="error", message=f"{what} failed")
                raise  # the worker guard logs it and shows one line

        self.workers.task(guarded, group="mono", where="mono")

    async def _follow(self, job_id: str, take: Callable[[list[P.ResultRecord]], None]) -> P.JobInfo:
        """Stream the job's results to ``take`` (batched, at most every FLUSH_S) until it ends; its final state."""
        from imageworks import protocol as P

        client = self.daemon.client
        final = (await client.attach(job_id)).job
        batch: list[P.ResultRecord] = []
        last = time.monotonic()
        async for event in client.follow(job_id):
            if isinstance(event, P.ResultRecord):
                batch.append(event)
                if time.monotonic() - last >= FLUSH_S:
                    take(batch)
                    batch, last = [], time.monotonic()
            elif isinstance(event, P.JobInfo):  # (progress events are not asked for)
                final = event
        if batch:
            take(batch)
        return final


def _ended(what: str, job: P.JobInfo) -> str:
    if job.state != "done":
        return f"job {job.state}" + (f": {job.error}" if job.error else "")
    failed = f", {job.failed} unreadable" if job.failed else ""
    return f"{what} {job.done}{failed}"
