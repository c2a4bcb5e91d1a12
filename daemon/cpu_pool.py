"""The daemon's process pool for CPU job kinds: N worker processes, started with the first CPU job and reused.

Each worker is a child process (``cpu_worker.py``) fed one item at a time over its stdin, answering on its stdout
with typed frames; a reader task per worker turns the frames into the item's result. Items wait for a free worker
in arrival order, so the items of several CPU jobs running at once take turns. A worker that dies (a decoder's
segfault, the OOM killer, SIGKILL) fails the one item it held, named with the signal, and a fresh worker takes its
place: the daemon and the other items never notice. Pool size: ``daemon.cpu_workers``, default the CPUs this
process may run on (``os.sched_getaffinity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from imageworks import protocol as P
from imageworks.errors import DaemonError

from .cpu_worker import HEADER, CancelJob, ItemDone, ItemProgress, ItemRaised, RunItem, frame, from_worker

log = logging.getLogger("imageworks.daemon")

Progress = Callable[[int, int, str], None]


class ItemCrashed(DaemonError):
    """The worker holding the item died; the message names how."""


class ItemFailed(DaemonError):
    """The kind raised while running the item (or the item was cancelled: ``cancelled``)."""

    def __init__(self, message: str, *, cancelled: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled


def default_size() -> int:
    """The CPUs this process may run on (a cgroup or taskset may allow fewer than the machine has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class _Worker:
    """One child process; at most one item in flight."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.job_id = ""
        self.label = ""
        self.items = 0
        self.pending: asyncio.Future[bytes] | None = None
        self.on_progress: Progress | None = None
        self.reader: asyncio.Task[None] | None = None

    async def read_frames(self) -> None:
        """Until EOF: each frame settles or advances the pending item; at EOF the pending item fails as crashed."""
        assert self.proc.stdout is not None
        try:
            while True:
                head = await self.proc.stdout.readexactly(HEADER.size)
                body = await self.proc.stdout.readexactly(HEADER.unpack(head)[0])
                self._take(from_worker.decode(body))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        code = await self.proc.wait()
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(ItemCrashed(f"the CPU worker (pid {self.pid}) {exit_words(code)}"))

    def _take(self, message: ItemProgress | ItemDone | ItemRaised) -> None:
        if isinstance(message, ItemProgress):
            if self.on_progress is not None:
                self.on_progress(message.done, message.total, message.message)
            return
        if self.pending is None or self.pending.done():
            return
        if isinstance(message, ItemDone):
            self.pending.set_result(message.record)
        else:
            self.pending.set_exception(ItemFailed(message.error, cancelled=message.cancelled))

    async def run(self, message: RunItem, label: str, on_progress: Progress | None) -> bytes:
        assert self.proc.stdin is not None
        self.job_id, self.label, self.on_progress = message.job_id, label, on_progress
        self.pending = asyncio.get_running_loop().create_future()
        try:
            self.proc.stdin.write(frame(message))
            await self.proc.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass  # it died: the reader fails the pending item with the exit status
        try:
            return await self.pending
        finally:
            self.items += 1
            self.job_id, self.label, self.on_progress, self.pending = "", "", None, None

    def send(self, message: CancelJob) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(frame(message))

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None


def exit_words(code: int | None) -> str:
    """How a worker ended, for the item it held: "was killed by SIGKILL", "exited with status 1"."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


class CpuPool:
    """``size`` worker processes, started on first use. ``run`` one item; ``cancel`` a job's items in flight."""

    def __init__(self, size: int = 0) -> None:
        self.size = size or default_size()
        self.crashes = 0
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._starting: asyncio.Task[None] | None = None
        self._closed = False

    async def _start(self) -> None:
        self._idle = asyncio.Queue()
        started = await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        for worker in started:
            self._idle.put_nowait(worker)

    async def _spawn(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "imageworks.daemon.cpu_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,  # one frame may hold a long record (a walk's errors)
        )
        worker = _Worker(proc)
        worker.reader = asyncio.get_running_loop().create_task(worker.read_frames())
        self._workers.append(worker)
        return worker

    async def _take(self) -> _Worker:
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._starting)
        assert self._idle is not None
        while True:
            worker = await self._idle.get()
            if worker.alive:
                return worker
            await self._give_back(worker)  # it died while idle (killed from outside): a fresh one takes its place

    async def run(
        self,
        job_id: str,
        run: str,
        kind: str,
        params: dict[str, Any],
        index: int,
        item: dict[str, Any],
        on_progress: Progress | None = None,
    ) -> bytes:
        """The item's record (msgpack) from a free worker. Raises ItemFailed (the kind raised, or the job was
        cancelled) or ItemCrashed (the worker died; a fresh one replaces it)."""
        worker = await self._take()
        label = str(item.get("path") or index)
        try:
            message = RunItem(job_id=job_id, run=run, kind=kind, params=params, index=index, item=item)
            return await worker.run(message, label, on_progress)
        except ItemCrashed:
            self.crashes += 1
            log.warning("CPU worker %d died on %s of job %s", worker.pid, label, job_id)
            raise
        finally:
            await self._give_back(worker)

    async def _give_back(self, worker: _Worker) -> None:
        assert self._idle is not None
        if worker.alive and not self._closed:
            self._idle.put_nowait(worker)
            return
        if worker.reader is not None:
            with contextlib.suppress(Exception):
                await worker.reader
        with contextlib.suppress(ValueError):
            self._workers.remove(worker)
        if not self._closed:
            self._idle.put_nowait(await self._spawn())

    def cancel(self, run: str) -> None:
        """Tell every worker: an item of this run of a job, in flight or to come, stops at its next progress call."""
        for worker in self._workers:
            worker.send(CancelJob(run=run))

    def status(self, running_jobs: list[str]) -> P.CpuPoolStatus:
        return P.CpuPoolStatus(
            size=self.size,
            workers=[
                P.CpuWorkerInfo(pid=w.pid, job_id=w.job_id, item=w.label, items=w.items)
                for w in self._workers
                if w.alive
            ],
            running_jobs=running_jobs,
            crashes=self.crashes,
        )

    async def close(self) -> None:
        """End every worker: EOF on its stdin, then a kill for one still busy in an item."""
        self._closed = True
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        for worker in self._workers:
            if worker.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    worker.proc.stdin.close()
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.proc.wait(), 1.0)
            except (TimeoutError, asyncio.TimeoutError):
                self.kill_worker(worker)

    def kill_now(self) -> None:
        for worker in self._workers:
            self.kill_worker(worker)

    @staticmethod
    def kill_worker(worker: _Worker) -> None:
        with contextlib.suppress(ProcessLookupError):
            worker.proc.kill()
