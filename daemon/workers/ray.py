"""The Ray worker: the model held by a Ray actor, placed by Ray on any node of a cluster (one GPU each on GPU
nodes, ``cluster.cpus_per_worker`` CPUs on CPU nodes). Imported only when the daemon runs with ``--ray``.

The daemon stays the one place that owns the journal, the protocol and the batching: an actor only serves
batches, exactly as a local worker process does (``daemon.workers.process.serve``). Its calls are awaited on the
daemon's loop as Ray object refs.

Actor methods come in two concurrency groups: inference (``generate``, ``embed``) runs one batch at a time in the
default group, while the ``control`` group answers at any time: ``ready`` (waits for the load), ``load_progress``,
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
from pathlib import Path
from typing import Any

import msgspec
import ray
from ray.exceptions import ActorUnavailableError, ObjectLostError, RayActorError

from daemon.workers.base import ProgressSink, Worker, WorkerCrashed, WorkerLoadFailed
from daemon.workers.process import RESULT_TYPES, serve
from imageworks.config import ClusterConfig, ModelConfig
from imageworks.inference import EMBED, GENERATE, EmbedRequest, EmbedResult, GenRequest, GenResult

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


@ray.remote(concurrency_groups={"control": 8})
class ModelActor:
    """One model replica inside a Ray actor."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.model = ModelConfig(**model)
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
        from daemon.backends.registry import create_backend

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
    def ready(self) -> dict[str, Any]:
        """Once loaded: the load info, this process and its node; or the load error."""
        self._loaded.wait()
        node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"
        return {"info": self.info, "error": self.load_error, "pid": os.getpid(), "node": node}

    @ray.method(concurrency_group="control")
    def load_progress(self) -> tuple[float, str]:
        return self.progress

    @ray.method(concurrency_group="control")
    def stop_before(self, epoch: int) -> None:
        self.stopped_below = max(self.stopped_below, epoch)

    @ray.method(concurrency_group="control")
    def until_closed(self) -> None:
        self._closed.wait()

    def generate(self, requests: list[GenRequest], images: list[bytes | None] | None, epoch: int) -> list[GenResult]:
        return self._serve(GENERATE, requests, images, epoch)

    def embed(self, requests: list[EmbedRequest], images: list[bytes | None] | None, epoch: int) -> list[EmbedResult]:
        return self._serve(EMBED, requests, images, epoch)

    def _serve(self, op: str, requests: list[Any], images: list[bytes | None] | None, epoch: int) -> list[Any]:
        self._loaded.wait()
        if self.backend is None:
            return [RESULT_TYPES[op](error=f"model worker: {self.load_error}") for _ in requests]
        stop = _StopFlag(self, epoch)
        if images is None:
            return serve(self.backend, op, requests, stop)
        with tempfile.TemporaryDirectory(prefix="imageworks-ray-") as folder:
            staged = stage_images(requests, images, Path(folder))
            results = serve(self.backend, op, [request for request, _ in staged], stop)
        for result, (request, original) in zip(results, staged, strict=True):
            if result.error and original:  # name the person's file, not our temporary copy
                result.error = result.error.replace(request.image, original)
        return results

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


def stage_images(requests: list[Any], images: list[bytes | None], folder: Path) -> list[tuple[Any, str]]:
    """Write each request's image bytes into ``folder`` (keeping the file's suffix) and point the request at the
    copy; returns (request, original path or '') pairs."""
    staged: list[tuple[Any, str]] = []
    for n, (request, data) in enumerate(zip(requests, images, strict=True)):
        if data is None:
            staged.append((request, ""))
            continue
        copy = folder / f"{n}{Path(request.image).suffix}"
        copy.write_bytes(data)
        staged.append((msgspec.structs.replace(request, image=str(copy)), request.image))
    return staged


# ---- daemon side --------------------------------------------------------------------------------------------


def read_images(requests: list[Any]) -> tuple[list[bytes | None], dict[int, str]]:
    """Each request's image bytes (None for a request without an image), and the error of each image the daemon
    cannot read, by request index (that request fails alone, as it would in the worker)."""
    images: list[bytes | None] = []
    unreadable: dict[int, str] = {}
    for n, request in enumerate(requests):
        data = None
        if request.image:
            try:
                data = Path(request.image).read_bytes()
            except OSError as exc:
                unreadable[n] = f"cannot read image {request.image}: {exc.strerror or exc}"
        images.append(data)
    return images, unreadable


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
        ).remote(msgspec.structs.asdict(model))
        self._tasks = [loop.create_task(self._life())]
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
                ready = await self.actor.ready.remote()
            except ActorUnavailableError:  # being restarted, or its node unreachable for now: Ray says when dead
                await asyncio.sleep(UNAVAILABLE_RETRY_S)
                continue
            except ACTOR_GONE as exc:
                self._gone(gone_reason(self.worker_id, exc))
                return
            if ready["error"]:
                self._gone(ready["error"])
                self.kill_now()
                return
            self._pid, self.node, self._restarting = ready["pid"], ready["node"], False
            if not self.loaded.done():
                self.loaded.set_result(ready["info"])
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
                fraction, what = await self.actor.load_progress.remote()
                if what and not self.loaded.done():
                    sink(fraction, what)
            await asyncio.sleep(PROGRESS_POLL_S)

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return await self._call(GENERATE, requests)

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self._call(EMBED, requests)

    async def _call(self, op: str, requests: list[Any]) -> list[Any]:
        if not self.serving:
            raise WorkerCrashed(self.last_error or f"Ray actor {self.worker_id} is not serving ({self.state})")
        self._in_flight += 1
        try:
            results = await self._send(op, requests)
        finally:
            self._in_flight -= 1
        self.inferences += len(results)
        return results

    async def _send(self, op: str, requests: list[Any]) -> list[Any]:
        """The batch through the actor; images the daemon cannot read (without a shared filesystem) fail alone."""
        images: list[bytes | None] | None = None
        unreadable: dict[int, str] = {}
        if not self.shared_filesystem:
            images, unreadable = await asyncio.to_thread(read_images, requests)
        keep = [n for n in range(len(requests)) if n not in unreadable]
        sent = [requests[n] for n in keep]
        served: list[Any] = []
        if sent:
            sent_images = None if images is None else [images[n] for n in keep]
            try:
                served = await getattr(self.actor, op).remote(sent, sent_images, self._epoch)
            except ACTOR_GONE as exc:
                self.last_error = gone_reason(self.worker_id, exc)
                raise WorkerCrashed(self.last_error) from exc
        merged = dict(zip(keep, served, strict=True))
        merged.update({n: RESULT_TYPES[op](error=error) for n, error in unreadable.items()})
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
