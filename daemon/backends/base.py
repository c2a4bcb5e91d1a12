"""The interface every model backend meets, and the factory that picks one from a model name.

A backend lives inside the model worker process. ``load`` may take seconds to minutes; ``generate`` takes a
batch of requests and returns one result per request, in order. A request that cannot be served (bad image,
too long prompt) returns a result with ``error`` set; only a failure of the whole backend raises.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from imageworks.config import ModelConfig
from imageworks.inference import GenRequest, GenResult


class BackendError(Exception):
    """The backend as a whole failed (load failed, model broken); the message is shown to the user."""


class Backend(abc.ABC):
    """A loaded model. Created by ``create_backend``; ``load`` is called once before any ``generate``."""

    def __init__(self, model: ModelConfig) -> None:
        self.model = model

    @abc.abstractmethod
    def load(self) -> dict[str, Any]:
        """Load weights; return info: at least ``name``, ``revision``, ``device``, ``dtype``, ``parameters``."""

    @abc.abstractmethod
    def generate(self, requests: list[GenRequest], should_stop: Callable[[], bool] = lambda: False) -> list[GenResult]:
        """Run a batch. ``should_stop`` returning True asks the backend to stop early (job cancelled);
        unfinished requests then come back with ``error='cancelled'``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the worker process exits after this anyway."""


def create_backend(model: ModelConfig) -> Backend:
    """Pick the backend for ``model.name``: ``echo[:opts]`` is the built-in plumbing backend, anything
    else is a vision-language checkpoint (local dir or HF-cache id) served by transformers."""
    name = model.name
    if name == "echo" or name.startswith("echo:"):
        from daemon.backends.echo import EchoBackend

        return EchoBackend(model)
    from daemon.backends.vlm import VLMBackend  # heavy: imports torch/transformers lazily inside

    return VLMBackend(model)
