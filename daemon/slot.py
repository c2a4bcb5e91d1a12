"""One model slot: which model is loaded in it, its pool of workers (local processes or Ray actors), and the
explicit-load rules (see ``daemon.slots`` for the rules and the manager that holds the slots by name)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import msgspec

from imageworks.config import ClusterConfig, ModelConfig
from imageworks.errors import DaemonError
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import FeedStats, ModelState

from .demo_model.build import DEMO_MODEL
from .workers.base import TextSink, Worker, WorkerCrashed, WorkerLoadFailed
from .workers.pool import WorkerPool
from .workers.process import WorkerHandle

VLM = "vlm"
EMBED = "embed"
SLOTS = (VLM, EMBED)

PROGRESS_INTERVAL_S = 0.2
"""Load progress is published at most this often (the demo model's training reports every step)."""


class ModelSlot:
    """One named slot: which model is loaded in it, its pool of workers, and the explicit-load rules."""

    def __init__(
        self,
        slot: str,
        config: ModelConfig,
        on_change: Callable[[ModelState], None],
        cluster: ClusterConfig | None = None,
    ) -> None:
        self.slot = slot
        self.config = config
        self.cluster = cluster or ClusterConfig()
        """How many workers, and whether they are Ray actors: only the vlm slot scales out."""
        self.on_change = on_change
        self.pool: WorkerPool | None = None
        self.state = ModelState(slot=slot, batch_size=max(1, config.batch_size))
        self.loads = 0
        self.inferences = 0
        self.busy = False
        """True while a job runs on this slot: unload/switch are refused then."""
        self._load_task: asyncio.Task[None] | None = None
        self._last_progress = 0.0
        self._progress_timer: asyncio.TimerHandle | None = None
        self._closing: WorkerPool | None = None

    def default_name(self) -> str:
        """The vlm slot falls back to the configured model, then the demo model; the embed slot has no default."""
        if self.slot == VLM:
            return self.config.name or DEMO_MODEL
        return ""

    def resolve(self, name: str) -> str:
        return name or self.default_name()

    def _set(self, **changes: Any) -> None:
        self.state = msgspec.structs.replace(self.state, **changes)
        self._last_progress = time.monotonic()
        self.on_change(self.state)

    def view(self) -> ModelState:
        """The state with each worker's counters and their feed counters added up, for ``status`` (events carry
        the state without them)."""
        members = self.pool.workers if self.pool is not None else []
        workers = [w.describe() for w in members]
        feed = FeedStats()
        for worker in workers:
            feed = feed.plus(worker.feed)
        return msgspec.structs.replace(self.state, workers=workers, feed=feed)

    # ---- load / unload --------------------------------------------------------------------------------------

    def start_load(self, name: str) -> ModelState:
        """Begin loading ``name`` in a fresh pool; returns at once (loads take seconds to minutes)."""
        name = self.resolve(name)
        if not name:
            raise DaemonError(f"the {self.slot} slot has no configured model: name one to load", code="bad_request")
        if self.state.state in ("loading", "loaded") and self.state.name == name:
            return self.state
        if self.state.state in ("loading", "loaded", "unloading"):
            raise DaemonError(
                f"model {self.state.name!r} is {self.state.state}; switch to {name!r} explicitly (model.switch)",
                code="model_mismatch",
            )
        loop = asyncio.get_running_loop()
        self.loads += 1
        self.pool = self._start_workers(msgspec.structs.replace(self.config, name=name), loop, self.loads)
        self._set(
            name=name,
            state="loading",
            loaded=False,
            error="",
            info={},
            demo=name == DEMO_MODEL,
            worker_pid=self.pool.pid or 0,
            progress=-1.0,
            message="",
        )
        self._load_started = time.monotonic()
        self._load_task = loop.create_task(self._finish_load(self.pool))
        return self.state

    def _start_workers(self, model: ModelConfig, loop: asyncio.AbstractEventLoop, load: int) -> WorkerPool:
        """The pool that serves this slot's model: ``cluster.workers`` local worker processes, or as many Ray actors
        when ``cluster.ray`` is set (Ray is imported here only, so a daemon without ``--ray`` never imports it)."""

        def progress(fraction: float, what: str) -> None:
            self._on_progress(load, fraction, what)

        count = self.cluster.workers
        if self.cluster.ray:
            from .workers import ray as ray_workers

            token = ray_workers.new_token()
            workers: list[Worker] = [
                ray_workers.RayWorker(
                    model, self.cluster, loop, worker_id=f"{self.slot}-{i}-{token}", on_progress=progress
                )
                for i in range(count)
            ]
        else:
            workers = [
                WorkerHandle(model, loop, worker_id=f"{self.slot}-{i}", on_progress=progress) for i in range(count)
            ]
        return WorkerPool(workers, loop)

    @property
    def width(self) -> int:
        """How many batches the slot runs at once (its serving workers)."""
        return self.pool.width if self.pool is not None else 1

    def _on_progress(self, load: int, fraction: float, what: str) -> None:
        if load != self.loads or self.state.state != "loading":
            return  # a late report of a load that was replaced
        message = f"{what}… {fraction:.0%}" if fraction >= 0 else f"{what}…"
        wait = PROGRESS_INTERVAL_S - (time.monotonic() - self._last_progress)
        if wait <= 0:
            self._set(progress=fraction, message=message)
            return
        self.state = msgspec.structs.replace(self.state, progress=fraction, message=message)
        if self._progress_timer is None:  # publish the latest figure when the interval is up
            self._progress_timer = asyncio.get_running_loop().call_later(wait, self._flush_progress, load)

    def _flush_progress(self, load: int) -> None:
        self._progress_timer = None
        if load == self.loads and self.state.state == "loading":
            self._set()

    async def _finish_load(self, pool: WorkerPool) -> None:
        try:
            info = await pool.loaded
        except WorkerLoadFailed as exc:
            if self.pool is pool:
                self.pool = None
                self._set(state="failed", loaded=False, error=f"cannot load {self.state.name!r}: {exc}", progress=-1.0)
            with contextlib.suppress(Exception):
                await pool.stop(timeout=2)
            return
        if self.pool is pool:
            took = time.monotonic() - self._load_started  # shown apart from the speed, which never counts it
            self._set(state="loaded", loaded=True, info=info, progress=-1.0, message="", load_seconds=took)
            asyncio.get_running_loop().create_task(self._watch(pool))

    async def _watch(self, pool: WorkerPool) -> None:
        reason = await pool.exited
        if self.pool is pool:  # died on its own, not by unload
            self.pool = None
            self._set(state="crashed", loaded=False, error=reason)

    async def load_settled(self) -> None:
        """Return once the load in progress (if any) has ended, however it ended; raises nothing of its own."""
        if self._load_task is not None and not self._load_task.done():
            # unlike awaiting the task, asyncio.wait leaves the load alone when this waiter is cancelled
            await asyncio.wait({self._load_task})

    async def wait_loaded(self) -> dict[str, Any]:
        if self._load_task is not None:
            await asyncio.shield(self._load_task)
        if self.state.state != "loaded":
            raise DaemonError(self.state.error or f"model {self.state.name!r} is not loaded", code="model_error")
        return self.state.info

    async def unload(self) -> ModelState:
        if self.busy:
            raise DaemonError("a job is running on this model; cancel it before unloading", code="busy")
        pool, self.pool = self.pool, None
        if pool is None:
            self._set(state="none", loaded=False, error="", info={}, progress=-1.0, message="")
            return self.state
        self._set(state="unloading", loaded=False)
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        await pool.stop()
        self._set(name="", state="none", loaded=False, error="", info={}, demo=False, worker_pid=0, progress=-1.0)
        return self.state

    async def switch(self, name: str) -> ModelState:
        name = self.resolve(name)
        if self.busy:
            raise DaemonError("a job is running on this model; cancel it before switching", code="busy")
        if self.state.name == name and self.state.state in ("loading", "loaded"):
            return self.state
        await self.unload()
        return self.start_load(name)

    async def ensure_for_job(self, name: str) -> dict[str, Any]:
        """The model a job asked for (or whatever is loaded), loading only if none is loaded."""
        if self.state.state in ("none", "failed", "crashed"):
            self.start_load(name)
        elif name and self.resolve(name) != self.state.name:
            raise DaemonError(
                f"job asks for model {name!r} but {self.state.name!r} is loaded; switch models explicitly",
                code="model_mismatch",
            )
        return await self.wait_loaded()

    # ---- inference -------------------------------------------------------------------------------------------

    def _serving(self) -> WorkerPool:
        if self.pool is None:
            raise WorkerCrashed(self.state.error or f"no model is loaded in the {self.slot} slot")
        return self.pool

    async def generate(self, requests: list[GenRequest], on_text: TextSink | None = None) -> list[GenResult]:
        pool = self._serving()
        self.inferences += len(requests)
        if on_text is not None:
            return await pool.generate_streaming(requests, on_text)
        return await pool.generate(requests)

    def cancel(self, keys: list[str]) -> None:
        if self.pool is not None and keys:
            self.pool.cancel(keys)

    def prefetch(self, images: list[str]) -> None:
        """These images come in a batch soon: a worker reads and decodes them ahead (a hint; nothing waits on it)."""
        if self.pool is not None and images:
            self.pool.prefetch(images)

    def forget(self, images: list[str]) -> None:
        """The items of these images finished: their workers drop what they kept of them."""
        if self.pool is not None and images:
            self.pool.forget(images)

    @property
    def parallel(self) -> int:
        """Batches the slot runs at once: one per serving worker of its pool."""
        return self.pool.width if self.pool is not None else 1

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        pool = self._serving()
        self.inferences += len(requests)
        return await pool.embed(requests)

    def request_stop(self) -> None:
        if self.pool is not None:
            self.pool.request_stop()

    def clear_stop(self) -> None:
        if self.pool is not None:
            self.pool.clear_stop()

    async def shutdown(self) -> None:
        self._closing, self.pool = self.pool, None  # kept for kill_now, should the stop not finish in time
        if self._closing is not None:
            await self._closing.stop(timeout=1.0)

    def kill_now(self) -> None:
        for pool in (self.pool, self._closing):
            if pool is not None:
                pool.kill_now()
