"""The batching queue in front of the vlm slot: the one place batches are cut, for job items and OpenAI-endpoint
requests alike.

Every generation goes through here: a job's round of requests (``ModelManager.generate(requests, batch_size)``,
the whole round at once) and each endpoint request (``submit``). The queue's ``batch_size`` is the model's (the
slot's ``model.batch_size``): no batch is larger. A job's own batch size is at most that (a larger one is refused
at submit) and caps how many of its items ride in one batch. Endpoint requests and job items wait in two queues,
each in arrival order; whenever a worker of the slot's pool is free, the next batch is formed: the waiting endpoint
requests first (leaving at least one place for a job item when one waits, so a flood of requests slows a job but
never stops it; with ``batch_size`` 1 the two take turns), then job items from the head, up to the job's batch
size. A request arriving while a job's batch runs therefore waits for at most that batch (per worker) and rides in
the next one (a fair interleave; ``max_behind`` measures it). Items a request displaced simply lead the next batch.
A part-filled batch holding an endpoint request waits up to ``gather_s`` for more to join (concurrent HTTP clients
arrive a few ms apart) and runs the moment it is full; job-only batches never wait.

When a batch is sent while job items still wait, the images of the items that would make the next batch are
hinted to the slot (``prefetch``), so its worker reads and decodes them while this batch generates; after that
hint, the images the runner said come after the round (``upcoming``: its next window's first batch).

Each request gets a key while it runs: streamed text is routed back by it, and a request whose HTTP client went away
is cancelled by it (it stops at the next decoding step; the others of its batch go on).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from imageworks.inference import CANCELLED, GenRequest, GenResult

from .workers.base import WorkerCrashed

GATHER_S = 0.01
"""How long a part-filled batch with an endpoint request waits for others to join (``openai.max_queue_delay_ms``)."""


class SlotLike(Protocol):
    """What the queue needs of a model slot (daemon.slot.ModelSlot): generation, per-key cancel, the whole-batch
    stop flag, prefetch hints, and how many batches it runs at once."""

    async def generate(
        self, requests: list[GenRequest], on_text: Callable[[str, str], None] | None = None
    ) -> list[GenResult]: ...

    def cancel(self, keys: list[str]) -> None: ...

    def request_stop(self) -> None: ...

    def clear_stop(self) -> None: ...

    def prefetch(self, images: list[str]) -> None: ...

    @property
    def parallel(self) -> int: ...


@dataclass(eq=False)
class _Entry:
    request: GenRequest
    future: asyncio.Future[GenResult]
    from_job: bool
    behind: int
    """Batches holding job items in flight when it arrived."""
    dispatched_before: int
    """``stats.job_batches`` when it arrived: those dispatched later, ahead of it, are added at its dispatch."""
    limit: int = 0
    """A job item: the most items of its job a batch holds (the job's batch size); 0 for an endpoint request."""
    on_text: Callable[[str], None] | None = None


@dataclass
class BatchStats:
    batches: int = 0
    largest_batch: int = 0
    shared_batches: int = 0
    """Batches that held both job items and endpoint requests."""
    endpoint_requests: int = 0
    cancelled: int = 0
    """Endpoint requests stopped because their client went away."""
    job_batches: int = 0
    """Batches that held job items."""
    max_behind: int = 0
    """The most batches holding job items that an endpoint request waited behind (in flight when it arrived, or
    dispatched ahead of it): the fair interleave with jobs. Endpoint requests queued behind other endpoint requests
    (more at once than a batch holds) do not count."""


class BatchQueue:
    def __init__(self, slot: SlotLike, batch_size: int, gather_s: float = GATHER_S) -> None:
        self.slot = slot
        self.batch_size = max(1, batch_size)
        """The model's batch size: no batch is larger, and no job may ask for more."""
        self.gather_s = gather_s
        self.stats = BatchStats()
        self._requests: deque[_Entry] = deque()
        """Endpoint requests waiting."""
        self._items: deque[_Entry] = deque()
        """Job items waiting."""
        self._job_went_last = False
        """The last batch held job items (with ``batch_size`` 1 requests and job items take turns)."""
        self._running: dict[str, _Entry] = {}
        self._upcoming: list[str] = []
        """Images a job's runner said come after its round: hinted once the round's next batch is."""
        self._keys = (f"g{n}" for n in itertools.count(1))
        self._in_flight = 0
        self._job_in_flight = 0
        self._stop_pending = False
        self._changed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    # ---- callers --------------------------------------------------------------------------------------------

    async def generate(
        self, requests: list[GenRequest], batch_size: int = 0, upcoming: list[str] | None = None
    ) -> list[GenResult]:
        """A job's requests (a whole round of them), cut into batches of at most ``batch_size`` of them (0: the
        model's): one result each, in order. ``upcoming``: images of the job's next items, hinted after the
        round's second batch. Raises WorkerCrashed when the worker is gone, ValueError for a batch size above the
        model's (submit refuses those first)."""
        limit = batch_size or self.batch_size
        if limit > self.batch_size:
            raise ValueError(f"batch size {limit} is larger than the model's {self.batch_size}")
        self._upcoming.extend(upcoming or ())
        entries = [self._enqueue(request, from_job=True, limit=limit) for request in requests]
        outcomes = await asyncio.gather(*(entry.future for entry in entries), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return list(outcomes)  # type: ignore[arg-type]

    async def submit(self, request: GenRequest, on_text: Callable[[str], None] | None = None) -> GenResult:
        """One endpoint request; ``on_text`` gets its text as it grows when ``request.stream``. Cancelling the
        awaiting task (the HTTP client went away) stops its generation at the next step."""
        self.stats.endpoint_requests += 1
        entry = self._enqueue(request, from_job=False, on_text=on_text)
        try:
            return await asyncio.shield(entry.future)
        except asyncio.CancelledError:
            self._drop(entry)
            raise

    def cancel_jobs(self) -> None:
        """A job was cancelled: its queued requests end at once, its running ones stop at their next step."""
        while self._items:
            self._resolve(self._items.popleft(), GenResult(error=CANCELLED))
        self._upcoming = []
        running = [key for key, e in self._running.items() if e.from_job]
        self.slot.cancel(running)
        if running and all(e.from_job for e in self._running.values()):
            self.slot.request_stop()  # also stops workers that cannot cancel one request; cleared once idle
            self._stop_pending = True

    # ---- the queue ------------------------------------------------------------------------------------------

    def _enqueue(
        self, request: GenRequest, *, from_job: bool, limit: int = 0, on_text: Callable[[str], None] | None = None
    ) -> _Entry:
        request = msgspec.structs.replace(request, key=next(self._keys))
        future = asyncio.get_running_loop().create_future()
        entry = _Entry(request, future, from_job, self._job_in_flight, self.stats.job_batches, limit, on_text)
        (self._items if from_job else self._requests).append(entry)
        self._changed.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch_forever())
        return entry

    def _drop(self, entry: _Entry) -> None:
        self.stats.cancelled += 1
        if entry in self._requests:
            self._requests.remove(entry)
        elif entry.request.key in self._running:
            self.slot.cancel([entry.request.key])

    async def _dispatch_forever(self) -> None:
        while True:
            while not self._waiting() or self._in_flight >= max(1, self.slot.parallel):
                self._changed.clear()
                await self._changed.wait()
            if self.gather_s and self._requests and self._waiting() < self.batch_size:
                await self._gather()
            batch = self._take_batch()
            if batch:
                self._count(batch)
                self._in_flight += 1
                self._job_in_flight += any(entry.from_job for entry in batch)
                asyncio.get_running_loop().create_task(self._run(batch))
                self._hint_next()

    async def _gather(self) -> None:
        """Wait for the batch to fill, at most ``gather_s``: concurrent endpoint requests arrive a few ms apart."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gather_s
        while self._waiting() < self.batch_size and (left := deadline - loop.time()) > 0:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return

    def _waiting(self) -> int:
        return len(self._requests) + len(self._items)

    def _take_batch(self) -> list[_Entry]:
        """Up to ``batch_size``: endpoint requests first (one place kept for a waiting job item), then job items
        from the head, at most the job's batch size of them."""
        keep = 1 if self._items else 0  # a place for a waiting job item; in a batch of one, every other turn
        if keep and self.batch_size == 1 and self._job_went_last:
            keep = 0
        places = self.batch_size - keep
        batch = [self._requests.popleft() for _ in range(min(places, len(self._requests)))]
        items = 0
        while self._items and len(batch) < self.batch_size and items < self._items[0].limit:
            batch.append(self._items.popleft())
            items += 1
        self._job_went_last = items > 0
        return batch

    def _hint_next(self) -> None:
        """The images of the job items that would make the next batch, then the runner's upcoming ones, so a
        worker decodes them ahead, in that order."""
        images: list[str] = []
        if self._items:
            following = itertools.islice(self._items, self._items[0].limit)
            images = [image for entry in following for image in entry.request.images() if isinstance(image, str)]
        images, self._upcoming = images + self._upcoming, []
        if images:
            self.slot.prefetch(images)

    async def _run(self, batch: list[_Entry]) -> None:
        for entry in batch:
            self._running[entry.request.key] = entry
        streaming = any(entry.on_text is not None and entry.request.stream for entry in batch)
        try:
            results = await self.slot.generate(
                [entry.request for entry in batch], self._route_text if streaming else None
            )
        except WorkerCrashed as exc:
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(WorkerCrashed(str(exc)))
        except Exception as exc:  # a failure of the whole batch fails each of its requests, never the queue
            for entry in batch:
                self._resolve(entry, GenResult(error=f"model error: {type(exc).__name__}: {exc}"))
        else:
            for entry, result in zip(batch, results, strict=True):
                self._resolve(entry, result)
        finally:
            for entry in batch:
                self._running.pop(entry.request.key, None)
            self._in_flight -= 1
            self._job_in_flight -= any(entry.from_job for entry in batch)
            if self._stop_pending and not self._in_flight:
                self._stop_pending = False
                self.slot.clear_stop()  # the cancelled job's batches are done: serve normally again
            self._changed.set()

    def _count(self, batch: list[_Entry]) -> None:
        stats = self.stats
        for entry in batch:
            if not entry.from_job:
                behind = entry.behind + stats.job_batches - entry.dispatched_before
                stats.max_behind = max(stats.max_behind, behind)
        stats.batches += 1
        stats.job_batches += any(entry.from_job for entry in batch)
        stats.largest_batch = max(stats.largest_batch, len(batch))
        if len({entry.from_job for entry in batch}) == 2:
            stats.shared_batches += 1

    def _route_text(self, key: str, delta: str) -> None:
        entry = self._running.get(key)
        if entry is not None and entry.on_text is not None:
            entry.on_text(delta)

    @staticmethod
    def _resolve(entry: _Entry, result: GenResult) -> None:
        if not entry.future.done():
            entry.future.set_result(result)
