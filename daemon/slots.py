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
from collections.abc import Callable
from types import ModuleType
from typing import Any

from imageworks.config import ClusterConfig, ModelConfig
from imageworks.errors import DaemonError
from imageworks.inference import EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import ModelState

from .batching import BatchQueue
from .slot import EMBED, PROGRESS_INTERVAL_S, SLOTS, VLM, ModelSlot

__all__ = ["EMBED", "PROGRESS_INTERVAL_S", "SLOTS", "VLM", "ModelManager", "ModelSlot"]


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
