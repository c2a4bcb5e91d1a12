"""model.load / model.unload / model.switch / model.embed: thin, ModelManager does the work and publishes model
events."""

from __future__ import annotations

import numpy as np

from imageworks import protocol as P
from imageworks.errors import DaemonError
from imageworks.inference import EmbedRequest

from ..slots import EMBED, ModelManager
from ..workers.base import WorkerCrashed
from . import Handler


class ModelHandlers:
    def __init__(self, models: ModelManager, counters: P.Counters) -> None:
        self.models = models
        self.counters = counters

    def table(self) -> dict[str, Handler]:
        return {
            "model.load": self.on_model_load,
            "model.unload": self.on_model_unload,
            "model.switch": self.on_model_switch,
            "model.embed": self.on_model_embed,
        }

    def on_model_load(self, body: P.ModelLoad) -> P.ModelState:
        return self.models.start_load(body.name, body.slot)

    async def on_model_unload(self, body: P.ModelUnload) -> P.ModelState:
        return await self.models.unload(body.slot)

    async def on_model_switch(self, body: P.ModelSwitch) -> P.ModelState:
        return await self.models.switch(body.name, body.slot)

    async def on_model_embed(self, body: P.ModelEmbed) -> P.Embeddings:
        """Served by the embed slot's model as it is: a load under way is waited for (someone asked for it), an
        empty slot is refused, never loaded here."""
        self.counters.embed_requests += 1
        slot = self.models.slot(EMBED)
        state = slot.state
        if state.state not in ("loading", "loaded"):
            why = f" ({state.error})" if state.error else ""
            raise DaemonError(
                f"no embedding model is loaded{why}; load one first: imageworks models load NAME --slot embed",
                code="no_model",
            )
        if body.model and body.model != state.name:
            raise DaemonError(
                f"the embed slot holds {state.name!r}, not {body.model!r}; "
                f"switch explicitly: imageworks models switch {body.model} --slot embed",
                code="model_mismatch",
            )
        info = await slot.wait_loaded()
        try:
            results = await slot.embed([EmbedRequest(image=path) for path in body.images])
        except WorkerCrashed as exc:
            raise DaemonError(f"the embedding model's worker is gone: {exc}", code="model_error") from exc
        vectors = [np.frombuffer(r.vector, np.float32).astype("<f4").tobytes() if r.ok else b"" for r in results]
        return P.Embeddings(
            model=state.name,
            revision=str(info.get("revision", "")),
            dim=max((r.dim for r in results), default=0),
            vectors=vectors,
            errors=[r.error or "" for r in results],
        )
