"""model.load / model.unload / model.switch: thin, ModelManager does the work and publishes model events."""

from __future__ import annotations

from daemon.handlers import Handler
from daemon.models import ModelManager
from imageworks import protocol as P


class ModelHandlers:
    def __init__(self, models: ModelManager) -> None:
        self.models = models

    def table(self) -> dict[str, Handler]:
        return {
            "model.load": self.on_model_load,
            "model.unload": self.on_model_unload,
            "model.switch": self.on_model_switch,
        }

    def on_model_load(self, body: P.ModelLoad) -> P.ModelState:
        return self.models.start_load(body.name, body.slot)

    async def on_model_unload(self, body: P.ModelUnload) -> P.ModelState:
        return await self.models.unload(body.slot)

    async def on_model_switch(self, body: P.ModelSwitch) -> P.ModelState:
        return await self.models.switch(body.name, body.slot)
