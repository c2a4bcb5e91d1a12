"""The model manager: which model is loaded, in which worker, and the rules for changing it.

Rules (the design notes' "gated" loads): a model loads only on an explicit ``model.load``/``model.switch`` or when
a job starts and no model is loaded. A job naming a different model than the loaded one is refused with
``model_mismatch`` — never an implicit reload (Ollama users' reload-thrash complaint). A switch or unload while
a job runs is refused; the person cancels the job first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import msgspec

from daemon.worker import DEMO_MODEL, WorkerCrashed, WorkerHandle, WorkerLoadFailed
from imageworks.config import ModelConfig
from imageworks.inference import GenRequest, GenResult
from imageworks.protocol import ModelState


class ModelRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ModelManager:
    def __init__(self, config: ModelConfig, on_change: Callable[[ModelState], None]) -> None:
        self.config = config
        self.on_change = on_change
        self.worker: WorkerHandle | None = None
        self.state = ModelState()
        self.loads = 0
        self.inferences = 0
        self.busy = False
        """True while a job runs: unload/switch are refused then."""
        self._load_task: asyncio.Task[None] | None = None

    def default_name(self) -> str:
        return self.config.name or DEMO_MODEL

    def resolve(self, name: str) -> str:
        return name or self.default_name()

    def _set(self, **changes: Any) -> None:
        self.state = msgspec.structs.replace(self.state, **changes)
        self.on_change(self.state)

    # ---- load / unload --------------------------------------------------------------------------------------

    def start_load(self, name: str) -> ModelState:
        """Begin loading ``name`` in a fresh worker; returns at once (loads take seconds to minutes)."""
        name = self.resolve(name)
        if self.state.state in ("loading", "loaded") and self.state.name == name:
            return self.state
        if self.state.state in ("loading", "loaded", "unloading"):
            raise ModelRefused(
                "model_mismatch",
                f"model {self.state.name!r} is {self.state.state}; switch to {name!r} explicitly (model.switch)",
            )
        loop = asyncio.get_running_loop()
        model = msgspec.structs.replace(self.config, name=name)
        self.worker = WorkerHandle(model, loop)
        self.loads += 1
        self._set(
            name=name,
            state="loading",
            loaded=False,
            error="",
            info={},
            demo=name == DEMO_MODEL,
            worker_pid=self.worker.pid or 0,
        )
        self._load_task = loop.create_task(self._finish_load(self.worker))
        return self.state

    async def _finish_load(self, worker: WorkerHandle) -> None:
        try:
            info = await worker.loaded
        except WorkerLoadFailed as exc:
            if self.worker is worker:
                self.worker = None
                self._set(state="failed", loaded=False, error=f"cannot load {self.state.name!r}: {exc}")
            with contextlib.suppress(Exception):
                await worker.stop(timeout=2)
            return
        if self.worker is worker:
            self._set(state="loaded", loaded=True, info=info)
            asyncio.get_running_loop().create_task(self._watch(worker))

    async def _watch(self, worker: WorkerHandle) -> None:
        reason = await worker.exited
        if self.worker is worker:  # died on its own, not by unload
            self.worker = None
            self._set(state="crashed", loaded=False, error=reason)

    async def wait_loaded(self) -> dict[str, Any]:
        if self._load_task is not None:
            await asyncio.shield(self._load_task)
        if self.state.state != "loaded":
            raise ModelRefused("model_error", self.state.error or f"model {self.state.name!r} is not loaded")
        return self.state.info

    async def unload(self) -> ModelState:
        if self.busy:
            raise ModelRefused("busy", "a job is running on this model; cancel it before unloading")
        worker, self.worker = self.worker, None
        if worker is None:
            self._set(state="none", loaded=False, error="", info={})
            return self.state
        self._set(state="unloading", loaded=False)
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        await worker.stop()
        self._set(name="", state="none", loaded=False, error="", info={}, demo=False, worker_pid=0)
        return self.state

    async def switch(self, name: str) -> ModelState:
        name = self.resolve(name)
        if self.busy:
            raise ModelRefused("busy", "a job is running on this model; cancel it before switching")
        if self.state.name == name and self.state.state in ("loading", "loaded"):
            return self.state
        await self.unload()
        return self.start_load(name)

    async def ensure_for_job(self, name: str) -> dict[str, Any]:
        """The model a job asked for (or whatever is loaded), loading only if none is loaded."""
        if self.state.state in ("none", "failed", "crashed"):
            self.start_load(name or self.default_name())
        elif name and self.resolve(name) != self.state.name:
            raise ModelRefused(
                "model_mismatch",
                f"job asks for model {name!r} but {self.state.name!r} is loaded; switch models explicitly",
            )
        return await self.wait_loaded()

    # ---- inference -------------------------------------------------------------------------------------------

    async def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        worker = self.worker
        if worker is None:
            raise WorkerCrashed(self.state.error or "no model worker")
        self.inferences += len(requests)
        return await worker.generate(requests)

    def request_stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel_flag.set()

    def clear_stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel_flag.clear()

    async def shutdown(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            await worker.stop(timeout=1.0)
