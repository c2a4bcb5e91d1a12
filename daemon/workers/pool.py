"""A pool of workers behind the Worker interface: each batch goes to the serving worker with the fewest batches in
flight, so several batches run at once on several workers. With one worker it behaves exactly like that worker.

Batches go where their photos were decoded where that costs no waiting: among the members with the fewest batches in
flight, the one that was sent (or hinted) most of a batch's images, so a photo's later rounds reuse its decode.

The pool is loaded when every member is (one failing fails the load: the slot then stops the pool) and exited
when every member has exited. A member that dies mid-batch (a crash, a lost Ray node, ``ray.kill``) does not fail
its batches: each is sent once more, to another serving member; only a batch that fails twice (or finds no other
member) raises WorkerCrashed. Results are returned only once per batch, so the journal never sees an item twice.
A resent batch's streamed text starts over on its new worker: what its client already got is held back (the
resend goes on from where the stream was), and a request whose new text differs from what was already sent
(sampled, unseeded) ends with an error rather than splice two answers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult

from .base import TextSink, Worker, WorkerCrashed

R = TypeVar("R")

HOLDERS_KEPT = 100_000
"""Images whose member the pool remembers; beyond it (jobs cancelled before their items finished) it starts over."""

ATTEMPTS = 2
"""A batch is sent at most this many times: once, and once more to another worker if its worker died."""


class WorkerPool(Worker):
    def __init__(self, workers: list[Worker], loop: asyncio.AbstractEventLoop) -> None:
        if not workers:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = workers
        self.worker_id = "pool"
        self.node = ",".join(sorted({w.node for w in workers}))
        self._turn = itertools.count()
        self._holder: dict[str, Worker] = {}
        """The member each image was last sent or hinted to: it holds the image decoded."""
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

    @property
    def width(self) -> int:
        """How many batches the pool runs at once: its serving members (at least 1, so a caller still tries)."""
        return max(1, len(self._serving()))

    def _live(self) -> list[Worker]:
        return [w for w in self.workers if not w.exited.done()]

    def _serving(self) -> list[Worker]:
        return [w for w in self.workers if w.serving]

    def _pick(self, exclude: list[Worker], images: Collection[str] = ()) -> Worker | None:
        """The serving worker with the fewest batches in flight, ``exclude`` left out; among those, the one holding
        most of ``images`` decoded, and otherwise they take turns (so idle members share). None when there is none."""
        candidates = [w for w in self._serving() if w not in exclude]
        if not candidates:
            return None
        start = next(self._turn) % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        least = min(w.in_flight for w in rotated)
        free = [w for w in rotated if w.in_flight == least]
        if len(free) > 1 and images:
            held = Counter(self._holder.get(image) for image in images)
            return max(free, key=lambda w: held[w])  # the first of the best: ties keep the turn
        return free[0]

    def _hold(self, images: Collection[str], worker: Worker) -> None:
        if len(self._holder) > HOLDERS_KEPT:
            self._holder.clear()
        for image in images:
            self._holder[image] = worker

    async def _send(self, call: Callable[[Worker, int], Awaitable[list[R]]], images: Collection[str] = ()) -> list[R]:
        tried: list[Worker] = []
        crash: WorkerCrashed | None = None
        for attempt in range(ATTEMPTS):
            worker = self._pick(tried, images)
            if worker is None:
                break
            tried.append(worker)
            self._hold(images, worker)
            try:
                return await call(worker, attempt)
            except WorkerCrashed as exc:
                crash = exc  # its batch goes to another member, once
        if crash is not None:
            raise crash
        live = self._live()
        reason = f"every model worker is restarting ({len(live)})" if live else self.workers[-1].exited.result()
        raise WorkerCrashed(reason)

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return await self._send(lambda worker, _: worker.generate(requests), paths_of(requests))

    async def generate_streaming(self, requests: list[GenRequest], on_text: TextSink) -> list[GenResult]:
        replay = Replay(on_text)

        async def attempt(worker: Worker, number: int) -> list[GenResult]:
            replay.start_over()
            return await worker.generate_streaming(requests, replay.feed if number else replay.first)

        results = await self._send(attempt, paths_of(requests))
        return [replay.check(request.key, result) for request, result in zip(requests, results, strict=True)]

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self._send(lambda worker, _: worker.embed(requests))

    def cancel(self, keys: Collection[str]) -> None:
        for worker in self._live():  # keys are unique: only the member running them acts
            worker.cancel(keys)

    def prefetch(self, images: Collection[str]) -> None:
        worker = self._pick([], images)  # the member the next batch goes to, as things stand
        if worker is not None:
            self._hold(images, worker)
            worker.prefetch(images)

    def forget(self, images: Collection[str]) -> None:
        for image in images:
            self._holder.pop(image, None)
        for worker in self._live():
            worker.forget(images)

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


def paths_of(requests: list[GenRequest]) -> list[str]:
    """The images of a batch that are files (an endpoint request's inline images are not kept anywhere)."""
    return [image for request in requests for image in request.images() if isinstance(image, str)]


class Replay:
    """Streamed text across a resend: the first attempt's text goes straight on (and is remembered per key); a
    later attempt's text is held back while it repeats what was sent, and only what goes beyond it is passed on.
    A key whose repeat differs from what was sent is marked diverged: nothing more goes out for it."""

    def __init__(self, on_text: TextSink) -> None:
        self.on_text = on_text
        self.sent: dict[str, str] = {}
        self.again: dict[str, str] = {}
        self.diverged: set[str] = set()

    def start_over(self) -> None:
        self.again = {}

    def first(self, key: str, delta: str) -> None:
        self.sent[key] = self.sent.get(key, "") + delta
        self.on_text(key, delta)

    def feed(self, key: str, delta: str) -> None:
        if key in self.diverged:
            return
        sent = self.sent.get(key, "")
        text = self.again[key] = self.again.get(key, "") + delta
        if len(text) <= len(sent):
            if not sent.startswith(text):
                self.diverged.add(key)
            return
        if not text.startswith(sent):
            self.diverged.add(key)
            return
        self.sent[key] = text
        self.on_text(key, text[len(sent) :])

    def check(self, key: str, result: GenResult) -> GenResult:
        """The result, or an error for a request whose resent text differs from what its client already got."""
        if key in self.diverged and result.ok:
            return GenResult(
                error="the model worker died mid-stream and the retry's text differs from what was already sent",
                tokens=result.tokens,
                prompt_tokens=result.prompt_tokens,
                seconds=result.seconds,
            )
        return result
