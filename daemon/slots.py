"""The model manager: named model slots (``vlm`` for generation, ``embed`` for image embeddings), each holding at
most one model in its own pool of workers, and the rules for changing them.

Rules (loads are gated: nothing slow runs unasked), per slot: a model loads only on an explicit ``model.load``/
``model.switch`` or when a job starts and none is loaded. A job naming a different model than the loaded one is
refused with ``model_mismatch`` — never an implicit reload (Ollama users' reload-thrash complaint). A switch or
unload while a job runs is refused; the person cancels the job first.
Slots are independent: unloading one leaves the other.

The manager's own methods without a ``slot`` act on the ``vlm`` slot (the runner's and server's surface).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import msgspec

from imageworks.config import ClusterConfig, ModelConfig
from imageworks.errors import DaemonError
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import FeedStats, ModelState

from .batching import BatchQueue
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


class ModelManager:
    """The slots by name. Methods without ``slot`` keep the single-model surface the runner and server use: they
    act on the ``vlm`` slot; ``embed(requests)`` goes to the ``embed`` slot."""

    def __init__(
        self,
        config: ModelConfig,
        on_change: Callable[[ModelState], None],
        cluster: ClusterConfig | None = None,
    ) -> None:
        self.config = config
        cluster = cluster or ClusterConfig()
        self.slots = {VLM: ModelSlot(VLM, config, on_change, cluster), EMBED: ModelSlot(EMBED, config, on_change)}
        self.vlm = self.slots[VLM]
        self._ray: ModuleType | None = _join_ray(cluster.ray) if cluster.ray else None
        self.batching = BatchQueue(self.vlm, config.batch_size)
        """Every generation goes through it, and only it cuts batches: job items and OpenAI-endpoint requests
        share them."""

    def slot(self, name: str) -> ModelSlot:
        try:
            return self.slots[name]
        except KeyError:
            raise DaemonError(f"no model slot {name!r} (slots: {', '.join(SLOTS)})", code="bad_request") from None

    # ---- the vlm slot's surface ------------------------------------------------------------------------------

    @property
    def state(self) -> ModelState:
        return self.vlm.state

    @property
    def busy(self) -> bool:
        return self.vlm.busy

    @busy.setter
    def busy(self, value: bool) -> None:
        self.vlm.busy = value

    @property
    def loads(self) -> int:
        return sum(s.loads for s in self.slots.values())

    @property
    def inferences(self) -> int:
        return sum(s.inferences for s in self.slots.values())

    @property
    def width(self) -> int:
        """How many batches the vlm slot runs at once."""
        return self.vlm.width

    def default_name(self) -> str:
        return self.vlm.default_name()

    def resolve(self, name: str) -> str:
        return self.vlm.resolve(name)

    def start_load(self, name: str, slot: str = VLM) -> ModelState:
        return self.slot(slot).start_load(name)

    async def unload(self, slot: str = VLM) -> ModelState:
        return await self.slot(slot).unload()

    async def switch(self, name: str, slot: str = VLM) -> ModelState:
        return await self.slot(slot).switch(name)

    async def ensure_for_job(self, name: str, slot: str = VLM) -> dict[str, Any]:
        return await self.slot(slot).ensure_for_job(name)

    async def wait_loaded(self, slot: str = VLM) -> dict[str, Any]:
        return await self.slot(slot).wait_loaded()

    @property
    def batch_size(self) -> int:
        """The model's batch size (``model.batch_size`` when the daemon started): no batch is larger, and a job
        asking for more is refused at submit."""
        return self.batching.batch_size

    async def generate(
        self, requests: list[GenRequest], batch_size: int = 0, upcoming: list[str] | None = None
    ) -> list[GenResult]:
        """A job's round of requests, in batches of at most ``batch_size`` of them (0: the model's); ``upcoming``:
        images of the job's next items, decoded ahead."""
        return await self.batching.generate(requests, batch_size, upcoming)

    async def embed(self, requests: list[EmbedRequest]) -> list[EmbedResult]:
        return await self.slots[EMBED].embed(requests)

    def forget(self, images: list[str]) -> None:
        """A job's items finished: the vlm slot's workers drop what they kept of these images."""
        self.vlm.forget(images)

    def request_stop(self) -> None:
        """A job was cancelled: its generations stop early (endpoint requests sharing its batches go on), and so
        do the embed slot's batches in flight."""
        self.batching.cancel_jobs()
        self.slots[EMBED].request_stop()

    def clear_stop(self) -> None:
        for slot in self.slots.values():
            slot.clear_stop()

    def views(self) -> dict[str, ModelState]:
        """Every slot's state with its workers, for ``status``."""
        return {name: slot.view() for name, slot in self.slots.items()}

    async def shutdown(self) -> None:
        await asyncio.gather(*(slot.shutdown() for slot in self.slots.values()), return_exceptions=True)

    def kill_now(self) -> None:
        """Synchronous last resort at daemon exit: every worker of every slot is killed (and the daemon leaves
        its Ray cluster; a Ray it started for ``local`` ends)."""
        for slot in self.slots.values():
            slot.kill_now()
        if self._ray is not None:
            self._ray.disconnect()


def _join_ray(address: str) -> ModuleType:
    """Join the Ray cluster at daemon start, so that a wrong address fails the start, not the first load."""
    from .workers import ray as ray_workers

    try:
        ray_workers.connect(address)
    except Exception as exc:
        raise DaemonError(f"cannot join the Ray cluster at {address!r}: {exc}", code="ray_unavailable") from exc
    return ray_workers
