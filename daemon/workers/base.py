"""The interface a model slot sees of whatever runs its model: a worker process, a Ray actor, or a pool of either.
A worker is made already starting; ``loaded`` resolves when its model is ready (or fails with WorkerLoadFailed),
``exited`` when it is gone (with the reason). Requests are awaited; several may be in flight."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from typing import Any

from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import WorkerInfo

ProgressSink = Callable[[float, str], None]
"""Called on the daemon's loop with a worker's load progress: (fraction 0..1 or -1 when unknown, what it does)."""


class WorkerCrashed(Exception):
    """The worker exited while requests were pending (or before they were sent)."""


class WorkerLoadFailed(Exception):
    """The backend raised while loading; the message says why (missing dir, bad config, OOM...)."""


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
