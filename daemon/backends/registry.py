"""Which backend serves a model: a plain table by the ``model.backend`` config key.

A plain table (not modules registering themselves at import) so that the interface module imports no backend and
no backend imports the table: no import circles. Backend modules are cheap to import (torch loads inside ``load``).

``transformers`` (the default) serves two families, told apart by the checkpoint's own ``model_type``: CLIP and
SigLIP checkpoints get the embedding backend, everything else the VLM backend. So a user names a checkpoint and
nothing else, in either slot, and a checkpoint in the wrong slot is refused per request by capability ("cannot
embed") instead of failing at load.
"""

from __future__ import annotations

from imageworks.checkpoints import EMBEDDING_MODEL_TYPES, checkpoint_model_type
from imageworks.config import ModelConfig

from ..demo_model.build import DEMO_NAMES
from .base import Backend, BackendError
from .echo import EchoBackend
from .embedding import EmbeddingBackend
from .vlm import VLMBackend

BACKENDS: dict[str, type[Backend]] = {
    "transformers": VLMBackend,
    "echo": EchoBackend,
}


def is_echo_name(name: str) -> bool:
    """``echo`` and ``echo:OPTIONS`` select the echo backend whatever ``model.backend`` says (tests rely on it)."""
    return name == "echo" or name.startswith("echo:")


def is_embedding_checkpoint(name: str) -> bool:
    """A CLIP/SigLIP checkpoint on disk (the built-in demo names are VLMs: not looked up, they may not be built)."""
    return name not in DEMO_NAMES and checkpoint_model_type(name) in EMBEDDING_MODEL_TYPES


def create_backend(model: ModelConfig) -> Backend:
    """The (not yet loaded) backend for ``model``; an unknown ``model.backend`` raises BackendError naming the
    known ones."""
    key = "echo" if is_echo_name(model.name) else model.backend
    try:
        backend = BACKENDS[key]
    except KeyError:
        raise BackendError(f"model.backend {key!r} is not a backend (known: {', '.join(BACKENDS)})") from None
    if backend is VLMBackend and is_embedding_checkpoint(model.name):
        backend = EmbeddingBackend
    return backend(model)
