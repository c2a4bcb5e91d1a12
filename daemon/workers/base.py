"""The interface a model slot sees of whatever runs its model: a worker process, a Ray actor, or a pool of either.
A worker is made already starting; ``loaded`` resolves when its model is ready (or fails with WorkerLoadFailed),
``exited`` when it is gone (with the reason). Requests are awaited; several may be in flight."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Collection
from typing import Any

from imageworks.errors import DaemonError
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import WorkerInfo

ProgressSink = Callable[[float, str], None]
"""Called on the daemon's loop with a worker's load progress: (fraction 0..1 or -1 when unknown, what it does)."""


TextSink = Callable[[str, str], None]
"""Called on the daemon's loop with a streamed request's new text: (request key, text added)."""


class WorkerCrashed(DaemonError):
    """The worker exited while requests were pending (or before they were sent)."""

    code = "model_error"


class WorkerLoadFailed(DaemonError):
    """The backend raised while loading; the message says why (missing dir, bad config, OOM...)."""

    code = "model_error"


class Worker(abc.ABC):
    """One place where a model runs, seen from the daemon's event loop."""

    loaded: asyncio.Future[dict[str, Any]]
    """The backend's load info once ready; fails with WorkerLoadFailed."""
    exited: asyncio.Future[str]
    """Resolves with the reason when the worker is gone (stopped, crashed, killed)."""
    worker_id: str
    node: str
    """Where it runs (a host name; a Ray node id for an actor)."""
    inferences: int
    """Requests it has answered."""
    last_error: str
    """The last whole-batch failure (a crash, a lost pipe); empty when none."""

    @property
    @abc.abstractmethod
    def pid(self) -> int | None:
        """The process that holds the model (and its memory), when it is a local process."""

    @property
    @abc.abstractmethod
    def in_flight(self) -> int:
        """Batches sent and not yet answered: a pool sends the next batch to the worker with the fewest."""

    @abc.abstractmethod
    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """One result per request, in order; raises WorkerCrashed if the worker is gone."""

    @abc.abstractmethod
    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        """One result per request, in order; raises WorkerCrashed if the worker is gone."""

    async def generate_streaming(self, requests: list[GenRequest], on_text: TextSink) -> list[GenResult]:
        """``generate``, sending each streamed request's text (``GenRequest.stream``) to ``on_text`` as it grows.
        This default, for workers that cannot stream, sends each one's whole text when the batch is done."""
        results = await self.generate(requests)
        for request, result in zip(requests, results, strict=True):
            if request.stream and request.key and result.text:
                on_text(request.key, result.text)
        return results

    def cancel(self, keys: Collection[str]) -> None:  # noqa: B027 - optional: the default lets them finish
        """Stop the requests with these keys at their next step (their clients went away); the other requests of
        their batches go on. This default does nothing: they run to completion and nobody reads them."""

    def prefetch(self, images: Collection[str]) -> None:  # noqa: B027 - optional: the default reads them in the batch
        """These images come in a batch soon: read and decode them ahead. This default does nothing."""

    def forget(self, images: Collection[str]) -> None:  # noqa: B027 - optional: the default keeps nothing to drop
        """The items of these images finished: drop what was kept of them. This default does nothing."""

    @abc.abstractmethod
    def request_stop(self) -> None:
        """Ask the batches in flight to stop early (a job was cancelled); their unfinished requests fail."""

    @abc.abstractmethod
    def clear_stop(self) -> None:
        """Serve normally again (a new job starts)."""

    @abc.abstractmethod
    async def stop(self, timeout: float = 5.0) -> None:
        """End the worker, killing it after ``timeout``: its memory (VRAM) is freed either way."""

    @abc.abstractmethod
    def kill_now(self) -> None:
        """Synchronous last resort at daemon exit."""

    @property
    def state(self) -> str:
        """loading, loaded, restarting (a Ray actor that Ray restarts), exited."""
        return "exited" if self.exited.done() else "loaded" if self.loaded.done() else "loading"

    @property
    def serving(self) -> bool:
        """Whether a pool may send it a batch now."""
        return self.state in ("loading", "loaded")

    def describe(self) -> WorkerInfo:
        """What ``daemon status`` shows of this worker."""
        return WorkerInfo(
            id=self.worker_id,
            node=self.node,
            pid=self.pid or 0,
            state=self.state,
            inferences=self.inferences,
            last_error=self.last_error,
        )
