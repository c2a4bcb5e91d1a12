"""A pool of workers behind the Worker interface: each batch goes to the live worker with the fewest batches in
flight, so several batches run at once on several workers. With one worker it behaves exactly like that worker.

The pool is loaded when every member is (one failing fails the load: the slot then stops the pool) and exited
when every member has exited; a member that dies takes only its own in-flight batches with it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Collection
from typing import Any

from daemon.workers.base import TextSink, Worker, WorkerCrashed
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult


class WorkerPool(Worker):
    def __init__(self, workers: list[Worker], loop: asyncio.AbstractEventLoop) -> None:
        if not workers:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = workers
        self.worker_id = "pool"
        self.node = ",".join(sorted({w.node for w in workers}))
        self._turn = itertools.count()
        self.loaded = loop.create_task(self._all_loaded())
        self.exited = loop.create_task(self._all_exited())

    async def _all_loaded(self) -> dict[str, Any]:
        infos = await asyncio.gather(*(w.loaded for w in self.workers))
        return infos[0]  # every member loaded the same model

    async def _all_exited(self) -> str:
        reasons = await asyncio.gather(*(w.exited for w in self.workers))
        return reasons[-1]

    @property
    def pid(self) -> int | None:
        return next((w.pid for w in self._live()), None) or self.workers[0].pid

    @property
    def in_flight(self) -> int:
        return sum(w.in_flight for w in self.workers)

    @property
    def inferences(self) -> int:  # type: ignore[override]
        return sum(w.inferences for w in self.workers)

    @property
    def last_error(self) -> str:  # type: ignore[override]
        return next((w.last_error for w in reversed(self.workers) if w.last_error), "")

    def _live(self) -> list[Worker]:
        return [w for w in self.workers if not w.exited.done()]

    def _pick(self) -> Worker:
        """The live worker with the fewest batches in flight; ties go round the pool (so idle members share)."""
        live = self._live()
        if not live:
            raise WorkerCrashed(self.workers[-1].exited.result())
        start = next(self._turn) % len(live)
        rotated = live[start:] + live[:start]
        return min(rotated, key=lambda w: w.in_flight)

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return await self._pick().generate(requests)

    async def generate_streaming(self, requests: list[GenRequest], on_text: TextSink) -> list[GenResult]:
        return await self._pick().generate_streaming(requests, on_text)

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self._pick().embed(requests)

    def cancel(self, keys: Collection[str]) -> None:
        for worker in self._live():  # keys are unique: only the member running them acts
            worker.cancel(keys)

    def request_stop(self) -> None:
        for worker in self.workers:
            worker.request_stop()

    def clear_stop(self) -> None:
        for worker in self.workers:
            worker.clear_stop()

    async def stop(self, timeout: float = 5.0) -> None:
        await asyncio.gather(*(w.stop(timeout) for w in self.workers), return_exceptions=True)

    def kill_now(self) -> None:
        for worker in self.workers:
            worker.kill_now()
