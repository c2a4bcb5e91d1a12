"""The Ray worker: the model held by a Ray actor, placed by Ray on any node of a cluster (one GPU each on GPU
nodes, ``cluster.cpus_per_worker`` CPUs on CPU nodes). Imported only when the daemon runs with ``--ray``.

The daemon stays the one place that owns the journal, the protocol and the batching: an actor only serves
batches, exactly as a local worker process does (``daemon.workers.process.serve``). Its calls are awaited on the
daemon's loop as Ray object refs.

Calls carry the typed messages of ``messages.py`` as msgpack bytes, decoded once at each end, as over a worker
process's pipe. Actor methods come in two concurrency groups: inference (``run``: a ``Generate`` or ``Embed``
batch) runs one batch at a time in the default group, while the ``control`` group answers at any time: ``ready``
(waits for the load: ``Loaded`` or ``LoadFailed``), ``load_progress``, ``tell`` (``Prefetch``, ``Forget``),
``stop_before`` (cancel) and ``until_closed``, a call that stays pending while the actor lives, so the daemon learns
of an actor's death (node lost, OOM, ``ray.kill``) at once, not at its next batch. The model loads in the
constructor's thread, so an actor that Ray restarts (``cluster.max_restarts``) loads it again by itself.

Images travel as paths when ``cluster.shared_filesystem`` is set (every node sees the daemon's paths), otherwise
the daemon reads them and sends their bytes through Ray's object store; the actor stages them as temporary files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import msgspec
import ray
from ray.exceptions import ActorUnavailableError, ObjectLostError, RayActorError

from imageworks.config import ClusterConfig, ModelConfig
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import FeedStats, WorkerInfo

from . import messages as M
from .base import ProgressSink, Worker, WorkerCrashed, WorkerLoadFailed
from .process import serve
from .staging import read_images, stage_images

NAMESPACE = "imageworks"
"""Ray namespace of the daemon's actors (``ray.get_actor(worker_id, namespace=NAMESPACE)`` finds one)."""

PROGRESS_POLL_S = 0.25
"""How often a loading actor is asked for its progress."""

UNAVAILABLE_RETRY_S = 0.5
"""How soon an actor that Ray reports unavailable (restarting) is asked again whether it is ready."""

ACTOR_GONE = (RayActorError, ActorUnavailableError, ObjectLostError)
"""What awaiting an actor call raises when the actor (or its node) is gone."""


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``HOST:PORT``), or start a Ray on this machine for ``local``.
    Once per daemon process; later calls do nothing."""
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False} if address == "local" else {}
    ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False, **options)


def disconnect() -> None:
    """Leave the cluster (a Ray started for ``local`` ends with it)."""
    if ray.is_initialized():
        ray.shutdown()


# ---- actor side ---------------------------------------------------------------------------------------------


@ray.remote(concurrency_groups={"control": 8})  # type: ignore[call-overload]  # ray's overloads omit this option
class ModelActor:
    """One model replica inside a Ray actor."""

    def __init__(self, model: bytes) -> None:
        self.model = msgspec.msgpack.decode(model, type=ModelConfig)
        self.progress: tuple[float, str] = (-1.0, "")
        self.backend: Any = None
        self.load_error = ""
        self.info: dict[str, Any] = {}
        self.stopped_below = 0
        """Batches sent before this stop epoch stop early (a job was cancelled)."""
        self._loaded = threading.Event()
        self._closed = threading.Event()
        threading.Thread(target=self._load, name="model-load", daemon=True).start()

    def _load(self) -> None:
        from ..backends.registry import create_backend

        try:
            backend = create_backend(self.model)
            self.info = backend.load(self._on_progress)
            self.backend = backend
        except BaseException as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
        finally:
            self._loaded.set()

    def _on_progress(self, fraction: float, what: str) -> None:
        self.progress = (fraction, what)

    @ray.method(concurrency_group="control")
    def ready(self) -> bytes:
        """Once loaded: ``Loaded`` (the load info, this process and its node) or ``LoadFailed``."""
        self._loaded.wait()
        if self.backend is None:
            return M.encode(M.LoadFailed(error=self.load_error))
        node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"
        return M.encode(M.Loaded(info=self.info, pid=os.getpid(), node=node))

    @ray.method(concurrency_group="control")
    def load_progress(self) -> bytes:
        fraction, what = self.progress
        return M.encode(M.Progress(fraction=fraction, what=what))

    @ray.method(concurrency_group="control")
    def tell(self, message: bytes) -> bytes:
        """``Prefetch`` or ``Forget``, while a batch runs; a ``FeedReport`` after."""
        told = M.decode_to_worker(message)
        if self.backend is None:
            return M.encode(M.FeedReport(feed=FeedStats()))
        if isinstance(told, M.Prefetch):
            self.backend.prefetch(told.images)
        elif isinstance(told, M.Forget):
            self.backend.forget(told.images)
        return M.encode(M.FeedReport(feed=self.backend.feed_stats()))

    @ray.method(concurrency_group="control")
    def stop_before(self, epoch: int) -> None:
        self.stopped_below = max(self.stopped_below, epoch)

    @ray.method(concurrency_group="control")
    def until_closed(self) -> None:
        self._closed.wait()

    def run(self, message: bytes, epoch: int) -> bytes:
        """A ``Generate`` or ``Embed`` batch; its answer. Staged images (no shared filesystem) are written to
        temporary files for the batch and forgotten after it."""
        batch = M.decode_to_worker(message)
        assert isinstance(batch, (M.Generate, M.Embed))
        self._loaded.wait()
        if self.backend is None:
            result_type = GenResult if isinstance(batch, M.Generate) else EmbedResult
            results: list[Any] = [result_type(error=f"model worker: {self.load_error}") for _ in batch.requests]
            kind = M.Generated if isinstance(batch, M.Generate) else M.Embedded
            return M.encode(kind(id=batch.id, results=results))
        stop = _StopFlag(self, epoch)
        if batch.staged is None:
            return M.encode(serve(self.backend, batch, stop))
        with tempfile.TemporaryDirectory(prefix="imageworks-ray-") as folder:
            staged = stage_images(batch.requests, batch.staged, Path(folder))
            local = msgspec.structs.replace(batch, requests=[request for request, _ in staged], staged=None)
            answer = serve(self.backend, local, stop)
            self.backend.forget([request.image for request, original in staged if original])
        served: list[Any] = answer.results
        for result, (request, original) in zip(served, staged, strict=True):
            if result.error and original:  # name the person's file, not our temporary copy
                result.error = result.error.replace(request.image, original)
        return M.encode(answer)

    def close(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.backend.close()
        self._closed.set()


class _StopFlag:
    """``serve``'s cancel flag for one batch: set once the daemon stopped the epoch the batch was sent in."""

    def __init__(self, actor: Any, epoch: int) -> None:
        self.actor = actor
        self.epoch = epoch

    def is_set(self) -> bool:
        return self.actor.stopped_below > self.epoch


# ---- daemon side --------------------------------------------------------------------------------------------


def gone_reason(worker_id: str, exc: BaseException) -> str:
    """One line for a lost actor: Ray's own first line says why (killed, node died, out of memory)."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return f"Ray actor {worker_id} is gone: {first[:300]}"


def placement(cluster: ClusterConfig) -> dict[str, float]:
    """What one actor reserves: a GPU where the cluster has GPUs, else ``cluster.cpus_per_worker`` CPUs."""
    if ray.cluster_resources().get("GPU", 0) > 0:
        return {"num_gpus": 1}
    return {"num_cpus": cluster.cpus_per_worker}


class RayWorker(Worker):
    """One model replica in a Ray actor, seen from the daemon's event loop. ``worker_id`` is also the actor's
    name in the ``imageworks`` namespace."""

    def __init__(
        self,
        model: ModelConfig,
        cluster: ClusterConfig,
        loop: asyncio.AbstractEventLoop,
        *,
        worker_id: str,
        on_progress: ProgressSink | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.node = "(being placed by Ray)"
        self.inferences = 0
        self.last_error = ""
        self.shared_filesystem = cluster.shared_filesystem
        self.restarts = cluster.max_restarts != 0
        self._pid: int | None = None
        self.feed = FeedStats()
        """The actor's feed counters, as its last answer gave them."""
        self._in_flight = 0
        self._epoch = 0
        self._restarting = False
        self.loaded: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.exited: asyncio.Future[str] = loop.create_future()
        self.actor = ModelActor.options(  # type: ignore[attr-defined]
            name=worker_id,
            namespace=NAMESPACE,
            max_restarts=cluster.max_restarts,
            max_task_retries=0,  # a lost batch is the pool's to resend (to another worker), not Ray's
            **placement(cluster),
        ).remote(M.encode(model))
        self._tasks = [loop.create_task(self._life())]
        self._reports: set[asyncio.Future[None]] = set()
        if on_progress is not None:
            self._tasks.append(loop.create_task(self._poll_progress(on_progress)))

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def state(self) -> str:
        if self._restarting and not self.exited.done():
            return "restarting"
        return super().state

    async def _life(self) -> None:
        """Follow the actor: loaded, then alive until closed or lost; a lost actor that Ray restarts is loaded
        again (its constructor reloads the model) and serves again."""
        while True:
            try:
                ready = M.decode_from_worker(await self.actor.ready.remote())
            except ActorUnavailableError:  # being restarted, or its node unreachable for now: Ray says when dead
                await asyncio.sleep(UNAVAILABLE_RETRY_S)
                continue
            except ACTOR_GONE as exc:
                self._gone(gone_reason(self.worker_id, exc))
                return
            if not isinstance(ready, M.Loaded):
                self._gone(ready.error if isinstance(ready, M.LoadFailed) else f"unexpected answer {ready!r}")
                self.kill_now()
                return
            self._pid, self.node, self._restarting = ready.pid, ready.node, False
            if not self.loaded.done():
                self.loaded.set_result(ready.info)
            try:
                await self.actor.until_closed.remote()
            except ACTOR_GONE as exc:
                self.last_error = gone_reason(self.worker_id, exc)
                if self.restarts:
                    self._restarting = True
                    continue
                self._gone(self.last_error)
                return
            self._gone("model worker stopped")
            return

    def _gone(self, reason: str) -> None:
        if not self.loaded.done():
            self.loaded.set_exception(WorkerLoadFailed(reason))
        if not self.exited.done():
            self.exited.set_result(reason)

    async def _poll_progress(self, sink: ProgressSink) -> None:
        while not self.loaded.done():
            with contextlib.suppress(*ACTOR_GONE):
                progress = M.decode_from_worker(await self.actor.load_progress.remote())
                if isinstance(progress, M.Progress) and progress.what and not self.loaded.done():
                    sink(progress.fraction, progress.what)
            await asyncio.sleep(PROGRESS_POLL_S)

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return await self._call(M.Generate(id=0, requests=requests))

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self._call(M.Embed(id=0, requests=requests))

    def prefetch(self, images: Collection[str]) -> None:
        if images and self.shared_filesystem and self.serving:  # without one, the actor cannot read the paths
            self.actor.tell.remote(M.encode(M.Prefetch(images=list(images))))

    def forget(self, images: Collection[str]) -> None:
        if images and self.shared_filesystem and self.serving:
            told = self.actor.tell.remote(M.encode(M.Forget(images=list(images))))
            report = asyncio.ensure_future(self._report(told))
            self._reports.add(report)  # held until done, so the loop does not drop it
            report.add_done_callback(self._reports.discard)

    async def _report(self, told: Any) -> None:
        """The actor's counters once it dropped what it kept."""
        with contextlib.suppress(*ACTOR_GONE):
            report = M.decode_from_worker(await told)
            if isinstance(report, M.FeedReport):
                self.feed = report.feed

    def describe(self) -> WorkerInfo:
        return msgspec.structs.replace(super().describe(), feed=self.feed)

    async def _call(self, batch: M.Batch) -> list[Any]:
        if not self.serving:
            raise WorkerCrashed(self.last_error or f"Ray actor {self.worker_id} is not serving ({self.state})")
        self._in_flight += 1
        try:
            results = await self._send(batch)
        finally:
            self._in_flight -= 1
        self.inferences += len(results)
        return results

    async def _send(self, batch: M.Batch) -> list[Any]:
        """The batch through the actor; images the daemon cannot read (without a shared filesystem) fail alone."""
        requests: list[Any] = batch.requests
        images: list[bytes | None] | None = None
        unreadable: dict[int, str] = {}
        if not self.shared_filesystem:
            images, unreadable = await asyncio.to_thread(read_images, requests)
        keep = [n for n in range(len(requests)) if n not in unreadable]
        sent = [requests[n] for n in keep]
        served: list[Any] = []
        if sent:
            sent_images = None if images is None else [images[n] for n in keep]
            message = msgspec.structs.replace(batch, requests=sent, staged=sent_images)
            try:
                answer = M.decode_answer(await self.actor.run.remote(M.encode(message), self._epoch))
            except ACTOR_GONE as exc:
                self.last_error = gone_reason(self.worker_id, exc)
                raise WorkerCrashed(self.last_error) from exc
            served, self.feed = answer.results, answer.feed
        result_type = GenResult if isinstance(batch, M.Generate) else EmbedResult
        merged = dict(zip(keep, served, strict=True))
        merged.update({n: result_type(error=error) for n, error in unreadable.items()})
        return [merged[n] for n in range(len(requests))]

    def request_stop(self) -> None:
        """The batches sent so far stop early; later ones (the next job's) carry a newer epoch and run."""
        self._epoch += 1
        if self.serving:
            self.actor.stop_before.remote(self._epoch)

    def clear_stop(self) -> None:
        """Nothing to clear: a stop applies to the batches sent before it only."""

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the backend (waiting for a batch in flight up to ``timeout``), then end the actor's process: its
        memory (VRAM) is freed either way, and Ray does not restart it."""
        if not self.exited.done():
            with contextlib.suppress(asyncio.TimeoutError, *ACTOR_GONE):
                await asyncio.wait_for(asyncio.ensure_future(self.actor.close.remote()), timeout)
        self.kill_now()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), 5)
        for task in self._tasks:
            task.cancel()

    def kill_now(self) -> None:
        with contextlib.suppress(Exception):  # already gone, or Ray itself is shutting down
            ray.kill(self.actor, no_restart=True)


def new_token() -> str:
    """A short id that keeps this daemon's actor names apart from another daemon's on the same cluster."""
    return uuid.uuid4().hex[:8]
